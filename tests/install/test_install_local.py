"""`hoofenv install` against real PEP 503 indexes served on 127.0.0.1 holding small wheels the tests build.

Real uv, real pip, real venvs, real HTTP; only the packages are small stand-ins with the stack's names and tags.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fakeindex import Server, build_world, isolated_env

STACK = ["--torch", "2.1.2", "--cuda", "cpu", "--python", f"{sys.version_info[0]}.{sys.version_info[1]}"]
OLDER = ["--torch", "2.0.1", "--cuda", "cpu", "--python", f"{sys.version_info[0]}.{sys.version_info[1]}"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("index")
    build_world(root)
    server = Server(root)
    yield {"root": root, "server": server, "cache": tmp_path_factory.mktemp("cache")}
    server.stop()


def hoof(world, cwd: Path, *args: str, extra_env: dict | None = None, server_url: str | None = None):
    env = isolated_env(cwd, server_url or world["server"].url, world["cache"])
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "hoofenv", "install", *args], capture_output=True, text=True,
                          cwd=cwd, env=env | {"PYTHONPATH": str(REPO)}, timeout=300)


def hoof_json(world, cwd, *args, **kw) -> tuple[int, dict]:
    proc = hoof(world, cwd, *args, "--json", **kw)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from exc


def installed(env: Path) -> dict[str, str]:
    from hoofenv.machine.environment import Environment

    return Environment(env).installed()


@pytest.fixture(scope="module")
def good(world, tmp_path_factory):
    """One finished install of the fake stack (uv), shared by the read-only checks."""
    cwd = tmp_path_factory.mktemp("good")
    code, out = hoof_json(world, cwd, *STACK, "--installer", "uv")
    assert code == 0, out
    return cwd, out


def test_dry_run_prints_the_ordered_commands_and_runs_none(world, tmp_path):
    """pip: the sequence in the order that works; uv: the same set in one resolution after torch, mmpose last."""
    proc = hoof(world, tmp_path, *STACK, "--installer", "pip", "--dry-run")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout[proc.stdout.index("pip install"):]  # after the constraints listing
    names = ["torch==2.1.2 torchvision==0.16.2", "numpy==1.26.4", "--only-binary mmcv", "mmengine==0.10.7",
             "mmdet==3.2.0", "--no-deps", "opencv-python==4.8.1.78", "xtcocotools==1.14.3", "openmim==0.3.9"]
    positions = [out.find(n) for n in names]
    assert all(p >= 0 for p in positions), dict(zip(names, positions))
    assert positions == sorted(positions), "steps out of order"
    assert "setuptools<81" in out and "chumpy" not in out.replace("chumpy never", "")
    assert "/torch/cpu" in out and "mmcv/dist/cpu/torch2.1/index.html" in out

    code, out = hoof_json(world, tmp_path, *STACK, "--installer", "uv", "--dry-run")
    assert code == 0, out
    cmds = {s["name"]: s["command"] for s in out["steps"]}
    assert [s["name"] for s in out["steps"] if s["name"] != "venv"] == ["stack", "mmpose"]
    stack = cmds["stack"]
    for part in ["setuptools<81", "torch==2.1.2", "torchvision==0.16.2", "numpy==1.26.4", "mmcv==2.1.0",
                 "mmengine==0.10.7", "mmdet==3.2.0", "opencv-python==4.8.1.78", "xtcocotools==1.14.3",
                 "openmim==0.3.9", "--only-binary torch", "--only-binary mmcv", "/torch/cpu",
                 "mmcv/dist/cpu/torch2.1/index.html"]:
        assert part in stack, part
    stack_argv = next(s["argv"] for s in out["steps"] if s["name"] == "stack")
    assert not [a for a in stack_argv if a.startswith("mmpose")], "mmpose itself only with --no-deps"
    assert "--no-deps" in cmds["mmpose"] and "mmpose==1.3.2" in cmds["mmpose"]
    assert all("--build-constraints" in c and "--compile-bytecode" in c for c in cmds.values() if "uv pip" in c)
    assert not (tmp_path / ".hoofenv").exists(), "dry-run created something"


def test_install_order_pins_lock_and_layout(world, good):
    cwd, out = good
    env = cwd / ".hoofenv" / "env"
    assert env.is_symlink(), "the env is switched to a finished stage"
    names = [s["name"] for s in out["steps"] if s["name"] not in ("venv",)]
    assert names == ["stack", "mmpose"]
    assert all("--compile-bytecode" in s["command"] for s in out["steps"] if "uv pip install" in s["command"])
    have = installed(env)
    assert have["torch"] == "2.1.2+cpu" and have["numpy"] == "1.26.4", have
    assert have["opencv-python"] == "4.8.1.78" and "opencv-python-headless" not in have
    assert have["setuptools"] == "80.9.0", "held at the bootstrap's version through openmim"
    assert have["mmcv"] == "2.1.0" and have["mmpose"] == "1.3.2"
    assert "chumpy" not in have, "mmpose must be installed without chumpy"
    plan = json.loads((env / "hoofenv-plan.json").read_text())
    assert plan["torch"] == "2.1.2" and plan["mmcv"]["source"] == "wheel"
    lock = json.loads((cwd / "hoofenv.lock").read_text())
    pk = {p["name"]: p for p in lock["packages"]}
    assert pk["torch"]["version"] == "2.1.2+cpu" and "/torch/cpu" in pk["torch"]["index"]
    assert all(p["sha256"] and len(p["sha256"]) == 64 for p in lock["packages"]), \
        [p["name"] for p in lock["packages"] if not p["sha256"]]
    assert all(p["file"] and p["url"] and p["index"] for p in lock["packages"]), lock["packages"]
    for p in lock["packages"]:  # the recorded hash is the file's: the fake index serves the files it names
        if p["url"].startswith("http"):
            assert hashlib.sha256(urllib.request.urlopen(p["url"]).read()).hexdigest() == p["sha256"], p
    assert lock["plan"]["torch"] == "2.1.2" and lock["facts"]["arch"]
    assert list(env.glob("lib/python*/site-packages/mmcv/__pycache__/*.pyc")), "bytecode compiled"


def test_a_later_pip_install_in_the_env_keeps_the_pins(world, good):
    """The env's pip.conf names the constraints file: `pip install` (and `mim install`, which runs pip) can
    add packages but cannot move a pin."""
    cwd, _ = good
    env = cwd / ".hoofenv" / "env"
    pip_env = isolated_env(cwd, world["server"].url, world["cache"])
    pip_env.pop("PIP_CONFIG_FILE")  # /dev/null there switches off every pip.conf, the env's included

    def pip(*args):
        return subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "--dry-run", *args],
                              capture_output=True, text=True, env=pip_env, timeout=300)

    moved = pip("numpy==2.1.0")
    assert moved.returncode != 0 and "numpy" in moved.stderr, moved.stdout + moved.stderr
    upgrade = pip("--upgrade", "opencv-python")
    assert upgrade.returncode == 0 and "4.12" not in upgrade.stdout, upgrade.stdout + upgrade.stderr


def test_rerun_on_a_good_env_changes_nothing(world, good):
    cwd, _ = good
    env = cwd / ".hoofenv" / "env"
    target, lock_before = os.readlink(env), (cwd / "hoofenv.lock").read_text()
    proc = hoof(world, cwd, *STACK)
    assert proc.returncode == 0, proc.stderr
    assert "nothing to do" in proc.stderr
    code, out = hoof_json(world, cwd, *STACK)
    assert code == 0 and out["noop"] is True and out["changed"] is False
    assert os.readlink(env) == target and (cwd / "hoofenv.lock").read_text() == lock_before


def test_mmcv_is_binary_only_sdist_is_refused(world, tmp_path):
    base = world["server"].url + "/sdistonly"
    proc = hoof(world, tmp_path, *STACK, "--installer", "uv", extra_env={"HOOFENV_MMCV_BASE_URL": base})
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr
    assert "mmcv" in err and "failed" in err and "--mmcv-source build" in err, err
    assert "command: " in err and "--only-binary mmcv" in err
    assert not (tmp_path / ".hoofenv" / "env").exists(), "a failed install must not create the env"


def test_pip_installer_same_result(world, tmp_path):
    code, out = hoof_json(world, tmp_path, *STACK, "--installer", "pip", "--env", str(tmp_path / "penv"))
    assert code == 0, out
    have = installed(tmp_path / "penv")
    assert have["numpy"] == "1.26.4" and have["mmpose"] == "1.3.2" and "chumpy" not in have
    assert any("-m pip install" in s.get("command", "") for s in out["steps"])
    lock = json.loads((tmp_path / "hoofenv.lock").read_text())
    assert lock["installer"] == "pip" and all(p["sha256"] and p["index"] for p in lock["packages"]), lock["packages"]


def test_mirrors_by_flag_and_env_var(world, tmp_path):
    mirror = Server(world["root"])  # a second server: the "mirror"
    try:
        env = {"HOOFENV_INDEX_URL": "http://127.0.0.1:9/unreachable"}  # a flag wins over the variable
        proc = hoof(world, tmp_path, *STACK, "--installer", "uv", "--dry-run", "--index-url", mirror.url + "/simple",
                    extra_env=env)
        assert mirror.url + "/simple" in proc.stdout and "127.0.0.1:9" not in proc.stdout
        code, out = hoof_json(world, tmp_path, *STACK, "--installer", "uv", "--no-verify",
                              extra_env={"HOOFENV_INDEX_URL": mirror.url + "/simple",
                                         "HOOFENV_TORCH_INDEX_URL": mirror.url + "/torch/{cuda}",
                                         "HOOFENV_MMCV_BASE_URL": mirror.url})
        assert code == 0, out
        assert any(r.startswith("/simple/mmdet") for r in mirror.requests), mirror.requests[:5]
        assert any(r.startswith("/torch/cpu/torch") for r in mirror.requests)
        lock = json.loads((tmp_path / "hoofenv.lock").read_text())
        assert mirror.url in json.dumps(lock["sources"])
    finally:
        mirror.stop()


def test_wheelhouse_download_then_offline_install(world, tmp_path):
    house = tmp_path / "house"
    code, out = hoof_json(world, tmp_path, *STACK, "--download-to", str(house))
    assert code == 0, out
    assert list(house.glob("torch-2.1.2*.whl")) and list(house.glob("mmcv-2.1.0*.whl"))
    assert not list(house.glob("numpy-2*")), "the wheelhouse holds the pins only"
    # offline: every network source points at a closed port; only the wheelhouse may be read
    dead = "http://127.0.0.1:9"
    code, out = hoof_json(world, tmp_path, *STACK, "--installer", "uv", "--wheelhouse", str(house), "--offline",
                          "--env", str(tmp_path / "offenv"), server_url=dead,
                          extra_env={"UV_CACHE_DIR": str(tmp_path / "emptycache")})
    assert code == 0, out
    assert installed(tmp_path / "offenv")["mmpose"] == "1.3.2"


def test_locked_reproduces_exactly_and_refuses_drift(world, tmp_path):
    code, out = hoof_json(world, tmp_path, *STACK, "--installer", "uv")
    assert code == 0, out
    first = installed(tmp_path / ".hoofenv" / "env")
    lock_text = (tmp_path / "hoofenv.lock").read_text()
    shutil.rmtree(tmp_path / ".hoofenv")
    # a machine whose pip config holds a range constraint (this one: torch<=2.14.1) must not stop --require-hashes
    (tmp_path / "cons.txt").write_text("numpy<2\n")  # pip's `constraint` setting, as PIP_CONSTRAINT sets it
    code, out = hoof_json(world, tmp_path, *STACK, "--installer", "uv", "--locked",
                          extra_env={"PIP_CONSTRAINT": str(tmp_path / "cons.txt")})
    assert code == 0, out
    assert [s["name"] for s in out["steps"]][-1] == "locked" and "--require-hashes" in out["steps"][-1]["command"]
    assert installed(tmp_path / ".hoofenv" / "env") == first
    assert (tmp_path / "hoofenv.lock").read_text() == lock_text, "--locked never rewrites the lock"
    # drift: the plan computed now (another torch) differs from the lock
    code, out = hoof_json(world, tmp_path, *OLDER, "--locked")
    assert code == 1 and out["error"]["code"] == "lock-drift", out
    assert any("torch" in c for c in out["error"]["causes"])
    # a file whose hash differs from the lock is refused
    lock = json.loads(lock_text)
    for p in lock["packages"]:
        if p["name"] == "numpy":
            p["sha256"] = "0" * 64
    (tmp_path / "hoofenv.lock").write_text(json.dumps(lock))
    shutil.rmtree(tmp_path / ".hoofenv")
    code, out = hoof_json(world, tmp_path, *STACK, "--installer", "uv", "--locked")
    assert code == 1 and "locked" in out["error"]["code"], out
    assert not (tmp_path / ".hoofenv" / "env").exists()


def test_kill_minus_9_keeps_the_working_env_then_resumes(world, tmp_path):
    code, out = hoof_json(world, tmp_path, *STACK, "--installer", "uv")
    assert code == 0, out
    env = tmp_path / ".hoofenv" / "env"
    before = os.readlink(env)
    proc = hoof(world, tmp_path, *OLDER, "--installer", "uv", extra_env={"HOOFENV_FAULT": "kill-after:stack"})
    assert proc.returncode == -9, (proc.returncode, proc.stderr)
    assert os.readlink(env) == before and installed(env)["torch"] == "2.1.2+cpu", "the working env was touched"
    proc = hoof(world, tmp_path, *OLDER, "--installer", "uv")
    assert proc.returncode == 0, proc.stderr
    assert "resuming" in proc.stderr and "1 of 2" in proc.stderr, proc.stderr
    assert installed(env)["torch"] == "2.0.1+cpu" and os.readlink(env) != before
    assert not (tmp_path / ".hoofenv" / ".env.d" / Path(before).name).exists(), "the replaced stage is removed"


def test_network_loss_fails_with_command_and_hint_and_keeps_env(world, tmp_path):
    code, out = hoof_json(world, tmp_path, *STACK, "--installer", "uv")
    assert code == 0, out
    env = tmp_path / ".hoofenv" / "env"
    before = os.readlink(env)
    code, out = hoof_json(world, tmp_path, *OLDER, "--installer", "uv", server_url="http://127.0.0.1:9",
                          extra_env={"UV_CACHE_DIR": str(tmp_path / "cold")})
    assert code == 1, out
    err = out["error"]
    assert err["code"].startswith("step-failed:") and err["hint"]
    assert any(c.startswith("command: ") and "uv pip install" in c for c in err["causes"])
    assert os.readlink(env) == before and installed(env)["torch"] == "2.1.2+cpu"


def test_free_disk_checked_and_a_full_disk_never_switches(world, tmp_path):
    quota = tmp_path / "quota"
    quota.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(quota)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root): the quota directory is simulated that way")
    try:
        code, out = hoof_json(world, tmp_path, *STACK, "--env", str(quota / "env"), "--min-free-gib", "1")
        assert code == 1 and out["error"]["code"] == "disk-full", out
        assert "GiB free" in out["error"]["message"] and not any(quota.iterdir())
        # the check passed (asked for nothing) but the disk fills up during the install: nothing is switched
        code, out = hoof_json(world, tmp_path, *STACK, "--installer", "uv", "--env", str(quota / "env"),
                              "--min-free-gib", "0", extra_env={"UV_LINK_MODE": "copy"})
        assert code == 1, out
        assert not (quota / "env").exists()
    finally:
        subprocess.run(["umount", str(quota)], check=False)


def test_mmcv_source_build_is_cached_and_reused(world, tmp_path):
    args = [*STACK, "--mmcv-source", "build", "--installer", "uv"]
    code, out = hoof_json(world, tmp_path, *args, "--env", str(tmp_path / "b1"))
    assert code == 0, out
    assert [s["name"] for s in out["steps"]][:3] == ["build-venv", "build-tools", "build-mmcv"]
    wheels = list((world["cache"] / "hoofenv" / "wheels").glob("mmcv2.1.0-torch2.1.2-cpu-cp3*-noarch/mmcv-*.whl"))
    assert len(wheels) == 1, list((world["cache"] / "hoofenv").rglob("*"))
    mmcv_init = next((tmp_path / "b1").glob("lib/python*/site-packages/mmcv/__init__.py")).read_text()
    assert "BUILT_WITH_TORCH = '2.1.2+cpu'" in mmcv_init and "FORCE_CUDA = '0'" in mmcv_init
    code, out = hoof_json(world, tmp_path, *args, "--env", str(tmp_path / "b2"), "--lock", "b2.lock")
    assert code == 0, out
    assert "build-mmcv" not in [s["name"] for s in out["steps"]], "the cached wheel must be reused"


def test_current_refuses_a_system_python(tmp_path):
    """The base interpreter (no pyvenv.cfg, no conda-meta) with hoofenv importable: --current is refused."""
    import sysconfig

    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
    if sys.prefix == sys.base_prefix or not base.exists():
        pytest.skip("the tests do not run from a venv, so there is no separate base interpreter to try")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), sysconfig.get_paths()["purelib"]])}
    proc = subprocess.run([str(base), "-m", "hoofenv", "install", "--current", "--dry-run", *STACK],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "system Python" in proc.stderr and "hint:" in proc.stderr
    ok = subprocess.run([sys.executable, "-m", "hoofenv", "install", "--current", "--dry-run", *STACK],
                        capture_output=True, text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                        timeout=120)
    assert ok.returncode == 0 and sys.prefix in ok.stdout, ok.stderr


# -- what hoofenv may touch, one install at a time (docs/install.md "What hoofenv touches") ----------------------
BUILD = [*STACK, "--mmcv-source", "build", "--installer", "uv", "--no-verify"]


def spawn(world, cwd: Path, name: str, *args: str, extra_env: dict | None = None) -> tuple[subprocess.Popen, Path]:
    """`hoofenv install ARGS` started in the background; its stderr goes to cwd/NAME.err."""
    env = isolated_env(cwd, world["server"].url, world["cache"]) | (extra_env or {}) | {"PYTHONPATH": str(REPO)}
    err = cwd / f"{name}.err"
    proc = subprocess.Popen([sys.executable, "-m", "hoofenv", "install", *args], stdout=(cwd / f"{name}.out").open("w"),
                            stderr=err.open("w"), cwd=cwd, env=env)
    return proc, err


def wait_until(what: str, check, *procs: subprocess.Popen) -> None:
    """Poll `check` (a guard against a hang, not a timing assertion)."""
    deadline = time.monotonic() + 240
    while not check():
        for p in procs:
            assert p.poll() is None, f"exited ({p.returncode}) before: {what}"
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def gated(tmp_path: Path) -> tuple[Path, dict]:
    """A fresh hoofenv cache, and a gate the fake mmcv build waits at (it writes GATE.started on arrival)."""
    gate = tmp_path / "gate"
    return gate, {"HOOFENV_CACHE_DIR": str(tmp_path / "hcache"), "FAKE_MMCV_GATE": str(gate), "PIP_NO_CACHE_DIR": "1"}


def test_two_installs_into_one_env_take_turns(world, tmp_path):
    gate, env_vars = gated(tmp_path)
    started = Path(f"{gate}.started")
    a, a_err = spawn(world, tmp_path, "a", *BUILD, extra_env=env_vars)
    try:
        wait_until("the first install is inside its mmcv build", started.exists, a)
        b, b_err = spawn(world, tmp_path, "b", *BUILD, extra_env=env_vars)
        wait_until("the second install waits", lambda: "waiting for" in b_err.read_text(), b)
        assert f"waiting for pid {a.pid}" in b_err.read_text() and "the install into" in b_err.read_text()
    finally:
        gate.touch()
    assert a.wait(300) == 0, a_err.read_text()
    assert b.wait(300) == 0, b_err.read_text()
    assert "nothing to do" in b_err.read_text(), "after the wait, the second finds the first one's env"
    env = tmp_path / ".hoofenv" / "env"
    stages = [p for p in (tmp_path / ".hoofenv" / ".env.d").iterdir() if p.is_dir()]
    assert len(stages) == 1 and env.resolve() == stages[0].resolve()
    marker = json.loads((stages[0] / "hoofenv-made.json").read_text())
    assert marker["made_by"] == "hoofenv" and marker["stage"] == stages[0].name and marker["pid"] == a.pid
    assert started.read_text().count("\n") == 1, "mmcv was built once"


def test_two_mmcv_builds_of_one_key_build_once(world, tmp_path):
    gate, env_vars = gated(tmp_path)
    a, a_err = spawn(world, tmp_path, "a", *BUILD, "--env", "e1", "--lock", "e1.lock", extra_env=env_vars)
    try:
        wait_until("the first build runs", Path(f"{gate}.started").exists, a)
        b, b_err = spawn(world, tmp_path, "b", *BUILD, "--env", "e2", "--lock", "e2.lock", extra_env=env_vars)
        wait_until("the second build waits", lambda: "waiting for" in b_err.read_text(), b)
        assert f"waiting for pid {a.pid}" in b_err.read_text() and "the mmcv build for" in b_err.read_text()
    finally:
        gate.touch()
    assert a.wait(300) == 0, a_err.read_text()
    assert b.wait(300) == 0, b_err.read_text()
    assert "mmcv wheel built" in a_err.read_text() and "compile mmcv" in a_err.read_text()
    assert "built meanwhile by another install" in b_err.read_text() and "compile mmcv" not in b_err.read_text()
    wheels = tmp_path / "hcache" / "wheels"
    assert [p.name for p in wheels.iterdir()] == [next(wheels.iterdir()).name] and list(wheels.glob("*/mmcv-*.whl"))
    assert not [p for p in (tmp_path / "hcache" / "build").iterdir() if p.is_dir()], "the build folder is gone"
    assert Path(f"{gate}.started").read_text().count("\n") == 1
    for e in ("e1", "e2"):
        mmcv = next((tmp_path / e).glob("lib/python*/site-packages/mmcv/__init__.py")).read_text()
        assert "BUILT_WITH_TORCH = '2.1.2+cpu'" in mmcv, e


def test_a_killed_mmcv_build_leaves_no_wheel_and_is_reclaimed(world, tmp_path):
    gate, env_vars = gated(tmp_path)
    a, a_err = spawn(world, tmp_path, "a", *BUILD, extra_env=env_vars)
    try:
        wait_until("the build runs", Path(f"{gate}.started").exists, a)
        os.kill(a.pid, signal.SIGKILL)
        assert a.wait(60) == -9
        hcache = tmp_path / "hcache"
        assert not list(hcache.glob("wheels/*/mmcv-*.whl")), "a killed build put a wheel in the cache"
        left = [p for p in (hcache / "build").iterdir() if p.is_dir()]
        assert len(left) == 1 and (left[0] / "venv").is_dir(), "the killed build's folder is left for the next run"
        env_vars.pop("FAKE_MMCV_GATE")
        proc = hoof(world, tmp_path, *BUILD, extra_env=env_vars)
    finally:
        gate.touch()  # the killed build's orphaned backend (if any) stops waiting
    assert proc.returncode == 0, proc.stderr
    assert "removed what an earlier, unfinished mmcv build left" in proc.stderr and str(left[0]) in proc.stderr
    assert "resuming" in proc.stderr or "Installing into" in proc.stderr
    assert len(list(hcache.glob("wheels/*/mmcv-*.whl"))) == 1 and not left[0].exists()
    assert not [p.name for p in (hcache / "wheels").iterdir() if p.name.startswith(".")], "no temp folder left"


def test_stale_stages_are_resumed_or_cleaned_and_nothing_else(world, tmp_path):
    """A stage of this plan that finished but was never switched in is used; hoofenv's stages of other plans
    (finished or not) are removed, saying what and how much space; a folder of the user's in .env.d stays."""
    kill = {"HOOFENV_FAULT": "kill-before:switch"}
    root, env = tmp_path / ".hoofenv" / ".env.d", tmp_path / ".hoofenv" / "env"
    proc = hoof(world, tmp_path, *OLDER, "--installer", "uv", "--no-verify", extra_env=kill)
    assert proc.returncode == -9 and not os.path.lexists(env), proc.stderr
    other = [p for p in root.iterdir() if p.is_dir()]
    assert len(other) == 1 and (other[0] / "hoofenv-plan.json").exists() and (other[0] / "hoofenv-made.json").exists()
    proc = hoof(world, tmp_path, *STACK, "--installer", "uv", "--no-verify", extra_env=kill)
    assert proc.returncode == -9, proc.stderr
    assert "removed 1 stale stage" in proc.stderr and "finished, never switched in" in proc.stderr, proc.stderr
    assert not other[0].exists()
    finished_here = next(p for p in root.iterdir() if p.is_dir())
    # what an install from before the marker left: an abandoned stage of another plan; and the user's folder
    abandoned = root / "0123456789ab-0"
    (abandoned / ".hoofenv-logs").mkdir(parents=True)
    (abandoned / "lib").mkdir()
    (abandoned / "lib" / "blob").write_bytes(os.urandom(300_000))
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("mine")
    code, dry = hoof_json(world, tmp_path, *STACK, "--installer", "uv", "--dry-run")
    assert code == 0 and dry["stage"] == str(finished_here) and dry["would_remove"] == [str(abandoned)], dry
    assert abandoned.exists(), "the dry run removed something"
    proc = hoof(world, tmp_path, *STACK, "--installer", "uv", "--no-verify")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "finished earlier but was never switched in" in err and "removed 1 stale stage" in err, err
    assert "0123456789ab-0 (unfinished, abandoned, 3" in err and "freeing 3" in err  # 300 KB and a bit
    assert "left alone in" in err and "notes" in err
    assert "[1/2]" not in err and "[2/2]" not in err, "the finished stage's steps ran again"
    assert env.resolve() == finished_here.resolve() and installed(env)["torch"] == "2.1.2+cpu"
    assert sorted(p.name for p in root.iterdir()) == sorted([finished_here.name, "notes", "hoofenv-made.json"])
    assert (root / "notes" / "todo.txt").read_text() == "mine"


def test_a_pre_marker_env_stays_hoofenvs_and_is_marked_when_touched(world, tmp_path):
    """Envs made before the marker (the machine's stack env is one): resumed, kept on a no-op, replaced."""
    proc = hoof(world, tmp_path, *STACK, "--installer", "uv", "--no-verify", extra_env={"HOOFENV_FAULT":
                                                                                         "kill-after:stack"})
    assert proc.returncode == -9, proc.stderr
    root, env = tmp_path / ".hoofenv" / ".env.d", tmp_path / ".hoofenv" / "env"
    for marker in root.rglob("hoofenv-made.json"):
        marker.unlink()  # as a hoofenv from before the marker left it
    proc = hoof(world, tmp_path, *STACK, "--installer", "uv", "--no-verify")
    assert proc.returncode == 0 and "resuming" in proc.stderr, proc.stderr
    first = env.resolve()
    assert (first / "hoofenv-made.json").exists() and (root / "hoofenv-made.json").exists(), "marked when resumed"
    for marker in root.rglob("hoofenv-made.json"):
        marker.unlink()
    proc = hoof(world, tmp_path, *STACK, "--installer", "uv", "--no-verify")
    assert proc.returncode == 0 and "nothing to do" in proc.stderr
    assert not list(root.rglob("hoofenv-made.json")), "a no-op writes nothing"
    proc = hoof(world, tmp_path, *OLDER, "--installer", "uv", "--no-verify")
    assert proc.returncode == 0, proc.stderr
    assert installed(env)["torch"] == "2.0.1+cpu" and not first.exists(), "the pre-marker stage it replaced is gone"
