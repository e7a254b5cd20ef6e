"""`hoofenv predict` on a checkpoint trained here (1 epoch, 64x64): COCO results JSON and drawn PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.stack]


@pytest.fixture(scope="module")
def model(stack_python, tmp_path_factory) -> tuple[Path, Path]:
    from hoofenv.data.synthetic import generate

    data = generate(tmp_path_factory.mktemp("pdata") / "hooves", n_train=4, n_val=2, seed=5, image_size=(96, 96))
    work = tmp_path_factory.mktemp("prun") / "w"
    proc = run_cli("train", "--data", str(data), "--python", str(stack_python), "--work-dir", str(work),
                   "--epochs", "1", "--workers", "0", "--pretrained", "none", "--batch-size", "2",
                   "--input-size", "64x64", "--val-interval", "1", "--skip-verify")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return work, data


def test_predict_whole_images_and_boxes(stack_python, model, tmp_path):
    work, data = model
    images = sorted((data / "images").glob("val_*"))
    assert len(images) == 2
    out = tmp_path / "pred"
    proc = run_cli("predict", str(work / "best.pth"), *map(str, images), "-o", str(out), "--python",
                   str(stack_python))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    preds = json.loads((out / "predictions.json").read_text())
    assert [p["image_id"] for p in preds] == [1, 2]
    for p in preds:
        assert len(p["keypoints"]) == 4 * 3 and 0 <= p["score"] <= 1
        xs, ys = p["keypoints"][0::3], p["keypoints"][1::3]
        assert all(-48 <= x <= 144 for x in xs) and all(-48 <= y <= 144 for y in ys)
        assert p["bbox"] == [0.0, 0.0, 96.0, 96.0]
    for img in images:
        assert (out / (img.stem + ".png")).read_bytes()[:4] == b"\x89PNG"
    # given boxes: the val annotations' boxes (COCO file with images + annotations)
    out2 = tmp_path / "pred2"
    proc = run_cli("predict", str(work / "best.pth"), *map(str, images), "-o", str(out2), "--python",
                   str(stack_python), "--bboxes", str(data / "annotations" / "val.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    preds2 = json.loads((out2 / "predictions.json").read_text())
    ann = json.loads((data / "annotations" / "val.json").read_text())["annotations"]
    assert len(preds2) == len(ann)
    assert sorted(tuple(round(v, 1) for v in p["bbox"]) for p in preds2) == \
        sorted(tuple(round(float(v), 1) for v in a["bbox"]) for a in ann)


def test_predict_refuses_missing_files(stack_python, model, tmp_path):
    work, _ = model
    proc = run_cli("predict", str(work / "best.pth"), str(tmp_path / "nope.jpg"), "-o", str(tmp_path / "o"),
                   "--python", str(stack_python))
    assert proc.returncode == 2 and "nope.jpg: no such file" in proc.stderr and "Traceback" not in proc.stderr


# `predict --export onnx` (which installs onnx into the env it is given) is tested on a venv layered on the stack,
# never on the shared stack itself: tests/export/test_onnx_real.py.
