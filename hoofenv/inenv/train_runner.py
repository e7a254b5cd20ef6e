"""One training run inside the managed env: `ENV_PYTHON hoofenv/inenv/launch.py train CONFIG --work-dir DIR ...`.

It adds to MMEngine's Runner, without changing the config:
- checkpoint loading under torch's weights_only rules (checkpoint.install): each checkpoint it saves is recorded in
  WORK_DIR/.hoofenv-checkpoints.json; recorded files load with numpy types and HistoryBuffer allowed (data only),
  others with numpy types only, --trust-checkpoint files with weights_only=False;
- a progress hook: an `epoch` event per epoch with its ETA, `val` events with metrics, WORK_DIR/metrics.json per
  epoch, curves as PNG;
- protocol.EXIT_OOM with an `oom` event on CUDA out of memory (hoofenv halves the batch or explains).
Everything it reports is a protocol event; every other line is MMEngine's log.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from . import checkpoint, protocol


def atomic_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


class StopAfterEpoch(Exception):
    pass


# --------------------------------------------------------------------------------------------- checkpoint safety
def record_saves(runner, rank: int) -> None:
    """After each checkpoint the Runner saves (CheckpointHook: epoch_N.pth, best_*.pth), put its sha256 in the
    manifest of its folder (checkpoint.record): what marks it as hoofenv's own when it is loaded again. MMEngine has
    no after-save hook; Runner.save_checkpoint is the one call every save goes through."""
    save = runner.save_checkpoint

    def save_checkpoint(out_dir, filename, *args, **kwargs):
        save(out_dir, filename, *args, **kwargs)
        path = Path(out_dir) / filename
        if rank == 0 and path.is_file():
            checkpoint.record(path)

    runner.save_checkpoint = save_checkpoint


# ------------------------------------------------------------------------------------------------ progress hook
def make_progress_hook(work_dir: Path, stop_after: int | None):
    from mmengine.hooks import Hook

    class HoofenvProgressHook(Hook):
        priority = "LOWEST"

        def __init__(self):
            self.path = work_dir / "metrics.json"
            self.epochs: list[dict] = []
            self.t0 = None
            self.losses: list[float] = []
            self.iter_times: list[float] = []
            self.data_times: list[float] = []
            self.durations: list[float] = []

        def before_train(self, runner):
            if self.path.exists():  # --resume: keep the epochs before the resume point
                try:
                    old = json.loads(self.path.read_text()).get("epochs", [])
                except (ValueError, OSError, AttributeError, RecursionError):
                    old = []
                old = old if isinstance(old, list) else []  # a damaged file loses its history, not the run
                self.epochs = [e for e in old if isinstance(e, dict) and isinstance(e.get("epoch"), int)
                               and e["epoch"] <= runner.epoch]
                self.durations = [e["seconds"] for e in self.epochs if isinstance(e.get("seconds"), (int, float))]
            protocol.emit("start", max_epochs=runner.max_epochs, iterations=len(runner.train_dataloader),
                          start_epoch=runner.epoch + 1)

        def before_train_epoch(self, runner):
            self.t0 = time.perf_counter()
            self.losses, self.iter_times, self.data_times = [], [], []

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if outputs and "loss" in outputs:
                self.losses.append(float(outputs["loss"]))
            hub = runner.message_hub
            for key, dst in (("train/time", self.iter_times), ("train/data_time", self.data_times)):
                try:
                    dst.append(float(hub.get_scalar(key).current()))
                except KeyError:
                    pass

        def after_train_epoch(self, runner):
            seconds = time.perf_counter() - self.t0
            self.durations.append(seconds)
            # the first iterations include start-up: the steady iteration time is the median
            its = sorted(self.iter_times)
            epoch = runner.epoch + 1  # MMEngine counts the epoch up after these hooks
            entry = dict(
                epoch=epoch, iter=runner.iter, seconds=round(seconds, 3),
                loss=round(sum(self.losses) / len(self.losses), 6) if self.losses else None,
                lr=float(runner.optim_wrapper.get_lr()["lr"][0]),
                s_per_iter=round(its[len(its) // 2], 4) if its else None,
                data_time=round(sorted(self.data_times)[len(self.data_times) // 2], 4) if self.data_times else None,
            )
            self.epochs = [e for e in self.epochs if e["epoch"] != epoch] + [entry]
            self.write(runner)
            left = runner.max_epochs - epoch
            recent = self.durations[-3:]
            eta = left * sum(recent) / len(recent)
            protocol.emit("epoch", max_epochs=runner.max_epochs, eta_seconds=round(eta, 1), **entry)
            if stop_after is not None and epoch >= stop_after:
                raise StopAfterEpoch()

        def after_val_epoch(self, runner, metrics=None):
            if not metrics or not self.epochs:
                return
            self.epochs[-1]["metrics"] = {k: float(v) for k, v in metrics.items()
                                          if isinstance(v, (int, float))}
            self.write(runner)
            protocol.emit("val", epoch=self.epochs[-1]["epoch"], metrics=self.epochs[-1]["metrics"])

        def write(self, runner):
            atomic_json(self.path, dict(max_epochs=runner.max_epochs, epochs=self.epochs))

    return HoofenvProgressHook()


# ----------------------------------------------------------------------------------------------------- outputs
def plot_curves(work_dir: Path) -> list[Path]:
    path = work_dir / "metrics.json"
    if not path.exists():
        return []
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = json.loads(path.read_text())["epochs"]
    out = []
    xs = [e["epoch"] for e in epochs if e.get("loss") is not None]
    ys = [e["loss"] for e in epochs if e.get("loss") is not None]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, ys, marker="o")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (KLDiscretLoss)")
    ax.set_title("loss")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(work_dir / "loss.png", dpi=100)
    plt.close(fig)
    out.append(work_dir / "loss.png")
    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("coco/AP", "COCO AP (OKS)"), ("PCK", "PCK@0.1")):
        pts = [(e["epoch"], e["metrics"][key]) for e in epochs if key in e.get("metrics", {})]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylim(0, 1.02)
    ax.set_title("validation")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(work_dir / "metrics.png", dpi=100)
    plt.close(fig)
    out.append(work_dir / "metrics.png")
    return out


def run_info() -> dict:
    import platform

    import mmcv
    import mmengine
    import mmpose
    import torch

    info = dict(python=platform.python_version(), machine=platform.machine(), cpus=os.cpu_count(),
                torch=torch.__version__, mmcv=mmcv.__version__, mmengine=mmengine.__version__,
                mmpose=mmpose.__version__, cuda=torch.version.cuda, device="cpu", gpus=[])
    try:
        import mmdet

        info["mmdet"] = mmdet.__version__
    except ImportError:
        pass
    if torch.cuda.is_available():
        info["device"] = "cuda"
        info["gpus"] = [dict(name=torch.cuda.get_device_name(i),
                             memory_gib=round(torch.cuda.get_device_properties(i).total_memory / 2**30, 1))
                        for i in range(torch.cuda.device_count())]
    return info


def finish(work_dir: Path) -> None:
    """best.pth / last.pth links to MMEngine's files, curves."""
    best = sorted(work_dir.glob("best_*.pth"), key=lambda p: p.stat().st_mtime)
    last_file = work_dir / "last_checkpoint"
    last = Path(last_file.read_text().strip()) if last_file.exists() else None
    for name, target in (("best.pth", best[-1] if best else None), ("last.pth", last)):
        link = work_dir / name
        if target and target.exists():
            if link.is_symlink() or link.exists():
                link.unlink()
            try:
                link.symlink_to(target.name)
            except OSError:
                import shutil

                shutil.copy2(target, link)
                checkpoint.record(link)
    plot_curves(work_dir)
    from . import angle_metric

    angle_metric.plot(work_dir)


# -------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--load-from", help="weights of a new run (incremental training)")
    ap.add_argument("--trust-checkpoint", action="append", default=[])
    ap.add_argument("--launcher", default="none", choices=["none", "pytorch", "slurm", "mpi"])
    ap.add_argument("--stop-after-epoch", type=int, help="(tests) stop as if interrupted after this epoch")
    ap.add_argument("--bare", action="store_true", help="(bench) plain Runner, no hoofenv hook or policy")
    ap.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = ap.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)

    from mmengine.config import Config
    from mmengine.runner import Runner

    work_dir = Path(args.work_dir).resolve()
    cfg = Config.fromfile(args.config)
    cfg.work_dir = str(work_dir)
    cfg.launcher = args.launcher
    cfg.resume = bool(args.resume)
    cfg.load_from = args.load_from
    if not args.bare:
        checkpoint.install(args.trust_checkpoint)
    rank = int(os.environ.get("RANK", "0"))
    if args.resume and not (work_dir / "last_checkpoint").exists():
        protocol.emit("nothing-to-resume", work_dir=str(work_dir))
        return protocol.EXIT_USAGE
    rendered = Path(args.config).resolve()
    original = rendered.read_text()
    runner = Runner.from_cfg(cfg)
    # Runner.dump_config writes its flattened copy to WORK_DIR/<config name>: when that is our rendered
    # config.py, put hoofenv's text (parameter block, comments) back; the copy MMEngine wanted is equivalent.
    if rank == 0 and rendered.parent == work_dir and rendered.read_text() != original:
        (work_dir / runner.timestamp).mkdir(exist_ok=True)
        os.replace(rendered, work_dir / runner.timestamp / "config_flat.py")
        tmp = rendered.with_name(".config.py.tmp")
        tmp.write_text(original)
        os.replace(tmp, rendered)
    if not args.bare:
        record_saves(runner, rank)
        runner.register_hook(make_progress_hook(work_dir, args.stop_after_epoch), "LOWEST")
        if rank == 0:
            atomic_json(work_dir / "run_info.json", run_info())
    try:
        runner.train()
    except StopAfterEpoch:
        protocol.emit("stopped", epoch=args.stop_after_epoch)
    except Exception as exc:  # noqa: BLE001
        if "out of memory" in str(exc).lower() and "cuda" in str(exc).lower():
            protocol.emit("oom", batch_size=cfg.train_dataloader.batch_size)
            return protocol.EXIT_OOM
        raise
    if not args.bare and rank == 0:
        finish(work_dir)
        protocol.emit("done", work_dir=str(work_dir))
    return protocol.EXIT_OK
