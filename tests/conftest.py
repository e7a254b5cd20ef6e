"""Shared test fixtures: the repo root, ../shared (skipped with a reason where absent), the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(os.environ.get("HOOFENV_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "reference").is_dir():
        pytest.skip(f"../shared is absent ({SHARED}): real samples and reference facts live there")
    return SHARED


@pytest.fixture(scope="session")
def realdata(shared: Path) -> Path:
    path = shared / "realdata"
    if not path.is_dir():
        pytest.skip(f"{path} is absent: real animal-keypoint samples are not on this machine")
    return path


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, check: bool = False):
    """Run `python -m hoofenv ARGS` as a user would, in a subprocess; returns CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "hoofenv", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd or REPO, timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"hoofenv {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_json(*args: str, **kw) -> tuple[int, dict]:
    proc = run_cli(*args, "--json", **kw)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not JSON from hoofenv {' '.join(args)}: {exc}\n{proc.stdout}\n{proc.stderr}") from exc


@pytest.fixture(scope="session")
def stack_python() -> Path:
    """The python of a real, installed training stack (torch, mmcv with ops, mmengine, mmdet, mmpose).

    HOOFENV_STACK_PYTHON points at one; otherwise the test is skipped with the reason.
    """
    value = os.environ.get("HOOFENV_STACK_PYTHON")
    if not value:
        pytest.skip("no training stack: set HOOFENV_STACK_PYTHON to the python of an env made by `hoofenv install`")
    path = Path(value)
    if not path.exists():
        pytest.fail(f"HOOFENV_STACK_PYTHON={value} does not exist")
    return path
