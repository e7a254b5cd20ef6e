"""After `data fix`, MMPose's own CocoDataset loads every instance and CocoMetric scores perfect predictions 1.0.

Runs with the python of a real stack (HOOFENV_STACK_PYTHON, see conftest.stack_python); the export is built
here with CVAT's quirks, and the unfixed export is loaded too, to show what MMPose silently drops.
"""

from __future__ import annotations

import json
import subprocess

from hoofenv.data.coco import load
from hoofenv.data.schema import Schema, write_metainfo
from tests.data.helpers import cvat_export, data_cli, write_export

SCRIPT = r'''
import json, sys
import numpy as np
from mmpose.datasets import CocoDataset
from mmpose.evaluation import CocoMetric

ann_file, meta_file, img_dir = sys.argv[1:4]
ds = CocoDataset(ann_file=ann_file, data_root="", data_prefix=dict(img=img_dir), data_mode="topdown",
                 metainfo=dict(from_file=meta_file), pipeline=[], test_mode=False)
result = {"instances": len(ds), "num_keypoints": int(ds.metainfo["num_keypoints"]),
          "flip_indices": list(ds.metainfo["flip_indices"])}
if sys.argv[4:] == ["--metric"]:
    metric = CocoMetric(ann_file=ann_file)
    metric.dataset_meta = ds.metainfo
    samples = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        samples.append(dict(
            id=info["id"], img_id=info["img_id"], category_id=int(info["category_id"]),
            ori_shape=(0, 0), raw_ann_info=info["raw_ann_info"],
            pred_instances=dict(keypoints=info["keypoints"], keypoint_scores=np.ones(info["keypoints"].shape[:2])),
            gt_instances=dict(bbox_scores=np.ones(1)),
        ))
    metric.process([], samples)
    result["metric"] = {k: float(v) for k, v in metric.evaluate(size=len(samples)).items()}
print("RESULT " + json.dumps(result))
'''


def _run(stack_python, tmp_path, ann, meta, metric=False) -> dict:
    script = tmp_path / "load_with_mmpose.py"
    script.write_text(SCRIPT)
    cmd = [str(stack_python), str(script), str(ann), str(meta), str(tmp_path / "images")] + (["--metric"] if metric else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_fixed_export_loads_every_instance_and_scores(stack_python, tmp_path):
    data = cvat_export(n_images=4, per_image=2, width=96, height=64)
    anns = data["annotations"]
    data["categories"][1]["skeleton"] = [[1, 2], [1, 3], [2, 3], [3, 4]]
    anns[0]["bbox"] = [6.0, 30.0, 16.0, 0.0]                       # skeleton alone: zero height
    anns[1]["bbox"] = [32.0, 12.0, 0.0, 0.0]
    anns[1]["area"] = 0.0
    anns[2]["category_id"] = 1                                      # grouped rectangle label
    anns[3]["keypoints"][2] = 0                                     # outside, coordinates kept
    anns[4]["num_keypoints"] = 0                                    # wrong count: MMPose trusts it
    del anns[5]["area"]
    del anns[6]["bbox"]
    raw = write_export(tmp_path, data, "raw.json", pictures=True)
    meta_raw = write_metainfo(Schema.from_coco(load(raw)), tmp_path / "meta_raw.py")
    before = _run(stack_python, tmp_path, raw, meta_raw)
    assert before["instances"] < len(anns), "the quirks no longer make MMPose drop instances: update this test"

    proc = data_cli("fix", str(raw), "-o", str(tmp_path / "fixed.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fixed = load(tmp_path / "fixed.json")
    meta = write_metainfo(Schema.from_coco(fixed), tmp_path / "meta.py")
    after = _run(stack_python, tmp_path, tmp_path / "fixed.json", meta, metric=True)
    assert after["instances"] == len(fixed["annotations"]) == len(anns)
    assert after["num_keypoints"] == 4
    assert abs(after["metric"]["coco/AP"] - 1.0) < 1e-9, after


def test_real_samples_load_whole_after_fix(stack_python, realdata, tmp_path):
    """AP-10K, Animal-Pose (its horse labelled 'cat') and zebra: fixed, MMPose keeps every instance."""
    import shutil

    for name, ann in [("ap10k", "test_ap10k.json"), ("animalpose", "test_animalpose.json"),
                      ("zebra", "test_zebra.json")]:
        work = tmp_path / name
        work.mkdir()
        shutil.copytree(realdata / name, work / "images", ignore=shutil.ignore_patterns("*.json"))
        proc = data_cli("fix", str(realdata / name / ann), "-o", str(work / "fixed.json"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        fixed = load(work / "fixed.json")
        meta = write_metainfo(Schema.from_coco(fixed), work / "meta.py")
        got = _run(stack_python, work, work / "fixed.json", meta, metric=True)
        assert got["instances"] == len(fixed["annotations"]), (name, got)
        assert abs(got["metric"]["coco/AP"] - 1.0) < 1e-9, (name, got)
