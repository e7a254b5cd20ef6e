"""Atomic writes and backups: an interrupted `fix` or `merge` never leaves half an annotation file behind."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.fsutil import atomic_write_text


def write_atomic(path: str | Path, text: str) -> Path:
    """Write to a temp file in the same folder, fsync, then os.replace: readers see the old or the new file."""
    path = Path(path)
    if path.is_dir():
        raise HoofenvError(f"{path} is a folder", hint=f"name a file, e.g. {path}/annotations.json", code="usage")
    return atomic_write_text(path, text)


def backup(path: str | Path) -> Path:
    """Copy PATH to PATH.bak, or PATH.bak.1, .2, ... when that exists: an older backup is never overwritten."""
    path = Path(path)
    target = path.with_name(path.name + ".bak")
    n = 0
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.bak.{n}")
    shutil.copy2(path, target)
    return target


def same_file(a: str | Path, b: str | Path) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve() or os.path.samefile(a, b)
    except OSError:
        return False
