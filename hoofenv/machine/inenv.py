"""Start a program inside an environment (hoofenv/inenv, through its launcher) and read what it reports.

The program's stdout and stderr are read as one stream: lines that carry an event (inenv/protocol.py) go to
`on_event`, every other line to `on_line`; all of them are appended to `log` when one is given, after any note
that `on_line` returns for the log (MMEngine's hook table gets its explanation right under it).
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from hoofenv.inenv import protocol

LAUNCHER = Path(__file__).resolve().parent.parent / "inenv" / "launch.py"


def _die_with_parent(parent: int, sig: int) -> None:
    """In the child, before it runs: receive SIG when hoofenv dies (kill -9 included), so that no orphaned
    installer, compiler or training keeps writing into a folder that the next run resumes or reclaims."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # hoofenv died before prctl took effect
        os._exit(128 + sig)


def tied_to_this_process(sig: int = signal.SIGTERM):
    """Popen's preexec_fn for a child that must not outlive hoofenv (Linux; elsewhere None). SIGTERM lets torchrun
    stop its workers; install's steps take SIGKILL."""
    return functools.partial(_die_with_parent, os.getpid(), sig) if sys.platform == "linux" else None


def command(python: str | os.PathLike, entry: str, args: list[str]) -> list[str]:
    """argv that runs ENTRY (verify, train, predict) with ARGS under `python`."""
    return [str(python), str(LAUNCHER), entry, *args]


def stream(argv: list[str], on_event: Callable[[dict], None], on_line: Callable[[str], str | None] | None = None,
           log: Path | None = None, env: dict | None = None) -> int:
    """Run argv to its end; returns its exit status. Ctrl-C stops the program too."""
    environ = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg", **(env or {})}
    fh = open(log, "a") if log else None
    try:
        if fh:
            fh.write(f"\n$ {' '.join(argv)}\n")
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environ,
                                bufsize=1, stdin=subprocess.DEVNULL, preexec_fn=tied_to_this_process())
        try:
            for line in proc.stdout:
                text = line.rstrip("\n")
                found = protocol.parse(text)
                note = None
                if found is not None:
                    on_event(found)
                elif on_line:
                    note = on_line(text)
                if fh:
                    fh.write((note + "\n" if note else "") + line)
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait()
            raise
        return proc.wait()
    finally:
        if fh:
            fh.close()
