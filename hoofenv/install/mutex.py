"""One holder at a time: an fcntl lock on a file, which the kernel drops when its process ends (kill -9 included),
so no stale lock ever needs breaking. The holder writes who it is into the file; a second process that finds the
lock taken says who holds it and waits (Ctrl-C stops the wait and changes nothing)."""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hoofenv.errors import HoofenvError


def holder(path: Path) -> dict:
    """Who holds (or last held) the lock at `path`: pid, command, since; {} when unknown."""
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe(info: dict) -> str:
    if not info.get("pid"):
        return "another process"
    since = time.strftime("%H:%M:%S", time.localtime(info["since"])) if info.get("since") else "?"
    return f"pid {info['pid']} (`{info.get('command', '?')}`, since {since})"


@contextmanager
def held(path: Path, what: str, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the lock at `path` for the block; `what` names the guarded thing in the waiting message."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = describe(holder(path))
            if on_wait:
                on_wait(f"waiting for {who}, which holds {what} (lock {path}); Ctrl-C to stop waiting")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except KeyboardInterrupt:
                raise HoofenvError(f"interrupted while waiting for {what}", [f"held by {who}", "nothing was changed"],
                                   hint="re-run when it has finished", code="interrupted", exit_code=130) from None
        os.ftruncate(fd, 0)
        info = {"pid": os.getpid(), "command": " ".join(["hoofenv", *sys.argv[1:]])[:300], "since": time.time()}
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
