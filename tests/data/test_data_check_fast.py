"""The column-wise fast path of `data check` finds exactly what the per-record path finds: generated exports with
CVAT's quirks and hostile values in random records, checked both ways."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoofenv.data import check as check_module
from hoofenv.data import checkfast
from tests.data.helpers import cvat_export
from tests.data.hostile import apply, json_values, mutation

QUIRKS = {
    "flat-box": lambda a, v: a["bbox"].__setitem__(3, 0.0),
    "no-area": lambda a, v: a.__setitem__("area", 0),
    "box-off-picture": lambda a, v: a["bbox"].__setitem__(0, 60.0),
    "box-past-edge": lambda a, v: a["bbox"].__setitem__(2, 70.0),
    "point-off-box": lambda a, v: a["keypoints"].__setitem__(0, a["bbox"][0] - 3),
    "point-off-picture": lambda a, v: a["keypoints"].__setitem__(1, -2.0),
    "outside-kept": lambda a, v: a["keypoints"].__setitem__(5, 0),
    "outside-zeroed": lambda a, v: a["keypoints"].__setitem__(slice(3, 6), [0, 0, 0]),
    "v3": lambda a, v: a["keypoints"].__setitem__(2, 3),
    "none-labelled": lambda a, v: a["keypoints"].__setitem__(slice(2, None, 3), [0, 0, 0, 0]),
    "one-labelled": lambda a, v: a["keypoints"].__setitem__(slice(5, None, 3), [0, 0, 0]),
    "nk-wrong": lambda a, v: a.__setitem__("num_keypoints", 3),
    "crowd": lambda a, v: a.__setitem__("iscrowd", 1),
    "no-crowd": lambda a, v: a.pop("iscrowd", None),
    "rectangle": lambda a, v: a.__setitem__("category_id", 1),
    "dup-id": lambda a, v: a.__setitem__("id", 1),
    "no-image": lambda a, v: a.__setitem__("image_id", 999),
    "bool-point": lambda a, v: a["keypoints"].__setitem__(3, True),
    "big-point": lambda a, v: a["keypoints"].__setitem__(3, 2 ** 60),
    "extra-field": lambda a, v: a.__setitem__("score", v),
    "attribute": lambda a, v: a["attributes"].__setitem__("rotation", v),
    "segmentation": lambda a, v: a.__setitem__("segmentation", [[1.5, 2.5, 3.5, 4.5]]),
    "at-edge": lambda a, v: a["bbox"].__setitem__(0, 0.5),
}


def both_ways(text: str) -> tuple:
    fast = check_module.check_text(text, "ann.json")
    real_a, real_i = checkfast.annotations, checkfast.images
    checkfast.annotations = lambda ck, batch: None
    checkfast.images = lambda ck, batch: None
    try:
        slow = check_module.check_text(text, "ann.json")
    finally:
        checkfast.annotations, checkfast.images = real_a, real_i
    return fast, slow


def summary(report) -> dict:
    out = {}
    for f in report.findings:
        order_free = f.code == "duplicate-annotation-id"
        out[f.code] = (f.count, f.severity, sorted(map(str, f.ids)) if order_free else f.ids,
                       sorted(f.details) if order_free else f.details)
    return out


@settings(max_examples=60, deadline=None)
@given(quirks=st.lists(st.tuples(st.integers(min_value=0, max_value=59), st.sampled_from(sorted(QUIRKS)),
                                 json_values), max_size=12),
       hostile=st.lists(mutation(), max_size=2))
def test_fast_and_per_record_paths_agree(quirks, hostile):
    data = cvat_export(n_images=20, per_image=3)
    for index, quirk, value in quirks:
        QUIRKS[quirk](data["annotations"][index], value)
    for change in hostile:
        apply(data, copy.deepcopy(change))
    fast, slow = both_ways(json.dumps(data))
    assert summary(fast) == summary(slow)
    assert fast.stats == slow.stats and fast.ok == slow.ok


@pytest.mark.parametrize("n", [1, 5000])
def test_the_fast_path_really_runs(n, monkeypatch):
    """A clean CVAT export is settled column-wise (no per-record call), in one batch or many."""
    calls = []
    real = check_module._Checker.annotation
    monkeypatch.setattr(check_module._Checker, "annotation", lambda *a: calls.append(1) or real(*a))
    report = check_module.check_text(json.dumps(cvat_export(n_images=n, per_image=2)), "ann.json")
    assert report.ok and report.stats.instances == 2 * n and calls == []
