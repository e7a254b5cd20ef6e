"""New GPUs on fresh boxes: where the mmcv build's nvcc comes from, Blackwell/B200, mixed boxes (--gpu,
CUDA_VISIBLE_DEVICES), arch drops per release, torch 2.15, the build's jobs, patches and PTX."""

from __future__ import annotations

import pytest
import yaml

from hoofenv.install import mmcv_build
from hoofenv.machine.facts import GPU, Facts, Nvcc
from hoofenv.stack import matrix as matrix_mod
from hoofenv.stack.resolve import Overrides, resolve
from tests.conftest import REPO
from tests.stack.test_resolve import PROFILES, codes, facts


@pytest.fixture(scope="module")
def matrix():
    return matrix_mod.load()


def on_580(f: Facts) -> Facts:
    f.nvidia.driver_version, f.nvidia.cuda_driver_version = "580.95.05", "13.0"
    return f


def test_b200_gets_a_cuda13_build_for_sm100_with_nvcc_from_pypi(matrix):
    plan = resolve(facts("b200-580-ubuntu22.04"), matrix)
    assert plan.ok, plan.problems
    assert plan.cuda.startswith("cu13") and plan.mmcv.source == "build"
    b = plan.mmcv.build
    assert b.cuda_arch_list == "10.0" and b.force_cuda
    assert b.toolchain.how == "pypi" and b.toolchain.cuda == plan.cuda[2:4] + "." + plan.cuda[4:]
    assert b.toolchain.packages == [f"cuda-toolkit[nvcc,cccl]=={b.toolchain.cuda}.*"]
    assert any("from PyPI into the build venv" in w and ">= 580" in w for w in plan.why)
    assert "cuda_toolchains." + b.toolchain.cuda in plan.rows


def test_rtx5090_on_575_still_builds_with_its_own_nvcc_12_8(matrix):
    plan = resolve(facts("rtx5090-575-ubuntu24.04"), matrix)
    assert (plan.torch, plan.cuda, plan.mmcv.build.cuda_arch_list) == ("2.11.0", "cu128", "12.0")
    assert plan.mmcv.build.toolchain.how == "system" and plan.ok


def test_rtx5090_on_575_without_nvcc_names_apt_conda_and_the_driver_route(matrix):
    f = facts("rtx5090-575-ubuntu24.04")
    f.tools.nvcc = None
    plan = resolve(f, matrix)
    assert plan.resolved and not plan.ok and plan.cuda == "cu128"
    hint = next(p for p in plan.problems if p.code == "build-needs-nvcc").hint
    assert "repos/ubuntu2404/x86_64/cuda-keyring" in hint and "cuda-toolkit-12-8" in hint
    assert "hoofenv install --nvcc /usr/local/cuda-12.8/bin/nvcc" in hint
    assert "nvidia/label/cuda-12.8.0 cuda-nvcc" in hint
    assert ">= 580" in hint  # an sm_120 card can take a CUDA 13 torch, whose nvcc is on PyPI


def test_rtx5090_on_580_without_nvcc_prefers_cuda13_and_needs_no_install(matrix):
    f = on_580(facts("rtx5090-575-ubuntu24.04"))
    f.tools.nvcc = None
    plan = resolve(f, matrix)
    assert plan.ok and plan.cuda.startswith("cu13") and plan.mmcv.build.toolchain.how == "pypi"
    assert plan.mmcv.build.cuda_arch_list == "12.0"


def test_a_ready_nvcc_outranks_a_newer_torch_that_needs_one(matrix, tmp_path):
    data = yaml.safe_load((REPO / "compat_matrix.yaml").read_text())
    for row in data["torch"]:
        if row["version"] == "2.15.0":
            row["builds"] = {"cu128": "cu128-2.11", "cpu": None}
    for row in data["pypi_torch"]:  # PyPI's build must be one of the release's
        if row["torch"] == "2.15.0":
            row["build"] = "cu128"
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    m = matrix_mod.load(path)
    f = on_580(facts("rtx5090-575-ubuntu24.04"))
    f.tools.nvcc = None
    plan = resolve(f, m)
    assert (plan.torch, plan.cuda, plan.mmcv.build.toolchain.how) == ("2.14.1", "cu130", "pypi")
    f.tools.nvccs = [Nvcc("12.8", "/usr/local/cuda-12.8/bin/nvcc", "/usr/local/cuda-12.8")]
    plan = resolve(f, m)  # an nvcc 12.8 here: the newest torch wins again
    assert (plan.torch, plan.cuda, plan.mmcv.build.toolchain.how) == ("2.15.0", "cu128", "system")
    assert plan.mmcv.build.toolchain.cuda_home == "/usr/local/cuda-12.8"


def test_an_nvcc_off_path_is_found_and_used(matrix):
    f = facts("rtx5090-575-ubuntu24.04")
    f.tools.nvcc = None
    f.tools.nvccs = [Nvcc("13.0", "/usr/local/cuda-13.0/bin/nvcc", "/usr/local/cuda-13.0"),
                     Nvcc("12.8", "/usr/local/cuda-12.8/bin/nvcc", "/usr/local/cuda-12.8")]
    t = resolve(f, matrix).mmcv.build.toolchain
    assert (t.how, t.nvcc, t.cuda_home) == ("system", "/usr/local/cuda-12.8/bin/nvcc", "/usr/local/cuda-12.8")


def test_nvcc_overrides(matrix):
    f = facts("rtx5090-575-ubuntu24.04")
    forced = resolve(f, matrix, Overrides(nvcc="pypi"))  # CUDA 12.8: PyPI has no nvcc
    assert "build-needs-nvcc" in codes(forced) and not forced.ok
    given = resolve(f, matrix, Overrides(nvcc="/opt/cuda/bin/nvcc", nvcc_version="12.8", nvcc_home="/opt/cuda"))
    assert given.ok and given.mmcv.build.toolchain.how == "given"
    assert given.mmcv.build.toolchain.cuda_home == "/opt/cuda"
    minor = resolve(f, matrix, Overrides(nvcc="/x/nvcc", nvcc_version="12.6"))
    assert minor.ok and next(p for p in minor.problems if p.code == "build-nvcc-mismatch").severity == "warning"
    major = resolve(f, matrix, Overrides(nvcc="/x/nvcc", nvcc_version="13.0"))
    assert not major.ok and "refuses another major" in next(p.message for p in major.problems
                                                             if p.code == "build-nvcc-mismatch")


def test_mixed_5090_and_1080_is_refused_with_a_choice_of_cards(matrix):
    plan = resolve(facts("mixed-rtx5090-gtx1080-580-ubuntu24.04"), matrix)
    assert plan.status == "refused" and codes(plan) == ["mixed-gpus"]
    p = plan.problems[0]
    assert "RTX 5090 (sm_120)" in p.message and "GTX 1080 (sm_61)" in p.message
    assert "--gpu 0" in p.hint and "--gpu 1" in p.hint and "CUDA_VISIBLE_DEVICES" in p.hint


def test_mixed_box_plans_for_the_chosen_card(matrix):
    f = facts("mixed-rtx5090-gtx1080-580-ubuntu24.04")
    new = resolve(f, matrix, Overrides(gpus=[0]))
    assert new.ok and new.cuda.startswith("cu13") and new.mmcv.build.cuda_arch_list == "12.0"
    assert new.mmcv.build.toolchain.how == "pypi"
    assert any("--gpu 0: planning for GPU 0 (NVIDIA GeForce RTX 5090) only of 2" in w and
               "CUDA_DEVICE_ORDER=PCI_BUS_ID" in w for w in new.why)
    old = resolve(f, matrix, Overrides(gpus=[1]))
    assert old.ok and (old.torch, old.cuda, old.mmcv.source) == ("2.1.2", "cu121", "wheel")
    bad = resolve(f, matrix, Overrides(gpus=[4]))
    assert codes(bad) == ["unknown-gpu-index"] and "0 (NVIDIA GeForce RTX 5090)" in bad.problems[0].hint


def test_cuda_visible_devices_recorded_by_the_probe_selects_the_cards(matrix):
    f = facts("mixed-rtx5090-gtx1080-580-ubuntu24.04")
    f.nvidia.visible, f.nvidia.visible_env = [1], "1"
    plan = resolve(f, matrix)
    assert plan.ok and plan.cuda == "cu121"
    assert any(w.startswith("CUDA_VISIBLE_DEVICES=1: planning for GPU 1") for w in plan.why)
    f.nvidia.visible, f.nvidia.visible_env = [], ""
    cpu = resolve(f, matrix)
    assert cpu.ok and cpu.cuda == "cpu" and any("hides every GPU" in w for w in cpu.why)


@pytest.mark.parametrize("cc, torch, cuda, carried", [
    ("6.0", "2.8.0", "cu128", False),   # 2.8's cu128 dropped sm_50/sm_60
    ("6.0", "2.8.0", "cu126", True),
    ("7.0", "2.10.0", "cu128", True),
    ("7.0", "2.11.0", "cu128", False),  # 2.11's cu128 dropped sm_70
    ("6.1", "2.15.0", "cu130", False),  # 2.15 has no cu126: no Pascal at all
    ("12.0", "2.15.0", "cu130", True),
])
def test_arch_drops_per_release(matrix, cc, torch, cuda, carried):
    f = on_580(facts("gtx1080-580-ubuntu22.04"))
    f.nvidia.gpus = [GPU("card", cc, 16000, 0)]
    f.python.available, f.python.version = ["3.11.9"], "3.11.9"
    plan = resolve(f, matrix, Overrides(torch=torch, cuda=cuda, allow_build=True))
    assert plan.resolved == carried, plan.problems
    if not carried:
        assert f"sm_{cc.replace('.', '')}" in plan.problems[0].message


def test_pascal_gets_the_newest_torch_that_still_carries_it(matrix):
    f = facts("gtx1080-580-ubuntu22.04")
    f.python.available, f.python.version = ["3.11.9"], "3.11.9"
    f.tools.nvcc, f.tools.nvccs = None, [Nvcc("12.6", "/usr/local/cuda-12.6/bin/nvcc", "/usr/local/cuda-12.6")]
    plan = resolve(f, matrix, Overrides(allow_build=True))
    assert (plan.torch, plan.cuda) == ("2.14.1", "cu126")  # 2.15 dropped cu126
    f.tools.nvccs = []  # no nvcc 12.6 and none on PyPI: a stack that installs now beats one that needs a toolkit
    assert (resolve(f, matrix, Overrides(allow_build=True)).torch, plan.mmcv.build.cuda_arch_list) == ("2.1.2", "6.1")


def test_torch_2_15_resolves_where_it_should(matrix):
    f = facts("nogpu-debian12")
    f.python.available, f.python.version = ["3.11.2"], "3.11.2"
    assert resolve(f, matrix, Overrides(allow_build=True)).torch == "2.15.0"
    f.python.available, f.python.version = ["3.10.12"], "3.10.12"
    f.python.interpreters = []
    assert resolve(f, matrix, Overrides(allow_build=True, python="3.10")).torch == "2.14.1"  # 2.15 needs 3.11
    row = matrix.torch_row("2.15.0")
    assert row.torchvision == "0.29.2" and {str(t) for t in row.builds} == {"cu130", "cu132", "cpu"}
    plan = resolve(facts("mixed-rtx5090-gtx1080-580-ubuntu24.04"), matrix, Overrides(gpus=[0]))
    assert plan.torch == "2.15.0"


def test_ptx_only_when_asked_and_it_keys_the_cache(matrix, monkeypatch, tmp_path):
    monkeypatch.setenv("HOOFENV_CACHE_DIR", str(tmp_path))
    f = facts("b200-580-ubuntu22.04")
    plain, ptx = resolve(f, matrix), resolve(f, matrix, Overrides(ptx=True))
    assert plain.mmcv.build.cuda_arch_list == "10.0" and ptx.mmcv.build.cuda_arch_list == "10.0+PTX"
    assert mmcv_build.cache_key(plain) != mmcv_build.cache_key(ptx)
    assert "cu13" in mmcv_build.cache_key(plain) and "10.0" in mmcv_build.cache_key(plain)


def test_max_jobs_follow_cores_and_memory(matrix):
    f = facts("b200-580-ubuntu22.04")
    f.cpu_count, f.memory_gib = 32, 8.0
    assert resolve(f, matrix).mmcv.build.max_jobs == 2  # 3 GB per nvcc job
    f.cpu_count, f.memory_gib = 4, 64.0
    assert resolve(f, matrix).mmcv.build.max_jobs == 4


def test_a_missing_gxx_gets_the_apt_line(matrix):
    f = facts("b200-580-ubuntu22.04")
    f.tools.gxx_missing = True
    plan = resolve(f, matrix)
    problem = next(p for p in plan.problems if p.code == "build-needs-gxx")
    assert problem.hint == "sudo apt-get install -y build-essential" and not plan.ok


@pytest.mark.parametrize("args, needle", [
    (["--gpu", "zero"], "--gpu 'zero' is not a list of GPU indices"),
    (["--gpu", "0,,1"], "is not a list of GPU indices"),
    (["--nvcc", "/nonexistent/nvcc"], "--nvcc /nonexistent/nvcc: no executable file there"),
    (["--nvcc", "/bin/true"], "does not report a CUDA release"),
])
def test_bad_gpu_and_nvcc_flags_are_usage_errors(args, needle):
    from tests.conftest import run_cli

    proc = run_cli("plan", "--facts", str(PROFILES / "mixed-rtx5090-gtx1080-580-ubuntu24.04.json"), *args)
    assert proc.returncode == 2 and needle in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "hint:" in proc.stderr


def test_facts_with_wrong_types_for_the_new_fields_name_the_field(tmp_path):
    import json

    from hoofenv.errors import HoofenvError

    data = json.loads((PROFILES / "mixed-rtx5090-gtx1080-580-ubuntu24.04.json").read_text())
    for field, value, where in [("visible", "1", "nvidia.visible"), ("visible", [1.5], "nvidia.visible[0]")]:
        bad = json.loads(json.dumps(data))
        bad["nvidia"][field] = value
        path = tmp_path / "f.json"
        path.write_text(json.dumps(bad))
        with pytest.raises(HoofenvError) as info:
            Facts.load(path)
        assert f"`{where}`" in info.value.message and info.value.exit_code == 2
    bad = json.loads(json.dumps(data))
    bad["tools"]["nvccs"] = [{"version": 12.8, "path": "/x"}]
    (tmp_path / "g.json").write_text(json.dumps(bad))
    with pytest.raises(HoofenvError) as info:
        Facts.load(tmp_path / "g.json")
    assert "`tools.nvccs[0].version`" in info.value.message
