"""Runs the probe checks inside the environment in as few processes as possible. The probe announces each check
before running it, so when the process segfaults or hangs the supervisor knows which check did it, fails that one
(with the signal or the timeout and the tail of stderr), and reruns the remaining checks in a fresh process."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from hoofenv.inenv.protocol import BY_ID, FAIL, parse
from hoofenv.machine import inenv
from hoofenv.verify.report import CheckResult, result

STDERR_TAIL = 600


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-4:])[-STDERR_TAIL:]


def signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _events(proc: subprocess.Popen, timeout: float,
            results: dict[str, CheckResult]) -> tuple[str | None, bool, float]:
    """Read one probe process's events into `results` until it ends or a check exceeds `timeout`.
    Returns (the check it was inside when it ended, whether it hung, when that check started)."""
    lines: queue.Queue = queue.Queue()

    def pump(stream=proc.stdout, q=lines) -> None:
        for line in stream:
            q.put(line)
        q.put(None)

    threading.Thread(target=pump, daemon=True).start()
    current, t0 = None, time.monotonic()
    while True:
        try:
            line = lines.get(timeout=max(0.1, timeout - (time.monotonic() - t0)))
        except queue.Empty:
            _kill(proc)
            return current, True, t0
        if line is None:
            return current, False, t0
        event = parse(line.rstrip("\n"))
        if event is None:
            continue
        if event["event"] == "start":
            current, t0 = event["id"], time.monotonic()
        elif event["event"] == "done":
            spec = BY_ID[event["id"]]
            results[spec.id] = result(spec, event["status"], event["detail"], event.get("hint"), event["seconds"])
            results[spec.id].own = bool(event.get("own"))
            current, t0 = None, time.monotonic()


def run_probe(python: str, ids: list[str], args: dict, timeout: float) -> dict[str, CheckResult]:
    """Run probe checks in order; a crash or hang fails only its own check."""
    results: dict[str, CheckResult] = {}
    remaining = list(ids)
    with tempfile.TemporaryDirectory(prefix="hoofenv-verify-") as tmp:
        attempt = 0
        while remaining:
            attempt += 1
            args_file = Path(tmp) / f"args{attempt}.json"
            args_file.write_text(json.dumps({**args, "checks": remaining}))
            err_path = Path(tmp) / f"stderr{attempt}.txt"
            with open(err_path, "w") as err:
                proc = subprocess.Popen(inenv.command(python, "verify", [str(args_file)]), stdout=subprocess.PIPE,
                                        stderr=err, stdin=subprocess.DEVNULL, text=True, start_new_session=True)
            current, hung, t0 = _events(proc, timeout, results)
            code = proc.wait()
            tail = _tail(err_path)
            if current is None and not any(i in results for i in remaining):
                # died before announcing a check: the interpreter itself does not start
                why = f"timed out after {timeout:.0f} s" if hung else f"exited {code}"
                for check_id in remaining:
                    results[check_id] = result(BY_ID[check_id], FAIL, f"the environment's python {why} before "
                                               f"any check: {tail or 'no output'}", "hoofenv install (recreate the env)",
                                               time.monotonic() - t0)
                break
            if current is not None:
                if hung:
                    detail = f"timed out after {timeout:.0f} s (the check hung; killed)"
                else:
                    how = signal_name(code) if code < 0 else f"exit status {code}"
                    detail = f"the check process died ({how}) inside this check"
                results[current] = result(BY_ID[current], FAIL, detail + (f"; stderr: {tail}" if tail else ""),
                                          f"run it alone to see the crash: hoofenv verify --python {python} "
                                          f"--only {current}", time.monotonic() - t0)
            remaining = [i for i in remaining if i not in results]
    return results
