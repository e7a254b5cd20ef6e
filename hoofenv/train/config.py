"""The training config, rendered from configs/rtmpose_hoof.py: pure functions, no torch, no I/O except reading
the template. Every path in the result is absolute (MMEngine resolves relative ones against the cwd, the source of
the classic "path related issues").

Choices (docs/train.md explains them):
- model size by GPU memory: CPU or < 8 GiB -> t, 8-16 GiB -> s, >= 16 GiB -> m (a 6 GB GTX 1660 SUPER gets t);
- batch size by memory and size (table below), halved by `--batch-size auto` on CUDA OOM;
- workers from the CPU cores: min(8, cores - 1), at least 1 (0 with one core);
- PipelineSwitchHook: switch epoch = max(1, epochs - stage2) so it always fires inside the schedule.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv.machine.cores import usable_cores
from hoofenv.paths import bundled_config

BEGIN = "# --- hoofenv parameters ---"
END = "# --- end hoofenv parameters ---"
SIZES = ("t", "s", "m")

# The official CSPNeXt backbones of projects/rtmpose (UDP-pretrained on AIC+COCO, 256x192), as the mmpose RTMPose
# configs name them in `init_cfg=dict(type='Pretrained', prefix='backbone.', checkpoint=...)`.
PRETRAINED_URLS = {
    "t": "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/"
         "cspnext-tiny_udp-aic-coco_210e-256x192-cbed682d_20230130.pth",
    "s": "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/"
         "cspnext-s_udp-aic-coco_210e-256x192-92f5a029_20230130.pth",
    "m": "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/"
         "cspnext-m_udp-aic-coco_210e-256x192-f2f7d6f6_20230130.pth",
}

# GPU memory (GiB) -> size: (upper bound exclusive, size)
SIZE_BY_MEMORY = [(8.0, "t"), (16.0, "s"), (float("inf"), "m")]
# Per-sample training memory at 256x256 (GiB, measured order of magnitude for RTMPose + AdamW + AMP off),
# plus a fixed overhead for CUDA context and model; the batch is the largest power of two that fits 80 %.
MEM_PER_SAMPLE_GIB = {"t": 0.045, "s": 0.06, "m": 0.10}
MEM_OVERHEAD_GIB = 1.2
CPU_BATCH = 8
MAX_BATCH = 256


@dataclass
class TrainParams:
    data_root: str
    metainfo_file: str
    num_keypoints: int = 4
    flip: bool = False
    model_size: str = "t"
    input_size: tuple[int, int] = (256, 256)
    max_epochs: int = 60
    stage2_num_epochs: int = 10
    val_interval: int = 5
    train_batch_size: int = 16
    val_batch_size: int = 16
    num_workers: int = 2
    persistent_workers: bool = False
    base_lr: float = 4e-3
    warmup_iters: int = 200
    pretrained: str | None = None
    amp: bool = False
    seed: int = 21
    deterministic: bool = False
    log_interval: int = 10
    hoof_angles: dict | None = None  # role -> keypoint name: the angle metric (hoofenv/inenv/angles.py)
    hoofenv_inenv: str | None = None  # the folder of that metric's package, for plain MMEngine runs
    extra: dict = field(default_factory=dict)
    world_size: int = 1  # processes in all: the global batch is train_batch_size x world_size


def choose_size(gpu_memory_gib: float | None) -> str:
    """None (no CUDA GPU) -> t."""
    if gpu_memory_gib is None:
        return "t"
    for bound, size in SIZE_BY_MEMORY:
        if gpu_memory_gib < bound:
            return size
    return "m"


def auto_batch(size: str, gpu_memory_gib: float | None, input_size=(256, 256)) -> int:
    if gpu_memory_gib is None:
        return CPU_BATCH
    scale = (input_size[0] * input_size[1]) / (256 * 256)
    per = MEM_PER_SAMPLE_GIB[size] * scale
    budget = max(0.0, gpu_memory_gib * 0.8 - MEM_OVERHEAD_GIB)
    batch = 1
    while batch * 2 * per <= budget and batch * 2 <= MAX_BATCH:
        batch *= 2
    return batch


def auto_workers(cores: int | None = None, gpu: bool = True) -> int:
    """Data loader processes: cores - 1 (at most 8) keep a GPU fed. Training on the CPU, the model's threads want
    every core, and with 2 a worker process costs more than it saves (its own CPU time, and handing each batch's
    tensors across processes: 22 ms an iteration here); loading in the training process makes an iteration of the
    demo 8-14 % shorter (docs/PERFORMANCE.md)."""
    cores = cores or usable_cores()
    return 0 if cores <= 1 or (not gpu and cores <= 2) else min(8, cores - 1)


def stage2_epochs(max_epochs: int) -> int:
    """RTMPose trains the last 30 of 420 epochs (~7 %) with mild augmentation; at least 1 when possible."""
    return max(1, round(max_epochs * 30 / 420)) if max_epochs > 1 else 0


RTMPOSE_LR, RTMPOSE_BATCH = 4e-3, 256


def scaled_lr(batch: int) -> float:
    """RTMPose's AdamW rate (4e-3 at batch 256) scaled by sqrt(batch/256), the usual rule for Adam. Unscaled,
    4e-3 at batch 4 diverged here (loss spikes from 0.06 to 0.28 right after warm-up, PCK falling to 0.01)."""
    return round(RTMPOSE_LR * (max(1, batch) / RTMPOSE_BATCH) ** 0.5, 6)


def warmup_iters(n_samples: int, batch: int, epochs: int) -> int:
    """10% of the run's iterations, at most RTMPose's 1000: a fixed count swamps short runs (a 30-epoch
    demo of 60 iterations an epoch spent a third of its steps warming up)."""
    total = max(1, -(-n_samples // max(1, batch))) * max(1, epochs)
    return max(1, min(1000, total // 10))


def switch_epoch(max_epochs: int, stage2: int) -> int:
    return max(1, max_epochs - stage2)


def render(params: TrainParams, template: str | None = None) -> str:
    """The template with its parameter block replaced; paths must already be absolute."""
    if params.model_size not in SIZES:
        raise ValueError(f"model size {params.model_size!r} not in {SIZES}")
    for name in ("data_root", "metainfo_file"):
        if not os.path.isabs(getattr(params, name)):
            raise ValueError(f"{name} must be absolute: {getattr(params, name)!r}")
    if template is None:
        template = bundled_config().read_text()
    start, end = template.find(BEGIN), template.find(END)
    if start < 0 or end < 0:
        raise ValueError(f"template lacks the {BEGIN!r} ... {END!r} block")
    data_root = params.data_root.rstrip("/") + "/"
    values = dict(
        data_root=data_root,
        metainfo_file=params.metainfo_file,
        num_keypoints=int(params.num_keypoints),
        flip=bool(params.flip),
        model_size=params.model_size,
        input_size=tuple(int(v) for v in params.input_size),
        max_epochs=int(params.max_epochs),
        stage2_num_epochs=int(params.stage2_num_epochs),
        val_interval=int(params.val_interval),
        train_batch_size=int(params.train_batch_size),
        val_batch_size=int(params.val_batch_size),
        num_workers=int(params.num_workers),
        persistent_workers=bool(params.persistent_workers),
        warmup_iters=int(params.warmup_iters),
        base_lr=float(params.base_lr),
        pretrained=params.pretrained,
        amp=bool(params.amp),
        seed=int(params.seed),
        deterministic=bool(params.deterministic),
        log_interval=int(params.log_interval),
        hoof_angles=dict(params.hoof_angles) if params.hoof_angles else None,
        hoofenv_inenv=str(params.hoofenv_inenv) if params.hoofenv_inenv else None,
    )
    if params.world_size != 1:  # one process: the block stays as it was
        values["world_size"] = int(params.world_size)
    lines = [BEGIN, "# rendered by hoofenv train; the template is configs/rtmpose_hoof.py"]
    lines += [f"{k} = {v!r}" for k, v in values.items()]
    lines += [END]
    out = template[:start] + "\n".join(lines) + template[end + len(END):]
    if params.extra:
        out += "\n# overrides (hoofenv train --cfg-options / tests)\n"
        out += "\n".join(f"{k} = {v!r}" for k, v in params.extra.items()) + "\n"
    return out


def parse_params(config_text: str) -> dict:
    """The parameter block of a rendered config as a dict (literal values only)."""
    import ast

    start, end = config_text.find(BEGIN), config_text.find(END)
    block = config_text[start:end] if start >= 0 and end >= 0 else ""
    out = {}
    for line in block.splitlines():
        m = re.match(r"^(\w+) = (.+?)(\s+#.*)?$", line)
        if m:
            try:
                out[m.group(1)] = ast.literal_eval(m.group(2))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                pass  # not a literal: left out, as the callers expect of an edited config
    return out


def torch_hub_dir(environ: dict | None = None) -> Path:
    """torch.hub.get_dir() without importing torch: $TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub."""
    env = os.environ if environ is None else environ
    if env.get("TORCH_HOME"):
        return Path(env["TORCH_HOME"]).expanduser() / "hub"
    cache = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "torch" / "hub"


def pretrained_cache_path(size: str, environ: dict | None = None) -> Path:
    url = PRETRAINED_URLS[size]
    return torch_hub_dir(environ) / "checkpoints" / url.rsplit("/", 1)[1]
