"""Writes that never leave half a file, and backups that never overwrite an older one.

A temp file in the same folder, fsync, rename: readers see the old file or the new one, never a mix. A temp file
is named after its target and its writer's pid (`.NAME.PID.XXXX.tmp`), so one that a killed writer left behind is
removed by the next write of the same file.
"""

from __future__ import annotations

import os
import re
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
    import tempfile  # here: `hoofenv plan` reads its caches and seldom writes one

    return tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    # surrogateescape: a path of non-UTF-8 bytes (read as surrogates) is written back as those bytes
    return atomic_write_bytes(path, text.encode("utf-8", errors="surrogateescape"))


def _name(exc: BaseException, path: Path) -> None:
    """A write that fails (ENOSPC from write or fsync) carries no file name: give it the target's."""
    if isinstance(exc, OSError) and not exc.filename:
        exc.filename = str(path)


def backup(path: str | os.PathLike) -> Path:
    """Copy PATH to PATH.bak, or PATH.bak.1, .2, ... when that exists: an older backup is never overwritten, and a
    copy that fails half-way (a full disk) leaves no backup file at all."""
    path = Path(path)
    sweep_temps(path)
    fd, tmp = _temp_for(path)
    os.close(fd)
    try:
        import shutil

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
    except OSError as exc:
        _name(exc, path.with_name(path.name + ".bak"))
        raise
    finally:
        Path(tmp).unlink(missing_ok=True)


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve() or os.path.samefile(a, b)
    except OSError:
        return False


# -- several files as one unit ------------------------------------------------------------------------------------

SET_FORMAT = "hoofenv-file-set/1"


def sha256_file(path: str | os.PathLike) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_set(parts: dict[str, tuple[Path, str]], manifest: str | os.PathLike, record: dict) -> dict[str, Path]:
    """Write several files that only make sense together (a train/val pair) as one unit; returns the backups made.

    1. every text goes to a temp file beside its target (fsync); a failure here changes nothing;
    2. each target that exists with other content is backed up (`backup`: PATH.bak, .bak.1, ...);
    3. the manifest (RECORD plus each part's name, sha256 and size) is written atomically: the commit point;
    4. the temps are renamed over the targets.
    A reader compares the parts with the manifest (`check_set`): a run killed in step 4 leaves a manifest that
    does not match the files on disk, which is refused, never a silently mixed pair. Parts live in the
    manifest's folder.
    """
    import hashlib
    import json

    manifest = Path(manifest)
    for role, (path, _) in parts.items():
        if Path(path).parent.resolve() != manifest.parent.resolve():
            raise ValueError(f"{role}: {path} is not in the manifest's folder {manifest.parent}")
        if Path(path).is_dir():
            raise HoofenvError(f"{path} is a folder", hint="name a file", code="usage", exit_code=2)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    temps: dict[str, str] = {}
    entries: dict[str, dict] = {}
    backups: dict[str, Path] = {}
    try:
        for role, (path, text) in parts.items():
            path = Path(path)
            sweep_temps(path)
            data = text.encode("utf-8")
            fd, temps[role] = _temp_for(path)
            os.chmod(temps[role], _mode_for(path))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            entries[role] = {"path": path.name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        for role, (path, _) in parts.items():
            if Path(path).exists() and not _same_content(Path(path), entries[role]):
                backups[role] = backup(path)
        atomic_write_text(manifest, json.dumps({"format": SET_FORMAT, **record, "files": entries}, indent=1) + "\n")
        for role, (path, _) in parts.items():
            os.replace(temps.pop(role), path)
        _fsync_dir(manifest.parent)
    except OSError as exc:
        _name(exc, manifest.parent)
        raise
    finally:
        for tmp in temps.values():
            Path(tmp).unlink(missing_ok=True)
    return backups


def _same_content(path: Path, entry: dict) -> bool:
    try:
        return path.stat().st_size == entry["bytes"] and sha256_file(path) == entry["sha256"]
    except OSError:
        return False


def read_set(manifest: str | os.PathLike) -> dict | None:
    """A file-set manifest, or None when MANIFEST is not one (any other JSON, too large, unreadable)."""
    import json

    manifest = Path(manifest)
    try:
        if manifest.stat().st_size > 1 << 20:
            return None
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != SET_FORMAT or not isinstance(data.get("files"), dict):
        return None
    files = data["files"]
    if not all(isinstance(e, dict) and isinstance(e.get("path"), str) and isinstance(e.get("sha256"), str)
               and "/" not in e["path"] and e["path"] not in ("", ".", "..") for e in files.values()):
        return None
    return data


def check_set(manifest: str | os.PathLike, data: dict | None = None) -> dict[str, str]:
    """role -> "ok", "changed" or "missing" for each part of a manifest (read from disk now)."""
    manifest = Path(manifest)
    data = data if data is not None else read_set(manifest)
    out = {}
    for role, entry in (data or {}).get("files", {}).items():
        path = manifest.parent / entry["path"]
        if not path.is_file():
            out[role] = "missing"
        else:
            out[role] = "ok" if _same_content(path, entry) else "changed"
    return out


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write DATA to PATH whole or not at all (temp file beside it, fsync, rename); the mode of a file it replaces
    is kept (mkstemp's 0600 would hide configs and reports from the team)."""
    path = Path(path)
    if path.is_dir():
        raise HoofenvError(f"{path} is a folder", hint=f"name a file, e.g. {path}/annotations.json", code="usage",
                           exit_code=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_temps(path)
    fd, tmp = _temp_for(path)
    try:
        os.chmod(tmp, _mode_for(path))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        _name(exc, path)
        raise
    return path


def output_problem(path: str | os.PathLike, folder: bool = False) -> str | None:
    """Why PATH cannot be written as a file (or, with FOLDER, created as a folder), judged before any work:
    it is a folder (a file), or a part of it is a file. None when it looks writable."""
    path = Path(path)
    if path.exists():
        if folder and not path.is_dir():
            return f"{path} is a file, not a folder"
        if not folder and path.is_dir():
            return f"{path} is a folder, not a file"
        return None
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, so {path} cannot be made inside it"
    return None
