"""The one check of what hoofenv may replace (machine/ownership.py), on real folders, files, links and venvs; and
doctor's hint, which comes from the same check."""

from __future__ import annotations

import json
import os
import venv
from pathlib import Path

import pytest

from hoofenv.machine.environment import Environment
from hoofenv.machine.ownership import MARKER, judge, made_root, made_stage, write_marker
from hoofenv.stack.doctor import install_hint

REAL_STACKS = Path.home() / ".cache" / "hoofenv" / "stack"


def pre_marker_stack(where: Path, stage_name: str = "b9c0e06f1236-0") -> Path:
    """The layout of an env made before the marker (as ~/.cache/hoofenv/stack/<key>/env is): E -> .env.d/<id>,
    holding a venv, hoofenv-plan.json, hoofenv-constraints.txt and hoofenv's pip.conf."""
    stage = where / ".env.d" / stage_name
    venv.create(stage, with_pip=False)
    (stage / "hoofenv-plan.json").write_text('{"status": "ok"}')
    (stage / "hoofenv-constraints.txt").write_text("numpy==1.26.4\n")
    (stage / "pip.conf").write_text("# written by hoofenv install: pip (and `mim install`, which runs pip) in this "
                                    f"env keeps the plan's pins\n[global]\nconstraint = {stage}/hoofenv-constraints"
                                    ".txt\n")
    (stage / ".hoofenv-logs").mkdir()
    os.symlink(f".env.d/{stage_name}", where / "env")
    return where / "env"


@pytest.fixture
def place(tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    proj.mkdir()
    monkeypatch.chdir(proj)
    monkeypatch.setenv("HOOFENV_CACHE_DIR", str(tmp_path / "cache"))
    return proj


def test_what_install_may_make_or_replace(place):
    assert judge(place / "new").kind == "absent"
    (place / "empty").mkdir()
    assert judge(place / "empty").kind == "empty"
    assert judge(pre_marker_stack(place / "old")).kind == "link", "a pre-marker hoofenv env stays hoofenv's"
    marked = place / "marked"
    venv.create(marked, with_pip=False)
    write_marker(marked, "stage", stage="x-0")
    assert judge(marked).kind == "env"
    (place / ".dangling.d").mkdir()
    os.symlink(".dangling.d/gone-0", place / "dangling")
    assert judge(place / "dangling").kind == "link", "a link into its own stage folder is hoofenv's shape"


def test_what_install_refuses(place, tmp_path):
    (place / "mydata").mkdir()
    (place / "mydata" / "annotations.json").write_text("{}")
    (place / "afile").write_text("x")
    venv.create(place / "foreign", with_pip=False)
    os.symlink(str(tmp_path), place / "elsewhere")
    os.symlink("/usr", place / "usr-link")
    (place / "env").mkdir()  # a free name, but the stage folder beside it is the user's
    (place / ".env.d").mkdir()
    (place / ".env.d" / "notes.txt").write_text("mine")
    cases = {
        "mydata": ("env-not-hoofenv", 1, "a folder that hoofenv did not make"),
        "afile": ("env-not-hoofenv", 1, "a file is there"),
        "foreign": ("env-not-hoofenv", 1, "a Python env that hoofenv did not make"),
        "elsewhere": ("env-not-hoofenv", 1, "a symlink to"),
        "usr-link": ("env-not-hoofenv", 1, "a symlink to /usr"),
        "env": ("env-not-hoofenv", 1, ".env.d exists and hoofenv did not make it"),
        ".": ("env-protected", 2, "current folder"),
        "..": ("env-protected", 2, "holds the current folder"),
        "/usr": ("env-protected", 2, "system folder"),
        "/": ("env-protected", 2, "system folder"),
        str(Path.home()): ("env-protected", 2, ""),
        os.environ["HOOFENV_CACHE_DIR"]: ("env-protected", 2, "hoofenv's cache"),
    }
    for path, (code, exit_code, words) in cases.items():
        v = judge(Path(path))
        assert not v.ok and v.code == code and v.exit_code == exit_code, (path, v)
        err = v.error()
        assert words in err.message + " ".join(err.causes), (path, err.render())
        assert err.hint and "nothing was changed" in err.causes, path
    assert "hoofenv install --current" in judge(place / "foreign").fix


def test_a_marker_says_who_when_and_which_stage(place):
    stage = place / ".env.d" / "abc-0"
    stage.mkdir(parents=True)
    write_marker(stage, "stage", stage="abc-0", plan_id="abc")
    data = json.loads((stage / MARKER).read_text())
    assert data["made_by"] == "hoofenv" and data["stage"] == "abc-0" and data["hoofenv"] and data["created"]
    assert data["pid"] == os.getpid() and data["user"]
    assert made_stage(stage) == "marker" and made_root(place / ".env.d")
    (stage / MARKER).write_text('{"made_by": "someone"}')
    assert made_stage(stage) is None, "only hoofenv's own marker counts"


def test_pre_marker_stages_are_recognised_by_hoofenvs_own_files(place):
    env = pre_marker_stack(place)
    assert made_stage(env.resolve()) == "pre-marker" and made_root(place / ".env.d")
    killed = place / ".env.d" / "abc-1"  # a pre-marker install killed during its first step
    (killed / ".hoofenv-logs").mkdir(parents=True)
    assert made_stage(killed) == "pre-marker"
    (place / ".env.d" / "user-folder").mkdir()
    assert made_stage(place / ".env.d" / "user-folder") is None


def test_the_real_stack_env_is_hoofenvs(place):
    """Read-only: the machine's real training stack (made before the marker) is accepted as hoofenv's."""
    envs = sorted(REAL_STACKS.glob("*/env"))
    if not envs:
        pytest.skip(f"no real stack under {REAL_STACKS}")
    for env in envs:
        assert judge(env).kind == "link", env
        assert made_stage(env.resolve()) and made_root(env.parent / ".env.d"), env


def test_doctor_never_suggests_install_env_for_a_path_install_refuses(place):
    (place / "mydata").mkdir()
    (place / "mydata" / "a.json").write_text("{}")
    venv.create(place / "foreign", with_pip=False)
    for path in ("mydata", "foreign", ".", "/usr"):
        env = Environment(Path(path).absolute())
        hint, verdict = install_hint(env)
        assert not verdict.ok and hint == verdict.fix, path
        assert f"--env {env.path} " not in hint + " " and f"--env {path} " not in hint + " ", (path, hint)
    hint, verdict = install_hint(Environment((place / "fresh").absolute()))
    assert verdict.ok and hint == f"hoofenv install --env {place / 'fresh'}"
    hint, _ = install_hint(Environment(Path(os.getcwd()) / ".hoofenv" / "env"))
    assert hint == "hoofenv install"
