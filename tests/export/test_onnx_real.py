"""The after-training path with real parts: a tiny RTMPose trained in the stack on the demo's first pictures, exported
by `hoofenv export --onnx`, run by `hoofenv predict --onnx` in a venv that has onnxruntime and no torch, compared
with `hoofenv predict` on the PyTorch path; its CVAT file imported by datumaro; onnx and the runtime env installed
on demand. The venvs come from tests/export/conftest.py (once per session)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hoofenv.commands.demo_flow import DEFAULT_FACING
from hoofenv.machine.environment import Environment
from tests.conftest import REPO, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.stack]

N_VAL = 8


@pytest.fixture(scope="module")
def model(stack_python, tmp_path_factory) -> tuple[Path, Path]:
    """The demo's dataset (seed 0, 256x256, one facing), its first 40 train and 8 val pictures; 15 epochs at 64x64
    place the points well enough that they differ from picture to picture (checked below)."""
    from hoofenv.data.synthetic import generate

    data = generate(tmp_path_factory.mktemp("odata") / "demo", n_train=40, n_val=N_VAL, seed=0,
                    facing=DEFAULT_FACING)
    work = tmp_path_factory.mktemp("orun") / "w"
    # 75 iterations: ~15 s on two idle cores; run_cli's 10 minutes are too short when the cores are shared
    proc = subprocess.run([sys.executable, "-m", "hoofenv", "train", "--data", str(data), "--python",
                           str(stack_python), "--work-dir", str(work), "--epochs", "15", "--workers", "0",
                           "--pretrained", "none", "--batch-size", "8", "--input-size", "64x64", "--val-interval",
                           "15", "--skip-verify", "--deterministic"], capture_output=True, text=True, cwd=REPO,
                          timeout=3600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return work, data


@pytest.fixture(scope="module")
def exported(model, onnx_stack_python, tmp_path_factory) -> Path:
    work, _ = model
    target = tmp_path_factory.mktemp("onnx") / "hoof.onnx"
    proc = run_cli("export", str(work / "best.pth"), "--onnx", str(target), "--python", str(onnx_stack_python),
                   "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert out["onnx"] == str(target) and out["installed"] == [] and out["input"] == [1, 3, 64, 64]
    return target


@pytest.fixture(scope="module")
def both(model, exported, onnx_stack_python, ort_python, tmp_path_factory) -> tuple[Path, Path, list[Path]]:
    """The same pictures and boxes through both paths, with --angles and --cvat."""
    _, data = model
    images = sorted((data / "images").glob("val_*"))
    boxes = str(data / "annotations" / "val.json")
    torch_out, onnx_out = tmp_path_factory.mktemp("torch"), tmp_path_factory.mktemp("ort")
    work = exported.parent
    proc = run_cli("predict", str(model[0] / "best.pth"), *map(str, images), "-o", str(torch_out), "--bboxes", boxes,
                   "--python", str(onnx_stack_python), "--angles", "--cvat", str(torch_out / "pre.zip"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run_cli("predict", "--onnx", str(exported), *map(str, images), "-o", str(onnx_out), "--bboxes", boxes,
                   "--python", str(ort_python), "--angles", "--cvat", str(work / "pre.zip"), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["backend"] == "onnxruntime"
    return torch_out, onnx_out, images


def test_onnx_keypoints_agree_with_pytorch_within_a_pixel(both):
    torch_out, onnx_out, images = both
    a = json.loads((torch_out / "predictions.json").read_text())
    b = json.loads((onnx_out / "predictions.json").read_text())
    assert len(a) == len(b) == N_VAL
    for x, y in zip(a, b):
        assert (x["image_id"], x["file_name"], x["bbox"]) == (y["image_id"], y["file_name"], y["bbox"])
        for j in range(0, len(x["keypoints"]), 3):
            assert abs(x["keypoints"][j] - y["keypoints"][j]) <= 1.0, (x, y)
            assert abs(x["keypoints"][j + 1] - y["keypoints"][j + 1]) <= 1.0, (x, y)
            assert abs(x["keypoints"][j + 2] - y["keypoints"][j + 2]) <= 1e-3, (x, y)
    # a model that puts every point at the same place of its crop would agree trivially: these move with the hoof
    spread = []
    for k in range(4):
        crop = [((p["keypoints"][3 * k] - p["bbox"][0]) / p["bbox"][2], (p["keypoints"][3 * k + 1] - p["bbox"][1])
                 / p["bbox"][3]) for p in a]
        xs, ys = [c[0] for c in crop], [c[1] for c in crop]
        spread.append(max(max(xs) - min(xs), max(ys) - min(ys)))
    assert max(spread) > 0.1, spread
    for img in images:
        assert (torch_out / f"{img.stem}.png").read_bytes()[:4] == b"\x89PNG"
        assert (onnx_out / f"{img.stem}.png").read_bytes()[:4] == b"\x89PNG"


def test_both_paths_give_the_same_angles(both):
    torch_out, onnx_out, _ = both
    a = json.loads((torch_out / "angles.json").read_text())["instances"]
    b = json.loads((onnx_out / "angles.json").read_text())["instances"]
    assert len(a) == len(b) == N_VAL
    for x, y in zip(a, b):
        for key in ("hoof_deg", "pastern_deg"):
            if x[key] is None or y[key] is None:
                assert x[key] == y[key]
            else:
                assert abs(x[key] - y[key]) < 2.0, (x, y)
    assert sum(x["hpa"] == y["hpa"] for x, y in zip(a, b)) >= N_VAL - 1


def test_cvat_file_imports_in_datumaro_with_everything_intact(both, exported, datumaro_python, model, tmp_path):
    """CVAT imports "COCO Keypoints 1.0" through datumaro's coco_person_keypoints: every picture, box and placed
    point arrives; `hoofenv data check` passes the same file with its pictures."""
    _, onnx_out, images = both
    root = tmp_path / "task"
    with zipfile.ZipFile(exported.parent / "pre.zip") as zf:
        zf.extractall(root)
    (root / "images" / "default").mkdir(parents=True)  # CVAT's export layout; PyPI datumaro wants the folder
    for img in images:
        shutil.copy(img, root / "images" / "default" / img.name)
    code = (
        "import sys, json, datumaro as dm\n"
        "ds = dm.Dataset.import_from(sys.argv[1], 'coco_person_keypoints')\n"
        "cat = ds.categories()\n"
        "out = {'label': [l.name for l in cat[dm.AnnotationType.label].items],\n"
        "       'points': cat[dm.AnnotationType.points].items[0].labels, 'items': {}}\n"
        "for item in ds:\n"
        "    anns = [{'type': a.type.name, 'points': [float(v) for v in getattr(a, 'points', [])],\n"
        "             'visibility': [int(v) for v in (getattr(a, 'visibility', None) or [])],\n"
        "             'bbox': [float(v) for v in a.get_bbox()]} for a in item.annotations]\n"
        "    out['items'][item.id] = {'image': item.media.path, 'anns': anns}\n"
        "print(json.dumps(out))\n")
    proc = subprocess.run([str(datumaro_python), "-c", code, str(root)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    preds = json.loads((onnx_out / "predictions.json").read_text())
    assert got["label"] == ["hoof"] and got["points"] == ["toe", "heel", "hoof_pastern_junction", "pastern_axis"]
    assert sorted(got["items"]) == sorted(img.stem for img in images)
    for p in preds:
        anns = got["items"][Path(p["file_name"]).stem]["anns"]
        box = next(a for a in anns if a["type"] == "bbox")
        assert box["bbox"] == pytest.approx(p["bbox"], abs=0.01)
        pts = next(a for a in anns if a["type"] == "points")
        for k, v in enumerate(pts["visibility"]):
            if v:  # placed: the predicted position, exactly
                assert pts["points"][2 * k:2 * k + 2] == pytest.approx(p["keypoints"][3 * k:3 * k + 2], abs=0.01)
        assert sum(1 for v in pts["visibility"] if v) == sum(1 for s in p["keypoints"][2::3] if s > 0)
    check = run_cli("data", "check", str(root / "annotations" / "person_keypoints_default.json"), "--images",
                    str(root / "images" / "default"))
    assert check.returncode == 0, check.stdout + check.stderr


def test_predict_export_onnx_writes_the_model_too(model, onnx_stack_python, ort_python, exported, tmp_path):
    """The older spelling, `hoofenv predict CKPT IMAGE --export onnx`: DIR/model.onnx, the same model."""
    work, data = model
    image = sorted((data / "images").glob("val_*"))[0]
    proc = run_cli("predict", str(work / "best.pth"), str(image), "-o", str(tmp_path / "o"), "--python",
                   str(onnx_stack_python), "--export", "onnx")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    made = tmp_path / "o" / "model.onnx"
    assert made.stat().st_size > 100_000 and (tmp_path / "o" / "predictions.json").exists()
    outs = []
    for i, m in enumerate((made, exported)):
        run = run_cli("predict", "--onnx", str(m), str(image), "-o", str(tmp_path / f"r{i}"), "--python",
                      str(ort_python))
        assert run.returncode == 0, run.stdout + run.stderr
        outs.append(json.loads((tmp_path / f"r{i}" / "predictions.json").read_text()))
    assert outs[0] == outs[1]


def test_review_list_and_angles_files(both):
    _, onnx_out, images = both
    rows = (onnx_out / "review.csv").read_text().splitlines()
    assert rows[0].startswith("rank,file_name,min_score") and len(rows) == 1 + len(images)
    scores = [float(r.split(",")[2]) for r in rows[1:]]
    assert scores == sorted(scores)
    assert (onnx_out / "angles.csv").read_text().count("\n") == 1 + N_VAL


def test_export_installs_onnx_on_demand_and_leaves_the_stack_alone(model, bare_stack_python, stack_python, tmp_path):
    stack_env = Environment(Path(stack_python).parent.parent)
    before = stack_env.installed()
    target = tmp_path / "m.onnx"
    proc = run_cli("export", str(model[0] / "best.pth"), "--onnx", str(target), "--python", str(bare_stack_python))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "installing onnx==" in proc.stderr and target.stat().st_size > 100_000
    assert subprocess.run([str(bare_stack_python), "-c", "import onnx"]).returncode == 0
    assert stack_env.installed() == before
    # and a second time it is there already
    again = run_cli("export", str(model[0] / "best.pth"), "--onnx", str(target), "--python", str(bare_stack_python))
    assert again.returncode == 0 and "installing" not in again.stderr


def test_runtime_env_is_made_on_first_use(exported, model, tmp_path):
    from hoofenv.export.onnx import _own_interpreter_has_runtime

    if _own_interpreter_has_runtime():
        pytest.skip("this hoofenv's own python has numpy, onnxruntime and Pillow: it runs them itself")
    _, data = model
    image = sorted((data / "images").glob("val_*"))[0]
    env = {"HOOFENV_CACHE_DIR": str(tmp_path / "cache")}
    proc = run_cli("predict", "--onnx", str(exported), str(image), "-o", str(tmp_path / "o"), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "installing " in proc.stderr and "onnxruntime==" in proc.stderr
    made = tmp_path / "cache" / "onnx-runtime" / "env" / "bin" / "python"
    assert made.exists() and not (tmp_path / "cache" / "onnx-runtime" / "env.partial").exists()
    assert subprocess.run([str(made), "-c", "import torch"], capture_output=True).returncode != 0
    again = run_cli("predict", "--onnx", str(exported), str(image), "-o", str(tmp_path / "o2"), env=env)
    assert again.returncode == 0 and "installing" not in again.stderr


def test_a_file_that_is_not_a_hoofenv_export_is_refused(ort_python, tmp_path, model):
    _, data = model
    bogus = tmp_path / "m.onnx"
    bogus.write_bytes(b"\x08\x07 this is not a model")
    image = sorted((data / "images").glob("val_*"))[0]
    proc = run_cli("predict", "--onnx", str(bogus), str(image), "-o", str(tmp_path / "o"), "--python",
                   str(ort_python))
    assert proc.returncode == 2 and "m.onnx" in proc.stderr and "hoofenv export" in proc.stderr, proc.stderr


WARP_CHECK = """
import importlib, importlib.util, json, sys
import numpy as np, cv2
spec = importlib.util.spec_from_file_location("launch", sys.argv[1])
launch = importlib.util.module_from_spec(spec); spec.loader.exec_module(launch); launch.load_package()
run = importlib.import_module("hoofenv_inenv.onnx_runner")
from mmpose.structures.bbox import bbox_xyxy2cs, get_warp_matrix
from mmpose.datasets.transforms.topdown_transforms import TopdownAffine
rng = np.random.default_rng(1)
differ, paths = [], set()
for t in range(200):
    h, w = (int(v) for v in rng.integers(30, 300, 2))
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    x0, y0 = rng.uniform(-30, w), rng.uniform(-30, h)
    box = [0.0, 0.0, float(w), float(h)] if t % 3 == 0 else [x0, y0, x0 + rng.uniform(4, w), y0 + rng.uniform(4, h)]
    size = [(64, 64), (128, 128), (192, 256)][t % 3]
    if t == 0:  # a box whose x offset rounds one way on some rows and the other on the rest (1 in ~2000 random boxes)
        box, size = [115.25306602467094, 124.17813863636417, 238.3517954414264, 199.446238433137], (128, 128)
    c, s = run.center_scale(box, {"input_size": size, "bbox_padding": 1.25}, np)
    cc, ss = bbox_xyxy2cs(np.array(box, dtype=np.float32)[None], padding=1.25)
    ss = TopdownAffine._fix_aspect_ratio(ss, aspect_ratio=size[0] / size[1])
    assert np.array_equal(c, cc[0]) and np.array_equal(s, ss[0]), (box, c, cc, s, ss)
    ref = cv2.warpAffine(img, get_warp_matrix(cc[0], ss[0], 0., output_size=size), size, flags=cv2.INTER_LINEAR)
    m = run.warp_matrix(c, s, size, np)
    assert np.array_equal(m, get_warp_matrix(cc[0], ss[0], 0., output_size=size)), (box, size)
    if t % 4 == 3:  # rotated: the general path of the same warp
        m = get_warp_matrix(cc[0], ss[0], float(rng.uniform(-40, 40)), output_size=size)
        ref = cv2.warpAffine(img, m, size, flags=cv2.INTER_LINEAR)
    mine = run.warp_like_cv2(img, m, size, np)
    (rx, _), (_, cy) = run._source_maps(m, size, np)
    paths.add("any" if cy.any() else f"rows x {len(np.unique(rx))}")
    if not np.array_equal(ref, mine):
        differ.append([t, int(np.abs(ref.astype(int) - mine.astype(int)).max())])
print(json.dumps([differ, sorted(paths)]))
"""


def test_the_onnx_crop_is_cv2s_warp_bit_for_bit(stack_python):
    """onnx_runner's numpy warp (no OpenCV in its env) against cv2.warpAffine of MMPose's TopdownAffine: its
    axis-aligned paths (one group of rows, and two where the x offset's rounding differs from row to row) and, with
    a rotated matrix, its general path. The matrix itself is cv2.getAffineTransform's to the last bit: one that
    is not flips the rounding of whole rows for some boxes (the first one here)."""
    proc = subprocess.run([str(stack_python), "-c", WARP_CHECK, str(REPO / "hoofenv" / "inenv" / "launch.py")],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    differ, paths = json.loads(proc.stdout.strip().splitlines()[-1])
    assert differ == [] and paths == ["any", "rows x 1", "rows x 2"], (differ, paths)
