"""Venvs the export tests build once per session, from PyPI (through pip's configured sources) with uv, never
touching the shared training stack (~/.cache/hoofenv/stack/...):

- `onnx_stack_python`: a venv layered on the stack (a .pth that adds the stack's site-packages with
  site.addsitedir) plus the pinned onnx installed into the new venv, numpy held at the stack's version;
- `bare_stack_python`: the same layering without onnx, for `hoofenv export` to install it on demand;
- `ort_python`: numpy, onnxruntime and Pillow (the `on_demand` pins of compat_matrix.yaml), no torch;
- `datumaro_python`: PyPI datumaro, the library CVAT imports COCO keypoints with.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hoofenv.install.installers import Installer
from hoofenv.install.sources import sources_from
from hoofenv.machine.probe import find_uv
from hoofenv.stack import matrix

# measured here 2026-12-01: 6 s with a warm uv cache, 474 MB installed (pandas, pyarrow, opencv-headless, ...)
DATUMARO = "datumaro==1.13.12"


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return proc.stdout


def _uv() -> Installer:
    if not find_uv():
        pytest.skip("uv is not beside this python nor on PATH (pip install -e '.[dev]' brings it)")
    return Installer.choose("uv", sources_from())


def _venv(where: Path, base_python: str, *requirements: str, constraints: list[Path] = ()) -> Path:
    installer = _uv()
    _run(installer.venv_cmd(base_python, where))
    python = where / "bin" / "python"
    if requirements:
        _run(installer.install_cmd(python, list(requirements), constraints=list(constraints)))
    return python


def _layered(where: Path, stack_python: Path, *requirements: str) -> Path:
    """A venv whose own site-packages come first, then the stack's (read-only to it)."""
    _run([str(stack_python), "-m", "venv", "--without-pip", str(where)])
    site = _run([str(stack_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    python = where / "bin" / "python"
    own = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    (Path(own) / "hoofenv_test_stack.pth").write_text(f"import site; site.addsitedir({site!r})\n")
    numpy = _run([str(python), "-c", "import numpy; print(numpy.__version__)"]).strip()
    held = where / "held.txt"
    held.write_text(f"numpy=={numpy}\n")
    if requirements:
        _run(_uv().install_cmd(python, list(requirements), constraints=[held]))
    return python


def _pin(name: str) -> str:
    pin = matrix.load().on_demand[name]
    return f"{name}{pin.spec}"


@pytest.fixture(scope="session")
def onnx_stack_python(stack_python, tmp_path_factory) -> Path:
    return _layered(tmp_path_factory.mktemp("venvs") / "stack-onnx", stack_python, _pin("onnx"))


@pytest.fixture(scope="session")
def bare_stack_python(stack_python, tmp_path_factory) -> Path:
    return _layered(tmp_path_factory.mktemp("venvs") / "stack-bare", stack_python)


@pytest.fixture(scope="session")
def ort_python(tmp_path_factory) -> Path:
    import sys

    python = _venv(tmp_path_factory.mktemp("venvs") / "ort", sys.executable,
                   *[_pin(n) for n in ("numpy", "onnxruntime", "pillow")])
    proc = subprocess.run([str(python), "-c", "import torch"], capture_output=True)
    assert proc.returncode != 0, "the ONNX runtime venv must not have torch"
    return python


@pytest.fixture(scope="session")
def datumaro_python(tmp_path_factory) -> Path:
    import sys

    return _venv(tmp_path_factory.mktemp("venvs") / "datumaro", sys.executable, DATUMARO)
