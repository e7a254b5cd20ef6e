"""`data fix`: repairs CVAT's quirks, is idempotent, never loses an annotation, writes atomically with backups."""

from __future__ import annotations

import copy
import json

from hoofenv.data.check import check, check_file
from hoofenv.data.coco import load
from hoofenv.data.fix import fix
from hoofenv.data.schema import PRESETS
from tests.data.helpers import cvat_export, data_cli, data_json, write_export


def quirky() -> dict:
    """Every CVAT quirk fix can repair, one per annotation."""
    d = cvat_export(n_images=4, per_image=2, width=96, height=64)
    a = d["annotations"]
    d["categories"][1]["skeleton"] = [[1, 2], [1, 3], [2, 3], [3, 4]]
    a[0]["bbox"] = [6.0, 30.0, 16.0, 0.0]
    a[1]["bbox"] = [32.0, 12.0, 0.0, 0.0]
    a[1]["area"] = 0.0
    a[2]["category_id"] = 1
    a[3]["keypoints"][0:3] = [150.0, -20.0, 0]
    a[4]["num_keypoints"] = 0
    del a[5]["area"]
    del a[6]["bbox"]
    del a[7]["iscrowd"]
    return d


def test_fix_repairs_every_quirk_and_check_is_clean():
    data = quirky()
    changes = {c.code: c.ids for c in fix(data)}
    assert changes == {
        "skeleton-zero-based": [2], "bbox-from-keypoints": [1, 2, 7], "area-from-bbox": [1, 2, 6, 7],
        "rectangle-category": [3], "outside-coords-zeroed": [4], "num-keypoints": [4, 5], "iscrowd": [8],
    }
    report = check(data, "fixed.json", schema=PRESETS["hoof-side"])
    assert report.ok, [(f.code, f.ids) for f in report.findings]
    assert data["categories"][1]["skeleton"] == [[0, 1], [0, 2], [1, 2], [2, 3]]
    a = data["annotations"]
    assert a[3]["keypoints"][:3] == [0, 0, 0] and a[3]["num_keypoints"] == 3
    assert a[2]["category_id"] == 2
    assert a[5]["area"] == 24.0 * 30.0


def test_bbox_from_keypoints_is_padded_and_inside_the_image():
    data = quirky()
    fix(data)
    kps = data["annotations"][0]["keypoints"]
    x, y, w, h = data["annotations"][0]["bbox"]
    for j in range(0, 12, 3):
        assert x < kps[j] < x + w and y < kps[j + 1] < y + h
    assert x >= 0 and y >= 0 and x + w <= 96 and y + h <= 64
    single = cvat_export(1, 1, width=200, height=100)
    single["annotations"][0].update(keypoints=[50, 50, 2] + [0] * 9, bbox=[50, 50, 0, 0], num_keypoints=1)
    fix(single)
    assert single["annotations"][0]["bbox"] == [46.0, 46.0, 8.0, 8.0]


def test_fix_is_idempotent_and_loses_nothing():
    data = quirky()
    n = len(data["annotations"])
    fix(data)
    once = copy.deepcopy(data)
    assert fix(data) == []
    assert data == once
    assert len(data["annotations"]) == n
    assert sorted(a["id"] for a in data["annotations"]) == list(range(1, n + 1))


def test_duplicate_annotation_ids_are_renumbered():
    data = cvat_export()
    data["annotations"][3]["id"] = 1
    changes = {c.code: c.ids for c in fix(data)}
    assert changes == {"duplicate-annotation-id": [7]}
    assert len({a["id"] for a in data["annotations"]}) == 6


def test_names_from_schema(realdata):
    upstream = realdata / "cvat_like/openvinotoolkit_datumaro/coco_person_keypoints/annotations"
    data = load(upstream / "person_keypoints_train.json")
    three = type(PRESETS["hoof-side"])(name="three", keypoints=["a_1", "a_2", "a_3"], skeleton=[(0, 1), (1, 2)])
    changes = {c.code: c.ids for c in fix(data, schema=three)}
    assert changes["category-keypoint-names"] == [2]
    assert data["categories"][1]["keypoints"] == ["a_1", "a_2", "a_3"]
    assert check(data, "x.json").ok


def test_cli_writes_output_and_keeps_input(tmp_path):
    src = write_export(tmp_path, quirky())
    before = src.read_bytes()
    code, out = data_json("fix", str(src), "-o", str(tmp_path / "out.json"))
    assert code == 0 and out["ok"] is True and out["written"].endswith("out.json")
    assert src.read_bytes() == before
    assert check_file(tmp_path / "out.json").ok
    assert {c["code"] for c in out["changes"]} >= {"bbox-from-keypoints", "rectangle-category"}


def test_cli_refuses_to_overwrite_input(tmp_path):
    src = write_export(tmp_path, quirky())
    proc = data_cli("fix", str(src), "-o", str(src))
    assert proc.returncode == 2 and "--in-place" in proc.stderr
    assert json.loads(src.read_text()) == quirky()


def test_in_place_keeps_backups_and_never_overwrites_one(tmp_path):
    src = write_export(tmp_path, quirky())
    original = src.read_text()
    proc = data_cli("fix", str(src), "--in-place")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ann.json.bak").read_text() == original
    assert check_file(src).ok
    src.write_text(original)
    assert data_cli("fix", str(src), "--in-place").returncode == 0
    assert (tmp_path / "ann.json.bak").read_text() == original
    assert (tmp_path / "ann.json.bak.1").read_text() == original
    assert not list(tmp_path.glob(".ann.json.*.tmp"))


def test_unfixable_errors_exit_1(tmp_path):
    data = cvat_export()
    data["annotations"][0]["keypoints"][2] = 7
    code, out = data_json("fix", str(write_export(tmp_path, data)), "-o", str(tmp_path / "o.json"))
    assert code == 1 and out["ok"] is False
    assert out["unfixable"][0].startswith("visibility-invalid")


def test_bad_input_changes_nothing(tmp_path):
    path = tmp_path / "ann.json"
    path.write_text('{"images": [], "annotations": [')
    proc = data_cli("fix", str(path), "--in-place")
    assert proc.returncode == 1 and "invalid JSON" in proc.stderr and "ann.json:1:" in proc.stderr
    assert not (tmp_path / "ann.json.bak").exists()
    assert path.read_text() == '{"images": [], "annotations": ['
