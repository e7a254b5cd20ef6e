"""Generators of hostile inputs for the data commands (hypothesis strategies), and running the CLI in-process.

Nothing here is a fixed list of bad files: JSON values of every type in every field, NaN/Infinity/1e400 and
integers past 2^53 in random places, names with Rich markup, brackets, spaces and invalid UTF-8.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math

from hypothesis import strategies as st

from tests.data.helpers import cvat_export

OVERFLOW_MARK = 987654.125  # a float written out and then replaced by the literal 1e400 in the text

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.just(OVERFLOW_MARK), st.text(max_size=6),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=8)

MARKUP = ["v2[/final]", "task [horse 1]", "[bold red]hoof[/]", "[link=file:///etc]x[/link]", "a]b[c", "[/]",
          "50% [i]", "\\[escaped]"]
name_text = st.one_of(
    st.sampled_from(MARKUP),
    st.text(alphabet=st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1,
            max_size=16).filter(lambda s: s not in (".", "..")),
)

FIELDS = {
    "images": ["id", "width", "height", "file_name"],
    "annotations": ["id", "image_id", "category_id", "keypoints", "bbox", "area", "iscrowd", "num_keypoints",
                    "segmentation", "attributes"],
    "categories": ["id", "name", "keypoints", "skeleton"],
}


@st.composite
def mutation(draw):
    """One change to an export: a field set to any JSON value or removed, a record replaced, a section replaced,
    or a number inside a list replaced."""
    kind = draw(st.sampled_from(["field", "drop", "record", "section", "element"]))
    section = draw(st.sampled_from(list(FIELDS)))
    index = draw(st.integers(min_value=0, max_value=5))
    name = draw(st.sampled_from(FIELDS[section]))
    value = draw(json_values)
    return kind, section, index, name, value


def apply(data: dict, change: tuple) -> None:
    kind, section, index, name, value = change
    records = data.get(section)
    if kind == "section":
        data[section] = value
        return
    if not isinstance(records, list) or not records:
        return
    record = records[index % len(records)]
    if kind == "record":
        records[index % len(records)] = value
    elif not isinstance(record, dict):
        return
    elif kind == "field":
        record[name] = value
    elif kind == "drop":
        record.pop(name, None)
    elif kind == "element" and isinstance(record.get(name), list) and record[name]:
        record[name][index % len(record[name])] = value


def hostile_text(changes: list[tuple], n_images: int = 3) -> str:
    """The export as text, with the changes applied: NaN and Infinity written as Python writes them, the mark
    replaced by 1e400."""
    data = cvat_export(n_images=n_images)
    for change in changes:
        apply(data, copy.deepcopy(change))
    return json.dumps(data).replace(repr(OVERFLOW_MARK), "1e400")


def run(*argv: str) -> tuple[int, str, str]:
    """`hoofenv ARGV` in this process: (exit status, stdout, stderr). Any exception but SystemExit propagates,
    which is what the no-traceback tests need."""
    from hoofenv.commands.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def strict_json(text: str):
    """Parse as JSON proper: NaN, Infinity and numbers that overflow a double are refused."""
    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    def number(token):
        value = float(token)
        if not math.isfinite(value):
            raise ValueError(f"{token} is not a finite number")
        return value

    return json.loads(text, parse_constant=refuse, parse_float=number)
