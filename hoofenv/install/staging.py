"""Where an install goes and how it becomes the env in use.

For an env path E (default .hoofenv/env): E is a symlink to `.E.d/<id>` (a venv); a new install is built in
another `.E.d/<id>` and E is switched to it (atomic rename of a symlink) only when every step has passed. An
interrupted install (Ctrl-C, network loss, kill -9) leaves E untouched and its stage with a record of the finished
steps; the next run with the same plan resumes there. `--current` installs into the running venv/conda env in
place (there is nothing to stage), and never into a system Python.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.install import lock as lockmod
from hoofenv.install.installers import Installer
from hoofenv.install.recipe import Step
from hoofenv.machine.environment import Environment
from hoofenv.machine.probe import find_uv
from hoofenv.stack.plan import Plan

STATE = ".hoofenv-state.json"


def current_env() -> Path:
    env = Environment.current()
    if env.is_system:
        raise HoofenvError(f"--current: {sys.executable} is a system Python ({env.path}); hoofenv never installs "
                           "there", hint="use a dedicated env: `hoofenv install` (creates .hoofenv/env), or activate "
                                         "a venv first: `python3 -m venv ~/hoof && . ~/hoof/bin/activate && hoofenv "
                                         "install --current`", code="system-python")
    return env.path


def stage_root(env: Path) -> Path:
    return env.parent / f".{env.name}.d"


def stack_id(plan: Plan, installer: Installer, locked: dict | None) -> str:
    key = {"stack": lockmod.stack_of(plan), "installer": installer.kind,
           "locked": hashlib.sha256(json.dumps(locked["packages"]).encode()).hexdigest() if locked else None}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def free_stage(env: Path, sid: str, live: Path | None) -> Path:
    """A stage for `sid` that is neither the env in use nor a finished stage (an unfinished one resumes)."""
    root = stage_root(env)
    n = 0
    while (root / f"{sid}-{n}") == live or Environment(root / f"{sid}-{n}").plan_file.exists():
        n += 1
    return root / f"{sid}-{n}"


def switch(env: Path, target: Path) -> Path | None:
    """Point `env` at `target` atomically; returns what `env` held before (a stage dir, or a moved-aside dir)."""
    previous = None
    if env.is_symlink():
        previous = env.resolve()
    elif env.exists():  # a real env from elsewhere: move it aside, then link (two renames)
        previous = stage_root(env) / f"previous-{int(time.time())}"
        os.replace(env, previous)
    tmp = env.with_name(f".{env.name}.link{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, env.parent), tmp)
    os.replace(tmp, env)
    return previous


def base_python(plan: Plan, installer: Installer) -> tuple[str, list[Step], str]:
    """(python for `venv`, steps that obtain it, how) as the plan says: on PATH, `uv python install`, or conda."""
    src = plan.python_source
    if src is None or src.how == "path":
        path = src.path if src and src.path else f"python{plan.python}"
        return path, [], f"Python {plan.python} from {path} (on this machine)"
    if src.how == "uv":
        uv = installer.uv or find_uv()
        if not uv:
            raise HoofenvError(f"Python {plan.python} is not here and uv is missing to fetch it",
                               hint="pip install uv  (then re-run hoofenv install)", code="no-python")
        steps = [Step("python", f"Python {plan.python} (uv python install)", [uv, "python", "install", plan.python])]
        return plan.python, steps, f"Python {plan.python} via `uv python install {plan.python}`"
    if src.how == "conda":
        prefix = Path(".hoofenv/python").absolute()
        tool = src.command.split()[0] if src.command else "conda"
        steps = [Step("python", f"Python {plan.python} (conda)",
                      [tool, "create", "-y", "-p", str(prefix), f"python={plan.python}"])]
        return str(prefix / "bin" / "python"), steps, f"Python {plan.python} via {tool} into {prefix}"
    raise HoofenvError(f"no way to obtain Python {plan.python}", hint=src.command or "install it", code="no-python")



