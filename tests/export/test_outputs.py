"""What predictions turn into (hoofenv/export/outputs.py): angles.csv/json, the CVAT pre-annotation file, the review
list; and the `predict`/`export` flags refused before anything runs. No stack: the predictions are written here as
a runner writes them (the real runners: test_onnx_real.py)."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import pytest

from hoofenv.errors import UsageError
from hoofenv.export import outputs
from hoofenv.inenv import angles
from hoofenv.train.predict import PredictRun
from tests.conftest import run_cli
from tests.inenv.test_angles import side_view

NAMES = ["toe", "heel", "hoof_pastern_junction", "pastern_axis"]


def flat(points, scores) -> list:
    out = []
    for (x, y), s in zip(points, scores):
        out += [round(x, 2), round(y, 2), s]
    return out


@pytest.fixture
def run(tmp_path) -> tuple[PredictRun, list[dict]]:
    """Three pictures: a right-facing hoof (52/47.5 degrees), a left-facing one with a doubtful heel, and a picture
    where SimCC could not place the heel (score <= 0)."""
    out = tmp_path / "pred"
    out.mkdir()
    preds = [
        dict(image_id=1, file_name="a.jpg", category_id=1, keypoints=flat(side_view(52.0, 47.5), [0.9, 0.8, 0.85, 0.7]),
             score=0.81, bbox=[100.0, 150.0, 220.0, 200.0]),
        dict(image_id=2, file_name="b.jpg", category_id=1,
             keypoints=flat(side_view(48.0, 55.0, "left"), [0.6, 0.12, 0.5, 0.45]), score=0.42,
             bbox=[90.0, 140.0, 230.0, 210.0]),
        dict(image_id=3, file_name="c.png", category_id=1,
             keypoints=flat(side_view(50.0, 49.0, roll_deg=8.0), [0.7, -0.2, 0.6, 0.5]), score=0.4,
             bbox=[0.0, 0.0, 400.0, 400.0]),
    ]
    (out / "predictions.json").write_text(json.dumps(preds))
    images = [dict(image_id=i, path=f"/data/{n}", width=400, height=400, instances=1, seconds=0.01)
              for i, n in ((1, "a.jpg"), (2, "b.jpg"), (3, "c.png"))]
    return PredictRun(out, "onnxruntime", NAMES, [[0, 1], [0, 2], [1, 2], [2, 3]], "hoof", images), preds


def test_angles_csv_and_json(run):
    result, preds = run
    csv_path, json_path, rows = outputs.write_angles(result, preds, None)
    table = list(csv.DictReader(csv_path.open()))
    assert [r["file_name"] for r in table] == ["a.jpg", "b.jpg", "c.png"]
    assert float(table[0]["hoof_deg"]) == pytest.approx(52.0, abs=0.02)
    assert float(table[0]["pastern_deg"]) == pytest.approx(47.5, abs=0.02)
    assert table[0]["hpa"] == "broken-forward" and table[0]["hpa_words"].startswith("Broken Axis (High)")
    assert (table[1]["hpa"], table[1]["facing"], table[1]["ground"]) == ("broken-back", "left", "toe-heel")
    assert float(table[1]["min_score"]) == 0.12
    # the heel SimCC could not place is left out: the picture's horizontal, on a picture rolled 8 degrees
    assert table[2]["ground"] == "horizontal" and "missing" in table[2]["note"]
    assert float(table[2]["hoof_deg"]) == pytest.approx(58.0, abs=0.02)
    doc = json.loads(json_path.read_text())
    assert doc["points"]["hoof_top"] == "hoof_pastern_junction" and len(doc["instances"]) == 3
    assert doc["aligned_within_deg"] == angles.ALIGNED_DEG


def test_angles_with_points_that_do_not_fit(run):
    result, preds = run
    with pytest.raises(UsageError, match="not among the keypoints"):
        outputs.write_angles(result, preds, angles.PRESETS["hpa-points"])


@pytest.mark.parametrize("suffix", [".json", ".zip"])
def test_cvat_file(run, tmp_path, suffix):
    result, preds = run
    path = outputs.write_cvat(result, preds, str(tmp_path / f"pre{suffix}"), visible_score=0.3)
    if suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            assert zf.namelist() == ["annotations/person_keypoints_default.json"]
            doc = json.loads(zf.read(zf.namelist()[0]))
    else:
        doc = json.loads(path.read_text())
    cat = doc["categories"][0]
    assert cat["name"] == "hoof" and cat["keypoints"] == NAMES and cat["skeleton"] == [[1, 2], [1, 3], [2, 3], [3, 4]]
    assert [(i["id"], i["file_name"], i["width"], i["height"]) for i in doc["images"]] == \
        [(1, "a.jpg", 400, 400), (2, "b.jpg", 400, 400), (3, "c.png", 400, 400)]
    anns = doc["annotations"]
    assert [a["bbox"] for a in anns] == [p["bbox"] for p in preds]
    assert anns[0]["keypoints"][2::3] == [2, 2, 2, 2] and anns[0]["num_keypoints"] == 4
    assert anns[1]["keypoints"][2::3] == [2, 1, 2, 2]  # the doubtful heel: occluded, a point to check
    assert anns[2]["keypoints"][3:6] == [0, 0, 0] and anns[2]["num_keypoints"] == 3  # not placed: outside
    assert anns[0]["keypoints"][0:2] == preds[0]["keypoints"][0:2]
    assert all(a["area"] == pytest.approx(a["bbox"][2] * a["bbox"][3]) and a["iscrowd"] == 0 for a in anns)


def test_cvat_file_passes_the_data_check(run, tmp_path):
    result, preds = run
    path = outputs.write_cvat(result, preds, str(tmp_path / "pre.json"))
    proc = run_cli("data", "check", str(path), "--json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert {f["code"] for f in report["findings"]} <= {"skeleton-one-based", "keypoint-outside-bbox"}, report


def test_cvat_refuses_two_pictures_of_one_name(run, tmp_path):
    result, preds = run
    result.images[1]["path"] = "/elsewhere/a.jpg"
    with pytest.raises(UsageError, match="occur twice"):
        outputs.write_cvat(result, preds, str(tmp_path / "pre.zip"))
    with pytest.raises(UsageError, match=".zip or a .json"):
        outputs.write_cvat(result, preds, str(tmp_path / "pre.xml"))
    assert not list(tmp_path.glob("pre.*"))


def test_review_orders_by_lowest_keypoint_score(run):
    result, preds = run
    result.images.append(dict(image_id=4, path="/data/empty.jpg", width=10, height=10, instances=0, seconds=0.0))
    path, rows = outputs.write_review(result, preds)
    assert [r["file_name"] for r in rows] == ["empty.jpg", "c.png", "b.jpg", "a.jpg"]
    assert rows[1]["weakest_keypoint"] == "heel" and rows[1]["min_score"] == -0.2
    assert rows[0]["min_score"] is None and rows[0]["instances"] == 0
    assert [r["rank"] for r in csv.DictReader(path.open())] == ["1", "2", "3", "4"]


@pytest.mark.parametrize("args, words", [
    (["predict", "--onnx", "m.onnx", "a.jpg", "-o", "o", "--export", "onnx"], "belong to a checkpoint"),
    (["predict", "--onnx", "m.onnx", "-o", "o"], "--onnx needs IMAGES"),
    (["predict", "best.pth", "-o", "o"], "a checkpoint and at least one image"),
    (["predict", "best.pth", "a.jpg", "-o", "o", "--angle-points", "hoof-side"], "without --angles"),
    (["predict", "best.pth", "a.jpg", "-o", "o", "--angles", "--angle-points", "toe=x"], "missing role"),
    (["predict", "best.pth", "a.jpg", "-o", "o", "--cvat", "x.zip", "--visible-score", "0"], "--visible-score"),
    (["predict", "--onnx", "nope.onnx", "a.jpg", "-o", "o"], "nope.onnx: no such file"),
    (["predict", "--onnx", "m.onnx", "a.jpg", "-o", "o", "--threads", "-1"], "--threads"),
    (["export", "nope.pth", "--onnx", "m.onnx"], "nope.pth: no such file"),
    (["export", "best.pth", "--onnx", "a.jpg/m.onnx"], "is a file, not a folder"),
])
def test_flags_refused_before_anything_runs(tmp_path, args, words):
    for name in ("m.onnx", "a.jpg", "best.pth"):
        (tmp_path / name).write_bytes(b"not read")
    proc = run_cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert words in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_export_wants_an_onnx_file_name(tmp_path):
    ckpt = tmp_path / "best.pth"
    ckpt.write_bytes(b"not read")
    (tmp_path / "config.py").write_text("# hoofenv\n")
    proc = run_cli("export", str(ckpt), "--onnx", str(tmp_path / "model.bin"), "--python", "/bin/false")
    assert proc.returncode == 2 and "must end in .onnx" in proc.stderr


def test_cli_lists_export_and_predict_flags():
    text = run_cli("predict", "--help").stdout
    for flag in ("--onnx", "--angles", "--angle-points", "--cvat", "--visible-score"):
        assert flag in text
    assert "--onnx" in run_cli("export", "--help").stdout
    assert Path(outputs.__file__).name == "outputs.py"


def test_boxes_file_is_checked_before_any_picture(tmp_path):
    from hoofenv.inenv import results

    good = tmp_path / "b.json"
    good.write_text(json.dumps([{"file_name": "x/a.jpg", "bbox": [1, 2, 30, 40]}]))
    assert results.load_boxes(str(good)) == {"a.jpg": [[1.0, 2.0, 30.0, 40.0]]}
    assert results.boxes_xyxy(results.load_boxes(str(good)), "/p/a.jpg", 99, 99) == [[1.0, 2.0, 31.0, 42.0]]
    assert results.boxes_xyxy({}, "/p/b.jpg", 64, 48) == [[0.0, 0.0, 64.0, 48.0]]
    for text, words in (("[{\"file_name\": \"a.jpg\", \"bbox\": [1, 2, 0, 4]}]", "w > 0"),
                        ("[{\"file_name\": \"a.jpg\", \"bbox\": [1, 2, NaN, 4]}]", "[0]: bbox"),
                        ("{\"images\": [], \"annotations\": [{\"image_id\": 1, \"bbox\": \"big\"}]}", "annotations[0]"),
                        ("[{\"file_name\": \"a.jpg\"}]", "bbox None"), ("{\"a\": 1}", "expected a COCO file"),
                        ("[1, 2]", "not an object"), ("{", "not readable JSON")):
        good.write_text(text)
        with pytest.raises(results.BoxesError, match=re.escape(words)):
            results.load_boxes(str(good))
