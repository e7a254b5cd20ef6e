"""`hoofenv install` when sources do not answer, against real PEP 503 servers on 127.0.0.1: the plan takes torch
from PyPI when the PyTorch index is refused (PyPI's own build, pinned so that a `+cpu` file elsewhere cannot
replace it), an install never takes torch from an unplanned source, a source lost after planning or in the middle
of a step fails that step with the host and how it failed, a dead configured mirror is left out, and a missing
OpenMMLab index means mmcv is built from the sdist."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests.conftest import REPO
from tests.fakeindex import Server, build_world, closed_port_url, isolated_env

PY = f"{sys.version_info[0]}.{sys.version_info[1]}"
CPU = ["--cuda", "cpu", "--python", PY, "--torch", "2.1.2"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("index")
    build_world(root)
    server = Server(root)
    yield {"root": root, "server": server, "cache": tmp_path_factory.mktemp("cache")}
    server.stop()


def hoof(world, cwd: Path, *args: str, url: str | None = None, env: dict | None = None, command: str = "install"):
    e = isolated_env(cwd, url or world["server"].url, world["cache"])
    e["HOOFENV_CACHE_DIR"] = str(cwd / "hoofenv-cache")  # each test checks its sources afresh
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "hoofenv", command, *args], capture_output=True, text=True,
                          cwd=cwd, env=e | {"PYTHONPATH": str(REPO)}, timeout=600)


def hoof_json(world, cwd, *args, **kw) -> tuple[int, dict]:
    proc = hoof(world, cwd, *args, "--json", **kw)
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not JSON (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}") from exc


def installed(env: Path) -> dict[str, str]:
    from hoofenv.machine.environment import Environment

    return Environment(env).installed()


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_torch_index_refused_plans_pypis_build_and_nothing_replaces_it(world, tmp_path, installer):
    """A find-links folder holds torch 2.1.2+cpu, which `torch==2.1.2` would take: the plan pins PyPI's own file
    (`===`), and that is what gets installed."""
    env = {"HOOFENV_TORCH_INDEX_URL": closed_port_url() + "/torch/{cuda}",
           "HOOFENV_FIND_LINKS": str(world["root"] / "links")}
    links: list[str] = []
    code, plan = hoof_json(world, tmp_path, *CPU, *links, env=env, command="plan")
    assert code == 0, plan
    assert (plan["torch"], plan["cuda"], plan["torch_build"], plan["torch_local"]) == ("2.1.2", "cpu", "cu121", None)
    torch_choice = next(s for s in plan["sources"] if s["package"] == "torch")
    assert "connection refused" in torch_choice["reason"] and "CUDA 12.1" in torch_choice["reason"]
    code, dry = hoof_json(world, tmp_path, *CPU, *links, "--installer", installer, "--dry-run", env=env)
    commands = " ".join(s["command"] for s in dry["steps"])
    assert "torch===2.1.2" in commands and "torchvision===0.16.2" in commands and "/torch/cpu" not in commands
    code, out = hoof_json(world, tmp_path, *CPU, *links, "--installer", installer, "--no-verify", env=env)
    assert code == 0, out
    have = installed(tmp_path / ".hoofenv" / "env")
    assert have["torch"] == "2.1.2" and have["torchvision"] == "0.16.2", have


def test_an_install_never_takes_torch_from_an_unplanned_source(world, tmp_path):
    """PyPI (here the same server's /simple) also serves torch 2.1.2, another build: pip reads that page, but the
    only torch file it downloads is the planned `+cpu` one from the PyTorch index."""
    server = Server(world["root"])
    try:
        code, out = hoof_json(world, tmp_path, *CPU, "--installer", "pip", "--no-verify", url=server.url)
        assert code == 0, out
        torch_files = [unquote(r) for r in server.requests if r.endswith(".whl") and "/torch-" in r]
        assert torch_files and all("/torch/cpu/" in r and "+cpu" in r for r in torch_files), torch_files
        assert installed(tmp_path / ".hoofenv" / "env")["torch"] == "2.1.2+cpu"
    finally:
        server.stop()


def test_a_source_lost_after_planning_fails_at_once_naming_the_host(world, tmp_path):
    """Facts recorded while the mirror answered (and facts without a sources section, which assume it does):
    the install fails before any step runs, naming the host, instead of pip's retries and resolver text."""
    server = Server(world["root"])
    facts = tmp_path / "facts.json"
    proc = hoof(world, tmp_path, "--facts-out", str(facts), url=server.url, command="doctor")
    assert facts.exists(), proc.stderr
    old = json.loads(facts.read_text())
    old.pop("sources")
    (tmp_path / "old-facts.json").write_text(json.dumps(old))
    host = server.url.split("//")[1]
    server.stop()
    for recorded in (facts, tmp_path / "old-facts.json"):
        code, out = hoof_json(world, tmp_path, *CPU, "--facts", str(recorded), "--installer", "uv", url=server.url)
        assert code == 1, out
        err = out["error"]
        assert err["code"] == "source-unreachable", err
        assert f"{host} (connection refused)" in err["message"] and "--download-to" in err["hint"]
        assert not (tmp_path / ".hoofenv" / "env").exists()


def test_a_source_that_stops_answering_mid_step_fails_the_step_naming_it(world, tmp_path):
    """The server accepts the torch download and never answers again (a timeout, not a refusal): the step is
    stopped by the watch with the host and `timeout`, not after uv's own timeouts and retries."""
    server = Server(world["root"], hang_on="/torch-2.1.2")
    try:
        code, out = hoof_json(world, tmp_path, *CPU, "--installer", "uv", url=server.url,
                              env={"UV_CACHE_DIR": str(tmp_path / "cold-uv")})
    finally:
        server.stop()
    assert code == 1, out
    err = out["error"]
    assert err["code"] == "source-unreachable", err
    assert "stopped answering" in err["message"] and "(timeout)" in err["message"], err["message"]
    assert server.url.split("//")[1] in err["message"]
    assert any("finished steps are kept" in c for c in err["causes"])
    assert not (tmp_path / ".hoofenv" / "env").exists()


def test_a_dead_configured_mirror_is_left_out_and_named(world, tmp_path):
    dead = closed_port_url() + "/simple"
    code, out = hoof_json(world, tmp_path, *CPU, "--installer", "uv", "--no-verify",
                          env={"HOOFENV_EXTRA_INDEX_URL": dead})
    assert code == 0, out
    assert out["sources_left_out"] and dead in out["sources_left_out"][0] and "refused" in out["sources_left_out"][0]
    assert all(dead not in s["command"] for s in out["steps"])


def test_no_openmmlab_index_builds_mmcv_from_the_sdist_and_says_why(world, tmp_path):
    env = {"HOOFENV_MMCV_BASE_URL": closed_port_url()}
    code, plan = hoof_json(world, tmp_path, *CPU, env=env, command="plan")
    assert code == 0 and plan["mmcv"]["source"] == "build", plan
    mmcv = next(s for s in plan["sources"] if s["package"] == "mmcv")
    assert "connection refused" in mmcv["reason"] and "sdist" in mmcv["reason"]
    code, out = hoof_json(world, tmp_path, *CPU, "--installer", "uv", "--no-verify", env=env)
    assert code == 0, out
    assert "build-mmcv" in [s["name"] for s in out["steps"]]
    tools = next(s for s in out["steps"] if s["name"] == "build-tools")["command"]
    assert "torch==2.1.2+cpu" in tools, "the headers torch is the planned build"
    init = next((tmp_path / ".hoofenv" / "env").glob("lib/python*/site-packages/mmcv/__init__.py")).read_text()
    assert "BUILT_WITH_TORCH = '2.1.2+cpu'" in init and "FORCE_CUDA = '0'" in init


def test_pip_steps_take_only_the_sources_on_their_command_line(world, tmp_path):
    """pip reads its configuration on top of hoofenv's arguments: a configured extra index that is dead must not
    be tried by the pip steps (hoofenv blanks pip's own extra-index-url, find-links and constraint for them)."""
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nextra-index-url = {closed_port_url()}/simple\ntimeout = 60\n")
    code, out = hoof_json(world, tmp_path, *CPU, "--installer", "pip", "--no-verify", "--no-pip-config",
                          env={"PIP_CONFIG_FILE": str(conf)})
    assert code == 0, out
    logs = list((tmp_path / ".hoofenv").rglob("*.log"))
    assert logs and not any("Retrying" in p.read_text() for p in logs), "pip tried the configured dead index"
    assert installed(tmp_path / ".hoofenv" / "env")["mmpose"] == "1.3.2"


def test_an_mmcv_build_never_takes_pips_cached_wheel_of_another_build(world, tmp_path):
    """pip caches a wheel it built from an sdist under the sdist's URL alone. Two plans whose mmcv builds differ
    (torch 2.1.2, then 2.0.1 headers) share that URL and pip's cache here: the second must compile against its own
    torch, not get the first one's wheel back."""
    env = {"PIP_CACHE_DIR": str(tmp_path / "pip-cache")}
    for torch, env_dir in (("2.1.2", "b1"), ("2.0.1", "b2")):
        code, out = hoof_json(world, tmp_path, "--cuda", "cpu", "--python", PY, "--torch", torch, "--mmcv-source",
                              "build", "--installer", "uv", "--no-verify", "--env", str(tmp_path / env_dir),
                              "--lock", str(tmp_path / f"{env_dir}.lock"), env=env)
        assert code == 0, out
        init = next((tmp_path / env_dir).glob("lib/python*/site-packages/mmcv/__init__.py")).read_text()
        assert f"BUILT_WITH_TORCH = '{torch}+cpu'" in init, (torch, init)
