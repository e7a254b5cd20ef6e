"""The flags of a run beyond one process checked together before anything starts (docs/scaling.md): processes per
node (--nproc, or --gpus, its GPU spelling), nodes and their rendezvous, SLURM, tracking."""

from __future__ import annotations

import os
import re

from hoofenv.errors import HoofenvError, UsageError
from hoofenv.machine.probe import GPU_MEMORY_ENV, driver_present, probe_nvidia
from hoofenv.train.options import TrainOptions

NNODES = re.compile(r"^[1-9][0-9]*(:[1-9][0-9]*)?$")


def host_gpus() -> int | None:
    """CUDA GPUs hoofenv sees here; None when it cannot count them (a memory override for tests)."""
    if os.environ.get(GPU_MEMORY_ENV) is not None:
        return None
    if not driver_present():
        return 0
    nv = probe_nvidia()
    return len(nv.gpus) if nv and not nv.error_code else 0


def check(opts: TrainOptions) -> None:
    if opts.nproc and opts.gpus and opts.nproc != opts.gpus:
        raise UsageError(f"--nproc {opts.nproc} and --gpus {opts.gpus} disagree",
                         hint="--gpus N is --nproc N with one GPU per process: give one of them")
    if opts.procs < 1:
        raise UsageError(f"--nproc {opts.procs}: at least 1 process per node")
    if not NNODES.match(str(opts.nnodes)):
        raise UsageError(f"--nnodes {opts.nnodes}: N, or MIN:MAX with --rdzv (elastic)")
    low, _, high = str(opts.nnodes).partition(":")
    if high and int(high) < int(low):
        raise UsageError(f"--nnodes {opts.nnodes}: MIN:MAX with MIN <= MAX")
    if high and not (opts.rdzv or opts.slurm):
        raise UsageError(f"--nnodes {opts.nnodes}: a range needs the c10d rendezvous",
                         hint=f"--rdzv HOST:PORT --nnodes {opts.nnodes}   (the same on every node)")
    if not 0 <= opts.node_rank < opts.max_nodes:
        raise UsageError(f"--node-rank {opts.node_rank}: 0 ... {opts.max_nodes - 1} for --nnodes {opts.nnodes}")
    _check_cluster(opts)
    if opts.gpus and not opts.slurm:
        found = host_gpus()
        if found is not None and found < opts.gpus:
            raise HoofenvError(f"--gpus {opts.gpus}: {'no CUDA GPU' if not found else f'{found} GPU(s)'} here",
                               causes=["--gpus N starts N processes, one per GPU (nccl)"],
                               hint=f"--nproc {opts.gpus}   (N processes on what there is: gloo on the CPU)",
                               code="gpus-missing")


def _check_cluster(opts: TrainOptions) -> None:
    if opts.submit and not opts.slurm:
        raise UsageError("--submit goes with --slurm", hint="hoofenv train --slurm --submit ...")
    if opts.slurm and opts.rdzv:
        raise UsageError("--slurm takes the rendezvous from SLURM's environment; drop --rdzv")
    if opts.slurm and (opts.node_rank or opts.master_addr != "127.0.0.1"):
        raise UsageError("--slurm: SLURM places the nodes; drop --node-rank/--master-addr")
    if opts.rdzv and not re.match(r"^[A-Za-z0-9_.\-\[\]:]+$", opts.rdzv):
        raise UsageError(f"--rdzv {opts.rdzv!r}: HOST or HOST:PORT of the node that hosts the rendezvous")
    if (opts.slurm_partition or opts.slurm_time or opts.sbatch_args) and not opts.slurm:
        raise UsageError("--slurm-partition, --slurm-time and --sbatch-arg go with --slurm")
    if opts.tracking_uri and "mlflow" not in opts.track:
        raise UsageError("--tracking-uri is MLflow's", hint="--track mlflow --tracking-uri URI")
    if opts.max_restarts < 0:
        raise UsageError(f"--max-restarts {opts.max_restarts}: 0 or more")
