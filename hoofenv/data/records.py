"""Field types and ranges of each COCO record, checked once at the boundary.

The rules, per record kind: which fields must be there and what each may hold. `check` reports a broken field as
a finding (`wrong-type`, `missing-field`, `non-finite`) and keeps going; the commands that rewrite or read records
(fix, merge, split, stats, preview, schema) call `require_valid`, which refuses the file with one error naming
the file, the first records and fields at fault, and the fix -- so no list ever reaches code that expects an id.

Numbers must be finite and within +-2^53 (beyond that a float no longer holds every integer; `1e400` reads as
Infinity). NaN and Infinity are not JSON at all, but Python's reader accepts them.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from hoofenv.errors import HoofenvError

LIMIT = 2 ** 53
NUM = (int, float)
SHOWN = 8


def finite(v: Any) -> bool:
    """A JSON number (not a boolean) that is finite and within +-2^53."""
    return type(v) in NUM and -LIMIT <= v <= LIMIT


def finite_list(v: Any, length: int | None = None) -> bool:
    if type(v) is not list or (length is not None and len(v) != length):
        return False
    if not v:
        return True
    if not set(map(type, v)) <= {int, float}:
        return False
    return -LIMIT <= min(v) and max(v) <= LIMIT and not math.isnan(sum(v))


def plain(v: Any) -> bool:
    """A value usable as a key: a JSON number or string (ids of the wrong type are still compared)."""
    return type(v) in (int, float, str)


def key(v: Any):
    """A hashable stand-in for any JSON value, so an id that is a list or an object is reported, not a crash."""
    if type(v) in (int, float, str, bool) or v is None:
        return v
    return ("json", repr(v))


def describe(v: Any) -> str:
    """A JSON value in a message, cut short."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > LIMIT:
        return f"an integer of {len(str(abs(v)))} digits"
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def bad_numbers(value: Any, where: str = "", integers: bool = True) -> Iterator[str]:
    """Paths inside VALUE to NaN, Infinity or (with INTEGERS) numbers beyond +-2^53, e.g. `bbox[0] = NaN`.
    Fields hoofenv does not read may hold any integer: JSON allows it and it is written back unchanged."""
    stack = [(where, value)]
    while stack:
        at, v = stack.pop()
        t = type(v)
        if t is float or (t is int and integers):
            if not -LIMIT <= v <= LIMIT:
                yield f"{at or 'value'} = {describe(v)}"
        elif t is list:
            stack.extend((f"{at}[{i}]", x) for i, x in reversed(list(enumerate(v))))
        elif t is dict:
            stack.extend((f"{at}.{k}" if at else str(k), x) for k, x in reversed(list(v.items())))


# kind -> field -> (required, predicate, what it must be)
RULES: dict[str, dict[str, tuple]] = {
    "images": {
        "id": (True, lambda v: type(v) is int and -LIMIT <= v <= LIMIT, "an integer"),
        "width": (True, lambda v: finite(v) and v > 0, "a positive number"),
        "height": (True, lambda v: finite(v) and v > 0, "a positive number"),
        "file_name": (True, lambda v: type(v) is str and v != "", "a non-empty string"),
    },
    "annotations": {
        "id": (True, lambda v: type(v) is int and -LIMIT <= v <= LIMIT, "an integer"),
        "image_id": (True, lambda v: type(v) is int and -LIMIT <= v <= LIMIT, "an integer"),
        "category_id": (True, lambda v: type(v) is int and -LIMIT <= v <= LIMIT, "an integer"),
        "keypoints": (False, finite_list, "an array of numbers"),
        "bbox": (False, lambda v: finite_list(v, 4), "[x, y, width, height] of numbers"),
        # fix recomputes these two, so only a number that is not finite is refused
        "area": (False, lambda v: type(v) not in NUM or finite(v), "a finite number"),
        "num_keypoints": (False, lambda v: type(v) not in NUM or finite(v), "a finite number"),
        "iscrowd": (False, lambda v: type(v) in (int, bool, float) and v in (0, 1), "0 or 1"),
    },
    "categories": {
        "id": (True, lambda v: type(v) is int and -LIMIT <= v <= LIMIT, "an integer"),
        "name": (False, lambda v: type(v) is str, "a string"),
        "keypoints": (False, lambda v: type(v) is list and all(type(n) is str for n in v), "an array of names"),
        "skeleton": (False, lambda v: type(v) is list and all(
            type(e) is list and len(e) == 2 and all(type(i) is int and -LIMIT <= i <= LIMIT for i in e) for e in v),
            "an array of [index, index] pairs"),
    },
}
SINGULAR = {"images": "image", "annotations": "annotation", "categories": "category"}


def label(kind: str, record: Any, index: int) -> str:
    """`annotation 7` when the record has a usable id, else `annotations[6]`."""
    if isinstance(record, dict) and type(record.get("id")) is int and -LIMIT <= record["id"] <= LIMIT:
        return f"{SINGULAR[kind]} {record['id']}"
    return f"{kind}[{index}]"


def record_problems(kind: str, record: Any, index: int) -> list[tuple[str, str]]:
    """[(code, detail)] for one record: `missing-field`, `wrong-type` or `non-finite`."""
    where = label(kind, record, index)
    if type(record) is not dict:
        return [("wrong-type", f"{kind}[{index}] is {_a(record)}, not an object")]
    out = []
    for name, (required, ok, what) in RULES[kind].items():
        if name not in record:
            if required:
                out.append(("missing-field", f"{where} has no {name!r}"))
            continue
        value = record[name]
        if ok(value):
            continue
        inner = list(bad_numbers(value, name))
        if inner and (type(value) in NUM or type(value) is list):
            out.append(("non-finite", f"{where}: {inner[0]}"))
        else:
            out.append(("wrong-type", f"{where}: {name} is {describe(value)}, not {what}"))
    return out


def _a(value: Any) -> str:
    from hoofenv.data.coco import json_type

    t = json_type(value)
    return f"an {t}" if t[0] in "aeiou" else f"a {t}"


def problems(data: dict) -> list[tuple[str, str]]:
    """Every record's problems, in file order, then NaN and Infinity elsewhere (`info`, ...): what the writers
    would turn into tokens that are not JSON. Integers of any size there are JSON and are kept."""
    out = []
    for kind in RULES:
        for index, record in enumerate(data.get(kind) or []):
            out.extend(record_problems(kind, record, index))
    for key, value in data.items():
        if key not in RULES:
            out.extend(("non-finite", where) for where in bad_numbers(value, str(key), integers=False))
    return out


def non_finite_paths(data: dict) -> list[str]:
    """Where NaN, Infinity and out-of-range numbers are, by record: `annotation 7: bbox[0] = NaN`."""
    out = []
    for k, v in data.items():
        if k in RULES and isinstance(v, list):
            for index, record in enumerate(v):
                paths = ([p for f, x in record.items() for p in bad_numbers(x, str(f), integers=f in RULES[k])]
                         if isinstance(record, dict) else list(bad_numbers(record)))
                out += [f"{label(k, record, index)}: {p}" for p in paths]
        else:
            out += list(bad_numbers(v, str(k), integers=False))
    return out


def non_finite_error(data: dict, path) -> HoofenvError:
    where = non_finite_paths(data)
    return HoofenvError(
        f"{path}: {len(where)} numbers are NaN, Infinity or beyond +-2^53, which JSON cannot hold",
        causes=where[:SHOWN] + ([f"... and {len(where) - SHOWN} more"] if len(where) > SHOWN else []),
        hint=f"correct those values in CVAT and re-export (hoofenv data check {path} lists them all)",
        code="non-finite",
    )


def require_valid(data: dict, path) -> None:
    """Refuse a file whose records have fields of the wrong type or out of range, naming the first few."""
    found = problems(data)
    if not found:
        return
    codes = sorted({c for c, _ in found})
    code = "non-finite" if codes == ["non-finite"] else ("missing-field" if codes == ["missing-field"]
                                                         else "wrong-type")
    raise HoofenvError(
        f"{path}: {len(found)} fields are missing or hold the wrong type of value",
        causes=[d for _, d in found[:SHOWN]] + ([f"... and {len(found) - SHOWN} more"] if len(found) > SHOWN else []),
        hint=f"hoofenv data check {path}  (lists every one; re-export from CVAT or correct them)",
        code=code,
    )
