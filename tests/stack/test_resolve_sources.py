"""The resolver with the machine's sources: it plans from what answers, names each choice's source and reason,
pins torch's build exactly, keeps to configured constraints, refuses at once when nothing workable answers; and a
facts file without sources gives exactly the plan it always gave (tests/fixtures/plans, recorded before sources
existed)."""

from __future__ import annotations

import json

import pytest

from hoofenv.machine.facts import ConstraintFact, Facts, SourceFact, SourcesFacts
from hoofenv.stack import matrix as matrix_mod
from hoofenv.stack.plan import Plan
from hoofenv.stack.resolve import Overrides, resolve
from hoofenv.stack.sources import probe_targets
from tests.conftest import FIXTURES

PROFILES = FIXTURES / "facts"
GOLDEN = FIXTURES / "plans"
THIS = "pypi-only-debian12-this-machine"
CP = "cp311-cp311-manylinux_2_28_x86_64.whl"


@pytest.fixture(scope="module")
def matrix():
    return matrix_mod.load()


def facts(name: str) -> Facts:
    return Facts.load(PROFILES / f"{name}.json")


def with_sources(f: Facts, m, *, pypi="ok", pytorch="ok", openmmlab="ok", extra=(), constraints=(), **over) -> Facts:
    """`f` with a sources section: PyPI, the PyTorch and OpenMMLab pages the probe would ask, each with a status."""
    o = Overrides(**over)
    entries = [SourceFact("index", "https://pypi.org/simple", "upstream (PyPI)", pypi)]
    for t in probe_targets(f, m, o.torch_index_url, o.mmcv_base_url, o.cuda):
        status = pytorch if t.role == "pytorch" else openmmlab
        entries.append(SourceFact(t.role, t.url, t.origin, status, tag=t.tag, torch_minor=t.torch_minor))
    f.sources = SourcesFacts(entries=entries + list(extra), constraints=list(constraints))
    return f


@pytest.mark.parametrize("path", sorted(GOLDEN.glob("*.json")), ids=lambda p: p.stem)
def test_facts_without_sources_give_exactly_the_plans_they_always_gave(matrix, path):
    """Recorded with the resolver before sources existed. When compat_matrix.yaml changes on purpose, regenerate:
    `python -m tests.stack.make_golden_plans` and read the diff."""
    name, _, over = path.stem.partition("@")
    overrides = Overrides(**{k: (v == "True" if v in ("True", "False") else v)
                             for k, v in (kv.split("=") for kv in over.split("-") if kv)})
    plan = resolve(facts(name), matrix, overrides)
    assert "sources" not in plan.to_dict() and "torch_build" not in plan.to_dict()
    assert json.loads(plan.to_json()) == json.loads(path.read_text())


def test_this_machine_plans_from_pypi_builds_mmcv_and_says_why(matrix):
    """Recorded here (`hoofenv doctor --facts-out`): only PyPI and local folders answer, pip caps torch."""
    plan = resolve(facts(THIS), matrix)
    assert plan.ok, plan.problems
    assert (plan.python, plan.torch, plan.torchvision, plan.cuda) == ("3.11", "2.14.1", "0.29.1", "cpu")
    assert (plan.torch_build, plan.torch_local) == ("cu130", None)
    assert plan.requirement("torch") == "torch===2.14.1" and plan.requirement("torchvision") == "torchvision===0.29.1"
    assert "torch" not in plan.indexes and "mmcv" not in plan.indexes
    # compiled against the planned torch itself (C++20 patch), not older headers
    assert plan.mmcv.source == "build" and not plan.mmcv.build.force_cuda and plan.mmcv.build.torch_headers is None
    by = {s.package: s for s in plan.sources}
    assert "download.pytorch.org: DNS failure" in by["torch"].reason and "CUDA 13.0" in by["torch"].reason
    assert by["torch"].url == "file:///opt/pypi-more/simple"  # holds PyPI's files: nothing to download
    assert by["mmcv"].reason.startswith("download.openmmlab.com: DNS failure")
    assert "built from the PyPI sdist, ~5 min with 2 jobs here, once" in by["mmcv"].reason
    assert any("CPU stack" in w and "FORCE_CUDA=0" in w for w in plan.why)
    # the mmcv wheel cached for the old `--torch 2.14.1 --cuda cpu` plan keeps its key
    from hoofenv.install.mmcv_build import cache_key

    assert cache_key(plan) == "mmcv2.1.0-torch2.14.1-cpu-cp311-noarch"


def test_the_configured_constraint_caps_torch_and_the_plan_says_so(matrix):
    f = facts(THIS)
    f.sources.constraints = [ConstraintFact("torch<=2.8.0", "/etc/xdg/pip/constraints.txt")]
    plan = resolve(f, matrix)
    assert plan.ok and plan.torch == "2.8.0"
    assert any("excluded by the constraint `torch<=2.8.0` in /etc/xdg/pip/constraints.txt" in w for w in plan.why)
    f.sources.constraints = [ConstraintFact("numpy>=2", "/c.txt")]
    plan = resolve(f, matrix)
    conflict = next(p for p in plan.problems if p.code == "constraint-conflict")
    assert "numpy==1.26.4" in conflict.message and "--no-pip-config" in conflict.hint and not plan.ok


def test_everything_answering_gives_the_upstream_stack_with_exact_pins(matrix):
    plan = resolve(with_sources(facts("nogpu-debian12"), matrix), matrix)
    old = Plan.load(GOLDEN / "nogpu-debian12.json")
    assert (plan.torch, plan.cuda, plan.mmcv.source, plan.indexes) == (old.torch, old.cuda, "wheel", old.indexes)
    assert (plan.torch_build, plan.torch_local) == ("cpu", "cpu")
    assert plan.requirement("torch") == "torch==2.1.2+cpu" and plan.requirement("torchvision") == "torchvision==0.16.2+cpu"
    assert old.requirement("torch") == "torch==2.1.2+cpu", "plans without sources pin the index's build too"


def test_no_pytorch_index_on_a_gpu_machine_takes_pypis_matching_build(matrix):
    plan = resolve(with_sources(facts("gtx1660s-535-ubuntu22.04"), matrix, pytorch="dns"), matrix)
    assert plan.ok and (plan.torch, plan.cuda, plan.torch_build, plan.torch_local) == ("2.1.2", "cu121", "cu121", None)
    assert plan.mmcv.source == "wheel" and plan.indexes["mmcv"].endswith("/cu121/torch2.1/index.html")
    assert plan.requirement("torch") == "torch===2.1.2"
    # a build PyPI does not serve is not offered: cu118 would need the PyTorch index
    forced = resolve(with_sources(facts("gtx1660s-535-ubuntu22.04"), matrix, pytorch="dns", cuda="cu118"), matrix,
                     Overrides(cuda="cu118", torch="2.1.2"))
    assert forced.status == "refused" and forced.problems[0].code == "no-source"
    assert "PyPI serves only its cu121 build" in forced.problems[0].message


def test_no_openmmlab_index_builds_mmcv_from_the_pypi_sdist(matrix):
    plan = resolve(with_sources(facts("nogpu-debian12"), matrix, openmmlab="timeout"), matrix)
    assert plan.ok and plan.mmcv.source == "build"
    assert plan.mmcv.build.reason.startswith("download.openmmlab.com: timeout")
    mmcv = next(s for s in plan.sources if s.package == "mmcv")
    assert "built from the PyPI sdist" in mmcv.reason and mmcv.source == "PyPI"


def test_nothing_workable_answers_refuses_at_once_with_the_fix(matrix):
    plan = resolve(with_sources(facts("nogpu-debian12"), matrix, pypi="dns", pytorch="dns", openmmlab="refused"),
                   matrix)
    assert plan.status == "refused" and [p.code for p in plan.problems] == ["no-source"]
    problem = plan.problems[0]
    assert "pypi.org: DNS failure" in problem.message and "download.pytorch.org: DNS failure" in problem.message
    for fix in ("--index-url", "--torch-index-url", "--download-to", "--wheelhouse"):
        assert fix in problem.hint


def test_a_wheelhouse_holding_the_pair_is_the_source_offline(matrix):
    house = SourceFact("wheelhouse", "/media/usb/house", "--wheelhouse", "ok",
                       holds=[f"torch-2.1.2+cpu-{CP}", f"torchvision-0.16.2+cpu-{CP}", f"mmcv-2.1.0-{CP}"])
    f = with_sources(facts("nogpu-debian12"), matrix, pypi="offline", pytorch="offline", openmmlab="offline",
                     extra=[house])
    f.sources.offline = True
    f.python.version = "3.11.2"
    plan = resolve(f, matrix)
    assert plan.ok and plan.torch == "2.1.2" and (plan.torch_build, plan.torch_local) == ("cpu", "cpu")
    assert plan.source_of("torch") == "/media/usb/house" and plan.mmcv.source == "wheel"


def test_a_folder_holding_a_label_but_no_torchvision_is_not_a_source(matrix):
    """This machine's /opt/wheels holds torch 2.13.0+cpu alone: PyPI's torchvision beside it fails to import."""
    plan = resolve(facts(THIS), matrix, Overrides(torch="2.13.0"))
    assert plan.ok and plan.torch_local is None and plan.requirement("torch") == "torch===2.13.0"
    assert plan.source_of("torch") == "PyPI"


def test_sources_plans_are_deterministic_and_round_trip(matrix):
    a, b = resolve(facts(THIS), matrix), resolve(facts(THIS), matrix)
    assert a.to_json() == b.to_json()
    assert Plan.from_dict(json.loads(a.to_json())).to_json() == a.to_json()
    assert Facts.from_dict(json.loads(facts(THIS).to_json())).to_json() == facts(THIS).to_json()
