"""What the probe records for GPU builds and mixed boxes: CUDA_VISIBLE_DEVICES read as CUDA reads it, GPU UUIDs,
every nvcc on the machine with its CUDA home, g++."""

from __future__ import annotations

import shutil

import pytest

from hoofenv.machine import probe
from hoofenv.machine.facts import GPU, Facts

MIXED = [GPU("NVIDIA GeForce RTX 5090", "12.0", 32607, 0, "GPU-5a1f0c2e-aaaa-bbbb-cccc-000000000001"),
         GPU("NVIDIA GeForce GTX 1080", "6.1", 8192, 1, "GPU-7b2e9d10-aaaa-bbbb-cccc-000000000002")]


@pytest.mark.parametrize("value, visible", [
    ("1", [1]),
    ("0,1", [0, 1]),
    ("1,0", [1, 0]),
    ("", []),
    ("-1", []),
    ("0,7,1", [0]),  # CUDA stops at the first entry it cannot match
    ("GPU-7b2e9d10", [1]),  # a UUID prefix
    ("GPU-ffffffff", []),
    ("1,1", [1]),
])
def test_cuda_visible_devices_is_read_as_cuda_reads_it(value, visible):
    assert probe.visible_indices(value, MIXED, "PCI_BUS_ID")[0] == visible


def test_unset_means_all_and_unlike_cards_by_number_get_a_note():
    assert probe.visible_indices(None, MIXED) == (None, None)
    chosen, note = probe.visible_indices("1", MIXED)
    assert chosen == [1] and "CUDA_DEVICE_ORDER=PCI_BUS_ID" in note
    assert probe.visible_indices("1", MIXED, "PCI_BUS_ID")[1] is None
    assert probe.visible_indices("GPU-7b2e9d10", MIXED)[1] is None  # UUIDs are unambiguous
    alike = [GPU("NVIDIA H100", "9.0", 81559, i) for i in range(2)]
    assert probe.visible_indices("1", alike) == ([1], None)


def test_the_probe_records_visibility_and_a_facts_file_round_trips(monkeypatch, tmp_path):
    monkeypatch.setenv(probe.DRIVER_ENV, "580.95.05")
    monkeypatch.setenv(probe.ARCH_ENV, "9.0")
    monkeypatch.setenv(probe.VISIBLE_ENV, "")
    nv = probe.probe_nvidia()
    assert nv.visible == [] and nv.visible_env == ""
    monkeypatch.delenv(probe.VISIBLE_ENV)
    assert probe.probe_nvidia().visible is None
    monkeypatch.setenv(probe.VISIBLE_ENV, "0")
    facts = probe.probe(tmp_path)
    path = tmp_path / "facts.json"
    path.write_text(facts.to_json())
    again = Facts.load(path)
    assert again.nvidia.visible == [0] and again.tools.nvccs == facts.tools.nvccs


def test_smi_query_reads_uuids():
    text = ("index, name, compute_cap, memory.total [MiB], uuid\n"
            "0, NVIDIA GeForce RTX 5090, 12.0, 32607 MiB, GPU-5a1f0c2e-aaaa-bbbb-cccc-000000000001\n"
            "1, NVIDIA GeForce GTX 1080, 6.1, 8192 MiB, GPU-7b2e9d10-aaaa-bbbb-cccc-000000000002\n")
    gpus = probe.parse_smi_query(text)
    assert [(g.index, g.uuid) for g in gpus] == [(0, MIXED[0].uuid), (1, MIXED[1].uuid)]


def test_nvcc_home_from_its_dryrun():
    # `nvcc --dryrun -E -x cu /dev/null` through /usr/local/bin/nvcc (a wrapper script) on this machine
    text = "#$ _NVVM_BRANCH_=nvvm\n#$ _SPACE_= \n#$ _CUDART_=cudart\n#$ _HERE_=/usr/local/cuda-13.0/bin\n"
    assert probe.parse_nvcc_home(text) == "/usr/local/cuda-13.0"
    assert probe.parse_nvcc_home("nvcc fatal") is None


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="no nvcc on this machine")
def test_every_nvcc_here_is_found_with_its_release_and_home():
    found = [probe.probe_nvcc(p) for p in probe.nvcc_candidates()]
    assert found and all(n and n.version and n.home for n in found)
    assert probe.probe_nvcc("/bin/true") is None
