"""What hoofenv made on disk, and so may replace or delete: the one check that install, switch, cleanup and doctor
share.

Every env stage and stage folder hoofenv makes holds a marker file (`hoofenv-made.json`: who, when, which hoofenv,
which stage), written before the first step runs. An env path E is usable by `hoofenv install` only when it is
absent, hoofenv's symlink into its own stage folder `.E.d/`, a hoofenv-made env, or an empty folder; anything else
(a folder of data, a file, a symlink elsewhere, a venv hoofenv did not make) is refused before any change, and
system or vital paths (/, /usr, $HOME, the current folder, the running Python's prefix, ...) are refused outright.

Envs made before the marker existed are recognised by what hoofenv wrote into them: `hoofenv-plan.json`,
`hoofenv-constraints.txt` and a `pip.conf` that starts with hoofenv's header (a finished env), or inside a stage
folder, any of hoofenv's run records (`.hoofenv-state.json`, `.hoofenv-logs/`, that `pip.conf`).
"""

from __future__ import annotations

import getpass
import json
import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from hoofenv import __version__
from hoofenv.errors import PROBLEM, USAGE, HoofenvError
from hoofenv.files import atomic_write_text
from hoofenv.machine.environment import PLAN_FILE
from hoofenv.paths import cache_root

MARKER = "hoofenv-made.json"
PIP_CONF_HEADER = "# written by hoofenv install"
CONSTRAINTS_FILE = "hoofenv-constraints.txt"
STATE_FILE = ".hoofenv-state.json"
LOGS_DIR = ".hoofenv-logs"
SYSTEM_DIRS = ["/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media",
               "/mnt", "/opt", "/proc", "/root", "/run", "/sbin", "/snap", "/srv", "/sys", "/tmp", "/usr",
               "/usr/bin", "/usr/include", "/usr/lib", "/usr/lib64", "/usr/local", "/usr/local/bin",
               "/usr/local/lib", "/usr/sbin", "/usr/share", "/var"]
NEVER_INSIDE = ["/proc", "/sys", "/dev"]


def stage_root(env: Path) -> Path:
    """Where the stages of env E live: `.E.d/` beside it."""
    return env.parent / f".{env.name}.d"


# -- the marker -----------------------------------------------------------------------------------------------
def write_marker(folder: Path, kind: str, **extra) -> Path:
    """Mark `folder` as made by hoofenv (kind: `stage` or `stage-root`)."""
    data = {"made_by": "hoofenv", "kind": kind, "hoofenv": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "path": str(folder),
            "pid": os.getpid(), "user": _user(), "host": socket.gethostname(), **extra}
    return atomic_write_text(folder / MARKER, json.dumps(data, indent=2) + "\n")


def read_marker(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("made_by") == "hoofenv" else None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def _hoofenv_pip_conf(folder: Path) -> bool:
    try:
        with open(folder / "pip.conf", encoding="utf-8") as fh:
            return fh.read(len(PIP_CONF_HEADER)) == PIP_CONF_HEADER
    except (OSError, UnicodeDecodeError):
        return False


def made_env(folder: Path) -> str | None:
    """How `folder` (a real folder, not a symlink) is known to be an env hoofenv made: `marker`, `pre-marker`
    (a finished env from before the marker: plan, constraints and hoofenv's pip.conf), else None."""
    if folder.is_symlink() or not folder.is_dir():
        return None
    if read_marker(folder):
        return "marker"
    if (folder / PLAN_FILE).is_file() and (folder / CONSTRAINTS_FILE).is_file() and _hoofenv_pip_conf(folder):
        return "pre-marker"
    return None


def made_stage(folder: Path) -> str | None:
    """Like `made_env`, for an entry of a stage folder: a pre-marker stage killed early holds only some of
    hoofenv's run records."""
    found = made_env(folder)
    if found or folder.is_symlink() or not folder.is_dir():
        return found
    if (folder / STATE_FILE).is_file() or (folder / LOGS_DIR).is_dir() or _hoofenv_pip_conf(folder):
        return "pre-marker"
    return None


def housekeeping(name: str) -> bool:
    """hoofenv's own files in a stage folder: its marker (and the marker's temp file while it is written)."""
    return name == MARKER or name.startswith(f".{MARKER}.")


def made_root(root: Path) -> bool:
    """A stage folder hoofenv made: marked, or (pre-marker) holding at least one stage hoofenv made."""
    if root.is_symlink() or not root.is_dir():
        return False
    if read_marker(root):
        return True
    try:
        entries = [p for p in root.iterdir() if not housekeeping(p.name)]
        return not entries or any(made_stage(entry) for entry in entries)
    except OSError:
        return False


# -- the verdict on an env path ---------------------------------------------------------------------------------
@dataclass
class Verdict:
    """May `hoofenv install` make or replace the env at `path`? `kind`: absent, link (hoofenv's symlink), env
    (a hoofenv-made env), empty (an empty folder) when ok; else why not, and the fix."""

    path: Path
    ok: bool
    kind: str
    reason: str = ""
    causes: tuple[str, ...] = ()
    fix: str = ""
    code: str = ""
    exit_code: int = PROBLEM

    def error(self) -> HoofenvError:
        return HoofenvError(self.reason, list(self.causes) + ["nothing was changed"], hint=self.fix,
                            code=self.code, exit_code=self.exit_code)

    def require(self) -> "Verdict":
        if not self.ok:
            raise self.error()
        return self


def _q(path: Path | str) -> str:
    return shlex.quote(str(path))


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def vital_paths() -> dict[str, str]:
    """Folders an env path must never be, nor contain (path -> what it is)."""
    found = {}
    for name, value in [("the current folder (your project)", os.getcwd()), ("your home folder", Path.home()),
                        ("the prefix of the Python running hoofenv", sys.prefix),
                        ("the base Python's prefix", sys.base_prefix), ("hoofenv's cache", cache_root())]:
        for p in {os.path.abspath(value), os.path.realpath(value)}:
            found.setdefault(p, name)
    return found


def protected(path: Path) -> str | None:
    """Why `path` can never be an env hoofenv makes or replaces (a system folder, or a folder that holds the
    project, home, the running Python or the cache), else None. A symlink is judged as itself, not its target
    (replacing a link leaves the target alone)."""
    real = os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))), os.path.basename(path)) \
        if os.path.islink(path) else os.path.realpath(path)
    for p in dict.fromkeys([os.path.abspath(path), real]):
        if p in SYSTEM_DIRS or any(_is_within(p, d) for d in NEVER_INSIDE):
            return f"{p} is a system folder"
        for vital, what in vital_paths().items():
            if _is_within(vital, p):
                return f"{p} is {what}" if p == vital else f"{p} holds {what} ({vital})"
    return None


def _refuse(path: Path, reason: str, causes: list[str], fix: str, code: str = "env-not-hoofenv",
            exit_code: int = PROBLEM) -> Verdict:
    return Verdict(path, False, "refused", reason, tuple(causes), fix, code, exit_code)


def _new_path_fix(path: Path) -> str:
    return (f"hoofenv install --env {_q(path.parent / (path.name + '-hoofenv'))}   (a path that does not exist "
            f"yet; or the default .hoofenv/env), or move {_q(path)} away yourself first")


def judge(env: Path) -> Verdict:
    """The one check: may `hoofenv install --env ENV` make or replace ENV? Reads only; changes nothing."""
    env = Path(os.path.abspath(env))
    why = protected(env)
    if why:
        return _refuse(env, f"--env {env}: hoofenv never installs into, replaces or deletes this folder", [why],
                       "hoofenv install --env .hoofenv/env   (or another new folder of its own)", "env-protected",
                       USAGE)
    root = stage_root(env)
    if os.path.lexists(root) and not made_root(root):
        return _refuse(env, f"--env {env}: {root} exists and hoofenv did not make it",
                       [f"hoofenv keeps the stages of {env.name} in {root}; it never writes into or deletes a "
                        "folder it did not make"], _new_path_fix(env))
    if not os.path.lexists(env):
        return Verdict(env, True, "absent")
    if env.is_symlink():
        return _judge_link(env, root)
    if env.is_dir():
        return _judge_dir(env)
    return _refuse(env, f"--env {env}: a file is there, not an env", ["hoofenv never replaces what it did not make"],
                   _new_path_fix(env))


def _judge_link(env: Path, root: Path) -> Verdict:
    text = os.readlink(env)
    target = Path(os.path.normpath(env.parent / text))
    if target.parent == Path(os.path.normpath(root)) or \
            os.path.realpath(target.parent) == os.path.realpath(root):
        return Verdict(env, True, "link")
    return _refuse(env, f"--env {env}: a symlink to {text}, which hoofenv did not make",
                   [f"hoofenv's env links point into {root}; it never replaces another link"], _new_path_fix(env))


def _judge_dir(env: Path) -> Verdict:
    if made_env(env):
        return Verdict(env, True, "env")
    try:
        entries = sorted(p.name for p in env.iterdir())
    except OSError as exc:
        return _refuse(env, f"--env {env}: cannot read it ({exc.strerror})", [], _new_path_fix(env))
    if not entries:
        return Verdict(env, True, "empty")
    shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
    if "pyvenv.cfg" in entries or "conda-meta" in entries:
        activate = f"conda activate {_q(env)}" if "conda-meta" in entries else f". {_q(env / 'bin' / 'activate')}"
        return _refuse(env, f"--env {env}: a Python env that hoofenv did not make",
                       [f"it holds {shown}; hoofenv never replaces an env it did not make"],
                       f"{activate} && hoofenv install --current   (installs into that env in place, deleting "
                       f"nothing); or {_new_path_fix(env)}")
    return _refuse(env, f"--env {env}: a folder that hoofenv did not make",
                   [f"it holds {shown}", "hoofenv never moves aside or deletes a folder it did not make"],
                   _new_path_fix(env))


def judge_current(prefix: Path) -> Verdict:
    """`--current` installs in place into the running env: refused for a system folder or the home folder."""
    for p in dict.fromkeys([os.path.abspath(prefix), os.path.realpath(prefix)]):
        if p in SYSTEM_DIRS or _is_within(os.path.realpath(Path.home()), p):
            return _refuse(Path(p), f"--current: {p} is a system folder; hoofenv never installs there",
                           ["--current installs into the running env in place"],
                           "python3 -m venv ~/hoof && . ~/hoof/bin/activate && hoofenv install --current",
                           "env-protected", USAGE)
    return Verdict(prefix, True, "current")
