"""Probe parsers against recorded real outputs (tests/fixtures/probe, sources in SOURCES.md), the NVML path
through nvidia-ml-py's real module, and the probe on this machine (no GPU: it must answer, not crash)."""

from __future__ import annotations

import json

import pytest

from hoofenv.machine import probe
from hoofenv.machine.facts import Facts
from tests.conftest import FIXTURES

P = FIXTURES / "probe"


def text(name: str) -> str:
    return (P / name).read_text()


@pytest.mark.parametrize("name, driver, cuda", [
    ("nvidia-smi_gtx1660-family_535.161.07.txt", "535.161.07", "12.2"),
    ("nvidia-smi_rtx5090_570.133.07.txt", "570.133.07", "12.8"),
    ("nvidia-smi_h100-80gb-hbm3-x8_565.57.01.txt", "565.57.01", "12.7"),
    ("nvidia-smi_h100nvl-x2_550.54.14.txt", "550.54.14", "12.4"),
    ("nvidia-smi_tesla-k80_410.104.txt", "410.104", "10.0"),
    ("nvidia-smi_titanx-pascal_418.39_TRUNCATED.txt", "418.39", "10.1"),
    ("nvidia-smi_tesla-t4_535.104.12.txt", "535.104.12", "12.2"),
    ("nvidia-smi_a10x4_535.183.01.txt", "535.183.01", "12.2"),
])
def test_smi_table_header(name, driver, cuda):
    assert probe.parse_smi_table(text(name)) == (driver, cuda)


def test_smi_query_with_header_in_any_column_order():
    gpus = probe.parse_smi_query(text("nvidia-smi-query_titanv-rtx5880ada.csv.txt"))
    assert [(g.name, g.compute_capability, g.index) for g in gpus] == [
        ("NVIDIA TITAN V", "7.0", 0), ("NVIDIA RTX 5880 Ada Generation", "8.9", 1)]


def test_smi_query_units_and_unknown_field_error():
    gpus = probe.parse_smi_query("index, name, memory.total [MiB]\n0, Tesla K80, 11441 MiB\n")
    assert gpus[0].memory_mib == 11441 and gpus[0].compute_capability is None
    assert probe.parse_smi_query(text("nvidia-smi-query_compute-cap-unsupported.txt")) == []
    assert probe.parse_smi_query(text("nvidia-smi-query_compute-cap-only_rtx40xx.csv.txt")) == []  # no name column


@pytest.mark.parametrize("name, version", [
    ("proc-driver-nvidia-version_384.98.txt", "384.98"),
    ("proc-driver-nvidia-version_525.60.11-open.txt", "525.60.11"),
    ("proc-driver-nvidia-version_565.57.01-open.txt", "565.57.01"),
])
def test_proc_driver_version_proprietary_and_open_modules(name, version):
    assert probe.parse_proc_driver_version(text(name)) == version


def test_mismatch_outputs_name_the_library_version():
    assert probe.parse_nvml_library_version(text("nvidia-smi_mismatch.txt")) == "550.144"
    assert probe.parse_nvml_library_version(text("nvidia-smi_mismatch_570.txt")) == "570.124"
    assert probe.parse_nvml_library_version(text("nvidia-smi_mismatch_bare.txt")) is None


def test_lspci_finds_nvidia_gpus_and_ignores_others():
    assert [g.name for g in probe.parse_lspci(text("lspci-nn_gtx1080ti.txt"))] == ["GeForce GTX 1080 Ti"]
    assert [g.name for g in probe.parse_lspci(text("lspci_tesla-k80.txt"))] == ["Tesla K80"]
    hybrid = probe.parse_lspci(text("lspci-nn_mx150-no-driver_intel-hd620.txt"))
    assert len(hybrid) == 1 and "Intel" not in hybrid[0].name
    assert probe.parse_lspci(text("lspci_wsl2-microsoft-basic-render.txt")) == []


def test_os_release_and_wsl():
    assert probe.parse_os_release(text("os-release_ubuntu-22.04.txt"))["VERSION_ID"] == "22.04"
    assert probe.parse_os_release(text("os-release_ubuntu-24.04.txt"))["ID"] == "ubuntu"
    assert probe.parse_os_release(text("os-release_debian-12.txt"))["VERSION_ID"] == "12"
    assert probe.wsl_version(text("proc-version_wsl2.txt")) == 2
    assert probe.wsl_version(text("proc-version_wsl2-4.19-no-wsl2-suffix.txt")) == 2
    assert probe.wsl_version(text("proc-version_wsl1.txt")) == 1
    assert probe.wsl_version("Linux version 6.8.0-45-generic (buildd@lcy02-amd64-115)") is None


@pytest.mark.parametrize("name, version", [
    ("nvcc-version_12.1.txt", "12.1"), ("nvcc-version_11.8.txt", "11.8"),
    ("nvcc-version_11.1.txt", "11.1"), ("nvcc-version_10.1.txt", "10.1"),
])
def test_nvcc_version(name, version):
    assert probe.parse_nvcc_version(text(name)) == version


def test_cuda_int_from_nvml():
    assert probe.cuda_int_to_version(12020) == "12.2"
    assert probe.cuda_int_to_version(13000) == "13.0"
    assert probe.cuda_int_to_version(11040) == "11.4"


# ---- NVML through the real nvidia-ml-py module; only the driver calls are replaced ----

pynvml = pytest.importorskip("pynvml")


class _Mem:
    total = 6144 * 1024 * 1024


def fake_driver(monkeypatch, fail_at: str | None = None, init_error: int | None = None):
    """Stand in for libnvidia-ml with the values the GTX 1660 SUPER machine's nvidia-smi shows
    (tests/fixtures/probe/nvidia-smi_gtx1660-family_535.161.07.txt)."""
    def maybe(name, value):
        def call(*_):
            if name == fail_at:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)
            return value
        return call

    def init():
        if init_error is not None:
            raise pynvml.NVMLError(init_error)

    monkeypatch.setattr(pynvml, "nvmlInit", init)
    monkeypatch.setattr(pynvml, "nvmlShutdown", lambda: None)
    monkeypatch.setattr(pynvml, "nvmlSystemGetDriverVersion", maybe("driver", "535.161.07"))
    monkeypatch.setattr(pynvml, "nvmlSystemGetCudaDriverVersion_v2", maybe("cuda", 12020))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCount", maybe("count", 1))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetHandleByIndex", maybe("handle", object()))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetName", maybe("name", "NVIDIA GeForce GTX 1660 SUPER"))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetCudaComputeCapability", maybe("cc", (7, 5)))
    monkeypatch.setattr(pynvml, "nvmlDeviceGetMemoryInfo", maybe("mem", _Mem()))


def test_nvml_facts(monkeypatch):
    fake_driver(monkeypatch)
    nv = probe.probe_nvml()
    assert (nv.driver_version, nv.cuda_driver_version, nv.source) == ("535.161.07", "12.2", "nvml")
    assert [(g.name, g.compute_capability, g.memory_mib) for g in nv.gpus] == [
        ("NVIDIA GeForce GTX 1660 SUPER", "7.5", 6144)]


def test_nvml_capability_failure_keeps_the_rest(monkeypatch):
    fake_driver(monkeypatch, fail_at="cc")
    nv = probe.probe_nvml()
    assert nv.error_code is None and nv.gpus[0].compute_capability is None and nv.gpus[0].memory_mib == 6144


def test_nvml_query_failure_is_a_fact_not_a_crash(monkeypatch):
    fake_driver(monkeypatch, fail_at="count")
    nv = probe.probe_nvml()
    assert nv.error_code == "nvml-failed" and "NVML query failed" in nv.error


def test_nvml_mismatch_and_missing_library(monkeypatch):
    fake_driver(monkeypatch, init_error=pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH)
    assert probe.probe_nvml().error_code == "driver-mismatch"
    fake_driver(monkeypatch, init_error=pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    assert probe.probe_nvml() is None


def test_real_nvml_here_reports_no_library():
    # this machine has no NVIDIA driver: the real nvidia-ml-py must fail in the way probe_nvml expects
    with pytest.raises(pynvml.NVMLError) as info:
        pynvml.nvmlInit()
    assert info.value.value in (pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    assert probe.probe_nvml() is None


def test_driver_override_for_build_hosts(monkeypatch):
    monkeypatch.setenv(probe.DRIVER_ENV, "550.54.14")
    monkeypatch.setenv(probe.ARCH_ENV, "8.6")
    nv = probe.probe_nvidia()
    assert nv.driver_version == "550.54.14" and nv.gpus[0].compute_capability == "8.6"


def test_probe_this_machine_round_trips(tmp_path):
    facts = probe.probe(tmp_path)
    assert facts.os.system == "Linux" and facts.python.version.startswith("3.")
    assert facts.python.executable and facts.disk_free_gib is not None
    again = Facts.from_dict(json.loads(facts.to_json()))
    assert again == facts


def test_interpreter_cache_hits_and_invalidates_on_binary_change(tmp_path, monkeypatch):
    import os
    import sys

    fake = tmp_path / "python3.99"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    fake.chmod(0o755)
    cache = probe.InterpreterCache(tmp_path / "cache.json")
    first = cache.get(str(fake))
    assert first.version.startswith("3.") and cache.dirty
    cache.save()

    calls = []
    monkeypatch.setattr(probe, "probe_interpreter", lambda name: calls.append(name) or first)
    again = probe.InterpreterCache(tmp_path / "cache.json")
    assert again.get(str(fake)) == first and calls == []  # served from the cache

    fake.write_text(fake.read_text() + "# upgraded\n")  # size and mtime change: the entry is stale
    os.utime(fake, ns=(1, 1))
    again.get(str(fake))
    assert calls == [str(fake)]


def test_tool_cache_keeps_compiled_tools_answers_until_the_binary_changes(tmp_path):
    """A real ELF program whose output changes on every run (date): kept while its bytes, mtime and size stay,
    asked again once they change; a script is asked on every run (conda's reports a package updated under it)."""
    import os
    import shutil

    tool = tmp_path / "tool"
    shutil.copy2(shutil.which("date"), tool)
    cache = probe.ToolCache(tmp_path / "tools.json")
    first = cache.run([str(tool), "+%s%N"])
    assert first and cache.dirty
    cache.save()
    again = probe.ToolCache(tmp_path / "tools.json")
    assert again.run([str(tool), "+%s%N"]) == first  # from the file, not a new run

    os.utime(tool, ns=(1, 1))  # the binary changed (an upgrade): stale
    assert probe.ToolCache(tmp_path / "tools.json").run([str(tool), "+%s%N"]) != first

    script = tmp_path / "script"
    script.write_text(f"#!/bin/sh\nexec {tool} +%s%N\n")
    script.chmod(0o755)
    once = probe.ToolCache(tmp_path / "tools.json")
    answer = once.run([str(script)])
    assert once.run([str(script)]) == answer  # asked once per run
    assert probe.ToolCache(tmp_path / "tools.json").run([str(script)]) != answer  # never kept across runs


def test_tool_cache_nvcc_home_follows_its_profile(tmp_path, monkeypatch):
    """nvcc --dryrun's answer (the CUDA home) is kept with the stamp of nvcc.profile beside the binary."""
    import os
    import shutil

    bin_dir = tmp_path / "cuda" / "bin"
    bin_dir.mkdir(parents=True)
    nvcc = bin_dir / "nvcc"
    shutil.copy2(shutil.which("date"), nvcc)  # ELF: cacheable
    profile = bin_dir / "nvcc.profile"
    profile.write_text("TOP = $(_HERE_)/..\n")
    asked = []
    monkeypatch.setattr(probe, "_ask", lambda cmd, stderr=False: asked.append(cmd[1]) or (0, "#$ _HERE_=" + str(
        bin_dir) + "\nnvcc: release 12.1, V12.1.105\n" + ("PATH=/x\n" if stderr else "")))
    cache = probe.ToolCache(tmp_path / "tools.json")
    found = probe.probe_nvcc(str(nvcc), cache)
    assert found.version == "12.1" and found.home == str(tmp_path / "cuda")
    assert not any("PATH=" in v for v in cache.entries.values())  # only the line it needs is kept
    cache.save()
    asked.clear()
    assert probe.probe_nvcc(str(nvcc), probe.ToolCache(tmp_path / "tools.json")) == found and asked == []
    profile.write_text("TOP = /elsewhere\n")
    os.utime(profile, ns=(1, 1))
    probe.probe_nvcc(str(nvcc), probe.ToolCache(tmp_path / "tools.json"))
    assert asked == ["--dryrun"]  # the version stays kept, the home is asked again
