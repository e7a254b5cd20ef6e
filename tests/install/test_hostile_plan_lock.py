"""Plan files (`verify --plan`, the env's hoofenv-plan.json) and lock files (`install --locked`) damaged or edited by
hand: any field of another type or value. Either refused once naming the file and the field (exit 2), or read into a
plan/lock that every consumer (requirements, constraints, steps, drift, doctor, the no-op check) handles."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoofenv.errors import HoofenvError
from hoofenv.install import lock as lockmod
from hoofenv.install import recipe
from hoofenv.install.checks import env_is_good
from hoofenv.install.installers import Installer
from hoofenv.install.sources import Sources
from hoofenv.machine.environment import Environment
from hoofenv.machine.facts import Facts
from hoofenv.stack import matrix as matrix_mod
from hoofenv.stack.doctor import diagnose
from hoofenv.stack.plan import Plan
from hoofenv.stack.resolve import Overrides, resolve
from tests.conftest import FIXTURES
from tests.hostile import assert_refused, cli, few, mutated

PROFILE = FIXTURES / "facts" / "gtx1660s-535-ubuntu22.04.json"
FACTS = Facts.load(PROFILE)
MATRIX = matrix_mod.load()
PLANS = [resolve(FACTS, MATRIX, o).to_dict() for o in (Overrides(), Overrides(mmcv_source="build"))]
SHA = "0" * 64
LOCK = {"lock_version": 1, "hoofenv": "0.1.0", "installer": "uv",
        "sources": {"index_url": "https://pypi.org/simple", "find_links": ["/srv/wheels"]}, "plan": PLANS[0],
        "facts": {"os": "ubuntu 22.04"},
        "packages": [{"name": "torch", "version": "2.1.2+cu121", "file": "torch-2.1.2.whl",
                      "url": "https://x/torch-2.1.2.whl", "index": "https://x", "sha256": SHA},
                     {"name": "mmcv", "version": "2.1.0", "file": None, "url": None, "index": None, "sha256": None}]}
INSTALLERS = [Installer("pip", Sources()), Installer("uv", Sources(), "/usr/bin/uv")]


def consumers_handle(plan: Plan, env: Path) -> None:
    """What install, doctor and the no-op check do with a plan read from a file."""
    recipe.constraints_text(plan)
    for name in ("torch", "mmcv", "numpy", "setuptools", "mmpose"):
        plan.requirement(name)
    lockmod.drift(plan.to_dict(), plan)
    if plan.ok:
        for installer in INSTALLERS:
            recipe.install_steps(plan, installer, env, env / "c.txt")
        recipe.expected_versions(plan)
    diagnose(FACTS, plan, Environment(env))


@few(60)
@given(doc=st.sampled_from(PLANS).flatmap(mutated))
def test_any_plan_that_loads_is_usable(tmp_path_factory, doc):
    try:
        plan = Plan.from_dict(doc, "plan.json")
    except HoofenvError as err:
        assert err.code == "plan-invalid" and err.exit_code == 2 and "plan.json: field `" in err.message
        return
    consumers_handle(plan, tmp_path_factory.getbasetemp() / "env")


@few(50)
@given(doc=mutated(LOCK, most=2))
def test_any_lock_that_reads_is_usable(tmp_path_factory, doc):
    path = tmp_path_factory.getbasetemp() / "hoofenv.lock"
    path.write_text(json.dumps(doc))
    try:
        lock = lockmod.read(path)
    except HoofenvError as err:
        assert err.code == "lock-invalid" and err.exit_code == 2 and str(path) in err.message
        return
    plan = Plan.from_dict(lock["plan"])
    lockmod.requirements_text(lock)
    lockmod.drift(lock["plan"], plan)
    lockmod.matches_env(lock, path.parent)
    for installer in INSTALLERS:
        lockmod.locked_steps(lock, installer, path.parent / "stage", plan)


@pytest.mark.parametrize("content", [b"\xff", b"[" * 100_000, b"[]", b'{"status": "ok"}', b'{"status": 1}',
                                     json.dumps({**PLANS[0], "cuda": "cuda12"}).encode(),
                                     json.dumps({**PLANS[0], "pins": {"numpy": "=1"}}).encode()])
def test_verify_refuses_a_bad_plan_file_before_running_anything(tmp_path, content):
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    rc, out, err = cli(["verify", "--python", sys.executable, "--plan", str(path), "--json"])
    doc = assert_refused(rc, out, err, 2, str(path), json_mode=True)
    assert doc["error"]["code"] == "plan-invalid"


@pytest.mark.parametrize("content", [b"\xff", b"[]", b'{"lock_version": 1}', b'{"lock_version": 1, "packages": 5}',
                                     json.dumps({**LOCK, "packages": [{"name": "x", "version": ["1"]}]}).encode()])
def test_install_locked_refuses_a_bad_lock(tmp_path, content):
    path = tmp_path / "hoofenv.lock"
    path.write_bytes(content)
    rc, out, err = cli(["install", "--locked", "--lock", str(path), "--facts", str(PROFILE), "--dry-run", "--json"])
    doc = assert_refused(rc, out, err, 2, str(path), json_mode=True)
    assert doc["error"]["code"] == "lock-invalid"


def test_a_damaged_plan_in_the_env_means_not_done(tmp_path):
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("")
    plan = Plan.from_dict(PLANS[0])
    for content in ("{", '{"status": "ok", "mmcv": []}', "[1]"):
        (env / "hoofenv-plan.json").write_text(content)
        assert any("unreadable" in p for p in env_is_good(env, plan))
