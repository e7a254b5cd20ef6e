"""Runs install steps: each command in a subprocess, its output into a log file, finished steps recorded in a
state file so that an interrupted install resumes where it stopped. Progress goes to a `Progress`, which the
CLI renders; a failing step becomes a HoofenvError with its command, its log, its last lines and a hint."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import deque
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.files import atomic_write_text
from hoofenv.install import watch
from hoofenv.install.recipe import Step
from hoofenv.install.sources import PIP_ISOLATE
from hoofenv.machine.inenv import tied_to_this_process

FAULT_ENV = "HOOFENV_FAULT"  # test seam: "kill-after:STEP" sends SIGKILL to this process after STEP
TAIL_LINES = 12


class Progress:
    """What an install reports while it runs. This base ignores everything (`--json`, tests)."""

    def note(self, text: str, level: str = "info") -> None:
        """A line for the user; level: info, ok or warn."""

    def step_started(self, label: str) -> None:
        pass

    def step_output(self, label: str, line: str, elapsed: float) -> None:
        pass

    def step_finished(self, label: str, ok: bool, seconds: float) -> None:
        pass


HINTS = {
    "torch": "the torch index may be unreachable: set a mirror with --torch-index-url URL (or "
             "HOOFENV_TORCH_INDEX_URL), or install from a wheelhouse: `hoofenv install --wheelhouse DIR --offline`",
    "mmcv": "mmcv is installed from a wheel only; none fits this torch/CUDA/Python on the index. Build one "
            "(minutes, cached): `hoofenv install --mmcv-source build`, or give one: `--mmcv-wheel FILE`",
    "locked": "a locked file is unavailable or its sha256 differs from hoofenv.lock (the lock names each file's "
              "URL): restore that source, or re-lock on purpose with `hoofenv install` (without --locked)",
    "build-mmcv": "the mmcv compile failed: read the full log; a compiler is needed (`sudo apt-get install -y "
                  "build-essential`), and ~3 GB of RAM per job (lower MAX_JOBS with `--max-jobs 1`)",
}


def hint_for(step: Step, tail: list[str]) -> str:
    """The step's hint; uv's one-resolution `stack` step gets the hint of the part its error names."""
    name = step.name
    if name == "stack":
        text = "\n".join(tail)
        if re.search(r"mmcv.*\b(wheels?|sdist)\b|\b(wheels?|sdist)\b.*mmcv", text):
            name = "mmcv"
        elif re.search(r"\btorch(vision)?\b|pytorch", text):
            name = "torch"
    return HINTS.get(name, "fix the cause above and re-run `hoofenv install` (finished steps are kept)")


def execute(step: Step, log: Path, label: str, progress: Progress) -> tuple[int, float, list[str]]:
    """Run one step, teeing its output to `log`; (exit status, seconds, its last lines). Its sources must answer
    when it starts and keep answering while it runs (watch.py); a pip step takes exactly the sources on its
    command line (PIP_ISOLATE), not those of pip's configuration as well."""
    watch.check(step)
    start = time.monotonic()
    tail: deque[str] = deque(maxlen=25)
    log.parent.mkdir(parents=True, exist_ok=True)
    progress.step_started(label)
    env = {**os.environ, **(PIP_ISOLATE if _runs_pip(step) else {}), **step.env}
    with log.open("w") as fh:
        fh.write("$ " + step.shell() + "\n")
        fh.flush()
        proc = subprocess.Popen(step.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, bufsize=1, stdin=subprocess.DEVNULL,
                                preexec_fn=tied_to_this_process(signal.SIGKILL))
        try:
            with watch.Watch(step, lambda _reason: proc.kill(), proc.pid) as watching:
                for line in proc.stdout:
                    fh.write(line)
                    fh.flush()
                    tail.append(line.rstrip())
                    progress.step_output(label, line.strip(), time.monotonic() - start)
                rc = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    seconds = time.monotonic() - start
    progress.step_finished(label, rc == 0 and watching.reason is None, seconds)
    if watching.reason:
        raise HoofenvError(watching.reason, watching.causes + [f"command: {step.shell()}", f"full log: {log}",
                                                               "the env in use was not changed; finished steps are "
                                                               "kept"],
                           hint=watch.HINT, code="source-unreachable", output=list(tail)[-TAIL_LINES:])
    return rc, seconds, list(tail)


def _runs_pip(step: Step) -> bool:
    return any(a == "pip" and step.argv[i - 1] == "-m" for i, a in enumerate(step.argv) if i)


def run_steps(steps: list[Step], progress: Progress, logs: Path, state_file: Path | None, label: str,
              after=None) -> list[dict]:
    """Run `steps` in order, skipping those the state file records as done; `after(step)` follows each."""
    done = set(read_state(state_file).get("done", []))
    results = []
    fault = os.environ.get(FAULT_ENV, "")
    todo = [s for s in steps if s.name not in done]
    if done and todo and state_file:
        progress.note(f"resuming {label}: {len(steps) - len(todo)} of {len(steps)} steps already done", "warn")
    for i, step in enumerate(steps, 1):
        if step.name in done:
            results.append({"name": step.name, "status": "resumed", "seconds": 0.0})
            continue
        log = logs / f"{i:02d}-{step.name}.log"
        try:
            rc, seconds, tail = execute(step, log, f"[{i}/{len(steps)}] {step.title}", progress)
        except KeyboardInterrupt:
            raise HoofenvError(f"interrupted during `{step.title}`",
                               ["the env in use was not changed; finished steps are kept in the stage"],
                               hint="re-run the same `hoofenv install` command: it resumes", code="interrupted",
                               exit_code=130) from None
        results.append({"name": step.name, "status": "ok" if rc == 0 else "failed", "seconds": round(seconds, 2),
                        "command": step.shell()})
        if rc != 0:
            raise HoofenvError(f"step `{step.title}` failed (exit {rc})",
                               [f"command: {step.shell()}", f"full log: {log}", "the env in use was not changed"],
                               hint=hint_for(step, tail), code=f"step-failed:{step.name}",
                               output=tail[-TAIL_LINES:])
        if after:
            after(step)
        if state_file:
            done.add(step.name)
            atomic_write_text(state_file, json.dumps({"done": sorted(done)}))
        if fault == f"kill-after:{step.name}":
            os.kill(os.getpid(), signal.SIGKILL)
    return results


def read_state(path: Path | None) -> dict:
    if not path or not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
