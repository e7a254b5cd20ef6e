"""Writes that never leave half a file, and backups that never overwrite an older one.

A temp file in the same folder, fsync, rename: readers see the old file or the new one, never a mix.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hoofenv.errors import HoofenvError


def _mode_for(path: Path) -> int:
    """The replaced file's mode, else what open() would give under the current umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise HoofenvError(f"{path} is a folder", hint=f"name a file, e.g. {path}/annotations.json", code="usage",
                           exit_code=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp's 0600 would hide configs and reports from the team
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def backup(path: str | os.PathLike) -> Path:
    """Copy PATH to PATH.bak, or PATH.bak.1, .2, ... when that exists: an older backup is never overwritten."""
    path = Path(path)
    target = path.with_name(path.name + ".bak")
    n = 0
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.bak.{n}")
    shutil.copy2(path, target)
    return target


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve() or os.path.samefile(a, b)
    except OSError:
        return False
