"""Where hoofenv keeps what it makes outside a project: one cache folder for wheels, logs, stacks and probes."""

from __future__ import annotations

import os
from pathlib import Path

from hoofenv.errors import UsageError

CACHE_ENV = "HOOFENV_CACHE_DIR"


def cache_root() -> Path:
    """$HOOFENV_CACHE_DIR, else $XDG_CACHE_HOME/hoofenv, else ~/.cache/hoofenv. A variable that names a file (or a
    path below one) is a usage error naming it, not an OSError from whichever write comes first."""
    if os.environ.get(CACHE_ENV):
        root, variable = Path(os.environ[CACHE_ENV]).expanduser(), CACHE_ENV
    else:
        variable = "XDG_CACHE_HOME" if os.environ.get("XDG_CACHE_HOME") else None
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "hoofenv"
    for place in (root, *root.parents):
        if place.exists():
            if not place.is_dir():
                raise UsageError(f"the cache folder {root} cannot be made: {place} is a file",
                                 hint=f"point ${variable} at a folder" if variable else f"move {place} away")
            break
    return root


def resource(name: str) -> Path:
    """A file or folder that ships with hoofenv (compat_matrix.yaml, configs/): inside the package in a wheel
    (hatch force-include), at the repository's top in a checkout (editable install)."""
    package = Path(__file__).resolve().parent
    packaged = package / name
    return packaged if packaged.exists() else package.parent / name


def bundled_config() -> Path:
    """The RTMPose template `hoofenv train` renders (and `hoofenv verify` checks the types of)."""
    return resource("configs") / "rtmpose_hoof.py"
