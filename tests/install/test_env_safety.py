"""`hoofenv install` never replaces or deletes what it did not make, and one install holds an env at a time.

Fast tier: the refusals through the real CLI (they happen before any installer runs), the fcntl lock between real
processes, and stale-stage cleanup and the switch on real folders. The real installs (concurrent installs, mmcv
builds, stage cleanup end to end) are in test_install_local.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

from hoofenv.errors import HoofenvError
from hoofenv.install import staging
from hoofenv.machine.ownership import MARKER, write_marker
from tests.conftest import REPO

STACK = ["--torch", "2.1.2", "--cuda", "cpu", "--python", f"{sys.version_info[0]}.{sys.version_info[1]}"]


def tree(root: Path) -> dict:
    """Every path under root with what it is: kind, size, mtime, link target."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            p = Path(folder) / name
            st = os.lstat(p)
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns,
                                             os.readlink(p) if p.is_symlink() else None)
    return out


def hoof(cwd: Path, *args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOFENV_")}
    env.update(HOOFENV_CACHE_DIR=str(cache), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "hoofenv", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120)


@pytest.fixture
def project(tmp_path):
    """A project folder holding what users keep beside an env: annotations, a file, a venv, links, a stage
    folder of their own."""
    proj = tmp_path / "w" / "proj"
    (proj / "mydata").mkdir(parents=True)
    (proj / "mydata" / "annotations.json").write_text('{"images": [], "annotations": []}')
    (proj / "mydata" / "img.jpg").write_bytes(b"\xff\xd8" + b"0" * 100)
    (proj / "notes.txt").write_text("keep me")
    venv.create(proj / "foreign", with_pip=False)
    os.symlink(str(tmp_path / "w" / "elsewhere"), proj / "alink")
    (tmp_path / "w" / "elsewhere").mkdir()
    (tmp_path / "w" / "elsewhere" / "precious.txt").write_text("keep me too")
    (proj / ".env.d").mkdir()  # `--env env` would keep its stages here: the user's folder
    (proj / ".env.d" / "config").write_text("mine")
    return proj


CASES = [  # --env value, exit code, error code, words in the message or causes
    ("mydata", 1, "env-not-hoofenv", "a folder that hoofenv did not make"),
    (".", 2, "env-protected", "the current folder"),
    ("..", 2, "env-protected", "holds the current folder"),
    ("/usr", 2, "env-protected", "/usr is a system folder"),
    ("notes.txt", 1, "env-not-hoofenv", "a file is there"),
    ("foreign", 1, "env-not-hoofenv", "a Python env that hoofenv did not make"),
    ("alink", 1, "env-not-hoofenv", "a symlink to"),
    ("env", 1, "env-not-hoofenv", ".env.d exists and hoofenv did not make it"),
]


RUNS = [(*case, False) for case in CASES] + [(*case, True) for case in CASES if case[0] in ("mydata", ".", "/usr")]


@pytest.mark.parametrize("where, exit_code, code, words, dry", RUNS,
                         ids=[f"{r[0]}{'-dry-run' if r[4] else ''}" for r in RUNS])
def test_install_refuses_what_it_did_not_make_and_changes_nothing(project, tmp_path, where, exit_code, code, words,
                                                                  dry):
    before = tree(tmp_path / "w")  # hoofenv's own cache (tmp_path/cache) is not compared
    args = ["install", *STACK, "--env", where, "--no-verify", *(["--dry-run"] if dry else [])]
    proc = hoof(project, *args, "--json", cache=tmp_path / "cache")
    out = json.loads(proc.stdout)
    assert proc.returncode == exit_code and out["error"]["code"] == code, (proc.returncode, out)
    assert words in out["error"]["message"] + " ".join(out["error"]["causes"]), out["error"]
    assert "nothing was changed" in out["error"]["causes"] and out["error"]["hint"]
    assert f"--env {where} " not in out["error"]["hint"] + " "
    assert tree(tmp_path / "w") == before, "a refused install changed something"
    if where == "mydata" and not dry:  # the human form: the reason, then the fix
        text = hoof(project, *args, cache=tmp_path / "cache").stderr
        assert text.startswith("error: --env ") and "\nhint: " in text and "Traceback" not in text, text
        assert tree(tmp_path / "w") == before


def test_doctor_on_a_refused_path_suggests_the_fix_not_install_env(project, tmp_path):
    proc = hoof(project, "doctor", *STACK, "--env", "mydata", "--json", cache=tmp_path / "cache")
    env = next(c for c in json.loads(proc.stdout)["checks"] if c["id"] == "env")
    assert env["status"] == "fail" and "did not make" in " ".join(env["details"]), env
    assert "--env mydata " not in env["hint"] + " " and f"--env {project / 'mydata'} " not in env["hint"] + " "


# -- the lock, between real processes ---------------------------------------------------------------------------
HOLDER = """
import pathlib, sys, time
from hoofenv.install import mutex
path, gate = sys.argv[1:3]
with mutex.held(pathlib.Path(path), "the test env", lambda text: print(text, flush=True)):
    print("got it", flush=True)
    while not pathlib.Path(gate).exists():
        time.sleep(0.02)
print("released", flush=True)
"""


def start_holder(tmp_path: Path, name: str, lock: Path, gate: Path) -> tuple[subprocess.Popen, Path]:
    out = tmp_path / f"{name}.out"
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock), str(gate)], stdout=out.open("w"),
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO)})
    return proc, out


def wait_until(what: str, check, *procs: subprocess.Popen) -> None:
    """Poll `check` (a guard against a hang, not a timing assertion)."""
    deadline = time.monotonic() + 120
    while not check():
        for p in procs:
            assert p.poll() is None, f"exited ({p.returncode}) before: {what}"
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def test_the_second_holder_waits_naming_the_first(tmp_path):
    lock, gate = tmp_path / "x.lock", tmp_path / "gate"
    a, a_out = start_holder(tmp_path, "a", lock, gate)
    wait_until("a holds the lock", lambda: "got it" in a_out.read_text(), a)
    b, b_out = start_holder(tmp_path, "b", lock, gate)
    wait_until("b waits", lambda: "waiting for" in b_out.read_text(), b)
    text = b_out.read_text()
    assert f"waiting for pid {a.pid}" in text and "the test env" in text and "got it" not in text, text
    gate.touch()
    assert a.wait(60) == 0 and b.wait(60) == 0
    assert b_out.read_text().splitlines()[-2:] == ["got it", "released"]


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    lock, gate = tmp_path / "x.lock", tmp_path / "gate"
    a, a_out = start_holder(tmp_path, "a", lock, gate)
    wait_until("a holds the lock", lambda: "got it" in a_out.read_text(), a)
    os.kill(a.pid, signal.SIGKILL)
    a.wait(60)
    b, b_out = start_holder(tmp_path, "b", lock, gate)
    wait_until("b holds the lock", lambda: "got it" in b_out.read_text(), b)
    assert "waiting" not in b_out.read_text()
    gate.touch()
    assert b.wait(60) == 0


# -- stale stages and the switch, on real folders -------------------------------------------------------------
def stage(root: Path, name: str, finished: bool, marked: bool = True, size: int = 10_000) -> Path:
    s = root / name
    (s / "lib").mkdir(parents=True)
    (s / "lib" / "blob").write_bytes(b"0" * size)
    if marked:
        write_marker(s, "stage", stage=name)
    else:
        (s / ".hoofenv-logs").mkdir()
    if finished:
        (s / "hoofenv-plan.json").write_text("{}")
    return s


def test_stale_lists_and_sweep_removes_only_hoofenvs_stages(tmp_path):
    env = tmp_path / "env"
    root = staging.stage_root(env)
    live = stage(root, "aaa-0", True)
    os.symlink(".env.d/aaa-0", env)
    ours = [stage(root, "bbb-0", True), stage(root, "ccc-0", False), stage(root, "ddd-0", False, marked=False)]
    (root / "user-stuff").mkdir()
    (root / "user-stuff" / "keep.txt").write_text("mine")
    old, foreign = staging.stale(env, [live.resolve()])
    assert {p.name: why for p, why in old} == {"bbb-0": "finished, never switched in",
                                               "ccc-0": "unfinished, abandoned", "ddd-0": "unfinished, abandoned"}
    assert [p.name for p in foreign] == ["user-stuff"]
    removed = staging.sweep(old)
    assert sorted(Path(r["path"]).name for r in removed) == ["bbb-0", "ccc-0", "ddd-0"]
    assert all(r["bytes"] >= 10_000 for r in removed)
    assert not any(p.exists() for p in ours) and live.exists() and (root / "user-stuff" / "keep.txt").exists()


def test_choose_stage_resumes_unfinished_and_finished_matching_stages(tmp_path):
    env = tmp_path / "env"
    root = staging.stage_root(env)
    assert staging.choose_stage(env, "abc", None, lambda s: True) == (root / "abc-0", "new")
    stage(root, "abc-0", False)
    assert staging.choose_stage(env, "abc", None, lambda s: True) == (root / "abc-0", "resume")
    (root / "abc-0" / "hoofenv-plan.json").write_text("{}")
    assert staging.choose_stage(env, "abc", None, lambda s: True) == (root / "abc-0", "finished")
    assert staging.choose_stage(env, "abc", None, lambda s: False) == (root / "abc-1", "new"), \
        "a finished stage that no longer matches is left for the sweep"
    assert staging.choose_stage(env, "abc", root / "abc-0", lambda s: True) == (root / "abc-1", "new"), \
        "never the stage in use"
    (root / "abc-1").mkdir()  # not hoofenv's: skipped, never used
    assert staging.choose_stage(env, "abc", root / "abc-0", lambda s: True) == (root / "abc-2", "new")


def test_switch_refuses_a_folder_that_appeared_meanwhile(tmp_path):
    env = tmp_path / "env"
    root = staging.stage_root(env)
    new = stage(root, "new-0", True)
    (env / "sub").mkdir(parents=True)  # created by the user while the install ran
    (env / "sub" / "data.csv").write_text("1,2")
    before = tree(tmp_path)
    with pytest.raises(HoofenvError) as err:
        staging.switch(env, new)
    assert err.value.code == "env-not-hoofenv" and tree(tmp_path) == before


def test_switch_replaces_hoofenvs_own_things_only(tmp_path):
    env = tmp_path / "env"
    root = staging.stage_root(env)
    first, second = stage(root, "one-0", True), stage(root, "two-0", True)
    assert staging.switch(env, first) is None and env.resolve() == first.resolve()
    previous = staging.switch(env, second)
    assert previous == first and staging.remove_previous(env, previous, second)["bytes"] > 0
    assert not first.exists() and env.resolve() == second.resolve()
    # a hoofenv-made env that is a real folder at E: moved aside into the stage folder, then removed
    env2 = tmp_path / "env2"
    venv.create(env2, with_pip=False)
    write_marker(env2, "stage", stage="copied")
    target = stage(staging.stage_root(env2), "x-0", True)
    previous = staging.switch(env2, target)
    assert previous.parent == staging.stage_root(env2) and (previous / MARKER).exists()
    assert staging.remove_previous(env2, previous, target) and not previous.exists()
    # an empty folder at E: replaced (nothing is lost)
    env3 = tmp_path / "env3"
    env3.mkdir()
    assert staging.switch(env3, stage(staging.stage_root(env3), "y-0", True)) is None and env3.is_symlink()


# -- the mmcv wheel cache: only whole wheels, leftovers reclaimed (quick stand-in build steps) -------------------
class Notes:
    def __init__(self):
        self.lines = []

    def note(self, text, level="info"):
        self.lines.append(text)

    def step_started(self, label):
        pass

    def step_output(self, label, line, elapsed):
        pass

    def step_finished(self, label, ok, seconds):
        pass


def test_mmcv_cache_takes_only_whole_wheels_and_reclaims_leftovers(tmp_path, monkeypatch):
    from hoofenv.commands.main import build_parser
    from hoofenv.commands.options import plan_from
    from hoofenv.install import mmcv_build
    from hoofenv.install.recipe import Step

    monkeypatch.setenv("HOOFENV_CACHE_DIR", str(tmp_path / "cache"))
    facts = REPO / "tests" / "fixtures" / "facts" / "nogpu-debian12.json"
    _, plan = plan_from(build_parser().parse_args(["install", "--facts", str(facts), *STACK, "--mmcv-source",
                                                   "build"]))
    cached = mmcv_build.lookup(plan)
    out = mmcv_build.build_dir(cached) / "out"
    # what a build killed mid-compile and a store killed mid-copy left behind
    (mmcv_build.build_dir(cached) / "venv").mkdir(parents=True)
    half = cached.folder.with_name(f".{cached.key}.tmp999999")
    half.mkdir(parents=True)
    (half / "mmcv-2.1.0-py3-none-any.whl").write_bytes(b"half")
    assert cached.wheel is None, "a temp folder is never a cache entry"
    fail = [Step("build-mmcv", "compile (fails)", [sys.executable, "-c", "raise SystemExit('boom')"])]
    notes = Notes()
    with pytest.raises(HoofenvError) as err:
        mmcv_build.build(plan, fail, cached, notes)
    assert err.value.code == "step-failed:build-mmcv" and cached.wheel is None and not cached.folder.exists()
    assert not half.exists() and "removed what an earlier, unfinished mmcv build left" in notes.lines[0]
    assert list(mmcv_build.build_dir(cached).glob("logs/*.log")), "a failed build keeps the log its error names"
    write = f"open({str(out / 'mmcv-2.1.0-py3-none-any.whl')!r}, 'wb').write(b'whole')"
    notes = Notes()
    assert mmcv_build.build(plan, [Step("build-mmcv", "compile", [sys.executable, "-c", write])], cached, notes)
    assert cached.wheel.read_bytes() == b"whole" and (cached.folder / "hoofenv-build.json").exists()
    assert not mmcv_build.build_dir(cached).exists()
    assert sorted(p.name for p in cached.folder.parent.iterdir()) == [cached.key], "no temp folder left"
    notes = Notes()  # a build that finds the wheel once it holds the key's lock builds nothing
    assert mmcv_build.build(plan, fail, cached, notes) == [] and "built meanwhile" in notes.lines[0]
