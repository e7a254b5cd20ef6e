"""How a run starts and how its output is followed: the in-env runner for one process, torchrun for several
(MMEngine's pytorch launcher), and the stream of its events and log lines."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from hoofenv.machine import inenv
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
    if opts.gpus > 1 or opts.nnodes > 1:
        return torchrun_argv(str(python), ["train", *args], opts.gpus, opts.nnodes, opts.node_rank,
                             opts.master_addr, opts.master_port)
    return inenv.command(python, "train", args)


def resumed_checkpoint(work_dir: Path) -> str | None:
    """The file `--resume` loads: the path MMEngine wrote into WORK_DIR/last_checkpoint."""
    try:
        text = (work_dir / "last_checkpoint").read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text or None


def torchrun_argv(python: str, script_args: list[str], gpus: int, nnodes: int = 1, node_rank: int = 0,
                  master_addr: str = "127.0.0.1", master_port: int = 29500) -> list[str]:
    """MMEngine's pytorch launcher: torch.distributed.run spawns one launcher process per GPU; the runner gets
    `--launcher pytorch` and reads LOCAL_RANK from the environment."""
    if gpus < 1 or nnodes < 1:
        raise ValueError("gpus and nnodes must be >= 1")
    argv = [python, "-m", "torch.distributed.run", f"--nproc_per_node={gpus}", f"--nnodes={nnodes}",
            f"--node_rank={node_rank}", f"--master_addr={master_addr}", f"--master_port={master_port}",
            str(inenv.LAUNCHER), *script_args, "--launcher", "pytorch"]
    return argv


def _table_line(text: str) -> bool:
    t = text.strip()
    return (not t or t.startswith("(") or set(t) <= set("-") or t.endswith(":")
            or "Hooks will be executed" in t)


def follow(argv: list[str], log_path: Path, emit: Callable[[dict], None], verbose: bool) -> int:
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

    return inenv.stream(argv, emit, on_line, log=log_path)
