"""`data check`: each finding code fires on an export built with that quirk, and a clean export is clean."""

from __future__ import annotations

import json

import pytest

from hoofenv.data.check import check, check_file
from hoofenv.data.findings import CODES
from hoofenv.data.schema import PRESETS
from tests.data.helpers import cvat_export, data_cli, data_json, write_export


def codes(report) -> set[str]:
    return {f.code for f in report.findings}


def by_code(report, code):
    return next(f for f in report.findings if f.code == code)


def test_clean_export_has_no_findings(tmp_path):
    path = write_export(tmp_path, cvat_export(), pictures=True)
    report = check_file(path, images_dir=tmp_path / "images", schema=PRESETS["hoof-side"])
    assert report.ok and report.findings == []
    assert report.stats.instances == 6 and report.stats.images == 3


def _mutate(fn):
    data = cvat_export()
    fn(data)
    return data


def _a(data, i=0):
    return data["annotations"][i]


# code -> (mutation, ids expected in the finding, or None to skip the id assertion)
CASES = {
    "missing-field": (lambda d: _a(d).pop("keypoints"), [1]),
    "wrong-type": (lambda d: _a(d).__setitem__("bbox", "4,4,24,30"), [1]),
    "no-keypoint-names": (lambda d: d["categories"][1].__setitem__("keypoints", []), [1, 2]),
    "keypoint-count-mismatch": (lambda d: d["categories"].append(
        {"id": 3, "name": "leg", "keypoints": ["a", "b"], "skeleton": []}) or _a(d).update(
        category_id=3, keypoints=[1, 1, 2, 2, 2, 2], num_keypoints=2), [1]),
    "keypoints-length": (lambda d: _a(d, 1).__setitem__("keypoints", _a(d, 1)["keypoints"][:9]), [2]),
    "rectangle-category": (lambda d: _a(d, 2).__setitem__("category_id", 1), [3]),
    "unknown-category": (lambda d: _a(d, 2).__setitem__("category_id", 9), [3]),
    "area-missing": (lambda d: [_a(d, 0).pop("area"), _a(d, 1).__setitem__("area", 0)], [1, 2]),
    "bbox-missing": (lambda d: _a(d, 3).pop("bbox"), [4]),
    "bbox-degenerate": (lambda d: [_a(d, 0).__setitem__("bbox", [6, 30, 16, 0]),
                                   _a(d, 5).__setitem__("bbox", [6, 30, 0, 0])], [1, 6]),
    "bbox-outside-image": (lambda d: _a(d, 1).__setitem__("bbox", [70, 4, 10, 10]), [2]),
    "bbox-exceeds-image": (lambda d: _a(d, 1).__setitem__("bbox", [30, 4, 40, 30]), [2]),
    "num-keypoints-wrong": (lambda d: [_a(d, 0).__setitem__("num_keypoints", 3), _a(d, 1).pop("num_keypoints")],
                            [1, 2]),
    "iscrowd-missing": (lambda d: _a(d, 4).pop("iscrowd"), [5]),
    "crowd-instance": (lambda d: _a(d, 4).__setitem__("iscrowd", 1), [5]),
    "visibility-invalid": (lambda d: _a(d, 0)["keypoints"].__setitem__(2, 3), [1]),
    "outside-coords-kept": (lambda d: _a(d, 0)["keypoints"].__setitem__(5, 0) or _a(d, 0).update(num_keypoints=3),
                            [1]),
    "no-visible-keypoints": (lambda d: _a(d, 0).update(keypoints=[0] * 12, num_keypoints=0), [1]),
    "keypoint-outside-bbox": (lambda d: _a(d, 0)["keypoints"].__setitem__(0, 40.0), [1]),
    "keypoint-outside-image": (lambda d: _a(d, 0)["keypoints"].__setitem__(1, -3.0), [1]),
    "duplicate-image-id": (lambda d: d["images"][2].__setitem__("id", 2), [2]),
    "duplicate-annotation-id": (lambda d: _a(d, 3).__setitem__("id", 1), [1]),
    "duplicate-file-name": (lambda d: d["images"][2].__setitem__("file_name", d["images"][0]["file_name"]), [1, 3]),
    "annotation-missing-image": (lambda d: _a(d, 5).__setitem__("image_id", 99), [6]),
    "image-without-annotations": (lambda d: d["images"].append(dict(d["images"][0], id=4, file_name="task/x.png")),
                                  [4]),
    "skeleton-one-based": (lambda d: d["categories"][1].__setitem__("skeleton", [[1, 2], [1, 3], [2, 3], [3, 4]]),
                           [2]),
    "skeleton-invalid": (lambda d: d["categories"][1].__setitem__("skeleton", [[0, 1], [3, 4]]), [2]),
    "non-finite": (lambda d: [_a(d, 1).__setitem__("bbox", [float("nan")] * 4),
                              _a(d, 2)["keypoints"].__setitem__(0, float("inf"))], [2, 3]),
    "image-path-outside": (lambda d: [d["images"][0].__setitem__("file_name", "../../etc/passwd"),
                                      d["images"][2].__setitem__("file_name", "/etc/passwd")], [1, 3]),
}
# codes that need files on disk or a split; their tests are in test_data_check_files.py and test_data_safety_*.py
FILE_CODES = {"image-file-missing", "image-size-mismatch", "image-unreadable", "image-too-large", "invalid-json",
              "split-mismatch", "split-source-changed"}


def test_every_code_has_a_case():
    assert set(CASES) | FILE_CODES == set(CODES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_code_fires(code):
    mutate, ids = CASES[code]
    report = check(_mutate(mutate), "ann.json")
    assert code in codes(report), [f.code for f in report.findings]
    finding = by_code(report, code)
    assert finding.ids == ids
    assert finding.count == len(ids)
    assert finding.severity == CODES[code][0]
    assert report.ok is (not any(f.severity == "error" for f in report.findings))
    assert finding.hint and finding.message


def test_schema_count_from_preset():
    report = check(cvat_export(), "ann.json", schema=PRESETS["hoof-side"])
    assert report.ok
    four_wide = _mutate(lambda d: d["categories"][1].update(keypoints=["a", "b", "c"], skeleton=[]))
    report = check(four_wide, "ann.json", schema=PRESETS["four-hooves"])
    assert "keypoint-count-mismatch" in codes(report) and "keypoints-length" in codes(report)


def test_image_files(tmp_path):
    data = cvat_export()
    path = write_export(tmp_path, data, pictures=True)
    (tmp_path / "images" / data["images"][0]["file_name"]).unlink()
    from PIL import Image
    Image.new("RGB", (65, 48)).save(tmp_path / "images" / data["images"][1]["file_name"])
    (tmp_path / "images" / data["images"][2]["file_name"]).write_bytes(b"not a picture")
    report = check_file(path, images_dir=tmp_path / "images")
    assert by_code(report, "image-file-missing").ids == [1]
    assert by_code(report, "image-size-mismatch").ids == [2]
    assert by_code(report, "image-unreadable").ids == [3]
    assert not report.ok


def test_invalid_json_names_line_and_column(tmp_path):
    path = tmp_path / "cut.json"
    text = json.dumps(cvat_export(), indent=1)
    path.write_text(text[: len(text) // 2])
    code, out = data_json("check", str(path))
    assert code == 1 and out["ok"] is False
    [finding] = out["findings"]
    assert finding["code"] == "invalid-json"
    line = text[: len(text) // 2].count("\n") + 1
    assert f"cut.json:{line}:" in finding["details"][0]


def test_cli_json_shape_and_exit_codes(tmp_path):
    clean = write_export(tmp_path, cvat_export(), "clean.json")
    code, out = data_json("check", str(clean))
    assert code == 0 and out["ok"] is True and out["findings"] == []
    assert [k["name"] for k in out["stats"]["keypoints"]] == PRESETS["hoof-side"].keypoints
    broken = _mutate(lambda d: [_a(d, i).__setitem__("bbox", [1, 1, 5, 0]) for i in (1, 3, 4)])
    code, out = data_json("check", str(write_export(tmp_path, broken, "broken.json")))
    assert code == 1 and out["ok"] is False
    f = next(f for f in out["findings"] if f["code"] == "bbox-degenerate")
    assert {k: f[k] for k in ("severity", "count", "ids")} == {"severity": "error", "count": 3, "ids": [2, 4, 5]}
    assert f["hint"].startswith("hoofenv data fix ")


def test_cli_human_output(tmp_path):
    data = _mutate(lambda d: _a(d, 1).__setitem__("bbox", [1, 1, 5, 0]))
    proc = data_cli("check", str(write_export(tmp_path, data)))
    assert proc.returncode == 1
    assert "[✗] bbox-degenerate:" in proc.stdout
    assert "MMPose: drops them silently" in proc.stdout
    assert "Fix: hoofenv data fix" in proc.stdout


def test_missing_file_is_an_error_not_a_traceback(tmp_path):
    proc = data_cli("check", str(tmp_path / "nope.json"))
    assert proc.returncode == 1
    assert "error: annotation file not found" in proc.stderr and "Traceback" not in proc.stderr


def test_warnings_alone_exit_zero(tmp_path):
    data = _mutate(lambda d: _a(d, 4).__setitem__("iscrowd", 1))
    proc = data_cli("check", str(write_export(tmp_path, data)))
    assert proc.returncode == 0 and "[!] crowd-instance" in proc.stdout


def test_real_cvat_like_exports(realdata):
    """datumaro's CVAT-style exports: the rectangle category and an all-empty-names export."""
    root = realdata / "cvat_like"
    upstream = root / "openvinotoolkit_datumaro/coco_person_keypoints"
    fork = root / "cvat-ai_datumaro/coco_person_keypoints"
    r = check_file(upstream / "annotations/person_keypoints_train.json", images_dir=upstream / "images/train")
    assert "no-keypoint-names" in codes(r) and not r.ok
    r = check_file(fork / "annotations/person_keypoints_val.json", images_dir=fork / "images/val")
    assert by_code(r, "rectangle-category").ids == [2]
    assert by_code(r, "crowd-instance").ids == [2]
    assert "image-file-missing" not in codes(r) and "image-size-mismatch" not in codes(r)


@pytest.mark.parametrize("name,ann", [("ap10k", "test_ap10k.json"), ("animalpose", "test_animalpose.json"),
                                      ("zebra", "test_zebra.json")])
def test_real_samples(realdata, name, ann):
    r = check_file(realdata / name / ann, images_dir=realdata / name)
    assert r.ok, [(f.code, f.ids) for f in r.findings]
    assert codes(r) == {"skeleton-one-based"}
    assert r.stats.instances == 2 and r.stats.annotated_images == 2


def test_animalpose_horse_labelled_cat_counts_hooves(realdata):
    """ho105.jpeg is a horse in category 'cat' with only its left paws labelled (indices 16 and 18)."""
    r = check_file(realdata / "animalpose/test_animalpose.json")
    paws = {k.name: k.labelled for k in r.stats.keypoints if k.name.endswith("_Paw")}
    assert paws == {"L_F_Paw": 2, "R_F_Paw": 1, "L_B_Paw": 2, "R_B_Paw": 0}
