"""After a run: report.md from metrics.json, run_info.json and the rendered config."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.files import atomic_write_text
from hoofenv.train import config as trainconfig


def best_metrics(epochs: list[dict]) -> dict:
    best = {}
    for key in ("coco/AP", "PCK"):
        pts = [(e["metrics"][key], e["epoch"]) for e in epochs
               if isinstance(e.get("metrics"), dict) and _number(e["metrics"].get(key))]
        if pts:
            value, epoch = max(pts)
            best[key] = dict(value=value, epoch=epoch)
    return best


def _count(value) -> int | None:
    """A whole number >= 1 from a file the run wrote, else None (a damaged file leaves the line out)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def scale_lines(params: dict, info: dict, ranks: list[dict] | None = None) -> list[str]:
    """Processes, per-process and global batch, and how the learning rate was scaled."""
    world = _count(info.get("world_size")) or _count(params.get("world_size")) or 1
    batch = _count(params.get("train_batch_size"))
    lines = []
    if world > 1:
        lines.append(f"- {world} processes ({info.get('backend') or '?'}): batch {batch} per process, "
                     f"global batch {batch * world if isinstance(batch, int) else '?'}")
    lr, scaled_for = params.get("base_lr"), (_count(params.get("world_size")) or 1) * (batch or 0)
    if isinstance(lr, float) and scaled_for and abs(lr - trainconfig.scaled_lr(scaled_for)) < 1e-12:
        lines.append(f"- lr {lr:g} = {trainconfig.RTMPOSE_LR:g} x sqrt({scaled_for}/{trainconfig.RTMPOSE_BATCH}): "
                     f"RTMPose's rate scaled to the global batch")
    elif lr is not None:
        lines.append(f"- lr {lr} as given (--lr): not scaled")
    if ranks:
        digests = {r.get("weights_sha256") for r in ranks}
        same = "identical" if len(digests) == 1 else f"DIFFERENT ({len(digests)} distinct)"
        lines.append(f"- final weights on the {len(ranks)} ranks: {same} (sha256 of each rank's state_dict)")
    return lines


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_json(path: Path, notes: list[str]) -> dict:
    """A JSON object the run wrote, or {} with a note when it is missing, damaged or of another shape."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(errors="replace"))
    except (OSError, ValueError, RecursionError) as exc:
        notes.append(f"{path.name} could not be read ({type(exc).__name__}); its figures are left out")
        return {}
    if not isinstance(data, dict):
        notes.append(f"{path.name} is not a JSON object; its figures are left out")
        return {}
    return data


def read_epochs(metrics: dict, notes: list[str]) -> list[dict]:
    """metrics.json's epochs that carry an epoch number; numbers that are not numbers are dropped."""
    raw = metrics.get("epochs", [])
    epochs = [e for e in raw if isinstance(e, dict) and _number(e.get("epoch"))] if isinstance(raw, list) else []
    if len(epochs) != (len(raw) if isinstance(raw, list) else 0) or not isinstance(raw, list):
        notes.append("metrics.json holds entries that are not epochs; they are left out")
    clean = []
    for e in epochs:
        entry = {k: v for k, v in e.items() if k == "metrics" or _number(v)}
        entry["metrics"] = {k: v for k, v in e["metrics"].items() if _number(v)} \
            if isinstance(e.get("metrics"), dict) else {}
        clean.append(entry)
    return clean


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
        if f"angle/{name}_mae" in m and f"angle/{name}_p90" in m:
            parts.append(f"{name} mean {m[f'angle/{name}_mae']:.2f}, 90th percentile {m[f'angle/{name}_p90']:.2f}"
                         f" (n={int(m.get(f'angle/{name}_n', 0))})")
    lines[0] += "; ".join(parts)
    if "angle/hpa_agreement" in m:
        lines.append(f"- hoof-pastern axis class agreement: {m['angle/hpa_agreement']:.3f} "
                     f"(n={int(m.get('angle/hpa_n', 0))}); definitions: docs/angles.md")
    return lines


def write_report(work_dir: Path, stats, size: str, wall: float | None, ranks: list[dict] | None = None,
                 title: str | None = None) -> Path:
    notes: list[str] = []
    metrics = read_json(work_dir / "metrics.json", notes)
    epochs = read_epochs(metrics, notes)
    info = read_json(work_dir / "run_info.json", notes)
    try:
        params = trainconfig.parse_params((work_dir / "config.py").read_text(errors="replace"))
    except OSError:
        params = {}
    best = best_metrics(epochs)
    secs = sorted(e["seconds"] for e in epochs if e.get("seconds"))
    iters = sorted(e["s_per_iter"] for e in epochs if e.get("s_per_iter"))
    data_t = sorted(e["data_time"] for e in epochs if e.get("data_time") is not None)
    lines = [f"# Training report: {title or f'RTMPose-{size}'}", ""]
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
                 f"{epochs[-1].get('loss', '?') if epochs else '?'}")
    lines += angle_lines(epochs)
    lines += ["", "## Time"]
    if secs:
        lines.append(f"- {secs[len(secs) // 2]:.1f} s per epoch (median), "
                     f"{iters[len(iters) // 2] if iters else '?'} s per iteration, "
                     f"data_time {data_t[len(data_t) // 2] if data_t else '?'} s per iteration")
    lines.append(f"- wall time of this command: {wall:.0f} s" if wall is not None else
                 "- wall time: see the job's log (slurm-JOBID.out)")
    scale = scale_lines(params, info, ranks)
    if scale:
        lines += ["", "## Scale", *scale]
    lines += ["", "## Hardware and versions"]
    listed = info.get("gpus") if isinstance(info.get("gpus"), list) else []
    gpus = ", ".join(f"{g.get('name', '?')} ({g.get('memory_gib', '?')} GiB)" for g in listed
                     if isinstance(g, dict)) or "none (CPU)"
    lines.append(f"- {info.get('machine', '?')}, {info.get('cpus', '?')} CPUs, GPU: {gpus}")
    lines.append("- " + ", ".join(f"{k} {info[k]}" for k in ("python", "torch", "mmcv", "mmengine", "mmdet",
                                                                 "mmpose") if k in info))
    if params:
        lines.append(f"- config: batch {params.get('train_batch_size')}, input {params.get('input_size')}, "
                     f"workers {params.get('num_workers')}, amp {params.get('amp')}, "
                     f"pretrained {params.get('pretrained')}")
    else:
        lines.append("- config: config.py, rendered from your own config (its first lines name it)")
    lines += [f"- note: {n}" for n in notes]
    lines += ["", "## Files", "- best.pth, last.pth: checkpoints (links to MMEngine's files)",
              "- config.py: the rendered config (absolute paths); metainfo.py: the keypoint schema",
              "- metrics.json, loss.png, metrics.png: per-epoch numbers and curves; train.log: the full log",
              "- angles.png: hoof and pastern angle errors per validation (when the keypoints name them)", ""]
    return atomic_write_text(work_dir / "report.md", "\n".join(lines))


def report_for(work_dir: Path) -> Path:
    """report.md of a run hoofenv did not follow (a SLURM job): the data statistics from the config's data root."""
    from hoofenv.train.preflight import data_check, data_paths

    params = trainconfig.parse_params((work_dir / "config.py").read_text())
    try:
        _, train, val, images = data_paths(str(params.get("data_root", "")))
        stats = data_check(train, val, images)
    except HoofenvError:
        stats = None
    return write_report(work_dir, stats, str(params.get("model_size", "?")), None)


if __name__ == "__main__":  # the last step of a SLURM job script (hoofenv/train/slurm.py)
    import sys

    report_for(Path(sys.argv[1]).resolve())
