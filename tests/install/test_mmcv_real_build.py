"""Real mmcv 2.1.0 builds through hoofenv's own build steps: opt-in, because each costs both cores of this machine
for 5 to 60 minutes. HOOFENV_REAL_BUILD=cpu (the CPU ops against torch 2.14.1's own headers, -g0) or =cuda (the
CUDA ops for sm_90 with NVIDIA's nvcc from PyPI and no system CUDA on PATH) or =all. HOOFENV_REAL_BUILD_RECORD=FILE
appends each run's figures (seconds, the largest compiler process) as a JSON line.

They build into a temporary cache (never ~/.cache/hoofenv) and run the steps as `hoofenv install` does, keeping
the logs, so the test can read which nvcc compiled what."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from hoofenv.install import mmcv_build
from hoofenv.install.build_log import BuildProgress
from hoofenv.install.installers import Installer
from hoofenv.install.runner import Progress, run_steps
from hoofenv.install.sources import sources_from
from hoofenv.machine.facts import GPU, Facts, NvidiaFacts
from hoofenv.machine.probe import probe
from hoofenv.stack import matrix as matrix_mod
from hoofenv.stack.resolve import Overrides, resolve

WANTED = os.environ.get("HOOFENV_REAL_BUILD", "")
PY = f"{sys.version_info[0]}.{sys.version_info[1]}"


class Recorder(Progress):
    def __init__(self):
        self.lines: list[str] = []

    def step_output(self, label, line, elapsed):
        self.lines.append(line)


def _facts(kind: str) -> Facts:
    facts = probe(".")
    if kind == "cuda":  # what an H100 box with driver 580 reports; this machine has no GPU
        facts.nvidia = NvidiaFacts(driver_version="580.95.05", cuda_driver_version="13.0", source="nvml",
                                   gpus=[GPU("NVIDIA H100 80GB HBM3", "9.0", 81559, 0)])
    return facts


def _plan(kind: str):
    over = Overrides(torch="2.14.1", python=PY, cuda="cpu" if kind == "cpu" else "cu130", mmcv_source="build",
                     nvcc="pypi" if kind == "cuda" else None, torch_index_url="none")
    plan = resolve(_facts(kind), matrix_mod.load(), over)
    assert plan.ok, plan.problems
    return plan


def _record(kind: str, seconds: float, key: str, extra: dict) -> None:
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    line = {"kind": kind, "seconds": round(seconds, 1), "largest_process_mib": round(peak_mib), "key": key,
            "cores": os.cpu_count(), "load_1min": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M"),
            **extra}
    print(json.dumps(line))
    if os.environ.get("HOOFENV_REAL_BUILD_RECORD"):
        with open(os.environ["HOOFENV_REAL_BUILD_RECORD"], "a") as fh:
            fh.write(json.dumps(line) + "\n")


def _build(kind: str, tmp_path: Path, monkeypatch) -> tuple:
    monkeypatch.setenv("HOOFENV_CACHE_DIR", str(tmp_path / "cache"))
    plan = _plan(kind)
    cached = mmcv_build.lookup(plan)
    assert str(tmp_path) in str(cached.folder)
    where = mmcv_build.build_dir(cached)
    (where / "out").mkdir(parents=True)
    (where / "constraints.txt").write_text(mmcv_build.build_constraints(plan))
    (where / mmcv_build.PATCHES).write_text(json.dumps(plan.mmcv.build.patches))
    installer = Installer.choose("uv", sources_from(use_pip_config=True))
    steps = mmcv_build.build_steps(plan, installer, sys.executable, where / "venv", where / "out",
                                   where / "constraints.txt")
    seen = Recorder()
    t0 = time.monotonic()
    with mmcv_build.key_lock(cached):
        run_steps(steps, BuildProgress(seen), where / "logs", None, "mmcv build")
        mmcv_build.check_built(where / "out", plan)
        wheel = mmcv_build.store(cached, where / "out", plan, time.monotonic() - t0)
    return plan, where, wheel, seen, time.monotonic() - t0


def _ops_run_on_cpu(where: Path, wheel: Path) -> str:
    py = where / "venv" / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=900)
    subprocess.run([str(py), "-m", "pip", "install", "-q", "mmengine==0.10.7", "opencv-python==4.8.1.78",
                    "numpy==1.26.4"], check=True, timeout=900)
    probe_ops = ("import torch, mmcv.ops; b = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30.]]); "
                 "s = torch.tensor([.9, .8, .7]); print(mmcv.ops.nms(b, s, 0.5)[1].tolist())")
    out = subprocess.run([str(py), "-c", probe_ops], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


@pytest.mark.slow
@pytest.mark.skipif(WANTED not in ("cpu", "all"), reason="opt-in: HOOFENV_REAL_BUILD=cpu (about 5 min of 2 cores)")
def test_real_cpu_build_against_torch_2_14_headers(tmp_path, monkeypatch):
    plan, where, wheel, seen, seconds = _build("cpu", tmp_path, monkeypatch)
    log = "\n".join(p.read_text() for p in sorted((where / "logs").glob("*.log")))
    assert "patched setup.py: '-std=c++17' -> '-std=c++20'" in log
    assert "-std=c++20" in log
    # the wrappers and the CPU kernels that share no names compile as a few units (compat_matrix.yaml's `unity`)
    assert "unity build: 56 sources of mmcv/ops/csrc/pytorch as 2 units" in log
    assert "unity build: 12 sources of mmcv/ops/csrc/pytorch/cpu as 1 unit:" in log
    assert "hoofenv_unity_0.cpp" in log
    # Python's flags kept (-O3, NDEBUG), and -g0 after its -g
    assert re.search(r"-DNDEBUG -g -fwrapv -O3 -Wall -g0 ", log), "the compile lost Python's optimisation flags"
    assert any(line.startswith("compiled ") and "files" in line for line in seen.lines)
    assert any(n.startswith("mmcv/_ext.cpython") for n in zipfile.ZipFile(wheel).namelist())
    assert _ops_run_on_cpu(where, wheel) == "[0, 2]"
    _record("cpu", seconds, mmcv_build.cache_key(plan), {"max_jobs": plan.mmcv.build.max_jobs})


@pytest.mark.slow
@pytest.mark.skipif(WANTED not in ("cuda", "all"), reason="opt-in: HOOFENV_REAL_BUILD=cuda (about an hour of 2 cores)")
def test_real_cuda_build_for_sm90_with_nvcc_from_pypi(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", os.pathsep.join(d for d in os.environ["PATH"].split(os.pathsep)
                                               if d and not os.path.exists(os.path.join(d, "nvcc"))))
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    assert shutil.which("nvcc") is None  # the machine's own CUDA toolkit is out of reach
    plan, where, wheel, seen, seconds = _build("cuda", tmp_path, monkeypatch)
    b = plan.mmcv.build
    assert (b.toolchain.how, b.cuda_arch_list, plan.cuda) == ("pypi", "9.0", "cu130")
    log = "\n".join(p.read_text() for p in sorted((where / "logs").glob("*.log")))
    home = where / "cuda"
    assert "nvcc on PATH: none" in log and f"CUDA_HOME={home}: nvcc 13.0" in log
    assert f"{home}/bin/nvcc" in log and "/usr/local/cuda" not in log
    assert "-gencode=arch=compute_90,code=sm_90" in log or "arch=compute_90,code=sm_90" in log
    assert "9.0" in mmcv_build.cache_key(plan) and "cu130" in mmcv_build.cache_key(plan)
    ext = [n for n in zipfile.ZipFile(wheel).namelist() if n.startswith("mmcv/_ext.cpython")]
    assert ext
    # only to read the result: the cuobjdump PyPI's triton (a torch dependency) ships into the build venv
    cuobjdump = sorted((where / "venv").glob("lib/python3*/site-packages/triton/backends/nvidia/bin/cuobjdump"))
    assert cuobjdump, "no cuobjdump in the build venv to read the wheel's device code with"
    zipfile.ZipFile(wheel).extract(ext[0], tmp_path / "x")
    listing = subprocess.run([str(cuobjdump[0]), "--list-elf", str(tmp_path / "x" / ext[0])], capture_output=True,
                             text=True, timeout=300).stdout
    cubins = re.findall(r"\.(sm_\d+)\.cubin", listing)
    assert cubins and set(cubins) == {"sm_90"}, listing[:2000]  # device code for the planned arch, and only it
    assert _ops_run_on_cpu(where, wheel) == "[0, 2]"
    files = [line for line in seen.lines if line.startswith("compiled ")]
    _record("cuda-sm90", seconds, mmcv_build.cache_key(plan), {"max_jobs": b.max_jobs, "progress_last": files[-1]})
