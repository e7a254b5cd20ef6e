"""After a run: report.md from metrics.json, run_info.json and the rendered config."""

from __future__ import annotations

import json
from pathlib import Path

from hoofenv.files import atomic_write_text
from hoofenv.train import config as trainconfig


def best_metrics(epochs: list[dict]) -> dict:
    best = {}
    for key in ("coco/AP", "PCK"):
        pts = [(e["metrics"][key], e["epoch"]) for e in epochs if key in e.get("metrics", {})]
        if pts:
            value, epoch = max(pts)
            best[key] = dict(value=value, epoch=epoch)
    return best


def angle_lines(epochs: list[dict]) -> list[str]:
    """The angle errors of the validation whose COCO AP was best (the epoch of best.pth), else the last one."""
    evaluated = [e for e in epochs if "angle/hoof_mae" in e.get("metrics", {})
                 or "angle/pastern_mae" in e.get("metrics", {})]
    if not evaluated:
        return []
    # MMEngine's save_best keeps the first of equal APs
    pick = max(evaluated, key=lambda e: (e["metrics"].get("coco/AP", -1.0), -e["epoch"]))
    m = pick["metrics"]
    lines = [f"- angle error at epoch {pick['epoch']} (best coco/AP), degrees: "]
    parts = []
    for name in ("hoof", "pastern", "difference"):
        if f"angle/{name}_mae" in m:
            parts.append(f"{name} mean {m[f'angle/{name}_mae']:.2f}, 90th percentile {m[f'angle/{name}_p90']:.2f}"
                         f" (n={int(m.get(f'angle/{name}_n', 0))})")
    lines[0] += "; ".join(parts)
    if "angle/hpa_agreement" in m:
        lines.append(f"- hoof-pastern axis class agreement: {m['angle/hpa_agreement']:.3f} "
                     f"(n={int(m.get('angle/hpa_n', 0))}); definitions: docs/angles.md")
    return lines


def write_report(work_dir: Path, stats, size: str, wall: float) -> Path:
    metrics = json.loads((work_dir / "metrics.json").read_text()) if (work_dir / "metrics.json").exists() else {}
    epochs = metrics.get("epochs", [])
    info = json.loads((work_dir / "run_info.json").read_text()) if (work_dir / "run_info.json").exists() else {}
    params = trainconfig.parse_params((work_dir / "config.py").read_text())
    best = best_metrics(epochs)
    secs = sorted(e["seconds"] for e in epochs if e.get("seconds"))
    iters = sorted(e["s_per_iter"] for e in epochs if e.get("s_per_iter"))
    data_t = sorted(e["data_time"] for e in epochs if e.get("data_time") is not None)
    lines = [f"# Training report: RTMPose-{size}", ""]
    lines += ["## Data"]
    if stats is not None:
        lines += [f"- {stats.images} train images ({stats.annotated_images} annotated), {stats.instances} instances, "
                  f"{len(stats.keypoints)} keypoints", f"- size: {stats.size_class}: {stats.guidance}"]
    else:
        lines += ["- (data statistics unavailable)"]
    lines += ["", "## Result"]
    if best:
        for key, b in best.items():
            lines.append(f"- best {key}: {b['value']:.4f} (epoch {b['epoch']})")
    else:
        lines.append("- no validation ran")
    lines.append(f"- epochs: {len(epochs)} of {metrics.get('max_epochs', '?')}; final loss "
                 f"{epochs[-1]['loss'] if epochs else '?'}")
    lines += angle_lines(epochs)
    lines += ["", "## Time"]
    if secs:
        lines.append(f"- {secs[len(secs) // 2]:.1f} s per epoch (median), "
                     f"{iters[len(iters) // 2] if iters else '?'} s per iteration, "
                     f"data_time {data_t[len(data_t) // 2] if data_t else '?'} s per iteration")
    lines.append(f"- wall time of this command: {wall:.0f} s")
    lines += ["", "## Hardware and versions"]
    gpus = ", ".join(f"{g['name']} ({g['memory_gib']} GiB)" for g in info.get("gpus", [])) or "none (CPU)"
    lines.append(f"- {info.get('machine', '?')}, {info.get('cpus', '?')} CPUs, GPU: {gpus}")
    lines.append("- " + ", ".join(f"{k} {info[k]}" for k in ("python", "torch", "mmcv", "mmengine", "mmdet",
                                                                 "mmpose") if k in info))
    lines.append(f"- config: batch {params.get('train_batch_size')}, input {params.get('input_size')}, "
                 f"workers {params.get('num_workers')}, amp {params.get('amp')}, pretrained {params.get('pretrained')}")
    lines += ["", "## Files", "- best.pth, last.pth: checkpoints (links to MMEngine's files)",
              "- config.py: the rendered config (absolute paths); metainfo.py: the keypoint schema",
              "- metrics.json, loss.png, metrics.png: per-epoch numbers and curves; train.log: the full log",
              "- angles.png: hoof and pastern angle errors per validation (when the keypoints name them)", ""]
    return atomic_write_text(work_dir / "report.md", "\n".join(lines))
