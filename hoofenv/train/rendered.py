"""The files hoofenv renders into a work dir that MMEngine later runs as Python: config.py, and the metainfo.py it
names (`Config.fromfile` executes both). Their sha256 is recorded when they are written and checked before
`--resume` hands them to the runner, so a work dir that someone else wrote into runs none of their code.

The record lives in hoofenv's cache (CACHE/rendered/, one file per work dir), not in the work dir: unlike the
checkpoint manifest beside the checkpoints, where a forged entry earns a file only data types, a forged record for a
config would earn code execution, so it must sit where writing into the work dir does not reach. A work dir from
another machine or user, or after the cache was cleared, therefore has no record: it is refused, and a new run
from its weights (`--from`, loaded as data) is the way on.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.files import atomic_write_text, sha256_file
from hoofenv.paths import cache_root

FILES = ("config.py", "metainfo.py")


def record_path(work_dir: Path) -> Path:
    key = hashlib.sha256(str(Path(work_dir).resolve()).encode()).hexdigest()[:24]
    return cache_root() / "rendered" / f"{key}.json"


def record(work_dir: Path) -> Path:
    """Record the sha256 of the rendered files present in WORK_DIR; returns the record's path."""
    work_dir = Path(work_dir).resolve()
    digests = {name: sha256_file(work_dir / name) for name in FILES if (work_dir / name).is_file()}
    doc = {"format": 1, "work_dir": str(work_dir), "sha256": digests}
    return atomic_write_text(record_path(work_dir), json.dumps(doc, indent=1) + "\n")


def not_ours(work_dir: Path) -> str | None:
    """Why WORK_DIR's config.py / metainfo.py are not the files hoofenv recorded; None when they are."""
    work_dir = Path(work_dir).resolve()
    path = record_path(work_dir)
    try:
        doc = json.loads(path.read_text())
        digests = doc.get("sha256") if isinstance(doc, dict) and doc.get("work_dir") == str(work_dir) else None
        if not isinstance(digests, dict):
            return f"{path} does not name this work dir's files"
    except FileNotFoundError:
        return (f"hoofenv has no record of writing it (records: {path.parent}; a work dir from another machine or "
                "user, or a cleared cache, has none)")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        return f"{path} is unreadable: {exc}"
    changed = [name for name in FILES if (work_dir / name).is_file()
               and (not isinstance(digests.get(name), str) or sha256_file(work_dir / name) != digests[name])]
    if changed:
        return f"{' and '.join(changed)} differ from what hoofenv wrote there (sha256): edited or replaced since"
    return None


WHY = "MMEngine runs config.py and metainfo.py as Python; hoofenv runs no code from a file it did not write"


def verify(work_dir: Path, fresh_start: str, vouch: str = "") -> None:
    """Raise unless every file of FILES in WORK_DIR is the one hoofenv recorded. FRESH_START: the command that
    trains on from this run's weights instead (weights load under torch's weights_only rules, never as code);
    VOUCH: the command that resumes anyway, for files the user knows (edited by them, or an earlier hoofenv's)."""
    why = not_ours(work_dir)
    if why is not None:
        hint = f"{fresh_start}   (a new run from this run's weights, with a config hoofenv renders)"
        if vouch:
            hint += f"\n  or, for files you know (your own edit, an earlier hoofenv's): {vouch}"
        raise HoofenvError(f"refused to resume {Path(work_dir).resolve()}: its config is not one hoofenv wrote",
                           causes=[why, WHY], hint=hint, code="config-not-ours")


def config_beside(ckpt: Path, vouch: str) -> Path:
    """The config.py beside checkpoint CKPT, when hoofenv rendered it there; else an error whose hint VOUCH is the
    command naming the file with --config (the user's explicit choice to run it)."""
    config = ckpt.parent / "config.py"
    why = not_ours(ckpt.parent)
    if why is not None:
        raise HoofenvError(f"refused to run {config} found beside {ckpt.name}: not a config hoofenv wrote",
                           causes=[why, WHY],
                           hint=f"{vouch}   (only if you trust that file: it runs as Python)",
                           code="config-not-ours")
    return config
