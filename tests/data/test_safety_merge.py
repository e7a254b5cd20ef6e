"""`data merge` never doubles: the same export twice is refused, identical annotations are duplicates (across
exports and within one), and the count proof, taken from a ledger of each input annotation's fate, holds for
generated overlapping exports."""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.data.helpers import cvat_export, write_export
from tests.data.hostile import run


def test_the_same_export_twice_is_refused(tmp_path):
    a = write_export(tmp_path, cvat_export(n_images=4), "A.json")
    for argv in ([str(a), str(a)], [str(a), str(tmp_path / "." / "A.json")]):
        code, out, err = run("data", "merge", *argv, "-o", str(tmp_path / "m.json"))
        assert code == 2 and "given twice" in err, err
    shutil.copy(a, tmp_path / "copy.json")
    code, out, err = run("data", "merge", str(a), str(tmp_path / "copy.json"), "-o", str(tmp_path / "m.json"))
    assert code == 2 and "same content" in err
    assert not (tmp_path / "m.json").exists()


def test_a_re_export_with_the_same_annotations_is_all_duplicates(tmp_path):
    a = write_export(tmp_path, cvat_export(n_images=4), "A.json")
    again = cvat_export(n_images=4)
    again["info"]["description"] = "exported again"  # other bytes, same annotations
    b = write_export(tmp_path, again, "B.json")
    code, out, err = run("data", "merge", str(a), str(b), "-o", str(tmp_path / "m.json"), "--json")
    assert code == 0, err
    c = json.loads(out)["counts"]
    assert (c["annotations_in"], c["annotations_out"], c["duplicate_annotations"]) == (16, 8, 8)
    assert len(json.loads((tmp_path / "m.json").read_text())["annotations"]) == 8


def test_identical_annotations_within_one_export_are_duplicates(tmp_path):
    a_data = cvat_export(n_images=3)
    a_data["annotations"].append(dict(a_data["annotations"][0], id=99))  # the same skeleton drawn twice
    a = write_export(tmp_path, a_data, "A.json")
    b = write_export(tmp_path, cvat_export(n_images=2), "B.json")
    code, out, err = run("data", "merge", str(a), str(b), "-o", str(tmp_path / "m.json"), "--json", "--prefer",
                         "first")
    assert code == 0, err
    report = json.loads(out)
    assert any(d["annotation_id"] == 99 for d in report["duplicate_annotations"])
    merged = json.loads((tmp_path / "m.json").read_text())
    sigs = [(a["image_id"], tuple(a["keypoints"]), tuple(a["bbox"])) for a in merged["annotations"]]
    assert len(sigs) == len(set(sigs))


@st.composite
def overlapping_exports(draw):
    """Two to four exports of one task: each takes some of its images, may move a point, drop or repeat an
    annotation, and renumbers ids from 1 as CVAT does."""
    base = cvat_export(n_images=6, per_image=2)
    exports = []
    for _ in range(draw(st.integers(min_value=2, max_value=4))):
        keep = draw(st.sets(st.integers(min_value=1, max_value=6), min_size=1))
        data = copy.deepcopy(base)
        data["images"] = [i for i in data["images"] if i["id"] in keep]
        anns = [a for a in data["annotations"] if a["image_id"] in keep]
        for a in list(anns):
            what = draw(st.sampled_from(["same", "same", "move", "drop", "repeat"]))
            if what == "move":
                a["keypoints"][0] += draw(st.integers(min_value=1, max_value=5))
            elif what == "drop":
                anns.remove(a)
            elif what == "repeat":
                anns.append(copy.deepcopy(a))
        data["annotations"] = [dict(a, id=n + 1) for n, a in enumerate(anns)]
        data["info"]["description"] = f"export {len(exports)}"
        exports.append(data)
    return exports, draw(st.sampled_from(["first", "last"]))


@settings(max_examples=40, deadline=None)
@given(case=overlapping_exports())
def test_the_count_proof_holds_and_nothing_is_doubled(case):
    exports, prefer = case
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(write_export(Path(tmp), d, f"e{n}.json")) for n, d in enumerate(exports)]
        code, out, err = run("data", "merge", *paths, "-o", f"{tmp}/m.json", "--prefer", prefer, "--json")
        assert code == 0, err
        c = json.loads(out)["counts"]
        merged = json.loads(Path(f"{tmp}/m.json").read_text())
    assert c["annotations_in"] == sum(len(d["annotations"]) for d in exports)
    assert c["annotations_in"] == c["annotations_out"] + c["duplicate_annotations"] + c["superseded_annotations"]
    assert c["annotations_out"] == len(merged["annotations"])
    assert c["images_out"] == len({i["file_name"] for d in exports for i in d["images"]}) == len(merged["images"])
    sigs = [(a["image_id"], a["category_id"], tuple(a["keypoints"]), tuple(a["bbox"])) for a in merged["annotations"]]
    assert len(sigs) == len(set(sigs)), "no two merged annotations on one image are identical"
    annotated = {e for d in exports for e in (i["file_name"] for i in d["images"]
                                               if any(a["image_id"] == i["id"] for a in d["annotations"]))}
    by_id = {i["id"]: i["file_name"] for i in merged["images"]}
    assert {by_id[a["image_id"]] for a in merged["annotations"]} == annotated, "no annotated image lost"
