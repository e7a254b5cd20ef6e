"""Writes that never leave half a file, and backups that never overwrite an older one.

A temp file in the same folder, fsync, rename: readers see the old file or the new one, never a mix. A temp file
is named after its target and its writer's pid (`.NAME.PID.XXXX.tmp`), so one that a killed writer left behind is
removed by the next write of the same file.
"""

from __future__ import annotations

import os
import re
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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_temps(path: Path) -> list[Path]:
    """Remove the temp files of PATH whose writer is gone (killed mid-write); returns what was removed."""
    pattern = re.compile(r"^\." + re.escape(path.name) + r"\.(\d+)\.[^.]+\.tmp$")
    removed = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))):
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


def _temp_for(path: Path) -> tuple[int, str]:
    return tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    if path.is_dir():
        raise HoofenvError(f"{path} is a folder", hint=f"name a file, e.g. {path}/annotations.json", code="usage",
                           exit_code=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temps(path)
    fd, tmp = _temp_for(path)
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp's 0600 would hide configs and reports from the team
        # surrogateescape: a path of non-UTF-8 bytes (read as surrogates) is written back as those bytes
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def backup(path: str | os.PathLike) -> Path:
    """Copy PATH to PATH.bak, or PATH.bak.1, .2, ... when that exists: an older backup is never overwritten, and a
    copy that fails half-way (a full disk) leaves no backup file at all."""
    path = Path(path)
    sweep_temps(path)
    fd, tmp = _temp_for(path)
    os.close(fd)
    try:
        shutil.copy2(path, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        n = 0
        while True:
            target = path.with_name(path.name + (".bak" if n == 0 else f".bak.{n}"))
            try:
                os.link(tmp, target)  # fails when the name exists: no backup is replaced, even by a racing writer
                return target
            except FileExistsError:
                n += 1
            except OSError:  # a filesystem without hard links
                if not target.exists():
                    os.replace(tmp, target)
                    return target
                n += 1
    finally:
        Path(tmp).unlink(missing_ok=True)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve() or os.path.samefile(a, b)
    except OSError:
        return False
