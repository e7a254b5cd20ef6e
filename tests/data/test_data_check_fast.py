"""The column-wise fast path of `data check` finds exactly what the per-record path finds: generated exports with
CVAT's quirks and hostile values in random records, checked both ways."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoofenv.data import check as check_module
from hoofenv.data import checkfast, stream
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


def split_way(text: str, monkeypatch, chunk: int | None = None) -> tuple:
    """The check with the annotations shared by two processes (on any size, any machine), and how many times
    the child's half was taken in."""
    merged = []
    real_merge = check_module._Half.merge
    with monkeypatch.context() as m:
        m.setattr(stream, "SPLIT_MIN", 0)
        m.setattr(stream, "_cores", lambda: 2)
        m.setattr(check_module._Half, "merge", lambda self, *a: merged.append(1) or real_merge(self, *a))
        if chunk:
            m.setattr(stream, "CHUNK", chunk)
        return check_module.check_text(text, "ann.json"), len(merged)


@settings(max_examples=40, deadline=None)
@given(quirks=st.lists(st.tuples(st.integers(min_value=0, max_value=59), st.sampled_from(sorted(QUIRKS)),
                                 json_values), max_size=12),
       hostile=st.lists(mutation(), max_size=2), chunk=st.sampled_from([None, 300, 2000]))
def test_two_processes_find_what_one_finds(quirks, hostile, chunk):
    """The second process's half (its counts, its duplicates, its records left to the per-record path) merges
    into exactly the one-process findings and statistics, whichever records carry faults."""
    data = cvat_export(n_images=20, per_image=3)
    for index, quirk, value in quirks:
        QUIRKS[quirk](data["annotations"][index], value)
    for change in hostile:
        apply(data, copy.deepcopy(change))
    text = json.dumps(data)
    with pytest.MonkeyPatch.context() as mp:
        split, _ = split_way(text, mp, chunk)
    one, slow = both_ways(text)
    assert summary(split) == summary(one) == summary(slow)
    assert split.stats == one.stats and split.ok == one.ok


def test_the_second_process_really_runs_and_counts_duplicates_across_halves(monkeypatch):
    data = cvat_export(n_images=50, per_image=4)
    anns = data["annotations"]
    anns[-1]["id"] = anns[0]["id"]  # the same id in both halves
    anns[-2]["id"] = anns[-3]["id"]  # twice in the second half
    anns[-4]["bbox"][3] = 0.0  # a record the child sends back
    anns[-5]["keypoints"][5] = 0  # outside coordinates kept, settled by the child
    text = json.dumps(data)
    split, merged = split_way(text, monkeypatch, chunk=500)
    one = check_module.check_text(text, "ann.json")
    assert merged == 1
    assert summary(split) == summary(one)
    assert {"duplicate-annotation-id", "bbox-degenerate", "outside-coords-kept"} <= set(summary(split))
    assert split.stats == one.stats


@pytest.mark.parametrize("fault", ["string", "syntax", "nan", "before-images"])
def test_a_split_that_cannot_be_used_gives_the_one_process_answer(fault, monkeypatch):
    """`}, {` inside a string at the halfway point, a syntax error or NaN in the second half, annotations before
    the images: the answer is the one-process answer (the child's half is dropped or never started)."""
    data = cvat_export(n_images=40, per_image=3)
    anns = data["annotations"]
    if fault == "string":
        for a in anns:
            a["attributes"]["note"] = "}, {" * 40
    if fault == "nan":
        anns[-3]["bbox"][0] = float("nan")
    if fault == "before-images":
        data = {"annotations": anns, **{k: v for k, v in data.items() if k != "annotations"}}
    text = json.dumps(data)
    if fault == "syntax":
        cut = text.rindex('"keypoints"')
        text = text[:cut] + text[cut:].replace(":", "", 1)
    split, _ = split_way(text, monkeypatch)
    one = check_module.check_text(text, "ann.json")
    assert summary(split) == summary(one)
    assert split.stats == one.stats and split.ok == one.ok
    if fault == "syntax":
        assert "invalid-json" in summary(one)
