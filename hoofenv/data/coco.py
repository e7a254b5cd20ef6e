"""Loading a COCO keypoints file with errors a person can act on, and typed access to its records.

`load` parses and refuses NaN/Infinity (Python's decoder accepts them; JSON does not). `load_export` is what the
commands that read records use: it also requires the three lists and checks every record's field types and
ranges once (hoofenv.data.records), so the code after it never meets a list where an id belongs. `dump` refuses to
write a non-finite number: nothing hoofenv writes is anything but JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hoofenv.errors import HoofenvError

TOP_LEVEL = ("images", "annotations", "categories")


def read_text(path: str | Path) -> str:
    """The file as text; a missing file, a folder or bytes that are not UTF-8 get one error naming the path."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise HoofenvError(
            f"annotation file not found: {path}",
            hint="export the task in CVAT as 'COCO Keypoints 1.0' and pass annotations/person_keypoints_<subset>.json",
            code="file-not-found",
        ) from None
    except IsADirectoryError:
        raise HoofenvError(
            f"{path} is a folder, not an annotation file",
            hint=f"pass the JSON inside it, e.g. {path}/annotations/person_keypoints_default.json",
            code="file-not-found",
        ) from None
    except UnicodeDecodeError as exc:
        raise HoofenvError(
            f"{path} is not UTF-8 text", causes=[str(exc)], hint="re-export the task from CVAT", code="invalid-json"
        ) from None


def json_error(path: str | Path, exc: Exception) -> HoofenvError:
    if isinstance(exc, json.JSONDecodeError):
        return HoofenvError(
            f"{path}:{exc.lineno}:{exc.colno}: invalid JSON",
            causes=[f"{exc.msg} at line {exc.lineno}, column {exc.colno}"],
            hint="the file was cut short or edited by hand: re-export it from CVAT, or repair that spot",
            code="invalid-json",
        )
    return HoofenvError(f"{path}: invalid JSON", causes=["arrays or objects nested too deeply to read"],
                        hint="re-export the task from CVAT", code="invalid-json")


def not_an_object(path: str | Path, data: Any) -> HoofenvError:
    return HoofenvError(
        f"{path}: the top level is a {json_type(data)}, not a COCO object",
        causes=["a COCO file is an object with 'images', 'annotations' and 'categories'"],
        hint="export the task in CVAT as 'COCO Keypoints 1.0'",
        code="wrong-type",
    )


def parse(text: str, path: str | Path) -> tuple[Any, int]:
    """(the parsed value, how many NaN/Infinity tokens it held); invalid JSON names the line and column."""
    from hoofenv.data.stream import NonFinite, decoder

    hook = NonFinite()
    try:
        return decoder(hook).decode(text), hook.seen
    except (json.JSONDecodeError, RecursionError) as exc:
        raise json_error(path, exc) from None


def load(path: str | Path) -> dict:
    """Parse ANN.json; a broken file names the line and column, as an editor would show it; NaN and Infinity are
    refused with the records that hold them."""
    data, non_finite = parse(read_text(path), path)
    if not isinstance(data, dict):
        raise not_an_object(path, data)
    if non_finite:
        from hoofenv.data.records import non_finite_error

        raise non_finite_error(data, path)
    return data


def load_export(path: str | Path) -> dict:
    """`load`, the three lists, and every record's types and ranges: what fix, merge, split, stats, preview and
    schema read. One error names the file, the first fields at fault and the fix."""
    from hoofenv.data.records import require_valid

    data = load(path)
    require_lists(data, path)
    require_valid(data, path)
    return data


def require_lists(data: dict, path: str | Path) -> None:
    """Commands that rewrite a file need the three lists; `check` reports their absence instead."""
    bad = [k for k in TOP_LEVEL if not isinstance(data.get(k), list)]
    if bad:
        raise HoofenvError(
            f"{path}: {', '.join(repr(k) for k in bad)} missing or not a list",
            causes=["a COCO keypoints file has the lists 'images', 'annotations' and 'categories'"],
            hint=f"hoofenv data check {path}",
            code="missing-field",
        )


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), type(value).__name__)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def keypoint_categories(data: dict) -> list[dict]:
    """Categories that carry keypoint names: CVAT writes them on the skeleton label only."""
    cats = data.get("categories")
    return [
        c for c in (cats if isinstance(cats, list) else [])
        if isinstance(c, dict) and isinstance(c.get("keypoints"), list) and c["keypoints"]
    ]


def skeleton_base(category: dict) -> int | None:
    """0 or 1: COCO and CVAT write 1-based edges, MMPose wants 0-based; None when there is no skeleton.

    A 0 anywhere means 0-based; otherwise the edges are read as 1-based (the COCO convention). `fix` writes
    `"skeleton_base": 0` beside a converted skeleton, so a converted skeleton that never uses point 0 is not
    converted a second time.
    """
    edges = category.get("skeleton")
    if not isinstance(edges, list) or not edges:
        return None
    if category.get("skeleton_base") in (0, 1) and not isinstance(category.get("skeleton_base"), bool):
        return category["skeleton_base"]
    flat = [i for e in edges if isinstance(e, (list, tuple)) for i in e if is_int(i)]
    return 0 if 0 in flat else 1


def dump(data: dict, path: str | Path | None = None) -> str:
    """The text every command writes: keys in the order read, UTF-8, compact like CVAT's own export; never NaN or
    Infinity (a number that reads back as one is refused, with where it is)."""
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"
    except ValueError:
        from hoofenv.data.records import non_finite_error

        raise non_finite_error(data, path or "the output") from None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (\ud800) read from the input: keep it as an escape
        text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False) + "\n"
    return text
