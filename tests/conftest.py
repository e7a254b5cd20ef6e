"""Shared test fixtures: the repo root, ../shared (skipped with a reason where absent), the CLI, the real stack;
and the tiers: a test that uses the real stack is `stack` and `slow`, one that installs from the local indexes
(`world`) is `slow`, every other test is `fast` (`pytest -m fast`, docs/DEVELOPING.md)."""

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


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, check: bool = False,
            timeout: float = 600):
    """Run `python -m hoofenv ARGS` as a user would, in a subprocess; returns CompletedProcess."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "hoofenv", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd or REPO, timeout=timeout,
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


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "stack_python" in names:
            item.add_marker(pytest.mark.stack)
            item.add_marker(pytest.mark.slow)
        if "world" in names:
            item.add_marker(pytest.mark.slow)
        if not item.get_closest_marker("slow") and not item.get_closest_marker("stack"):
            item.add_marker(pytest.mark.fast)


# What the README's first command installs: the plan for this machine and its sources, with no flags
# (on a machine where only PyPI answers: PyPI's torch, mmcv built once from its sdist with CPU ops).
STACK_ARGS: list[str] = []
STACK_SMOKE = "import torch, mmcv, mmcv.ops, mmengine, mmdet, mmpose; print(torch.__version__, mmcv.__version__)"


def _stack_dir() -> Path:
    """~/.cache/hoofenv/stack/<key>: the key is the stack the plan resolves to (what the lock pins)."""
    import hashlib

    from hoofenv.commands.main import build_parser
    from hoofenv.commands.options import plan_from
    from hoofenv.install.lock import stack_of
    from hoofenv.paths import cache_root

    args = build_parser().parse_args(["install", *STACK_ARGS])
    _, plan = plan_from(args)
    key = hashlib.sha256(json.dumps(stack_of(plan), sort_keys=True).encode()).hexdigest()[:12]
    return cache_root() / "stack" / key


@pytest.fixture(scope="session")
def stack_python() -> Path:
    """The python of a real, installed training stack (torch, mmcv with ops, mmengine, mmdet, mmpose).

    HOOFENV_STACK_PYTHON points at one. Otherwise the real `hoofenv install` builds it once per test session, with
    no flags but where it goes: the plan this machine's facts and sources give (on a machine where only PyPI
    answers: PyPI's torch, mmcv from the wheel cache, compiled into it first when cold, ~5 min on 2 cores), into
    ~/.cache/hoofenv/stack/<key> (HOOFENV_CACHE_DIR moves it), keyed by the resolved stack. A re-run reuses that env
    only when `hoofenv install` finds it matching the plan (its no-op check) and the stack imports.
    """
    value = os.environ.get("HOOFENV_STACK_PYTHON")
    if value:
        path = Path(value)
        if not path.exists():
            pytest.fail(f"HOOFENV_STACK_PYTHON={value} does not exist")
        return path
    where = _stack_dir()
    proc = subprocess.run([sys.executable, "-m", "hoofenv", "install", *STACK_ARGS,
                           "--env", str(where / "env"), "--lock", str(where / "hoofenv.lock"), "--no-verify"],
                          capture_output=True, text=True, cwd=REPO, timeout=3600)
    if proc.returncode != 0:
        pytest.fail(f"hoofenv install of the real stack failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    python = where / "env" / "bin" / "python"
    smoke = subprocess.run([str(python), "-c", STACK_SMOKE], capture_output=True, text=True, timeout=600)
    if smoke.returncode != 0:
        pytest.fail(f"the installed stack does not import:\n{smoke.stderr[-3000:]}")
    return python
