"""`hoofenv train`: preflight (verify, data check), render the config with absolute paths, run MMEngine's Runner in
the managed env (hoofenv/inenv/train_runner.py through the launcher), follow its progress, write the report.

This module never imports torch or mmengine: the stack lives in another interpreter. What happens is reported as
events (dicts with an "event" key) to a callback; the CLI renders them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hoofenv.data.schema import Schema, write_metainfo
from hoofenv.errors import HoofenvError, UsageError
from hoofenv.files import atomic_write_text
from hoofenv.inenv import angles, protocol
from hoofenv.machine.inenv import LAUNCHER
from hoofenv.machine.probe import gpu_memory_gib
from hoofenv.train import config as trainconfig
from hoofenv.train.checkpoints import EVENTS, checkpoint_error
from hoofenv.train.launch import follow, runner_argv
from hoofenv.train.options import TrainOptions
from hoofenv.train.preflight import (data_check, data_paths, parse_batch, resolve_pretrained, stack_python,
                                     train_instances, verify_preflight)
from hoofenv.train.report import write_report

Emit = Callable[[dict], None]


@dataclass
class Setup:
    """The decisions made before the first launch: model size, work dir, batch, workers, backbone."""

    size: str
    work_dir: Path
    batch: int | None
    auto_batch: bool
    workers: int
    pretrained: str | None

    @property
    def config(self) -> Path:
        return self.work_dir / "config.py"


def render_config(opts: TrainOptions, root: Path, metainfo: Path, schema, size: str, batch: int,
                  workers: int, pretrained: str | None) -> str:
    stage2 = trainconfig.stage2_epochs(opts.epochs)
    samples = train_instances(root / "annotations" / "train.json")
    params = trainconfig.TrainParams(
        data_root=str(root), metainfo_file=str(metainfo), num_keypoints=len(schema.keypoints),
        flip=bool(schema.swaps), model_size=size, input_size=tuple(opts.input_size), max_epochs=opts.epochs,
        stage2_num_epochs=stage2,
        val_interval=opts.val_interval or max(1, min(5, opts.epochs // 10 or 1)),
        train_batch_size=batch, val_batch_size=max(batch, 1), num_workers=workers,
        base_lr=opts.lr if opts.lr is not None else trainconfig.scaled_lr(batch),
        warmup_iters=trainconfig.warmup_iters(samples, batch, opts.epochs),
        pretrained=pretrained, amp=opts.amp, seed=opts.seed, deterministic=opts.deterministic,
        hoof_angles=angles.names_for(schema.keypoints) if angles.fits(schema.keypoints) else None,
        hoofenv_inenv=str(LAUNCHER.parent), extra=dict(opts.extra),
    )
    template = Path(opts.config).read_text() if opts.config else None
    if template is not None and trainconfig.BEGIN not in template:
        raise UsageError(f"--config {opts.config} has no '{trainconfig.BEGIN}' block",
                         hint="start from configs/rtmpose_hoof.py; hoofenv fills that block with absolute paths")
    return trainconfig.render(params, template)


def train(opts: TrainOptions, emit: Emit | None = None) -> Path:
    emit = emit or (lambda e: None)
    python = stack_python(opts)
    root, train_json, val_json, images = data_paths(opts.data)
    stats = data_check(train_json, val_json, images)
    schema = Schema.from_coco(json.loads(train_json.read_text()))
    verify_preflight(opts, python, emit)
    setup = _setup(opts, emit)
    setup.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    _run_until_done(opts, python, setup, root, schema, emit)
    report = write_report(setup.work_dir, stats, setup.size, time.time() - started)
    emit({"event": "report", "path": str(report)})
    return setup.work_dir


def _setup(opts: TrainOptions, emit: Emit) -> Setup:
    gpu_mem = gpu_memory_gib()
    size = trainconfig.choose_size(gpu_mem) if opts.model_size == "auto" else opts.model_size
    if size not in trainconfig.SIZES:
        raise UsageError(f"--model {size!r}: auto, t, s or m")
    work_dir = Path(opts.work_dir or f"work_dirs/hoof_rtmpose-{size}").expanduser().resolve()
    if opts.amp and gpu_mem is None:
        emit({"event": "notice", "text": "--amp needs a CUDA GPU; training in float32 on the CPU"})
        opts.amp = False
    if opts.resume:
        if not (work_dir / "config.py").exists() or not (work_dir / "last_checkpoint").exists():
            raise HoofenvError(f"nothing to resume in {work_dir}",
                               causes=["--resume continues the run whose config.py and last_checkpoint are there"],
                               hint=f"hoofenv train --data {opts.data} --work-dir {work_dir}", code="no-resume")
        if opts.from_ckpt:
            raise UsageError("--resume and --from exclude each other",
                             hint="--resume continues this work dir's run; --from starts a new run from a checkpoint")
        batch = resumed_batch((work_dir / "config.py").read_text(errors="replace"))
    else:
        if opts.from_ckpt and not Path(opts.from_ckpt).is_file():
            raise UsageError(f"--from {opts.from_ckpt}: no such checkpoint")
        if (work_dir / "last_checkpoint").exists():
            raise HoofenvError(f"{work_dir} already holds a run",
                               hint="--resume continues it; --work-dir NEW starts another "
                                    f"(or --from {work_dir}/best.pth for incremental training)", code="work-dir-used")
        batch = parse_batch(opts.batch_size) or trainconfig.auto_batch(size, gpu_mem, opts.input_size)
    workers = trainconfig.auto_workers() if opts.workers == "auto" else int(opts.workers)
    pretrained = None if opts.resume else resolve_pretrained(opts.pretrained, size, emit)
    return Setup(size, work_dir, batch, opts.batch_size == "auto" and not opts.resume, workers, pretrained)


def resumed_batch(config_text: str) -> int | None:
    """The batch size of the run being resumed, from its config; None when the block holds no usable number."""
    batch = trainconfig.parse_params(config_text).get("train_batch_size")
    return batch if isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1 else None


def _run_until_done(opts: TrainOptions, python: Path, setup: Setup, root: Path, schema: Schema, emit: Emit) -> None:
    """Render (unless resuming) and launch; on CUDA out of memory with an automatic batch, halve it and start over."""
    work_dir = setup.work_dir
    while True:
        if not opts.resume:
            metainfo = write_metainfo(schema, work_dir / "metainfo.py")
            text = render_config(opts, root, metainfo, schema, setup.size, setup.batch, setup.workers,
                                 setup.pretrained)
            atomic_write_text(setup.config, text)
            emit({"event": "config", "path": str(setup.config), "size": setup.size,
                  "keypoints": len(schema.keypoints), "input_size": list(opts.input_size), "batch": setup.batch,
                  "workers": setup.workers, "flip": bool(schema.swaps), "pretrained": setup.pretrained})
        refused: list[dict] = []

        def on_event(event: dict) -> None:
            if event["event"] in EVENTS:
                refused.append(event)
            emit(event)

        rc = follow(runner_argv(python, setup.config, work_dir, opts), work_dir / "train.log", on_event,
                    opts.verbose)
        if rc == protocol.EXIT_OK:
            return
        if rc == protocol.EXIT_OOM and setup.auto_batch and setup.batch and setup.batch > 1:
            half = max(1, setup.batch // 2)
            emit({"event": "retry", "batch": setup.batch, "new_batch": half})
            setup.batch = half
            for p in work_dir.glob("*.pth"):
                p.unlink()
            (work_dir / "last_checkpoint").unlink(missing_ok=True)
            continue
        raise _failure(rc, opts, setup, refused)


def _failure(rc: int, opts: TrainOptions, setup: Setup, refused: list[dict]) -> HoofenvError:
    if rc == protocol.EXIT_OOM:
        half = max(1, (setup.batch or 2) // 2)
        return HoofenvError(f"CUDA out of memory at batch size {setup.batch}",
                            causes=[f"RTMPose-{setup.size} at {opts.input_size[0]}x{opts.input_size[1]} "
                                    f"does not fit with {setup.batch} samples per step"],
                            hint=f"--batch-size {half}   (or --batch-size auto: halves until it fits)", code="oom")
    event = refused[-1] if refused else None
    refusal = checkpoint_error(rc, event, _trust_hint(opts, setup, (event or {}).get("path")))
    if refusal:
        return refusal
    log = setup.work_dir / "train.log"
    tail = [t for t in log.read_text(errors="replace").splitlines()[-15:] if t.strip()] if log.exists() else []
    return HoofenvError(f"training failed (exit {rc})", causes=[f"full log: {log}"], output=tail,
                        hint=f"read the end of {log}", code="train-failed")


def _trust_hint(opts: TrainOptions, setup: Setup, path: str | None) -> str:
    """The command that vouches for the refused file: the flag that named it, with --trust-checkpoint."""
    base = f"hoofenv train --data {opts.data} --work-dir {setup.work_dir}"
    if opts.resume:
        return f"{base} --resume --trust-checkpoint"
    for flag, given in (("--from", opts.from_ckpt), ("--pretrained", opts.pretrained)):
        if given and path and Path(given).expanduser().resolve() == Path(path):
            return f"{base} {flag} {given} --trust-checkpoint (and your other options)"
    return f"{base} ... --trust-checkpoint"
