"""`hoofenv train`: preflight (verify, data check), render the config with absolute paths, run MMEngine's Runner in
the managed env (hoofenv/_train_runner.py, by path), follow its progress, write the report.

This module never imports torch or mmengine: the stack lives in another interpreter.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv import trainconfig
from hoofenv.errors import HoofenvError, UsageError
from hoofenv.fsutil import atomic_write_text

RUNNER = Path(__file__).resolve().parent / "_train_runner.py"
OOM_EXIT = 3
CKPT_EXIT = 4
GPU_MEMORY_ENV = "HOOFENV_GPU_MEMORY_GIB"  # tests / odd machines: pretend this much GPU memory ("0" = no GPU)

HOOK_PRIORITY_NOTE = (
    "note: the hook table above (VERY_HIGH ... VERY_LOW) is MMEngine's execution ORDER at each stage: "
    "hooks with a higher priority run first. It is not a ranking of importance and nothing is wrong; "
    "see docs/train.md."
)

HOOK_PRIORITY_SHORT = (
    "note: MMEngine's log (train.log) lists hooks with priorities VERY_HIGH ... VERY_LOW: that is the order in "
    "which they run at each stage, not their importance (docs/train.md)."
)


def _table_line(text: str) -> bool:
    t = text.strip()
    return (not t or t.startswith("(") or set(t) <= set("-") or t.endswith(":")
            or "Hooks will be executed" in t)


@dataclass
class TrainOptions:
    data: str
    work_dir: str | None = None
    config: str | None = None
    epochs: int = 60
    batch_size: str = "auto"
    model_size: str = "auto"
    input_size: tuple[int, int] = (256, 256)
    workers: str = "auto"
    val_interval: int | None = None
    env: str | None = None
    python: str | None = None
    resume: bool = False
    from_ckpt: str | None = None
    pretrained: str = "default"
    trust_checkpoint: bool = False
    gpus: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int = 29500
    amp: bool = False
    skip_verify: bool = False
    seed: int = 21
    deterministic: bool = False
    verbose: bool = False
    stop_after_epoch: int | None = None
    lr: float | None = None  # None: trainconfig.scaled_lr(batch)
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------- preflight
def stack_python(opts: TrainOptions) -> Path:
    if opts.python:
        path = Path(opts.python).expanduser()
        if not path.exists():
            raise UsageError(f"--python {opts.python} does not exist")
        return _runnable(path.absolute(), f"--python {opts.python}")
    from hoofenv.environment import Environment

    env = Environment.default(opts.env)
    if not env.exists:
        raise HoofenvError(f"no training environment at {env.path}",
                           causes=["hoofenv train runs MMEngine in the env that `hoofenv install` made"],
                           hint="hoofenv install   (or: hoofenv train --env PATH / --python PATH)", code="no-env")
    return _runnable(env.python if env.python.exists() else env.path / "bin" / "python3", f"the env {env.path}")


def _runnable(python: Path, what: str) -> Path:
    """A python that exists but cannot be run fails here, named, not as a PermissionError from subprocess."""
    if os.access(python, os.X_OK):
        return python
    raise HoofenvError(f"{what}: {python} is not executable",
                       causes=["a copied env or a mount with noexec loses the x bit"],
                       hint=f"chmod +x {python.resolve()}   (or re-create the env: `hoofenv install`)",
                       code="env-python")


def data_paths(data: str) -> tuple[Path, Path, Path, Path]:
    root = Path(data).expanduser().resolve()
    ann = root / "annotations"
    train, val, images = ann / "train.json", ann / "val.json", root / "images"
    missing = [str(p) for p in (train, val, images) if not p.exists()]
    if missing:
        raise HoofenvError(f"{root} is not a hoofenv dataset folder", causes=[f"missing: {m}" for m in missing],
                           hint="expected DIR/annotations/{train,val}.json and DIR/images/ "
                                "(hoofenv data split ANN.json splits one export)", code="data-layout")
    return root, train, val, images


def data_check(train: Path, val: Path, images: Path):
    """hoofenv data check on both splits; refuses with the findings on errors. Returns the train stats."""
    try:
        from hoofenv.data.check import check_file
    except ImportError:
        print("notice: hoofenv data check is not available in this build; skipping the data preflight")
        return None
    errors, stats = [], None
    for path in (train, val):
        report = check_file(path, images_dir=images)
        if path == train:
            stats = report.stats
        for f in report.findings:
            if f.severity == "error":
                errors.append(f"{path.name}: {f.code}: {f.message.format(n=f.count) if '{n}' in f.message else f.message}"
                              f" (fix: {f.hint})")
    if errors:
        raise HoofenvError("the data check found errors; training would crash, drop samples or score wrongly",
                           causes=errors, hint=f"hoofenv data check {train} --images {images}", code="data-check")
    return stats


def verify_preflight(opts: TrainOptions, python: Path) -> None:
    if opts.skip_verify:
        return
    from hoofenv.cli import COMMANDS

    if "verify" not in COMMANDS:
        print("notice: hoofenv verify is not available in this build; skipping the stack preflight")
        return
    env_dir = python.parent.parent
    target = ["--python", str(python)] if opts.python else ["--env", str(env_dir)]
    print("preflight: hoofenv verify ...", flush=True)
    proc = subprocess.run([sys.executable, "-m", "hoofenv", "verify", *target], capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-8:]
        raise HoofenvError(f"hoofenv verify failed for {env_dir}", causes=tail,
                           hint=f"hoofenv verify {' '.join(target)}   (or --skip-verify)", code="verify")


def gpu_memory_gib() -> float | None:
    value = os.environ.get(GPU_MEMORY_ENV)
    if value is not None:
        return float(value) or None
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10).stdout
        mib = [float(x) for x in out.split() if re.fullmatch(r"[\d.]+", x)]
    except (OSError, subprocess.TimeoutExpired):
        return None
    return min(mib) / 1024 if mib else None


def resolve_pretrained(choice: str, size: str) -> str | None:
    """'none' -> None; a path -> that path; 'default' -> the official CSPNeXt file in torch's hub cache,
    downloaded there when absent."""
    if choice == "none":
        return None
    if choice != "default":
        path = Path(choice).expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"--pretrained {choice}: no such file", hint="--pretrained PATH or --pretrained none")
        return str(path)
    url = trainconfig.PRETRAINED_URLS[size]
    cached = trainconfig.pretrained_cache_path(size)
    if cached.is_file():
        return str(cached)
    print(f"downloading the pretrained CSPNeXt-{size} backbone to {cached} ...")
    tmp = cached.with_name(cached.name + ".part")
    try:
        import urllib.request

        cached.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=30) as resp, open(tmp, "wb") as fh:
            shutil.copyfileobj(resp, fh)
        os.replace(tmp, cached)
    except Exception as exc:  # noqa: BLE001 -- any network failure gets the same advice
        tmp.unlink(missing_ok=True)
        raise HoofenvError(
            f"the pretrained backbone could not be downloaded ({url})",
            causes=[f"{type(exc).__name__}: {exc}",
                    f"hoofenv looks for it in torch's hub cache: {cached}"],
            hint=f"download it elsewhere and copy it to {cached}, or pass --pretrained PATH; "
                 "--pretrained none trains from scratch (much lower accuracy on small data sets)",
            code="pretrained-unavailable") from None
    return str(cached)


# ---------------------------------------------------------------------------------------------------- rendering
def parse_batch(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        n = int(value)
    except ValueError:
        raise UsageError(f"--batch-size {value!r}: auto or a positive number") from None
    if n < 1:
        raise UsageError(f"--batch-size {value!r}: auto or a positive number")
    return n


def train_instances(ann_file: Path) -> int:
    """Instances MMPose's top-down dataset yields per epoch: annotations with a visible keypoint."""
    import json

    try:
        anns = json.loads(ann_file.read_text()).get("annotations", [])
    except (OSError, ValueError, AttributeError):
        return 1
    return max(1, sum(1 for a in anns if isinstance(a, dict) and any(a.get("keypoints", [])[2::3])))


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
        extra=dict(opts.extra),
    )
    template = Path(opts.config).read_text() if opts.config else None
    if template is not None and trainconfig.BEGIN not in template:
        raise UsageError(f"--config {opts.config} has no '{trainconfig.BEGIN}' block",
                         hint="start from configs/rtmpose_hoof.py; hoofenv fills that block with absolute paths")
    return trainconfig.render(params, template)


def runner_argv(python: Path, config: Path, work_dir: Path, opts: TrainOptions) -> list[str]:
    args = [str(config), "--work-dir", str(work_dir)]
    if opts.resume:
        args.append("--resume")
    if opts.from_ckpt:
        args += ["--load-from", str(Path(opts.from_ckpt).resolve())]
    if opts.trust_checkpoint:
        for p in (opts.from_ckpt, opts.pretrained if opts.pretrained not in ("default", "none") else None):
            if p:
                args += ["--trust-checkpoint", str(Path(p).resolve())]
    if opts.stop_after_epoch:
        args += ["--stop-after-epoch", str(opts.stop_after_epoch)]
    if opts.gpus > 1 or opts.nnodes > 1:
        return trainconfig.torchrun_argv(str(python), str(RUNNER), args, opts.gpus, opts.nnodes, opts.node_rank,
                                         opts.master_addr, opts.master_port)
    return [str(python), str(RUNNER), *args]


# --------------------------------------------------------------------------------------------------------- run
def stream(argv: list[str], log_path: Path, verbose: bool) -> tuple[int, list[str]]:
    """Run, tee everything to log_path, show the [hoofenv] lines (all lines with verbose)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg"}
    tail: list[str] = []
    state = "before"  # before -> in-table -> explained
    with open(log_path, "a") as log:
        log.write(f"\n$ {' '.join(argv)}\n")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                bufsize=1)
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                text = line.rstrip("\n")
                if state == "in-table" and not _table_line(text):
                    state = "explained"  # once, right under MMEngine's hook table
                    log.write(HOOK_PRIORITY_NOTE + "\n")
                    print(HOOK_PRIORITY_NOTE if verbose else HOOK_PRIORITY_SHORT, flush=True)
                log.write(line)
                tail = (tail + [text])[-80:]
                if verbose:
                    print(line, end="", flush=True)
                elif line.startswith("[hoofenv] "):
                    print(line[len("[hoofenv] "):], end="", flush=True)
                if state == "before" and "Hooks will be executed in the following order" in line:
                    state = "in-table"
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        return proc.wait(), tail


def train(opts: TrainOptions) -> Path:
    python = stack_python(opts)
    root, train_json, val_json, images = data_paths(opts.data)
    from hoofenv.data.schema import Schema, write_metainfo

    stats = data_check(train_json, val_json, images)
    schema = Schema.from_coco(json.loads(train_json.read_text()))
    verify_preflight(opts, python)

    gpu_mem = gpu_memory_gib()
    size = trainconfig.choose_size(gpu_mem) if opts.model_size == "auto" else opts.model_size
    if size not in trainconfig.SIZES:
        raise UsageError(f"--model {size!r}: auto, t, s or m")
    work_dir = Path(opts.work_dir or f"work_dirs/hoof_rtmpose-{size}").expanduser().resolve()
    config_path = work_dir / "config.py"
    if opts.amp and gpu_mem is None:
        print("notice: --amp needs a CUDA GPU; training in float32 on the CPU")
        opts.amp = False
    if opts.resume:
        if not config_path.exists() or not (work_dir / "last_checkpoint").exists():
            raise HoofenvError(f"nothing to resume in {work_dir}",
                               causes=["--resume continues the run whose config.py and last_checkpoint are there"],
                               hint=f"hoofenv train --data {opts.data} --work-dir {work_dir}", code="no-resume")
        if opts.from_ckpt:
            raise UsageError("--resume and --from exclude each other",
                             hint="--resume continues this work dir's run; --from starts a new run from a checkpoint")
        batch = int(trainconfig.parse_params(config_path.read_text()).get("train_batch_size", 0)) or None
    else:
        if opts.from_ckpt and not Path(opts.from_ckpt).is_file():
            raise UsageError(f"--from {opts.from_ckpt}: no such checkpoint")
        if (work_dir / "last_checkpoint").exists():
            raise HoofenvError(f"{work_dir} already holds a run",
                               hint="--resume continues it; --work-dir NEW starts another "
                                    f"(or --from {work_dir}/best.pth for incremental training)", code="work-dir-used")
        batch = parse_batch(opts.batch_size) or trainconfig.auto_batch(size, gpu_mem, opts.input_size)
    auto = opts.batch_size == "auto" and not opts.resume
    workers = trainconfig.auto_workers() if opts.workers == "auto" else int(opts.workers)
    pretrained = None if opts.resume else resolve_pretrained(opts.pretrained, size)

    work_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    while True:
        if not opts.resume:
            metainfo = write_metainfo(schema, work_dir / "metainfo.py")
            text = render_config(opts, root, metainfo, schema, size, batch, workers, pretrained)
            atomic_write_text(config_path, text)
            print(f"config: {config_path}  (RTMPose-{size}, {len(schema.keypoints)} keypoints, "
                  f"input {opts.input_size[0]}x{opts.input_size[1]}, batch {batch}, workers {workers}, "
                  f"flip {'on' if schema.swaps else 'off (no swap pairs)'}, "
                  f"pretrained {pretrained or 'none (from scratch)'})")
        argv = runner_argv(python, config_path, work_dir, opts)
        rc, tail = stream(argv, work_dir / "train.log", opts.verbose)
        if rc == 0:
            break
        if rc == OOM_EXIT:
            half = max(1, (batch or 2) // 2)
            if auto and batch and batch > 1:
                print(f"CUDA out of memory at batch {batch}; retrying with batch {half}")
                batch = half
                for p in work_dir.glob("*.pth"):
                    p.unlink()
                (work_dir / "last_checkpoint").unlink(missing_ok=True)
                continue
            raise HoofenvError(f"CUDA out of memory at batch size {batch}",
                               causes=[f"RTMPose-{size} at {opts.input_size[0]}x{opts.input_size[1]} "
                                       f"does not fit with {batch} samples per step"],
                               hint=f"--batch-size {half}   (or --batch-size auto: halves until it fits)",
                               code="oom")
        if rc == CKPT_EXIT:
            refused = [line for line in tail if "checkpoint-refused" in line]
            raise HoofenvError("a checkpoint from outside this work dir was refused by torch's weights_only load",
                               causes=[r.split("checkpoint-refused", 1)[1].strip() for r in refused] or tail[-3:],
                               hint="pass --trust-checkpoint if you trust where it came from "
                                    "(it may run code when unpickled)", code="checkpoint-refused")
        raise HoofenvError(f"training failed (exit {rc})", causes=[t for t in tail[-15:] if t.strip()],
                           hint=f"full log: {work_dir / 'train.log'}", code="train-failed")
    report = write_report(work_dir, stats, size, time.time() - started)
    print(f"report: {report}")
    return work_dir


# ------------------------------------------------------------------------------------------------------ report
def best_metrics(epochs: list[dict]) -> dict:
    best = {}
    for key in ("coco/AP", "PCK"):
        pts = [(e["metrics"][key], e["epoch"]) for e in epochs if key in e.get("metrics", {})]
        if pts:
            value, epoch = max(pts)
            best[key] = dict(value=value, epoch=epoch)
    return best


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
              "- metrics.json, loss.png, metrics.png: per-epoch numbers and curves; train.log: the full log", ""]
    return atomic_write_text(work_dir / "report.md", "\n".join(lines))
