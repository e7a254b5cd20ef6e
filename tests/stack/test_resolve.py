"""Resolver scenarios from real machine profiles (tests/fixtures/facts), plus overrides and determinism."""

from __future__ import annotations

import json

import pytest

from hoofenv.stack import matrix as matrix_mod
from hoofenv.machine.cuda import ComputeCapability
from hoofenv.machine.facts import Facts
from hoofenv.stack.resolve import Overrides, resolve
from tests.conftest import FIXTURES

PROFILES = FIXTURES / "facts"


@pytest.fixture(scope="module")
def matrix():
    return matrix_mod.load()


def facts(name: str) -> Facts:
    return Facts.load(PROFILES / f"{name}.json")


def plan_for(name: str, m, **over):
    return resolve(facts(name), m, Overrides(**over))


def codes(plan) -> list[str]:
    return [p.code for p in plan.problems]


def carries(m, plan, cc: str) -> bool:
    row = m.torch_row(plan.torch)
    arch = [a for tag, a in row.builds.items() if str(tag) == plan.cuda][0]
    return arch.runs_on(ComputeCapability.parse(cc))


def test_gtx1660_super_driver_535_ubuntu_2204_gets_the_issue_example(matrix):
    plan = plan_for("gtx1660s-535-ubuntu22.04", matrix)
    assert plan.ok
    assert (plan.python, plan.torch, plan.torchvision, plan.cuda) == ("3.10", "2.1.2", "0.16.2", "cu121")
    assert (plan.mmcv.version, plan.mmcv.source) == ("2.1.0", "wheel")
    assert (plan.mmengine, plan.mmdet, plan.mmpose) == ("0.10.7", "3.2.0", "1.3.2")
    assert plan.pins["numpy"] == "1.26.4" and plan.pins["setuptools"] == "<81"
    assert plan.pins["opencv-python"] == "4.8.1.78"
    assert plan.indexes == {
        "torch": "https://download.pytorch.org/whl/cu121",
        "mmcv": "https://download.openmmlab.com/mmcv/dist/cu121/torch2.1/index.html",
    }
    assert plan.python_source.how == "path" and plan.python_source.path == "/usr/bin/python3.10"
    assert any("driver 535.183.01 supports CUDA <= 12.2" in w and "525.60.13" in w for w in plan.why)
    assert not plan.weights_only  # torch < 2.6


def test_ubuntu_2404_python_312_asks_for_311_and_says_how(matrix):
    plan = plan_for("gtx1660s-535-ubuntu24.04-py312", matrix)
    assert plan.ok
    assert plan.python == "3.11" and plan.mmcv.source == "wheel"
    assert plan.python_source.how == "uv" and "uv python install 3.11" in plan.python_source.command
    assert "python-missing" in codes(plan)


def test_driver_470_runs_cu118_through_minor_version_compatibility(matrix):
    plan = plan_for("gtx1660s-470-ubuntu20.04", matrix)
    assert plan.ok and plan.cuda == "cu118" and plan.torch == "2.1.2"
    # Ubuntu 20.04's Python 3.8 is below the numpy pin's floor: the plan brings 3.11
    assert plan.python == "3.11" and plan.python_source.how == "uv"


def test_driver_418_is_refused_with_the_upgrade(matrix):
    plan = plan_for("titanx-418-ubuntu18.04", matrix)
    assert plan.status == "refused" and codes(plan) == ["driver-too-old"]
    assert "450.80.02" in plan.problems[0].message
    assert "--cuda cpu" in plan.problems[0].hint


def test_gtx1080_never_gets_a_build_without_sm61(matrix):
    plan = plan_for("gtx1080-580-ubuntu22.04", matrix)
    assert plan.ok
    assert carries(matrix, plan, "6.1")
    forced = plan_for("gtx1080-580-ubuntu22.04", matrix, torch="2.11.0", cuda="cu128")
    assert forced.status == "refused" and "sm_61" in forced.problems[0].message


def test_rtx5090_driver_575_builds_mmcv_for_sm120_and_never_gets_cu121(matrix):
    plan = plan_for("rtx5090-575-ubuntu24.04", matrix)
    assert plan.ok, plan.problems
    assert plan.cuda in ("cu128", "cu129") and plan.cuda != "cu121"
    assert carries(matrix, plan, "12.0")
    assert plan.mmcv.source == "build"
    assert plan.mmcv.build.cuda_arch_list == "12.0" and plan.mmcv.build.force_cuda
    assert "only way" in plan.mmcv.build.reason
    assert any("nvcc 12.8" in n for n in plan.mmcv.build.needs)
    assert "mmcv" not in plan.indexes  # nothing to fetch from the OpenMMLab index
    assert plan.weights_only  # torch >= 2.6: train applies the safe-globals remedy


def test_rtx5090_without_nvcc_shows_the_stack_and_the_missing_tool(matrix):
    f = facts("rtx5090-575-ubuntu24.04")
    f.tools.nvcc = None
    plan = resolve(f, matrix)
    assert plan.resolved and not plan.ok
    problem = next(p for p in plan.problems if p.code == "build-needs-nvcc")
    assert "cuda-toolkit-12-8" in problem.hint


def test_rtx5090_with_old_torch_override_is_refused_with_the_reason(matrix):
    plan = plan_for("rtx5090-575-ubuntu24.04", matrix, torch="2.1.2")
    assert plan.status == "refused" and codes(plan) == ["no-stack"]
    assert "sm_120" in plan.problems[0].message
    assert "overrides" in plan.problems[0].hint


def test_tesla_k80_resolves_by_family_name_to_a_build_carrying_sm37(matrix):
    plan = plan_for("teslak80-470-ubuntu20.04", matrix)
    assert plan.ok and plan.cuda == "cu118"
    assert carries(matrix, plan, "3.7")
    assert any("compute capability 3.7 from its family name" in w for w in plan.why)


def test_h100_driver_580(matrix):
    plan = plan_for("h100-580-ubuntu22.04", matrix)
    assert plan.ok and carries(matrix, plan, "9.0")
    assert (plan.torch, plan.cuda, plan.mmcv.source) == ("2.1.2", "cu121", "wheel")


def test_no_gpu_gets_a_cpu_plan(matrix):
    plan = plan_for("nogpu-debian12", matrix)
    assert plan.ok and plan.cuda == "cpu"
    assert plan.indexes["torch"] == "https://download.pytorch.org/whl/cpu"
    assert plan.indexes["mmcv"].endswith("/cpu/torch2.1/index.html")


def test_macos_arm64_is_refused_for_training(matrix):
    plan = plan_for("macos-arm64", matrix)
    assert plan.status == "refused" and codes(plan) == ["unsupported-os"]
    assert "WSL2" in plan.problems[0].hint or "Linux" in plan.problems[0].hint


def test_linux_aarch64_is_refused(matrix):
    f = facts("nogpu-debian12")
    f.os.arch = "aarch64"
    plan = resolve(f, matrix)
    assert plan.status == "refused" and codes(plan) == ["unsupported-arch"]


def test_wsl2_with_a_driver_is_fine(matrix):
    plan = plan_for("wsl2-rtx3060-ubuntu22.04", matrix)
    assert plan.ok and plan.cuda == "cu121"
    assert any("WSL2" in w for w in plan.why)


def test_driver_library_mismatch_asks_for_a_reboot(matrix):
    plan = plan_for("mismatch-ubuntu22.04", matrix)
    assert plan.status == "refused" and codes(plan) == ["driver-mismatch"]
    assert "reboot" in plan.problems[0].hint


def test_gpu_without_driver_asks_for_one(matrix):
    plan = plan_for("nodriver-ubuntu22.04", matrix)
    assert plan.status == "refused" and codes(plan) == ["no-driver"]
    assert "MX150" in plan.problems[0].message and "ubuntu-drivers" in plan.problems[0].hint
    cpu = plan_for("nodriver-ubuntu22.04", matrix, cuda="cpu")
    assert cpu.ok and cpu.cuda == "cpu"


def test_unknown_gpu_name_resolves_by_compute_capability(matrix):
    f = facts("gtx1660s-535-ubuntu22.04")
    f.nvidia.gpus[0].name = "NVIDIA Future Accelerator 9000"
    f.nvidia.gpus[0].compute_capability = "8.6"
    plan = resolve(f, matrix)
    assert plan.ok and carries(matrix, plan, "8.6")


def test_gpu_with_neither_name_nor_capability_warns_and_still_plans(matrix):
    f = facts("gtx1660s-535-ubuntu22.04")
    f.nvidia.gpus[0].name = "Mystery Board"
    f.nvidia.gpus[0].compute_capability = None
    plan = resolve(f, matrix)
    assert plan.ok and "unknown-gpu" in codes(plan)


def test_cuda_override_the_driver_cannot_run_is_refused(matrix):
    plan = plan_for("gtx1660s-535-ubuntu22.04", matrix, cuda="cu130")
    assert plan.status == "refused" and codes(plan) == ["cuda-override-driver"]
    assert "580" in plan.problems[0].message


def test_cpu_override_on_a_gpu_machine(matrix):
    plan = plan_for("h100-580-ubuntu22.04", matrix, cuda="cpu")
    assert plan.ok and plan.cuda == "cpu"


def test_torch_override_without_wheel_builds_as_the_only_way(matrix):
    plan = plan_for("nogpu-debian12", matrix, torch="2.14.1", cuda="cpu")
    assert plan.ok and plan.torch == "2.14.1" and plan.torchvision == "0.29.1"
    assert plan.mmcv.source == "build"
    # built against the torch the env runs: its C++20 headers get mmcv's setup.py patched from -std=c++17
    assert plan.mmcv.build.torch_headers is None
    assert [(p["file"], p["replace"], p["with"]) for p in plan.mmcv.build.patches if "file" in p] == [
        ("setup.py", "'-std=c++17'", "'-std=c++20'")]
    # and its thin sources compile as a few units, each choice cited
    assert [(p["unity"], p["units"]) for p in plan.mmcv.build.patches if "unity" in p] == [
        ("mmcv/ops/csrc/pytorch", 2), ("mmcv/ops/csrc/pytorch/cpu", 1)]
    assert sum("[mmcv_build.2.1.0.unity;" in w for w in plan.why) == 2
    assert any("C++20" in w and "mmcv sdist patched" in w for w in plan.why)
    assert plan.mmcv.build.cflags == "-g0"
    assert not plan.mmcv.build.force_cuda and plan.mmcv.build.cuda_arch_list is None and not plan.mmcv.build.toolchain
    older = plan_for("nogpu-debian12", matrix, torch="2.13.0", cuda="cpu")
    assert [p for p in older.mmcv.build.patches if "file" in p] == []  # 2.13's headers compile as C++17


def test_allow_build_prefers_the_newest_stack(matrix):
    wheels = plan_for("h100-580-ubuntu22.04", matrix)
    built = plan_for("h100-580-ubuntu22.04", matrix, allow_build=True)
    assert built.mmcv.source == "build" and built.torch > wheels.torch  # string compare is fine for 2.1x vs 2.1.2
    assert "--allow-build" in built.mmcv.build.reason


def test_mirrors_replace_the_upstream_indexes(matrix):
    plan = plan_for("gtx1660s-535-ubuntu22.04", matrix, torch_index_url="http://mirror.local/torch/{cuda}",
                    mmcv_base_url="http://mirror.local/openmmlab/")
    assert plan.indexes == {"torch": "http://mirror.local/torch/cu121",
                            "mmcv": "http://mirror.local/openmmlab/mmcv/dist/cu121/torch2.1/index.html"}


def test_unknown_overrides_are_refused(matrix):
    assert codes(plan_for("nogpu-debian12", matrix, torch="1.0.0")) == ["unknown-torch"]
    assert codes(plan_for("nogpu-debian12", matrix, cuda="cu999")) == ["unknown-cuda"]


@pytest.mark.parametrize("name", sorted(p.stem for p in PROFILES.glob("*.json")))
def test_resolution_is_deterministic_and_round_trips(matrix, name):
    a = resolve(facts(name), matrix)
    b = resolve(facts(name), matrix)
    assert a.to_json() == b.to_json()
    from hoofenv.stack.plan import Plan

    assert Plan.from_dict(json.loads(a.to_json())).to_json() == a.to_json()
    if a.resolved:
        # every decision cites a matrix row
        assert a.rows and all(any(r in w for w in a.why) or r.startswith(("cuda.", "packages.")) for r in a.rows)


def test_the_running_interpreter_wins_among_those_that_fit(matrix):
    f = facts("nogpu-debian12")
    f.python.version = "3.11.7"
    f.python.available = ["3.10.13", "3.11.7", "3.12.1"]
    plan = resolve(f, matrix, Overrides(torch="2.14.1", cuda="cpu"))
    assert plan.python == "3.11"
    f.python.version = "3.12.1"
    assert resolve(f, matrix, Overrides(torch="2.14.1", cuda="cpu")).python == "3.12"
