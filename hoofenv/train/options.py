"""What `hoofenv train` was asked to do (the CLI fills it; the library reads it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainOptions:
    data: str | list[str] | None
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
    # CVAT exports given as --data (train/exports.py), and flags the user set explicitly (own configs keep the rest)
    val_fraction: float = 0.2
    group_by: str | None = None
    split_seed: int = 0
    schema: str | None = None
    explicit: tuple[str, ...] = ()
