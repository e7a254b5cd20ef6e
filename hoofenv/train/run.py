"""`hoofenv train`: CVAT exports prepared (exports.py), preflight (data check, verify), the config rendered with
absolute paths -- hoofenv's template, or the user's own config (user_config.py) -- and held to `config check`, then
MMEngine's Runner in the managed env (hoofenv/inenv/train_runner.py through the launcher), its progress followed,
the report written.

This module never imports torch or mmengine: the stack lives in another interpreter. What happens is reported as
events (dicts with an "event" key) to a callback; the CLI renders them.
"""

from __future__ import annotations

import json
import shlex
import shutil
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
from hoofenv.machine import inenv
from hoofenv.train import rendered, scale, slurm, tracking
from hoofenv.train.checkpoints import EVENTS, checkpoint_error
from hoofenv.train.launch import follow, launch_env, runner_argv
from hoofenv.train.options import TrainOptions
from hoofenv.train.preflight import (data_check, data_paths, parse_batch, resolve_pretrained, stack_python,
                                     train_instances, verify_preflight)
from hoofenv.train.report import write_report
from hoofenv.train import exports, user_config

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
    own: bool = False  # the user's own full config (train/user_config.py)

    @property
    def config(self) -> Path:
        return self.work_dir / "config.py"


def world_size(opts: TrainOptions) -> int:
    """Processes in all (with elastic MIN:MAX nodes, the most): what the lr and warm-up are scaled for."""
    return opts.procs * opts.max_nodes


def render_config(opts: TrainOptions, root: Path, metainfo: Path, schema, size: str, batch: int,
                  workers: int, pretrained: str | None) -> str:
    stage2 = trainconfig.stage2_epochs(opts.epochs) if opts.stage2_epochs is None else opts.stage2_epochs
    samples = train_instances(root / "annotations" / "train.json")
    world = world_size(opts)
    params = trainconfig.TrainParams(
        data_root=str(root), metainfo_file=str(metainfo), num_keypoints=len(schema.keypoints),
        flip=bool(schema.swaps), model_size=size, input_size=tuple(opts.input_size), max_epochs=opts.epochs,
        stage2_num_epochs=stage2,
        val_interval=opts.val_interval or max(1, min(5, opts.epochs // 10 or 1)),
        train_batch_size=batch, val_batch_size=max(batch, 1), num_workers=workers,
        base_lr=opts.lr if opts.lr is not None else trainconfig.scaled_lr(batch * world),
        warmup_iters=trainconfig.warmup_iters(samples, batch * world, opts.epochs),
        pretrained=pretrained, amp=opts.amp, seed=opts.seed, deterministic=opts.deterministic,
        hoof_angles=angles.names_for(schema.keypoints) if angles.fits(schema.keypoints) else None,
        hoofenv_inenv=str(LAUNCHER.parent), extra=dict(opts.extra), world_size=world,
    )
    template = Path(opts.config).read_text() if opts.config else None
    if template is not None and trainconfig.BEGIN not in template:
        raise UsageError(f"--config {opts.config} has no '{trainconfig.BEGIN}' block",
                         hint="start from configs/rtmpose_hoof.py; hoofenv fills that block with absolute paths")
    if opts.track and template is not None and "visualizer" not in template:
        raise UsageError(f"--track needs a `visualizer = dict(...)` in --config {opts.config}",
                         hint="copy the visualizer lines of configs/rtmpose_hoof.py into it")
    work_dir = Path(metainfo).parent
    return trainconfig.render(params, template) + tracking.config_block(
        tracking.backends(opts.track, work_dir, opts.tracking_uri))


def train(opts: TrainOptions, emit: Emit | None = None) -> Path:
    emit = emit or (lambda e: None)
    scale.check(opts)
    python = stack_python(opts)
    own = user_config.is_own_config(opts.config)
    if opts.data:
        opts.data = exports.prepare(opts, _size_and_work_dir(opts, own, gpu_memory_gib())[1], emit)
    elif not own:
        raise UsageError("--data DIR is needed to train hoofenv's template",
                         hint="hoofenv train --data DIR  (a dataset folder, or a CVAT export zip/folder)")
    root = stats = schema = None
    if opts.data:
        root, train_json, val_json, images = data_paths(opts.data)
        stats = data_check(train_json, val_json, images)
        schema = Schema.from_coco(json.loads(train_json.read_text()))
    if opts.slurm:
        emit({"event": "notice", "text": "--slurm: `hoofenv verify` is left to the compute nodes "
                                         "(srun hoofenv verify), the login node may have no GPU"})
    else:
        verify_preflight(opts, python, emit)
    tracking.ensure(opts.track, python, None if opts.python else python.parent.parent, emit)
    setup = _setup(opts, emit, own)
    setup.work_dir.mkdir(parents=True, exist_ok=True)
    _check_resumed_world(opts, setup, emit)
    if opts.slurm:
        return _slurm(opts, python, setup, root, schema, emit)
    started = time.time()
    ranks = _run_until_done(opts, python, setup, root, schema, emit)
    title = f"{Path(opts.config).name} (own config)" if own else f"RTMPose-{setup.size}"
    report = write_report(setup.work_dir, stats, setup.size, time.time() - started, ranks, title=title)
    emit({"event": "report", "path": str(report)})
    return setup.work_dir


def _check_resumed_world(opts: TrainOptions, setup: Setup, emit: Emit) -> None:
    if not opts.resume:
        return
    was = int(trainconfig.parse_params(setup.config.read_text()).get("world_size", 1) or 1)
    if was != world_size(opts):
        emit({"event": "notice", "text": f"this run was rendered for {was} process(es) and resumes on "
                                         f"{world_size(opts)}: the global batch changes, the lr stays as rendered "
                                         f"(pass the same --nproc/--gpus/--nnodes to resume it as it was)"})


def _render(opts: TrainOptions, python: Path, setup: Setup, root: Path, schema: Schema, emit: Emit) -> None:
    """WORK_DIR/config.py: the user's own config with hoofenv's paths and settings, or hoofenv's template (then
    config-checked in the env unless --skip-verify)."""
    if setup.own:
        user_config.render(opts, python, setup.config, root, setup.batch, setup.pretrained, emit)
        _record(setup.work_dir, emit)
        return
    metainfo = write_metainfo(schema, setup.work_dir / "metainfo.py")
    text = render_config(opts, root, metainfo, schema, setup.size, setup.batch, setup.workers, setup.pretrained)
    atomic_write_text(setup.config, text)
    _record(setup.work_dir, emit)
    world = world_size(opts)
    emit({"event": "config", "path": str(setup.config), "size": setup.size, "keypoints": len(schema.keypoints),
          "input_size": list(opts.input_size), "batch": setup.batch, "workers": setup.workers,
          "flip": bool(schema.swaps), "pretrained": setup.pretrained, "world_size": world,
          "global_batch": (setup.batch or 0) * world, "track": list(opts.track)})
    if not opts.skip_verify:  # the env preflights: verify, and this template's config check
        user_config.check_rendered(python, setup.config, emit)


def _record(work_dir: Path, emit: Emit) -> None:
    """The rendered files' record, which --resume and predict check; a cache that cannot be written costs only that."""
    try:
        rendered.record(work_dir)
    except OSError as exc:
        emit({"event": "notice", "text": f"could not record the rendered config in hoofenv's cache "
                                         f"({exc.strerror or exc}: {exc.filename or rendered.record_path(work_dir)}): "
                                         "training goes on; --resume and predict without --config will refuse "
                                         "this work dir"})


def _slurm(opts: TrainOptions, python: Path, setup: Setup, root: Path, schema: Schema, emit: Emit) -> Path:
    """Render, write WORK_DIR/slurm_train.sh, and with --submit hand it to sbatch."""
    if not opts.resume:
        _render(opts, python, setup, root, schema, emit)
    argv = runner_argv(python, setup.config, setup.work_dir, opts)
    launcher = argv.index(str(inenv.LAUNCHER))
    runner_args = argv[launcher + 2:-2]  # between `launch.py train` and `--launcher pytorch`
    script = slurm.write(slurm.script_text(opts, python, runner_args, setup.work_dir, inenv.LAUNCHER), setup.work_dir)
    job = slurm.submit(script) if opts.submit else None
    emit({"event": "slurm", "script": str(script), "submit": opts.submit, "job": job,
          "sbatch": bool(shutil.which("sbatch")), "nodes": str(opts.nnodes), "procs": opts.procs})
    return setup.work_dir


def _size_and_work_dir(opts: TrainOptions, own: bool, gpu_mem: float | None = None) -> tuple[str, Path]:
    size = trainconfig.choose_size(gpu_mem) if opts.model_size == "auto" else opts.model_size
    if size not in trainconfig.SIZES:
        raise UsageError(f"--model {size!r}: auto, t, s or m")
    default = f"work_dirs/{Path(opts.config).stem}" if own else f"work_dirs/hoof_rtmpose-{size}"
    return size, Path(opts.work_dir or default).expanduser().resolve()


def _setup(opts: TrainOptions, emit: Emit, own: bool = False) -> Setup:
    gpu_mem = gpu_memory_gib()
    size, work_dir = _size_and_work_dir(opts, own, gpu_mem)
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
        if opts.trust_config:
            _record(work_dir, emit)  # the user vouched for these files: later resumes need no flag
        else:
            q = shlex.quote
            fresh = _train_command(opts, own, f"--work-dir {q(f'{work_dir}-2')} "
                                              f"--from {q(str(last_weights(work_dir)))}")
            vouch = _train_command(opts, own, f"--work-dir {q(str(work_dir))} --resume --trust-config")
            rendered.verify(work_dir, fresh, vouch)
        batch = resumed_batch((work_dir / "config.py").read_text(errors="replace"))
    else:
        if opts.trust_config:
            raise UsageError("--trust-config goes with --resume",
                             hint="a new run renders its own config; --trust-config vouches for a work dir's config "
                                  "when resuming it")
        if opts.from_ckpt and not Path(opts.from_ckpt).is_file():
            raise UsageError(f"--from {opts.from_ckpt}: no such checkpoint")
        if (work_dir / "last_checkpoint").exists():
            raise HoofenvError(f"{work_dir} already holds a run",
                               hint="--resume continues it; --work-dir NEW starts another "
                                    f"(or --from {work_dir}/best.pth for incremental training)", code="work-dir-used")
        batch = parse_batch(opts.batch_size) or (None if own else trainconfig.auto_batch(size, gpu_mem,
                                                                                         opts.input_size))
    workers = trainconfig.auto_workers(gpu=gpu_mem is not None) if opts.workers == "auto" else int(opts.workers)
    if own:  # the config's own backbone unless --pretrained names a file or none
        pretrained = None if opts.resume or opts.pretrained in ("default", "none") else resolve_pretrained(
            opts.pretrained, size, emit)
        return Setup(size, work_dir, batch, False, workers, pretrained, own=True)
    pretrained = None if opts.resume else resolve_pretrained(opts.pretrained, size, emit)
    return Setup(size, work_dir, batch, opts.batch_size == "auto" and not opts.resume, workers, pretrained)


def last_weights(work_dir: Path) -> Path:
    """The checkpoint a new run takes the old run's weights from: last.pth, else the newest epoch_*.pth (a pruned
    work dir, one copied without its links), else last.pth for the message."""
    last = work_dir / "last.pth"
    if last.is_file():
        return last
    epochs = sorted((int(p.stem[6:]), p) for p in work_dir.glob("epoch_*.pth")
                    if p.stem[6:].isdecimal() and p.is_file())
    return epochs[-1][1] if epochs else last


def _train_command(opts: TrainOptions, own: bool, rest: str) -> str:
    """`hoofenv train` with this run's config and data, then REST (paths in it already quoted for a shell)."""
    config = [f"--config {shlex.quote(str(opts.config))}"] if own else []
    data = [f"--data {shlex.quote(str(opts.data))}"] if opts.data else []
    return " ".join(["hoofenv train", *config, *data, rest])


def resumed_batch(config_text: str) -> int | None:
    """The batch size of the run being resumed, from its config; None when the block holds no usable number."""
    batch = trainconfig.parse_params(config_text).get("train_batch_size")
    return batch if isinstance(batch, int) and not isinstance(batch, bool) and batch >= 1 else None


def _run_until_done(opts: TrainOptions, python: Path, setup: Setup, root: Path, schema: Schema,
                    emit: Emit) -> list[dict]:
    """Render (unless resuming) and launch; on CUDA out of memory with an automatic batch, halve it and start over.
    Returns the `rank` events of a distributed run (one per process)."""
    work_dir = setup.work_dir
    env = launch_env(opts, gpu=gpu_memory_gib() is not None)
    while True:
        if not opts.resume:
            _render(opts, python, setup, root, schema, emit)
        refused: list[dict] = []
        seen: dict[str, list] = {"oom": [], "rank": []}

        def on_event(event: dict) -> None:
            if event["event"] in EVENTS:
                refused.append(event)
            if event["event"] in seen:
                seen[event["event"]].append(event)
            if event["event"] != "rank":
                emit(event)

        rc = follow(runner_argv(python, setup.config, work_dir, opts), work_dir / "train.log", on_event,
                    opts.verbose, env=env)
        if rc != protocol.EXIT_OK and seen["oom"]:
            rc = protocol.EXIT_OOM  # torchrun exits 1 whatever its worker's status was: the event says why
        if rc == protocol.EXIT_OK:
            if seen["rank"]:
                emit({"event": "ranks", "ranks": seen["rank"]})
            return seen["rank"]
        if rc == protocol.EXIT_OOM and setup.auto_batch and setup.batch and setup.batch > 1:
            half = max(1, setup.batch // 2)
            emit({"event": "retry", "batch": setup.batch, "new_batch": half})
            setup.batch = half
            for p in work_dir.glob("*.pth"):
                p.unlink()
            (work_dir / "last_checkpoint").unlink(missing_ok=True)
            continue
        if refused and rc not in (protocol.EXIT_CHECKPOINT_REFUSED, protocol.EXIT_NOT_A_CHECKPOINT):
            # torchrun exits 1 whatever its worker's status was: the event says why
            rc = protocol.EXIT_NOT_A_CHECKPOINT if refused[-1]["event"] == "not-a-checkpoint" \
                else protocol.EXIT_CHECKPOINT_REFUSED
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
