"""Runs one training inside the managed env: `ENV_PYTHON hoofenv/_train_runner.py CONFIG --work-dir DIR ...`.

Executed by path with the training stack's python; imports only the stack and the standard library (hoofenv is
not installed there). It adds to MMEngine's Runner, without changing the config:
- checkpoint loading under torch >= 2.6 (weights_only): hoofenv's own checkpoints (inside the work dir) load
  through hoofenv/checkpoint.py's safe-globals allowlist when that module is present; others keep weights_only
  unless --trust-checkpoint;
- a progress hook: one line per epoch with ETA and metrics, WORK_DIR/metrics.json per epoch, curves as PNG;
- exit code 3 with a `[hoofenv] oom` line on CUDA out of memory (the CLI halves the batch or explains).
Lines meant for the user start with "[hoofenv]"; everything else is MMEngine's log.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

OOM_EXIT = 3
CKPT_EXIT = 4
HERE = Path(__file__).resolve().parent


def say(msg: str) -> None:
    print(f"[hoofenv] {msg}", flush=True)


def atomic_json(path: Path, obj) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


class StopAfterEpoch(Exception):
    pass


# --------------------------------------------------------------------------------------------- checkpoint safety
def install_checkpoint_policy(work_dir: Path, trusted: list[str]) -> None:
    """torch.load keeps weights_only=True (torch >= 2.6 default). Files written by hoofenv in the work dir load
    with the safe-globals allowlist of hoofenv/checkpoint.py (numpy arrays, HistoryBuffer...); --trust-checkpoint
    files and, when checkpoint.py is absent, the work dir's own files, load with weights_only=False."""
    import torch

    allow = None
    try:  # hoofenv/checkpoint.py (branch verify): the allowlist for MMEngine checkpoints
        sys.path.insert(0, str(HERE.parent))
        from hoofenv import checkpoint as hcp  # noqa: F401

        allow = getattr(hcp, "allow_mmengine_checkpoints", None) or getattr(hcp, "add_safe_globals", None)
    except Exception:  # noqa: BLE001 -- absent or unimportable: fall back below
        allow = None
    finally:
        if sys.path and sys.path[0] == str(HERE.parent):
            sys.path.pop(0)
    if allow is not None:
        try:
            allow()
        except Exception as exc:  # noqa: BLE001
            say(f"checkpoint allowlist failed ({exc}); own checkpoints load with weights_only=False")
            allow = None
    own = str(work_dir.resolve()) + os.sep
    trusted_set = {str(Path(t).resolve()) for t in trusted}
    original = torch.load

    def load(f, *args, **kwargs):
        name = str(Path(f).resolve()) if isinstance(f, (str, os.PathLike)) else None
        if name and "weights_only" not in kwargs:
            if name in trusted_set or (allow is None and name.startswith(own)):
                kwargs["weights_only"] = False
        try:
            return original(f, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            if "Weights only load failed" in str(exc) and name:
                say(f"checkpoint-refused {name}")
                say("torch loads checkpoints with weights_only=True and this file holds other Python objects; "
                    "if you trust it, pass --trust-checkpoint")
                raise SystemExit(CKPT_EXIT) from exc
            raise

    torch.load = load


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
                except (ValueError, OSError):
                    old = []
                self.epochs = [e for e in old if e.get("epoch", 0) <= runner.epoch]
                self.durations = [e["seconds"] for e in self.epochs if "seconds" in e]
            say(f"training {runner.max_epochs} epochs x {len(runner.train_dataloader)} iterations "
                f"(starting at epoch {runner.epoch + 1})")

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
            entry = dict(
                epoch=runner.epoch, iter=runner.iter, seconds=round(seconds, 3),
                loss=round(sum(self.losses) / len(self.losses), 6) if self.losses else None,
                lr=float(runner.optim_wrapper.get_lr()["lr"][0]),
                s_per_iter=round(its[len(its) // 2], 4) if its else None,
                data_time=round(sorted(self.data_times)[len(self.data_times) // 2], 4) if self.data_times else None,
            )
            self.epochs = [e for e in self.epochs if e["epoch"] != runner.epoch] + [entry]
            self.write(runner)
            left = runner.max_epochs - runner.epoch
            recent = self.durations[-3:]
            eta = left * sum(recent) / len(recent)
            say(f"epoch {runner.epoch}/{runner.max_epochs}  loss {entry['loss']}  "
                f"{seconds:.1f} s/epoch  {entry['s_per_iter']} s/iter  ETA {_hms(eta)}")
            if stop_after is not None and runner.epoch >= stop_after:
                raise StopAfterEpoch()

        def after_val_epoch(self, runner, metrics=None):
            if not metrics or not self.epochs:
                return
            self.epochs[-1]["metrics"] = {k: float(v) for k, v in metrics.items()
                                          if isinstance(v, (int, float))}
            self.write(runner)
            shown = "  ".join(f"{k} {float(v):.4f}" for k, v in metrics.items()
                              if k in ("coco/AP", "coco/AP .5", "PCK"))
            say(f"val epoch {self.epochs[-1]['epoch']}  {shown}")

        def write(self, runner):
            atomic_json(self.path, dict(max_epochs=runner.max_epochs, epochs=self.epochs))

    return HoofenvProgressHook()


def _hms(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


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
    plot_curves(work_dir)


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
        install_checkpoint_policy(work_dir, args.trust_checkpoint)
    rank = int(os.environ.get("RANK", "0"))
    if args.resume and not (work_dir / "last_checkpoint").exists():
        say(f"nothing to resume in {work_dir} (no last_checkpoint)")
        return 2
    runner = Runner.from_cfg(cfg)
    if not args.bare:
        runner.register_hook(make_progress_hook(work_dir, args.stop_after_epoch), "LOWEST")
        if rank == 0:
            atomic_json(work_dir / "run_info.json", run_info())
    try:
        runner.train()
    except StopAfterEpoch:
        say(f"stopped after epoch {args.stop_after_epoch} (--stop-after-epoch)")
    except Exception as exc:  # noqa: BLE001
        if "out of memory" in str(exc).lower() and "cuda" in str(exc).lower():
            say(f"oom batch_size={cfg.train_dataloader.batch_size}")
            return OOM_EXIT
        raise
    if not args.bare and rank == 0:
        finish(work_dir)
        say(f"done: {work_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
