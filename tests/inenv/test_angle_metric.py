"""The hoof-angle validation metric (hoofenv/inenv/angle_metric.py) inside the real stack, on constructed
samples shaped as MMPose's topdown val loop hands them over (pred_instances / gt_instances numpy arrays)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.stack]

SCRIPT = """
import importlib, importlib.util, json, math, sys
import numpy as np
spec = importlib.util.spec_from_file_location("launch", sys.argv[1])
launch = importlib.util.module_from_spec(spec); spec.loader.exec_module(launch); launch.load_package()
metric_mod = importlib.import_module("hoofenv_inenv.angle_metric")
from mmpose.registry import METRICS

def hoof(h, p, mirror=1):
    toe, heel = (0.7, 0.0), (-0.6, 0.0)
    j = (toe[0] - math.cos(math.radians(h)), math.sin(math.radians(h)))
    a = (j[0] - math.cos(math.radians(p)), j[1] + math.sin(math.radians(p)))
    return np.array([[100 + 50 * x * mirror, 200 - 50 * y] for x, y in (toe, heel, j, a)], dtype=np.float32)

m = METRICS.build(dict(type="HoofAngleMetric", points=None))
m.dataset_meta = {"keypoint_id2name": {0: "toe", 1: "heel", 2: "hoof_pastern_junction", 3: "pastern_axis"}}
samples = []
for k, (gt, pred) in enumerate((((50, 50), (52, 50)), ((55, 45), (55, 49)), ((48, 52), (44, 52)))):
    vis = np.ones((1, 4), dtype=np.float32)
    if k == 2:
        vis[0, 1] = 0  # heel not labelled: both sides measure against the horizontal
    samples.append({"pred_instances": {"keypoints": hoof(*pred, mirror=-1 if k else 1)[None]},
                    "gt_instances": {"keypoints": hoof(*gt, mirror=-1 if k else 1)[None], "keypoints_visible": vis}})
m.process([], samples)
print(json.dumps(m.compute_metrics(m.results)))
"""


def test_metric_reports_angle_errors_in_degrees(stack_python):
    proc = subprocess.run([str(stack_python), "-c", SCRIPT, str(REPO / "hoofenv" / "inenv" / "launch.py")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["hoof_mae"] == pytest.approx((2 + 0 + 4) / 3, abs=1e-3)
    assert got["pastern_mae"] == pytest.approx((0 + 4 + 0) / 3, abs=1e-3)
    assert got["hoof_p90"] == pytest.approx(3.6, abs=1e-3)  # 0, 2, 4 -> 90th percentile 3.6
    # aligned vs aligned (52-50 = 2), broken-forward vs broken-forward (10 vs 6), broken-back vs broken-back
    assert got["hpa_agreement"] == pytest.approx(1.0) and got["hpa_n"] == 3
    assert got["hoof_n"] == got["pastern_n"] == 3
