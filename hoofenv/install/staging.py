"""Where an install goes and how it becomes the env in use.

For an env path E (default .hoofenv/env): E is a symlink to `.E.d/<id>` (a venv); a new install is built in
another `.E.d/<id>` and E is switched to it (atomic rename of a symlink) only when every step has passed. An
interrupted install (Ctrl-C, network loss, kill -9) leaves E untouched and its stage with a record of the finished
steps; the next run with the same plan resumes there. `--current` installs into the running venv/conda env in
place (there is nothing to stage), and never into a system Python.

What hoofenv may touch is decided in one place, `hoofenv.machine.ownership`: E is checked before any change
(`checked_env`), again at the switch, and only stages that carry hoofenv's marker (or, from before the marker,
hoofenv's own files) are ever deleted. One install at a time holds the env's lock (`lock_path`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.install import lock as lockmod
from hoofenv.install import mutex
from hoofenv.install.installers import Installer
from hoofenv.install.recipe import Step
from hoofenv.machine import ownership
from hoofenv.machine.environment import Environment
from hoofenv.machine.ownership import LOGS_DIR, MARKER, STATE_FILE, housekeeping, stage_root
from hoofenv.machine.probe import find_uv
from hoofenv.paths import cache_root
from hoofenv.stack.plan import Plan

STATE = STATE_FILE


def current_env() -> Path:
    env = Environment.current()
    if env.is_system:
        raise HoofenvError(f"--current: {sys.executable} is a system Python ({env.path}); hoofenv never installs "
                           "there", hint="use a dedicated env: `hoofenv install` (creates .hoofenv/env), or activate "
                                         "a venv first: `python3 -m venv ~/hoof && . ~/hoof/bin/activate && hoofenv "
                                         "install --current`", code="system-python")
    ownership.judge_current(env.path).require()
    return env.path


def checked_env(explicit: str | None) -> Path:
    """The env path of `--env`/$HOOFENV_ENV/the default, refused (with the reason and the fix) unless hoofenv may
    make or replace it."""
    return ownership.judge(Environment.default(explicit).path).require().path


def _ensure_root(env: Path) -> Path:
    """The stage folder, made when absent, and marked (one from before the marker too)."""
    root = stage_root(env)
    root.mkdir(parents=True, exist_ok=True)
    if not ownership.read_marker(root):
        ownership.write_marker(root, "stage-root", env=str(env))
    return root


def lock_path(env: Path) -> Path:
    """The install lock of `env`, in hoofenv's cache (so that taking it writes nothing beside the env), named after
    the env's real location."""
    where = os.path.join(os.path.realpath(env.parent), env.name)
    return cache_root() / "locks" / f"env-{hashlib.sha256(where.encode()).hexdigest()[:16]}.lock"


@contextmanager
def install_lock(env: Path, on_wait: Callable[[str], None]) -> Iterator[None]:
    """One `hoofenv install` per env at a time: the second waits for the first (and then finds its result)."""
    with mutex.held(lock_path(env), f"the install into {env}", on_wait):
        yield


def stack_id(plan: Plan, installer: Installer, locked: dict | None) -> str:
    key = {"stack": lockmod.stack_of(plan), "installer": installer.kind,
           "locked": hashlib.sha256(json.dumps(locked["packages"]).encode()).hexdigest() if locked else None}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def choose_stage(env: Path, sid: str, live: Path | None, good: Callable[[Path], bool]) -> tuple[Path, str]:
    """The stage for `sid` and how: `new`, `resume` (an unfinished stage of this plan), or `finished` (a stage of
    this plan that finished but was never switched in, and still matches it). Reads only."""
    root = stage_root(env)
    n = 0
    while True:
        stage = root / f"{sid}-{n}"
        n += 1
        if live is not None and _same(stage, live):
            continue
        if not os.path.lexists(stage):
            return stage, "new"
        if not ownership.made_stage(stage):
            continue
        if not Environment(stage).plan_file.exists():
            return stage, "resume"
        if good(stage):
            return stage, "finished"


def _same(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def claim(stage: Path, env: Path, sid: str) -> None:
    """Make the stage (and its folder) and mark them as hoofenv's before the first step runs; a pre-marker stage
    that is resumed gets its marker now."""
    _ensure_root(env)
    stage.mkdir(exist_ok=True)
    if not ownership.read_marker(stage):
        ownership.write_marker(stage, "stage", stage=stage.name, plan_id=sid, env=str(env))


def stale(env: Path, keep: list[Path]) -> tuple[list[tuple[Path, str]], list[Path]]:
    """What the stage folder holds besides `keep`: (hoofenv's stages that may go, each with why; entries hoofenv
    did not make, which stay)."""
    root = stage_root(env)
    if not root.is_dir() or root.is_symlink():
        return [], []
    ours, foreign = [], []
    for entry in sorted(root.iterdir()):
        if housekeeping(entry.name) or any(_same(entry, k) for k in keep):
            continue
        if not ownership.made_stage(entry):
            foreign.append(entry)
        elif Environment(entry).plan_file.exists():
            ours.append((entry, "finished, never switched in"))
        else:
            ours.append((entry, "unfinished, abandoned"))
    return ours, foreign


def disk_bytes(path: Path) -> int:
    total = 0
    for folder, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass
    return total


def sweep(entries: list[tuple[Path, str]]) -> list[dict]:
    """Delete hoofenv's stale stages (each re-checked for hoofenv's marks); what went and the space it freed."""
    removed = []
    for path, why in entries:
        if not ownership.made_stage(path):
            continue
        size = disk_bytes(path)
        shutil.rmtree(path, ignore_errors=True)
        if not os.path.lexists(path):
            removed.append({"path": str(path), "why": why, "bytes": size})
    return removed


def clear_half_venv(stage: Path) -> None:
    """A venv killed while being made: clear it, keeping the stage's marker and logs (the stage is hoofenv's)."""
    for entry in stage.iterdir():
        if entry.name in (MARKER, LOGS_DIR):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def switch(env: Path, target: Path) -> Path | None:
    """Point `env` at `target` atomically; returns what `env` held before (a stage, or a hoofenv env moved aside).
    `env` is checked again first: anything hoofenv did not make there is refused, never moved."""
    verdict = ownership.judge(env).require()
    previous = None
    if verdict.kind == "link":
        previous = Path(os.path.normpath(env.parent / os.readlink(env)))
    elif verdict.kind == "env":  # a hoofenv-made env as a real folder: moved aside into the stage folder
        previous = _ensure_root(env) / f"previous-{int(time.time())}-{os.getpid()}"
        os.replace(env, previous)
    elif verdict.kind == "empty":
        os.rmdir(env)  # fails, changing nothing, if anything appeared there meanwhile
    tmp = env.with_name(f".{env.name}.link{os.getpid()}")
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, env.parent), tmp)
    os.replace(tmp, env)
    return previous


def remove_previous(env: Path, previous: Path | None, stage: Path) -> dict | None:
    """Delete what the switch replaced, when it is one of hoofenv's stages (never anything else)."""
    if previous is None or _same(previous, stage):
        return None
    if previous.parent != stage_root(env) or not ownership.made_stage(previous):
        return None
    return next(iter(sweep([(previous, "replaced by the new stage")])), None)


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



