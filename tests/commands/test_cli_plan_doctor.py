"""`hoofenv plan` and `hoofenv doctor` as a user runs them: subprocess, real JSON, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv

import pytest

from tests.conftest import FIXTURES, REPO, run_cli, run_json

PROFILE = str(FIXTURES / "facts" / "gtx1660s-535-ubuntu22.04.json")


def test_plan_json_from_recorded_facts_matches_the_issue_example():
    code, plan = run_json("plan", "--facts", PROFILE)
    assert code == 0
    assert {k: plan[k] for k in ("status", "python", "torch", "torchvision", "cuda", "mmengine", "mmdet", "mmpose")} == {
        "status": "ok", "python": "3.10", "torch": "2.1.2", "torchvision": "0.16.2", "cuda": "cu121",
        "mmengine": "0.10.7", "mmdet": "3.2.0", "mmpose": "1.3.2"}
    assert plan["mmcv"]["version"] == "2.1.0" and plan["mmcv"]["source"] == "wheel"
    assert plan["indexes"]["mmcv"] == "https://download.openmmlab.com/mmcv/dist/cu121/torch2.1/index.html"
    assert plan["why"] and plan["problems"] == []


def test_facts_from_environment_variable():
    code, plan = run_json("plan", env={"HOOFENV_FACTS": str(FIXTURES / "facts" / "macos-arm64.json")})
    assert code == 1 and plan["status"] == "refused" and plan["problems"][0]["code"] == "unsupported-os"


def test_plan_human_output_has_table_reasons_and_citations():
    proc = run_cli("plan", "--facts", PROFILE)
    assert proc.returncode == 0
    assert "torch" in proc.stdout and "2.1.2+cu121" in proc.stdout
    assert "[mmcv_wheels.2.1.0/torch2.1; mmcv-version-json" in proc.stdout


def test_refused_plan_exits_1_with_hint():
    proc = run_cli("plan", "--facts", str(FIXTURES / "facts" / "titanx-418-ubuntu18.04.json"))
    assert proc.returncode == 1
    assert "hint" in proc.stdout and "nvidia-driver-535" in proc.stdout


def test_mirror_environment_variables():
    code, plan = run_json("plan", "--facts", PROFILE, env={
        "HOOFENV_TORCH_INDEX_URL": "http://127.0.0.1:9/torch/{cuda}", "HOOFENV_MMCV_BASE_URL": "http://127.0.0.1:9"})
    assert plan["indexes"]["torch"] == "http://127.0.0.1:9/torch/cu121"
    assert plan["indexes"]["mmcv"].startswith("http://127.0.0.1:9/mmcv/dist/cu121/")


@pytest.mark.parametrize("content, field", [
    ("{not json", "line 1, column 2"),
    (json.dumps({"os": {"system": "Linux"}, "python": {"version": "3.10", "executable": "x"}}), "os.arch"),
    (json.dumps({"os": {"system": "Linux", "arch": "x86_64"}, "python": {"version": "3.10", "executable": "x"},
                 "nvidia": {"driver_version": 535}}), "nvidia.driver_version"),
])
def test_corrupt_facts_file_gives_one_clear_error(tmp_path, content, field):
    path = tmp_path / "facts.json"
    path.write_text(content)
    proc = run_cli("plan", "--facts", str(path))
    assert proc.returncode == 2
    assert field in proc.stderr and str(path) in proc.stderr and "hint:" in proc.stderr
    assert "Traceback" not in proc.stderr
    code, out = run_json("plan", "--facts", str(path))
    assert code == 2 and out["ok"] is False and out["error"]["code"] == "facts-invalid"


def test_corrupt_matrix_names_the_row(tmp_path):
    bad = (REPO / "compat_matrix.yaml").read_text().replace("tag: cu121,", "tag: cuda121,")
    path = tmp_path / "m.yaml"
    path.write_text(bad)
    proc = run_cli("plan", "--facts", PROFILE, "--matrix", str(path))
    # a matrix the user named (--matrix) is their input: a usage error, exit 2 (the shipped one failing exits 1)
    assert proc.returncode == 2 and "cuda[2].tag" in proc.stderr and "Traceback" not in proc.stderr


def test_bad_override_is_a_clean_error():
    proc = run_cli("plan", "--facts", PROFILE, "--python", "3.8")
    assert proc.returncode == 1 and "numpy 1.26.4" in proc.stderr and "hint:" in proc.stderr


def test_plan_imports_neither_torch_nor_numpy():
    code = ("import sys, runpy; sys.argv=['hoofenv','plan','--json','--facts',%r]\n"
            "try:\n    runpy.run_module('hoofenv', run_name='__main__')\nexcept SystemExit: pass\n"
            "bad=[m for m in ('torch','numpy','rich') if m in sys.modules]\n"
            "sys.stderr.write('LOADED:'+','.join(bad))" % PROFILE)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert "LOADED:" in proc.stderr and proc.stderr.split("LOADED:")[1].strip() == ""


def test_doctor_here_never_crashes_and_reports_checks(tmp_path):
    code, report = run_json("doctor", "--facts-out", str(tmp_path / "facts.json"), cwd=tmp_path)
    assert code in (0, 1)
    ids = [c["id"] for c in report["checks"]]
    assert ids == ["os", "python", "nvidia", "tools", "disk", "plan", "env"]
    recorded = json.loads((tmp_path / "facts.json").read_text())
    assert recorded["os"]["system"] == "Linux"
    code2, plan = run_json("plan", "--facts", str(tmp_path / "facts.json"), cwd=tmp_path)
    assert plan["status"] == report["plan"]["status"]


def test_doctor_survives_an_nvml_exception(tmp_path):
    # a sitecustomize makes the real nvidia-ml-py raise from inside nvmlInit, as a broken driver does,
    # and points the driver-trace check at a file that exists so NVML is tried at all
    (tmp_path / "sitecustomize.py").write_text(
        "import pynvml, hoofenv.machine.probe\n"
        "def boom():\n    raise pynvml.NVMLError(pynvml.NVML_ERROR_UNKNOWN)\n"
        "pynvml.nvmlInit = boom\n"
        f"hoofenv.machine.probe.DRIVER_TRACES = [{str(tmp_path)!r}]\n")
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    code, report = run_json("doctor", env=env, cwd=tmp_path)
    nvidia = next(c for c in report["checks"] if c["id"] == "nvidia")
    assert code == 1 and nvidia["status"] == "fail" and "nvml-failed" in nvidia["summary"]


def test_doctor_compares_an_environment_with_the_plan(tmp_path):
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    site = next(env_dir.glob("lib/python3*/site-packages"))
    for dist in ("numpy-2.1.0", "mmcv_lite-2.1.0", "opencv_python-4.8.1.78", "opencv_python_headless-4.10.0.84",
                 "torch-2.1.2+cu121", "setuptools-80.9.0"):
        (site / f"{dist}.dist-info").mkdir()
    code, report = run_json("doctor", "--facts", PROFILE, "--env", str(env_dir))
    env_check = next(c for c in report["checks"] if c["id"] == "env")
    details = "\n".join(env_check["details"])
    assert code == 1 and env_check["status"] == "fail"
    assert "numpy 2.1.0 differs from the plan (==1.26.4)" in details
    assert "mmcv-lite" in details and "opencv flavours" in details
    # torch 2.1.2+cu121 satisfies the plan's ==2.1.2: no line about torch itself
    assert not [line for line in env_check["details"] if line.startswith("torch ")]
    assert "torchvision is missing" in details
    assert "mmpose is missing" in details
    # a venv hoofenv did not make: install --env would refuse it, so the fix is --current in it, never --env it
    assert f"--env {env_dir} " not in env_check["hint"] and "hoofenv install --current" in env_check["hint"]
    assert any("will not replace it" in d for d in env_check["details"])
    proc = run_cli("doctor", "--facts", PROFILE, "--env", str(env_dir))
    assert "[✗] Environment" in proc.stdout and "Fix: . " in proc.stdout and "hoofenv install --current" in proc.stdout
