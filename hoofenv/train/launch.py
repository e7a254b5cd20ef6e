"""How a run starts and how its output is followed: the in-env runner for one process, torchrun for several
(MMEngine's pytorch launcher), and the stream of its events and log lines."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

from hoofenv.machine import inenv
from hoofenv.machine.cores import usable_cores
from hoofenv.train.options import TrainOptions

HOOK_PRIORITY_NOTE = (
    "note: the hook table above (VERY_HIGH ... VERY_LOW) is MMEngine's execution ORDER at each stage: "
    "hooks with a higher priority run first. It is not a ranking of importance and nothing is wrong; "
    "see docs/train.md."
)


def runner_argv(python: Path, config: Path, work_dir: Path, opts: TrainOptions) -> list[str]:
    args = [str(config), "--work-dir", str(work_dir)]
    if opts.resume:
        args.append("--resume")
    if opts.from_ckpt:
        args += ["--load-from", str(Path(opts.from_ckpt).resolve())]
    if opts.trust_checkpoint:
        for p in (opts.from_ckpt, opts.pretrained if opts.pretrained not in ("default", "none") else None,
                  resumed_checkpoint(work_dir) if opts.resume else None):
            if p:
                args += ["--trust-checkpoint", str(Path(p).resolve())]
    if opts.stop_after_epoch:
        args += ["--stop-after-epoch", str(opts.stop_after_epoch)]
    if opts.track:
        args.append("--epoch-scalars")
    if opts.distributed:
        return torchrun_argv(str(python), ["train", *args], opts.procs, nnodes=opts.nnodes, node_rank=opts.node_rank,
                             master_addr=opts.master_addr, master_port=opts.master_port, rdzv=opts.rdzv,
                             rdzv_id=opts.rdzv_id or rdzv_id_for(work_dir), max_restarts=opts.max_restarts)
    return inenv.command(python, "train", args)


def resumed_checkpoint(work_dir: Path) -> str | None:
    """The file `--resume` loads: the path MMEngine wrote into WORK_DIR/last_checkpoint."""
    try:
        text = (work_dir / "last_checkpoint").read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


DEFAULT_PORT = 29500


def rdzv_id_for(work_dir: Path) -> str:
    """One id for every node of a run: all of them train into the same (shared) work dir."""
    return "hoofenv-" + hashlib.sha256(str(work_dir).encode()).hexdigest()[:12]


def torchrun_argv(python: str, script_args: list[str], nproc: int, *, nnodes: int | str = 1, node_rank: int = 0,
                  master_addr: str = "127.0.0.1", master_port: int | None = None, rdzv: str | None = None,
                  rdzv_id: str | None = None, max_restarts: int = 0) -> list[str]:
    """MMEngine's pytorch launcher: torch.distributed.run starts `nproc` processes per node; the runner gets
    `--launcher pytorch` and reads RANK/LOCAL_RANK/WORLD_SIZE from the environment. The rendezvous:
    - one node, no port given: `--standalone` (c10d on localhost, a free port: two runs never collide);
    - `rdzv` HOST[:PORT]: c10d at that address, `nnodes` N or MIN:MAX (elastic), restarts up to `max_restarts`;
    - otherwise static: node_rank, master_addr, master_port (29500 unless given) on every node."""
    if nproc < 1:
        raise ValueError("nproc must be >= 1")
    argv = [python, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    max_nodes = int(str(nnodes).rpartition(":")[2])
    if rdzv:
        host, _, port = rdzv.partition(":")
        argv += [f"--nnodes={nnodes}", "--rdzv_backend=c10d", f"--rdzv_endpoint={host}:{port or DEFAULT_PORT}",
                 f"--rdzv_id={rdzv_id or 'hoofenv'}", f"--max_restarts={max_restarts}"]
    elif max_nodes == 1 and master_port is None:
        argv += ["--standalone", "--nnodes=1"]
    else:
        argv += [f"--nnodes={nnodes}", f"--node_rank={node_rank}", f"--master_addr={master_addr}",
                 f"--master_port={master_port or DEFAULT_PORT}"]
    return [*argv, str(inenv.LAUNCHER), *script_args, "--launcher", "pytorch"]


def launch_env(opts: TrainOptions, gpu: bool) -> dict:
    """torchrun sets OMP_NUM_THREADS=1 for every process; on the CPU that leaves cores idle, so each process gets
    its share of the cores (unless the user set OMP_NUM_THREADS)."""
    if not opts.distributed or gpu or "OMP_NUM_THREADS" in os.environ:
        return {}
    return {"OMP_NUM_THREADS": str(max(1, usable_cores() // opts.procs))}


def _table_line(text: str) -> bool:
    t = text.strip()
    return (not t or t.startswith("(") or set(t) <= set("-") or t.endswith(":")
            or "Hooks will be executed" in t)


def follow(argv: list[str], log_path: Path, emit: Callable[[dict], None], verbose: bool,
           env: dict | None = None) -> int:
    """Run argv, tee everything to log_path, pass its events to `emit` (and its log lines with verbose). Right under
    MMEngine's hook table the log gets HOOK_PRIORITY_NOTE, and `emit` a `hook-note` event, once."""
    state = {"table": "before"}  # before -> in -> explained

    def on_line(text: str) -> str | None:
        note = None
        if state["table"] == "in" and not _table_line(text):
            state["table"] = "explained"
            emit({"event": "hook-note"})
            note = HOOK_PRIORITY_NOTE
        if verbose:
            emit({"event": "log", "line": text})
        if state["table"] == "before" and "Hooks will be executed in the following order" in text:
            state["table"] = "in"
        return note

    return inenv.stream(argv, emit, on_line, log=log_path, env=env)
