"""The verify runner itself: a crash or a hang inside one check fails that check only; the rest still report.
Runs against the hoofenv venv's own python (no training stack needed) with checks that do not need one."""

from __future__ import annotations

import sys

from hoofenv.commands.verify import render
from hoofenv.verify.run import verify
from hoofenv.verify.supervisor import run_probe

from tests.conftest import run_cli, run_json

ARGS = {"plan": None, "config": None, "env": "x", "gpu_present": False,
        "default_types": []}


def test_a_crashing_check_fails_alone_and_the_rest_run_in_a_fresh_process():
    res = run_probe(sys.executable, ["python.version", "numpy.version", "setuptools.version"],
                    {**ARGS, "fault": "numpy.version:crash"}, timeout=30)
    assert res["python.version"].ok
    assert not res["numpy.version"].ok and "SIGSEGV" in res["numpy.version"].detail
    assert "setuptools.version" in res  # ran after the crash, in a new process


def test_a_hanging_check_times_out_alone():
    res = run_probe(sys.executable, ["python.version", "numpy.version", "setuptools.version"],
                    {**ARGS, "fault": "python.version:hang"}, timeout=3)
    assert not res["python.version"].ok and "timed out after 3 s" in res["python.version"].detail
    assert "numpy.version" in res and "setuptools.version" in res


def test_injected_snippet_checks_crash_and_hang_without_taking_the_report_down():
    report = verify(sys.executable, only=["python.version"], timeout=3,
                    extra=[("test.segv", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"),
                           ("test.hang", "import time; time.sleep(60)"), ("test.fine", "print('fine')")])
    checks = {c.id: c for c in report.checks}
    assert checks["python.version"].ok
    assert not checks["test.segv"].ok and "SIGSEGV" in checks["test.segv"].detail
    assert not checks["test.hang"].ok and "timed out" in checks["test.hang"].detail
    assert checks["test.fine"].ok
    assert not report.ok
    text = render(report)
    assert "[✗] test.segv" in text and "[✓] python.version" in text


def test_missing_environment_is_a_clear_error(tmp_path):
    code, out = run_json("verify", "--env", str(tmp_path / "nope"))
    assert code == 1 and out["error"]["code"] == "env-missing"
    assert "hoofenv install" in out["error"]["hint"]


def test_unknown_check_id_is_a_usage_error():
    proc = run_cli("verify", "--python", sys.executable, "--only", "nope.nope")
    assert proc.returncode == 2 and "unknown check id" in proc.stderr


def test_json_shape_on_a_bare_python(tmp_path):
    code, out = run_json("verify", "--python", sys.executable, "--only", "python.version,torch.import,mmcv.ext")
    assert code == 1 and out["ok"] is False
    checks = {c["id"]: c for c in out["checks"]}
    assert checks["python.version"]["ok"]
    assert not checks["torch.import"]["ok"] and "import torch failed" in checks["torch.import"]["detail"]
    assert not checks["mmcv.ext"]["ok"] and "mmcv is not installed" in checks["mmcv.ext"]["detail"]


def test_data_check_of_an_empty_export_fails_with_the_command_to_run(tmp_path):
    ann = tmp_path / "train.json"
    ann.write_text("{}")
    report = verify(sys.executable, only=["python.version", "data.check"], data=str(ann), timeout=30)
    data = report.get("data.check")
    assert not data.ok and "hoofenv data check" in data.hint
