"""One training run inside the managed env: `ENV_PYTHON hoofenv/inenv/launch.py train CONFIG --work-dir DIR ...`.

It adds to MMEngine's Runner, without changing the config:
- checkpoint loading under torch's weights_only rules (checkpoint.install): each checkpoint it saves is recorded in
  WORK_DIR/.hoofenv-checkpoints.json; recorded files load with numpy types and HistoryBuffer allowed (data only),
  others with numpy types only, --trust-checkpoint files with weights_only=False;
- a progress hook: an `epoch` event per epoch with its ETA, `val` events with metrics, WORK_DIR/metrics.json per
  epoch, curves as PNG;
- protocol.EXIT_OOM with an `oom` event on CUDA out of memory (hoofenv halves the batch or explains);
- under torchrun (`--launcher pytorch`): the backend by device (nccl with CUDA, gloo on the CPU), DDP on the CPU
  (SyncBN needs CUDA: BN with its buffers averaged across ranks every epoch), events and files from rank 0 only,
  and a `rank` event from every rank at the end with a digest of its weights (ranks in step have equal digests);
  after an elastic restart (TORCHELASTIC_RESTART_COUNT > 0) it resumes from the work dir's last checkpoint;
- with --epoch-scalars (`hoofenv train --track`): metrics.json's per-epoch numbers also go to MMEngine's
  visualizer, so every tracking backend holds the same values as metrics.json.
Everything it reports is a protocol event; every other line is MMEngine's log.
"""

from __future__ import annotations

import argparse
import hashlib
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


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def emit0(kind: str, **fields) -> None:
    """An event from rank 0 only: the CLI follows one progress stream however many processes train."""
    if rank() == 0:
        protocol.emit(kind, **fields)


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
def to_visualizer(runner, entry: dict) -> None:
    """metrics.json's entry of an epoch as `hoofenv/<key>` scalars at step = epoch, to every tracking backend."""
    runner.visualizer.add_scalars({f"hoofenv/{k}": v for k, v in entry.items()
                                   if k not in ("epoch", "iter") and v is not None}, step=entry["epoch"])


def previous_epochs(path: Path, up_to: int) -> list[dict]:
    """metrics.json's epochs up to `up_to`; a damaged file loses its history, not the run."""
    try:
        old = json.loads(path.read_text()).get("epochs", []) if path.exists() else []
    except (ValueError, OSError, AttributeError, RecursionError):
        old = []
    old = old if isinstance(old, list) else []
    return [e for e in old if isinstance(e, dict) and isinstance(e.get("epoch"), int) and e["epoch"] <= up_to]


def make_progress_hook(work_dir: Path, stop_after: int | None, epoch_scalars: bool = False):
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
            self.epochs = previous_epochs(self.path, runner.epoch)  # --resume: the epochs before the resume point
            self.durations = [e["seconds"] for e in self.epochs if isinstance(e.get("seconds"), (int, float))]
            world = runner.world_size
            batch = runner.train_dataloader.batch_size
            emit0("start", max_epochs=runner.max_epochs, iterations=len(runner.train_dataloader),
                  start_epoch=runner.epoch + 1, world_size=world, batch_per_process=batch, global_batch=batch * world,
                  backend=runner.cfg.get("env_cfg", {}).get("dist_cfg", {}).get("backend") if world > 1 else None)

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
            if epoch_scalars:
                to_visualizer(runner, entry)
            left = runner.max_epochs - epoch
            recent = self.durations[-3:]
            eta = left * sum(recent) / len(recent)
            emit0("epoch", max_epochs=runner.max_epochs, eta_seconds=round(eta, 1), **entry)
            if stop_after is not None and epoch >= stop_after:
                raise StopAfterEpoch()

        def after_val_epoch(self, runner, metrics=None):
            if not metrics or not self.epochs:
                return
            self.epochs[-1]["metrics"] = {k: float(v) for k, v in metrics.items()
                                          if isinstance(v, (int, float))}
            self.write(runner)
            emit0("val", epoch=self.epochs[-1]["epoch"], metrics=self.epochs[-1]["metrics"])

        def write(self, runner):
            if rank() == 0:
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


# ------------------------------------------------------------------------------------------------- distributed
CPU_WRAPPER = "HoofenvCpuDDP"


def setup_distributed(cfg, launcher: str, wanted: str) -> str | None:
    """The backend by device before MMEngine's Runner starts: nccl with CUDA, gloo on the CPU (or `wanted`). On the
    CPU the process group is started here, because MMEngine's pytorch launcher calls torch.cuda.set_device, and
    the model is wrapped by HoofenvCpuDDP (no device_ids, SyncBN reverted to BN)."""
    if launcher == "none":
        return None
    import torch

    cuda = torch.cuda.is_available()
    backend = wanted if wanted != "auto" else ("nccl" if cuda else "gloo")
    env_cfg = cfg.get("env_cfg") or {}
    dist_cfg = dict(env_cfg.get("dist_cfg") or {}, backend=backend)
    cfg.env_cfg = dict(env_cfg, dist_cfg=dist_cfg)
    if not cuda:
        import datetime

        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group(backend=backend,
                                    timeout=datetime.timedelta(seconds=dist_cfg.get("timeout", 1800)))
        register_cpu_wrapper()
        cfg.model_wrapper_cfg = dict(type=CPU_WRAPPER)
    return backend


def register_cpu_wrapper() -> None:
    from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm
    from mmengine.registry import MODEL_WRAPPERS

    if MODEL_WRAPPERS.get(CPU_WRAPPER) is not None:
        return

    class HoofenvCpuDDP(MMDistributedDataParallel):
        """DDP of a CPU model: torch's SyncBatchNorm refuses CPU tensors, so SyncBN becomes BN (its running stats
        are averaged across ranks each epoch by the buffer hook), and a CPU module takes no device_ids."""

        def __init__(self, module, device_ids=None, **kwargs):
            kwargs.setdefault("broadcast_buffers", False)
            super().__init__(module=revert_sync_batchnorm(module), device_ids=None, **kwargs)

    MODEL_WRAPPERS.register_module(name=CPU_WRAPPER, module=HoofenvCpuDDP)


def make_epoch_seed_hook():
    """With --workers 0 the augmentations draw from the training process's own generators, which MMEngine seeds
    once per start, so a resumed run would draw the first epoch's numbers again. Seeded from (seed, epoch, rank)
    before every epoch, as worker processes are seeded each epoch, a run and its resumption draw the same."""
    from mmengine.hooks import Hook

    class HoofenvEpochSeed(Hook):
        priority = "VERY_HIGH"

        def before_train_epoch(self, runner):
            import random

            import numpy as np
            import torch

            value = (int(runner.seed) + 1_000_003 * runner.epoch + runner.rank) % 2 ** 32
            random.seed(value)
            np.random.seed(value)
            torch.manual_seed(value)

    return HoofenvEpochSeed()


def make_buffer_sync_hook():
    """Per-rank BN statistics (the CPU has no SyncBN) averaged across ranks at the end of every epoch, in the model
    and in the EMA copy, before the checkpoint and the validation that follow: every rank then holds the weights
    rank 0 saves, so the sharded validation scores exactly that model."""
    from mmengine.hooks import Hook

    class HoofenvSyncBuffers(Hook):
        priority = "NORMAL"  # before CheckpointHook (VERY_LOW)

        def after_train_epoch(self, runner):
            import torch
            import torch.distributed as dist

            models = [runner.model] + [h.ema_model for h in runner.hooks if getattr(h, "ema_model", None) is not None]
            buffers = [b for m in models for b in m.buffers() if b.is_floating_point()]
            if not buffers:
                return
            flat = torch.cat([b.detach().reshape(-1).to(torch.float64) for b in buffers])
            dist.all_reduce(flat)
            flat /= dist.get_world_size()
            offset = 0
            for b in buffers:
                n = b.numel()
                b.data.copy_(flat[offset:offset + n].view_as(b).to(b.dtype))
                offset += n

    return HoofenvSyncBuffers()


def mlflow_name(name: str) -> str:
    """MLflow refuses metric names outside [A-Za-z0-9_-. :/]; MMPose's CocoMetric logs `coco/AP (M)`: -> `coco/AP M`."""
    import re

    return re.sub(r"[^A-Za-z0-9_\-. :/]", "_", re.sub(r"[()\[\]]", "", name))


def register_tracking_backends() -> None:
    """protocol.MLFLOW_BACKEND: MMEngine's MLflowVisBackend passing names through mlflow_name (it passes them as
    they are, and one refused name ends the run)."""
    from mmengine.registry import VISBACKENDS
    from mmengine.visualization import MLflowVisBackend

    if VISBACKENDS.get(protocol.MLFLOW_BACKEND) is not None:
        return

    class HoofenvMLflowVisBackend(MLflowVisBackend):
        def add_scalar(self, name, value, step=0, **kwargs):
            super().add_scalar(mlflow_name(name), value, step, **kwargs)

        def add_scalars(self, scalar_dict, step=0, file_path=None, **kwargs):
            super().add_scalars({mlflow_name(k): v for k, v in scalar_dict.items()}, step, file_path, **kwargs)

    VISBACKENDS.register_module(name=protocol.MLFLOW_BACKEND, module=HoofenvMLflowVisBackend)


def weights_digest(runner) -> str:
    """sha256 over the model's state_dict (parameters and buffers, in order): equal on ranks that are in step."""
    import torch

    model = getattr(runner.model, "module", runner.model)
    digest = hashlib.sha256()
    for key, value in model.state_dict().items():
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def report_rank(runner, backend: str | None) -> None:
    """Every rank says who it was and what it ended with (the one event that is not rank 0's alone)."""
    protocol.emit("rank", rank=rank(), world_size=int(os.environ.get("WORLD_SIZE", "1")),
                  local_rank=int(os.environ.get("LOCAL_RANK", "0")), node=int(os.environ.get("GROUP_RANK", "0")),
                  backend=backend, epoch=runner.epoch, iter=runner.iter, weights_sha256=weights_digest(runner))


def elastic_restart(work_dir: Path) -> bool:
    """torchrun restarted the workers (--max-restarts, a node left or joined) or SLURM requeued the job: continue
    from the work dir's last checkpoint."""
    restarts = [os.environ.get(k, "0") for k in ("TORCHELASTIC_RESTART_COUNT", "SLURM_RESTART_COUNT")]
    return any(r.isdigit() and int(r) > 0 for r in restarts) and (work_dir / "last_checkpoint").exists()


# -------------------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None):
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--load-from", help="weights of a new run (incremental training)")
    ap.add_argument("--trust-checkpoint", action="append", default=[])
    ap.add_argument("--launcher", default="none", choices=["none", "pytorch", "slurm", "mpi"])
    ap.add_argument("--dist-backend", default="auto", choices=["auto", "nccl", "gloo"],
                    help="auto: nccl with CUDA, gloo on the CPU")
    ap.add_argument("--epoch-scalars", action="store_true", help="metrics.json's epochs to the visualizer too")
    ap.add_argument("--stop-after-epoch", type=int, help="(tests) stop as if interrupted after this epoch")
    ap.add_argument("--bare", action="store_true",
                    help="(bench) plain Runner: no hoofenv hook or policy (DDP on the CPU still set up)")
    ap.add_argument("--local_rank", "--local-rank", type=int, default=0)
    args = ap.parse_args(argv)
    if "LOCAL_RANK" not in os.environ:
        os.environ["LOCAL_RANK"] = str(args.local_rank)
    return args


def build_runner(args, work_dir: Path):
    """MMEngine's Runner for the config, with the distributed set-up and hoofenv's hooks; (runner, backend)."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(args.config)
    cfg.work_dir = str(work_dir)
    cfg.launcher = args.launcher
    cfg.resume = bool(args.resume)
    if args.resume or args.load_from or "load_from" not in cfg:  # an own config's load_from stays for a new run
        cfg.load_from = args.load_from
    backend = setup_distributed(cfg, args.launcher, args.dist_backend)
    register_tracking_backends()
    if not args.bare:
        checkpoint.install(args.trust_checkpoint)
    rendered = Path(args.config).resolve()
    original = rendered.read_text()
    if backend is not None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()  # every rank has read config.py before rank 0's Runner rewrites it (dump_config)
    runner = Runner.from_cfg(cfg)
    # Runner.dump_config writes its flattened copy to WORK_DIR/<config name>: when that is our rendered
    # config.py, put hoofenv's text (parameter block, comments) back; the copy MMEngine wanted is equivalent.
    if rank() == 0 and rendered.parent == work_dir and rendered.read_text() != original:
        (work_dir / runner.timestamp).mkdir(exist_ok=True)
        os.replace(rendered, work_dir / runner.timestamp / "config_flat.py")
        tmp = rendered.with_name(".config.py.tmp")
        tmp.write_text(original)
        os.replace(tmp, rendered)
    if cfg.get("model_wrapper_cfg", {}).get("type") == CPU_WRAPPER:
        runner.register_hook(make_buffer_sync_hook(), "NORMAL")
    if cfg.get("train_dataloader", {}).get("num_workers", 1) == 0:
        runner.register_hook(make_epoch_seed_hook())
    if not args.bare:
        record_saves(runner, rank())
        runner.register_hook(make_progress_hook(work_dir, args.stop_after_epoch, args.epoch_scalars), "LOWEST")
        if rank() == 0:
            atomic_json(work_dir / "run_info.json", dict(run_info(), world_size=runner.world_size, backend=backend))
    return runner, backend


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work_dir = Path(args.work_dir).resolve()
    args.config = str(Path(args.config).resolve())
    if args.launcher != "none":
        os.chdir(work_dir)  # MMEngine gathers validation results in ./.dist_test: the work dir, not the user's cwd
    if not args.resume and elastic_restart(work_dir):
        args.resume = True
    if args.resume and not (work_dir / "last_checkpoint").exists():
        emit0("nothing-to-resume", work_dir=str(work_dir))
        return protocol.EXIT_USAGE
    runner, backend = build_runner(args, work_dir)
    try:
        runner.train()
    except StopAfterEpoch:
        runner.visualizer.close()  # the tracking backends end their runs and flush, as at the end of train()
        emit0("stopped", epoch=args.stop_after_epoch)
    except Exception as exc:  # noqa: BLE001
        if "out of memory" in str(exc).lower() and "cuda" in str(exc).lower():
            protocol.emit("oom", batch_size=runner.cfg.train_dataloader.batch_size, rank=rank())
            return protocol.EXIT_OOM
        raise
    if backend is not None and not args.bare:
        report_rank(runner, backend)
    if not args.bare and rank() == 0:
        finish(work_dir)
        protocol.emit("done", work_dir=str(work_dir))
    if args.launcher != "none" and rank() == 0 and (work_dir / ".dist_test").is_dir():
        try:
            (work_dir / ".dist_test").rmdir()  # MMEngine's, made in this run; left when not empty
        except OSError:
            pass
    return protocol.EXIT_OK
