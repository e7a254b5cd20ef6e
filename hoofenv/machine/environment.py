"""A Python environment on disk, inspected without starting its interpreter (fast, and safe when the
environment is broken): its python, its site-packages, and the distributions installed there."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ENV = Path(".hoofenv") / "env"
ENV_VAR = "HOOFENV_ENV"
PLAN_FILE = "hoofenv-plan.json"  # the plan a finished `hoofenv install` wrote into the env


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Environment:
    path: Path

    @classmethod
    def default(cls, explicit: str | os.PathLike | None = None) -> "Environment":
        return cls(Path(explicit or os.environ.get(ENV_VAR) or DEFAULT_ENV).absolute())

    @classmethod
    def current(cls) -> "Environment":
        """The running interpreter's venv, else the active conda env, else its (system) prefix."""
        if (Path(sys.prefix) / "pyvenv.cfg").exists():
            return cls(Path(sys.prefix))
        return cls(Path(os.environ.get("CONDA_PREFIX") or sys.prefix))

    @property
    def is_system(self) -> bool:
        """Neither a venv nor a conda env: hoofenv never installs there."""
        return not ((self.path / "pyvenv.cfg").exists() or (self.path / "conda-meta").is_dir())

    @property
    def plan_file(self) -> Path:
        return self.path / PLAN_FILE

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def exists(self) -> bool:
        return self.python.exists() or (self.path / "bin" / "python3").exists()

    def site_packages(self) -> list[Path]:
        return sorted(self.path.glob("lib/python3*/site-packages"))

    def python_version(self) -> str | None:
        """From pyvenv.cfg (venv) or the lib/pythonX.Y folder name."""
        cfg = self.path / "pyvenv.cfg"
        if cfg.exists():
            for line in cfg.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() in ("version", "version_info"):
                    return value.strip()
        for sp in self.site_packages():
            return sp.parent.name.removeprefix("python")
        return None

    def installed(self) -> dict[str, str]:
        """Canonical distribution name -> version, read from *.dist-info / *.egg-info folder names."""
        found: dict[str, str] = {}
        for sp in self.site_packages():
            for entry in sp.iterdir():
                if entry.suffix not in (".dist-info", ".egg-info"):
                    continue
                name, _, version = entry.stem.partition("-")
                if version:
                    found[canonical(name)] = version.split("-")[0]
        return found
