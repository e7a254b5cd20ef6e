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
    trust_config: bool = False  # --resume runs a work dir config hoofenv has no record of writing
    gpus: int | None = None  # --gpus N: N processes, one per GPU (the GPU spelling of nproc)
    nnodes: int | str = 1  # N, or MIN:MAX with rdzv (elastic)
    node_rank: int = 0
    master_addr: str = "127.0.0.1"
    master_port: int | None = None  # None: torchrun --standalone picks a free port on one node, 29500 on several
    amp: bool = False
    skip_verify: bool = False
    seed: int = 21
    deterministic: bool = False
    verbose: bool = False
    stop_after_epoch: int | None = None
    lr: float | None = None  # None: trainconfig.scaled_lr(batch)
    stage2_epochs: int | None = None  # None: trainconfig.stage2_epochs(epochs); >= epochs: mild from the start
    extra: dict = field(default_factory=dict)
    # scaling out (docs/scaling.md)
    nproc: int | None = None  # processes per node; None: gpus, else 1
    rdzv: str | None = None  # HOST[:PORT] of torchrun's c10d rendezvous
    rdzv_id: str | None = None
    max_restarts: int = 0
    slurm: bool = False
    submit: bool = False
    slurm_partition: str | None = None
    slurm_time: str | None = None
    sbatch_args: list = field(default_factory=list)
    track: list = field(default_factory=list)  # tensorboard, mlflow, wandb
    tracking_uri: str | None = None

    @property
    def procs(self) -> int:
        """Processes per node."""
        return self.nproc or self.gpus or 1

    @property
    def max_nodes(self) -> int:
        return int(str(self.nnodes).rpartition(":")[2])

    @property
    def distributed(self) -> bool:
        return self.procs > 1 or self.max_nodes > 1 or bool(self.rdzv) or self.slurm
    # CVAT exports given as --data (train/exports.py), and flags the user set explicitly (own configs keep the rest)
    val_fraction: float = 0.2
    group_by: str | None = None
    split_seed: int = 0
    schema: str | None = None
    explicit: tuple[str, ...] = ()
