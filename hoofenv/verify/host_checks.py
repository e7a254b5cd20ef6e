"""The checks hoofenv runs from its own process: `pip check` and `mim list` in the environment, the data check of
a dataset, and snippet checks (`python -c CODE`, each in its own process)."""

from __future__ import annotations

import os
import re
import subprocess
import time

from hoofenv.inenv.protocol import BY_ID, FAIL, OK, CheckSpec
from hoofenv.verify.report import CheckResult, result
from hoofenv.verify.supervisor import signal_name

# `pip check` lines that are deliberate: hoofenv installs mmpose with --no-deps and leaves chumpy out
# (compat-facts: chumpy does not build under PEP 517 and does not import on Python 3.11; mmpose 1.3 never imports it).
KNOWN_GAPS = {
    r"mmpose \S+ requires chumpy, which is not installed\.": "mmpose never imports chumpy; hoofenv leaves it out",
}


def run_command(cmd: list[str], timeout: float, env: dict | None = None) -> tuple[int | None, str, float]:
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env=env, start_new_session=True)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", time.monotonic() - t0
    except OSError as exc:
        return 127, str(exc), time.monotonic() - t0
    return proc.returncode, (proc.stdout + proc.stderr).strip(), time.monotonic() - t0


def check_pip(python: str, env_label: str, timeout: float) -> CheckResult:
    spec = BY_ID["pip.check"]
    code, out, secs = run_command([python, "-m", "pip", "check", "--disable-pip-version-check"], timeout,
                                  env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if code == 0:
        return result(spec, OK, out.splitlines()[0] if out else "no broken requirements", None, secs)
    if code is None:
        return result(spec, FAIL, out, f"{python} -m pip check", secs)
    if "No module named pip" in out:
        return result(spec, FAIL, "pip is not installed in the environment", f"{python} -m ensurepip", secs)
    lines = [line for line in out.splitlines() if line.strip()]
    problems = [line for line in lines if not any(re.fullmatch(k, line) for k in KNOWN_GAPS)]
    ignored = [line for line in lines if line not in problems]
    if not problems:
        why = "; ".join(KNOWN_GAPS[k] for k in KNOWN_GAPS if any(re.fullmatch(k, line) for line in ignored))
        return result(spec, OK, f"clean apart from a known, deliberate gap: {'; '.join(ignored)} ({why})", None,
                      secs)
    return result(spec, FAIL, f"{len(problems)} broken requirement(s): " + "; ".join(problems[:5]),
                  f"install the versions named above into the env, or `hoofenv install --env {env_label}`", secs)


def mim_rows(out: str) -> list[str]:
    """Package names from `mim list`'s table. Its output here also carries setuptools 80's pkg_resources
    deprecation warnings (stderr), which are not rows."""
    return [m[1] for m in re.finditer(r"^(\S+)\s+(\d[\w.+!-]*)\s+\S+\s*$", out, re.MULTILINE)]


def check_mim(python: str, timeout: float) -> CheckResult:
    spec = BY_ID["mim.list"]
    code, out, secs = run_command([python, "-m", "mim", "list"], timeout)
    if code == 0:
        rows = mim_rows(out)
        return result(spec, OK, "mim lists " + (", ".join(rows) or "no OpenMMLab packages"), None, secs)
    if "No module named mim" in out:
        return result(spec, FAIL, "openmim is not installed (optional: hoofenv does not need mim)",
                      f"{python} -m pip install openmim==0.3.9  # only if you want mim", secs)
    last = out.splitlines()[-1] if out else f"exit {code}"
    return result(spec, FAIL, f"mim list failed: {last}",
                  "mim needs pip < 24.1 and setuptools < 81 (open-mmlab/mim#244); hoofenv does not need mim", secs)


def check_data(ann: str) -> CheckResult:
    from hoofenv.data.check import check_file
    from hoofenv.errors import HoofenvError

    spec = BY_ID["data.check"]
    t0 = time.monotonic()
    try:
        report = check_file(ann)
    except HoofenvError as err:
        return result(spec, FAIL, f"hoofenv data check {ann} found problems: {err.message}",
                      f"hoofenv data check {ann}  (then `hoofenv data fix`)", time.monotonic() - t0)
    if report.ok:
        return result(spec, OK, f"hoofenv data check {ann}: no errors", None, time.monotonic() - t0)
    kinds = ", ".join(f.code for f in report.findings if f.severity == "error")
    return result(spec, FAIL, f"hoofenv data check {ann} found problems: {report.errors} error kinds ({kinds})",
                  f"hoofenv data check {ann}  (then `hoofenv data fix`)", time.monotonic() - t0)


def run_snippet(python: str, check_id: str, code: str, timeout: float, required: bool = True) -> CheckResult:
    """An extra check: `python -c CODE` in its own process, ok when it exits 0 (used by tests and plugins)."""
    spec = CheckSpec(check_id, check_id, required=required, runner="snippet")
    rc, out, secs = run_command([python, "-c", code], timeout)
    if rc == 0:
        return result(spec, OK, out.splitlines()[-1] if out else "exit 0", None, secs)
    how = "timed out" if rc is None else (f"died ({signal_name(rc)})" if rc < 0 else f"exit {rc}")
    return result(spec, FAIL, f"{how}: {out.splitlines()[-1] if out else 'no output'}", None, secs)
