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


# What `plan` must not import: other stages, other commands' modules, and the standard library modules it was
# freed of (each a few ms of a ~0.1 s command: logging via concurrent.futures, OpenSSL via hashlib, ...).
NOT_FOR_PLAN = ("hoofenv.install", "hoofenv.train", "hoofenv.verify", "hoofenv.data", "hoofenv.export", "yaml",
                "rich", "torch", "numpy", "logging", "concurrent", "hashlib", "tempfile", "platform")
PLAN_COMMANDS = {"hoofenv.commands", "hoofenv.commands.main", "hoofenv.commands.plan", "hoofenv.commands.options",
                 "hoofenv.commands.output"}


@pytest.mark.parametrize("args", [["--facts", PROFILE], ["--offline"]], ids=["facts", "probe"])
def test_plan_imports_only_what_planning_uses(tmp_path, args):
    """sys.modules after a `plan --json` whose caches are warm (the second run in a fresh cache folder)."""
    code = ("import sys, runpy; sys.argv=['hoofenv','plan','--json',*sys.argv[1:]]\n"
            "try:\n    runpy.run_module('hoofenv', run_name='__main__')\nexcept SystemExit: pass\n"
            "sys.stderr.write('LOADED:'+','.join(sorted(sys.modules)))")
    env = {**os.environ, "HOOFENV_CACHE_DIR": str(tmp_path)}
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO, env=env)
        assert proc.returncode == 0 and json.loads(proc.stdout)["status"], proc.stderr
    loaded = proc.stderr.split("LOADED:")[1].split(",")
    assert [m for m in loaded if m.startswith("hoofenv.commands") and m not in PLAN_COMMANDS] == []
    assert [m for m in loaded if m in NOT_FOR_PLAN or m.startswith(tuple(n + "." for n in NOT_FOR_PLAN))] == []
    if "--facts" in args:
        assert {"hoofenv.machine.probe", "subprocess", "configparser"}.isdisjoint(loaded)  # no pip config read


def test_doctor_here_never_crashes_and_reports_checks(tmp_path):
    code, report = run_json("doctor", "--facts-out", str(tmp_path / "facts.json"), cwd=tmp_path)
    assert code in (0, 1)
    ids = [c["id"] for c in report["checks"]]
    assert ids == ["os", "python", "nvidia", "tools", "disk", "sources", "plan", "env"]
    assert recorded_sources(tmp_path / "facts.json"), "doctor records the sources it checked"
    recorded = json.loads((tmp_path / "facts.json").read_text())
    assert recorded["os"]["system"] == "Linux"
    code2, plan = run_json("plan", "--facts", str(tmp_path / "facts.json"), cwd=tmp_path)
    assert plan["status"] == report["plan"]["status"]


def recorded_sources(path) -> list:
    return json.loads(path.read_text())["sources"]["entries"]


def test_plan_and_doctor_name_each_source_and_the_consequence(tmp_path):
    """Real servers on 127.0.0.1 stand for PyPI (answers), the PyTorch index (nothing listens) and OpenMMLab
    (accepts, never answers); pip's configuration is a file set for this test."""
    from tests.fakeindex import TAG, Server, closed_port_url, make_wheel, write_simple

    write_simple(tmp_path / "idx" / "simple", [make_wheel(tmp_path / "w", "numpy", "1.26.4", tag=TAG)])
    pypi, hang = Server(tmp_path / "idx"), Server(tmp_path / "idx", mode="hang")
    refused = closed_port_url()
    conf = tmp_path / "pip.conf"
    conf.write_text(f"[global]\nfind-links = {tmp_path / 'w'}\n")
    env = {"PIP_CONFIG_FILE": str(conf), "HOOFENV_CACHE_DIR": str(tmp_path / "cache"),
           "HOOFENV_INDEX_URL": pypi.url + "/simple", "HOOFENV_TORCH_INDEX_URL": refused + "/whl/{cuda}",
           "HOOFENV_MMCV_BASE_URL": hang.url, "PIP_FIND_LINKS": "", "PIP_EXTRA_INDEX_URL": "", "PIP_CONSTRAINT": "",
           "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "XDG_CONFIG_DIRS": str(tmp_path / "xdg-dirs")}
    try:
        code, plan = run_json("plan", "--cuda", "cpu", env=env, cwd=tmp_path)
        assert code == 0 and plan["torch_build"] and plan["torch_local"] is None, plan
        reasons = {s["package"]: s["reason"] for s in plan["sources"]}
        assert f"{refused.split('//')[1]}: connection refused" in reasons["torch"]
        assert f"{hang.url.split('//')[1]}: timeout" in reasons["mmcv"] and "sdist" in reasons["mmcv"]
        proc = run_cli("doctor", "--cuda", "cpu", "--facts-out", str(tmp_path / "f.json"), env=env, cwd=tmp_path)
        out = proc.stdout
        assert "[!] Sources: 2 of 4 answer" in out, out
        assert f"✓ {pypi.url.split('//')[1]}: answers (" in out and " ms) [index; $HOOFENV_INDEX_URL]" in out
        assert f"✗ {refused.split('//')[1]}: connection refused [PyTorch index cpu" in out
        assert f"✓ {tmp_path / 'w'}: there" in out and f"pip config {conf}" in out
        assert "→ torch " in out and "→ " + reasons["mmcv"][:40] in out
        statuses = {e["role"]: e["status"] for e in recorded_sources(tmp_path / "f.json")}
        assert statuses == {"index": "ok", "find-links": "ok", "pytorch": "refused", "openmmlab": "timeout"}
        # the recorded facts replay the same plan anywhere, without asking the network
        code, replay = run_json("plan", "--cuda", "cpu", "--facts", str(tmp_path / "f.json"), cwd=tmp_path)
        assert replay["sources"] == plan["sources"] and replay["torch"] == plan["torch"]
        code, offline = run_json("plan", "--cuda", "cpu", "--offline", env=env, cwd=tmp_path)
        assert code == 0 and offline["torch_local"] == "cpu", "offline: nothing asked, nothing ruled out"
    finally:
        pypi.stop()
        hang.stop()


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


def test_doctor_flags_a_torch_build_other_than_the_plans(tmp_path):
    """The CPU plan's torch comes from the PyTorch index as +cpu: PyPI's 2.1.2 (its CUDA build) is another one."""
    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)
    site = next(env_dir.glob("lib/python3*/site-packages"))
    for dist in ("torch-2.1.2+cu121", "torchvision-0.16.2+cpu"):
        (site / f"{dist}.dist-info").mkdir()
    code, report = run_json("doctor", "--facts", str(FIXTURES / "facts" / "nogpu-debian12.json"), "--env",
                            str(env_dir))
    details = next(c for c in report["checks"] if c["id"] == "env")["details"]
    assert "torch 2.1.2+cu121 is another build than the plan's (torch==2.1.2+cpu)" in details
    assert not [d for d in details if d.startswith("torchvision")]


def test_plan_leaves_the_garbage_collector_as_it_found_it(tmp_path, capsys):
    """`plan` pauses the collector while it imports and resolves; a caller in the same process gets it back."""
    import gc

    from hoofenv.commands.main import main

    assert gc.isenabled()
    assert main(["plan", "--json", "--facts", PROFILE]) == 0
    assert gc.isenabled()
    broken = tmp_path / "facts.json"
    broken.write_text("{")
    assert main(["plan", "--json", "--facts", str(broken)]) == 2 and gc.isenabled()  # raised inside the command
    gc.disable()
    try:
        main(["plan", "--json", "--facts", PROFILE])
        assert not gc.isenabled()
    finally:
        gc.enable()
    capsys.readouterr()
