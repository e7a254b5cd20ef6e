"""Deliberately broken copies of the real training stack, for the verify tests.

Each variant is a hardlink copy (`cp -al`) of the stack's venv changed with pip inside the copy (pip replaces files
by unlink + write, so the stack itself is never modified). Built once per test session; set
HOOFENV_VERIFY_VARIANTS=DIR to keep them between sessions (a variant is reused when its marker file exists).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# name -> pip steps run in the copy, as argument lists for `COPY/bin/python -m pip`
VARIANTS: dict[str, list[list[str]]] = {
    "numpy2": [["install", "--no-deps", "numpy==2.*"]],
    "mmcv-lite": [["uninstall", "-y", "mmcv"], ["install", "--no-deps", "mmcv-lite==2.1.0"]],
    "no-mmdet": [["uninstall", "-y", "mmdet"]],
    "setuptools81": [["install", "--no-deps", "setuptools==81.*"]],
    # PyPI's torchvision 0.29.1 is a CUDA build; torch 2.13.0+cpu lies in /opt/wheels (pip's find-links here)
    "cpu-torch": [["install", "--no-deps", "torch==2.13.0+cpu"]],
}
MARKER = ".hoofenv-variant-ok"


def build_variant(base_env: Path, name: str, root: Path) -> Path:
    """A broken copy of base_env; returns its python."""
    target = root / name
    if (target / MARKER).exists():
        return target / "bin" / "python"
    if target.exists():
        shutil.rmtree(target)
    root.mkdir(parents=True, exist_ok=True)
    linked = subprocess.run(["cp", "-al", str(base_env), str(target)], capture_output=True, text=True)
    if linked.returncode != 0:  # another filesystem (no hardlinks across devices): a full copy, slower and ~6 GB
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(["cp", "-a", str(base_env), str(target)], check=True)
    python = target / "bin" / "python"
    # hoofenv's pip.conf in the env holds the pins and would refuse these breakages: the copy plays an env whose
    # user took it away (or one hoofenv did not make, `--current`)
    (target / "pip.conf").unlink(missing_ok=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    for step in VARIANTS[name]:
        proc = subprocess.run([str(python), "-m", "pip", "-q", *step], capture_output=True, text=True, env=env,
                              timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"variant {name}: pip {' '.join(step)} failed:\n{proc.stdout}\n{proc.stderr}")
    (target / MARKER).write_text("ok\n")
    return python
