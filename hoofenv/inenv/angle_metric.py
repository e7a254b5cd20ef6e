"""The hoof-angle validation metric (MMEngine), beside COCO AP and PCK: the error in degrees of the hoof and pastern
angles (angles.py) of the predicted keypoints against those of the ground truth, and the HPA class agreement.

The rendered config (configs/rtmpose_hoof.py) names it in val_evaluator as `HoofAngleMetric` and imports this module
through `custom_imports` as `hoofenv_inenv.angle_metric`: hoofenv's launcher has registered that package; a plain
MMEngine run (`mim train mmpose config.py`) has the config register it from the rendered path first. Keys, under
the prefix `angle/`: hoof_mae, hoof_p90, pastern_mae, pastern_p90, difference_mae, difference_p90 (degrees),
hpa_agreement (0..1) and the instance counts (hoof_n, pastern_n, difference_n, hpa_n).

Both sides see the same points: a keypoint the annotation leaves out (v=0) is left out of the prediction too, so
the ground line and the segments are the same definitions on both sides.
"""

from __future__ import annotations

import json
from pathlib import Path

from mmengine.evaluator import BaseMetric
from mmpose.registry import METRICS

from . import angles

SCALARS = ("hoof_mae", "hoof_p90", "pastern_mae", "pastern_p90", "difference_mae", "difference_p90",
           "hpa_agreement", "hoof_n", "pastern_n", "difference_n", "hpa_n")


@METRICS.register_module(force=True)
class HoofAngleMetric(BaseMetric):
    default_prefix = "angle"

    def __init__(self, points: dict | None = None, collect_device: str = "cpu", prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.points = dict(points) if points else None

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            pred = sample["pred_instances"]["keypoints"]
            gt = sample["gt_instances"]
            visible = gt["keypoints_visible"]
            for n in range(len(gt["keypoints"])):
                vis = [float(v[0] if hasattr(v, "__len__") else v) > 0 for v in visible[n]]
                truth = [(float(x), float(y)) if ok else None for (x, y), ok in zip(gt["keypoints"][n][:, :2], vis)]
                guess = [(float(x), float(y)) if ok else None for (x, y), ok in zip(pred[n][:, :2], vis)]
                self.results.append((guess, truth))

    def compute_metrics(self, results: list) -> dict:
        meta = self.dataset_meta or {}
        id2name = meta.get("keypoint_id2name") or {}
        names = [id2name[i] for i in sorted(id2name)]
        roles = angles.resolve(names, self.points)
        pairs = [(angles.measure(g, roles), angles.measure(t, roles)) for g, t in results]
        found = angles.errors(pairs)
        # a figure over no instance is left out rather than reported as 0
        return {k: float(found[k]) for k in SCALARS if found.get(k) is not None}


def plot(work_dir: Path) -> Path | None:
    """WORK_DIR/angles.png: the mean and 90th-percentile angle errors per validation, in degrees."""
    path = Path(work_dir) / "metrics.json"
    if not path.exists():
        return None
    epochs = json.loads(path.read_text()).get("epochs", [])
    series = {}
    for key, label in (("angle/hoof_mae", "hoof, mean"), ("angle/hoof_p90", "hoof, 90th pct"),
                       ("angle/pastern_mae", "pastern, mean"), ("angle/pastern_p90", "pastern, 90th pct")):
        pts = [(e["epoch"], e["metrics"][key]) for e in epochs if key in e.get("metrics", {})]
        if pts:
            series[label] = pts
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, pts in series.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label,
                linestyle="--" if "90th" in label else "-")
    ax.set_xlabel("epoch")
    ax.set_ylabel("absolute angle error (degrees)")
    ax.set_ylim(bottom=0)
    ax.set_title("hoof and pastern angle error (validation)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(Path(work_dir) / "angles.png", dpi=100)
    plt.close(fig)
    return Path(work_dir) / "angles.png"
