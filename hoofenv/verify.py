"""`hoofenv verify`: prove that an installed environment can train, one check at a time, each with a stable id.

The checks run inside the target environment: its python executes `hoofenv/_verify_probe.py` by path (the env
need not have hoofenv installed). Checks that share imports (torch, mmcv, mmdet, mmpose) run in ONE probe process,
in order, so the whole report costs about one import of the stack; `pip check`, `mim list` and `data check` run
beside it in their own processes. Each check has a timeout. The probe announces every check before running it, so
when the process segfaults or hangs the runner knows which check did it, reports that one as failed (with the
signal or the timeout and the tail of stderr), and reruns the remaining checks in a fresh probe process.

A failed check whose prerequisite failed too (`NEEDS`) carries `blocked_by` with the root cause and that root's
hint, so one broken package shows as one root failure plus its consequences, not as a wall of unrelated errors.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROBE = Path(__file__).with_name("_verify_probe.py")
CHECKPOINT_MODULE = Path(__file__).with_name("checkpoint.py")
DEFAULT_TIMEOUT = 120.0  # seconds per check: a cold import of the stack without .pyc files takes ~12 s here
STDERR_TAIL = 600

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
MARK = {OK: "✓", WARN: "!", FAIL: "✗", SKIP: "-"}


@dataclass(frozen=True)
class CheckSpec:
    id: str
    title: str
    required: bool = True
    runner: str = "probe"  # probe | command | snippet
    needs: tuple[str, ...] = ()
    group: str = "stack"  # probe checks of one group share one process (and its imports)


# In probe order: the cheap checks first, then what builds on them.
CHECKS: list[CheckSpec] = [
    CheckSpec("python.version", "Python version vs the plan"),
    CheckSpec("pip.check", "pip check is clean", runner="command"),
    CheckSpec("numpy.version", "numpy < 2"),
    CheckSpec("setuptools.version", "setuptools < 81 (pkg_resources)"),
    CheckSpec("opencv.flavour", "exactly one opencv flavour; cv2 imports", needs=("numpy.version",)),
    CheckSpec("xtcocotools.abi", "xtcocotools loads against this numpy", needs=("numpy.version",)),
    CheckSpec("torch.import", "torch imports; version and CUDA build vs the plan"),
    CheckSpec("torch.device", "torch sees the device", needs=("torch.import",)),
    CheckSpec("torch.arch", "the GPU's architecture is compiled into torch", needs=("torch.device",)),
    CheckSpec("torch.matmul", "a matmul on the device", needs=("torch.device",)),
    # in the stack group: mmcv/mmdet/mmpose.models never import torchvision, so it adds ~0.7 s of import; a group of
    # its own would overlap on the second core but import torch twice, which measured slower on the shared 2-core
    # machine (bench/bench_verify.py, docs/PERFORMANCE.md)
    CheckSpec("torchvision.import", "torchvision imports and runs nms beside this torch", needs=("torch.import",)),
    CheckSpec("mmcv.ext", "full mmcv (mmcv._ext), not mmcv-lite", needs=("numpy.version", "opencv.flavour")),
    CheckSpec("mmcv.abi", "mmcv._ext was built for the installed torch", needs=("mmcv.ext", "torch.import")),
    CheckSpec("mmcv.version", "mmcv inside mmpose's and mmdet's version guards"),
    CheckSpec("mmcv.ops", "nms, roi_align, MultiScaleDeformableAttention run on the device",
              needs=("mmcv.abi", "torch.device")),
    CheckSpec("mm.imports", "mmengine, mmcv.ops, mmdet.models, mmpose.models import",
              needs=("numpy.version", "opencv.flavour", "setuptools.version", "torchvision.import", "mmcv.abi",
                     "mmcv.version")),
    # PoseLocalVisualizer lives in mmpose.visualization, which imports torchvision
    CheckSpec("registry.types", "every type= of the training config resolves",
              needs=("mm.imports", "torchvision.import")),
    CheckSpec("checkpoint.roundtrip", "Runner checkpoint save + resume under this torch",
              needs=("torch.import", "opencv.flavour")),
    CheckSpec("mim.list", "mim list (optional)", required=False, runner="command"),
    CheckSpec("data.check", "hoofenv data check of the configured dataset", runner="command"),
]
BY_ID = {c.id: c for c in CHECKS}

# The types the RTMPose configs hoofenv trains use, with where they sit (the registry) and their scope; checked
# when no training config is given or bundled. tests/fixtures/verify/rtmpose_hoof.py is a config with them all.
RTMPOSE_TYPES: list[tuple[str, str, str | None]] = [
    ("model", "TopdownPoseEstimator", None),
    ("model.data_preprocessor", "PoseDataPreprocessor", None),
    ("model.backbone", "CSPNeXt", "mmdet"),
    ("model.backbone.init_cfg", "Pretrained", "mmdet"),
    ("model.neck", "CSPNeXtPAFPN", "mmdet"),
    ("model.head", "RTMCCHead", None),
    ("model.head.loss", "KLDiscretLoss", None),
    ("codec", "SimCCLabel", None),
    ("train_dataloader.dataset", "CocoDataset", None),
    ("train_dataloader.sampler", "DefaultSampler", None),
    ("train_pipeline", "LoadImage", None),
    ("train_pipeline", "GetBBoxCenterScale", None),
    ("train_pipeline", "RandomFlip", None),
    ("train_pipeline", "RandomBBoxTransform", None),
    ("train_pipeline", "TopdownAffine", None),
    ("train_pipeline", "mmdet.YOLOXHSVRandomAug", None),
    ("train_pipeline", "Albumentation", None),
    ("train_pipeline", "GenerateTarget", None),
    ("train_pipeline", "PackPoseInputs", None),
    ("custom_hooks", "EMAHook", None),
    ("custom_hooks", "mmdet.PipelineSwitchHook", None),
    ("val_evaluator", "CocoMetric", None),
    ("val_evaluator", "PCKAccuracy", None),
    ("optim_wrapper", "OptimWrapper", None),
    ("optim_wrapper.optimizer", "AdamW", None),
    ("param_scheduler", "LinearLR", None),
    ("param_scheduler", "CosineAnnealingLR", None),
    ("visualizer", "PoseLocalVisualizer", None),
    ("visualizer.vis_backends", "LocalVisBackend", None),
]


@dataclass
class CheckResult:
    id: str
    ok: bool
    required: bool
    seconds: float
    detail: str
    hint: str | None = None
    status: str = OK  # ok | warn | fail | skip (skip and warn count as ok)
    title: str = ""
    blocked_by: str | None = None
    own: bool = False  # the probe knows this failure is a root cause in itself (never blocked_by)


@dataclass
class Report:
    env: str
    python: str
    plan: str | None
    config: str | None
    checks: list[CheckResult]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks if c.required)

    def get(self, check_id: str) -> CheckResult:
        return next(c for c in self.checks if c.id == check_id)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "env": self.env, "python": self.python, "plan": self.plan, "config": self.config,
                "seconds": self.seconds, "notes": self.notes, "checks": [asdict(c) for c in self.checks]}


def _result(spec: CheckSpec, status: str, detail: str, hint: str | None, seconds: float) -> CheckResult:
    required = spec.required
    ok = status in (OK, SKIP) or (status == WARN)
    if status == FAIL and not required:
        status, ok = WARN, True  # a failed optional check is a warning
    return CheckResult(spec.id, ok, required, round(seconds, 2), detail, hint, status, spec.title)


# ------------------------------------------------------------------------------------------- the probe group


def _tail(path: Path) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-4:])[-STDERR_TAIL:]


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def run_probe(python: str, ids: list[str], args: dict, timeout: float) -> dict[str, CheckResult]:
    """Run probe checks in order in as few processes as possible; a crash or hang fails only its own check."""
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
                proc = subprocess.Popen([python, str(PROBE), str(args_file)], stdout=subprocess.PIPE, stderr=err,
                                        stdin=subprocess.DEVNULL, text=True, start_new_session=True)
            lines: queue.Queue = queue.Queue()

            def pump(stream=proc.stdout, q=lines) -> None:
                for line in stream:
                    q.put(line)
                q.put(None)

            threading.Thread(target=pump, daemon=True).start()
            current, t0, hung = None, time.monotonic(), False
            while True:
                try:
                    line = lines.get(timeout=max(0.1, timeout - (time.monotonic() - t0)))
                except queue.Empty:
                    hung = True
                    _kill(proc)
                    break
                if line is None:
                    break
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if event.get("event") == "start":
                    current, t0 = event["id"], time.monotonic()
                elif event.get("event") == "done":
                    spec = BY_ID[event["id"]]
                    results[spec.id] = _result(spec, event["status"], event["detail"], event.get("hint"),
                                               event["seconds"])
                    results[spec.id].own = bool(event.get("own"))
                    current, t0 = None, time.monotonic()
            code = proc.wait()
            tail = _tail(err_path)
            if current is None and remaining and remaining[0] not in results and not any(
                    i in results for i in remaining):
                # died before announcing a check: the interpreter itself does not start
                why = f"timed out after {timeout:.0f} s" if hung else f"exited {code}"
                for check_id in remaining:
                    spec = BY_ID[check_id]
                    results[check_id] = _result(spec, FAIL, f"the environment's python {why} before any check: "
                                                f"{tail or 'no output'}", "hoofenv install (recreate the env)",
                                                time.monotonic() - t0)
                break
            if current is not None:
                spec = BY_ID[current]
                if hung:
                    detail = f"timed out after {timeout:.0f} s (the check hung; killed)"
                else:
                    how = _signal_name(code) if code < 0 else f"exit status {code}"
                    detail = f"the check process died ({how}) inside this check"
                results[current] = _result(spec, FAIL, detail + (f"; stderr: {tail}" if tail else ""),
                                           "run it alone to see the crash: " + _alone(python, current),
                                           time.monotonic() - t0)
            remaining = [i for i in remaining if i not in results]
    return results


def _alone(python: str, check_id: str) -> str:
    return f"hoofenv verify --python {python} --only {check_id}"


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


# ------------------------------------------------------------------------------------------ command checks


def _run_command(cmd: list[str], timeout: float, env: dict | None = None) -> tuple[int | None, str, float]:
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env=env, start_new_session=True)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout:.0f} s", time.monotonic() - t0
    except OSError as exc:
        return 127, str(exc), time.monotonic() - t0
    return proc.returncode, (proc.stdout + proc.stderr).strip(), time.monotonic() - t0


# `pip check` lines that are deliberate: hoofenv installs mmpose with --no-deps and leaves chumpy out
# (compat-facts: chumpy does not build under PEP 517 and does not import on Python 3.11; mmpose 1.3 never imports it).
KNOWN_GAPS = {
    r"mmpose \S+ requires chumpy, which is not installed\.": "mmpose never imports chumpy; hoofenv leaves it out",
}


def check_pip(python: str, env_label: str, timeout: float) -> CheckResult:
    spec = BY_ID["pip.check"]
    code, out, secs = _run_command([python, "-m", "pip", "check", "--disable-pip-version-check"], timeout,
                                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if code == 0:
        return _result(spec, OK, out.splitlines()[0] if out else "no broken requirements", None, secs)
    if code is None:
        return _result(spec, FAIL, out, f"{python} -m pip check", secs)
    if "No module named pip" in out:
        return _result(spec, FAIL, "pip is not installed in the environment", f"{python} -m ensurepip", secs)
    lines = [line for line in out.splitlines() if line.strip()]
    problems = [line for line in lines if not any(re.fullmatch(k, line) for k in KNOWN_GAPS)]
    ignored = [line for line in lines if line not in problems]
    if not problems:
        why = "; ".join(KNOWN_GAPS[k] for k in KNOWN_GAPS if any(re.fullmatch(k, line) for line in ignored))
        return _result(spec, OK, f"clean apart from a known, deliberate gap: {'; '.join(ignored)} ({why})", None,
                       secs)
    return _result(spec, FAIL, f"{len(problems)} broken requirement(s): " + "; ".join(problems[:5]),
                   f"install the versions named above into the env, or `hoofenv install --env {env_label}`", secs)


def mim_rows(out: str) -> list[str]:
    """Package names from `mim list`'s table. Its output here also carries setuptools 80's pkg_resources
    deprecation warnings (stderr), which are not rows."""
    return [m[1] for m in re.finditer(r"^(\S+)\s+(\d[\w.+!-]*)\s+\S+\s*$", out, re.MULTILINE)]


def check_mim(python: str, timeout: float) -> CheckResult:
    spec = BY_ID["mim.list"]
    code, out, secs = _run_command([python, "-m", "mim", "list"], timeout)
    if code == 0:
        rows = mim_rows(out)
        return _result(spec, OK, "mim lists " + (", ".join(rows) or "no OpenMMLab packages"), None, secs)
    if "No module named mim" in out:
        return _result(spec, FAIL, "openmim is not installed (optional: hoofenv does not need mim)",
                       f"{python} -m pip install openmim==0.3.9  # only if you want mim", secs)
    last = out.splitlines()[-1] if out else f"exit {code}"
    return _result(spec, FAIL, f"mim list failed: {last}",
                   "mim needs pip < 24.1 and setuptools < 81 (open-mmlab/mim#244); hoofenv does not need mim", secs)


def check_data(ann: str, timeout: float) -> CheckResult:
    import importlib.util

    spec = BY_ID["data.check"]
    if importlib.util.find_spec("hoofenv.commands.data") is None:
        res = _result(spec, WARN, "this hoofenv has no `data check` command yet", None, 0.0)
        res.required = False
        return res
    code, out, secs = _run_command([sys.executable, "-m", "hoofenv", "data", "check", ann, "--json"], timeout)
    try:
        payload = json.loads(out[out.index("{"):]) if "{" in out else {}
    except ValueError:
        payload = {}
    if code == 0:
        return _result(spec, OK, f"hoofenv data check {ann}: no errors", None, secs)
    last = out.splitlines()[-1] if out else f"exit {code}"
    summary = payload.get("summary") or (payload.get("error") or {}).get("message") or last
    return _result(spec, FAIL, f"hoofenv data check {ann} found problems: {summary}",
                   f"hoofenv data check {ann}  (then `hoofenv data fix`)", secs)


def run_snippet(python: str, check_id: str, code: str, timeout: float, required: bool = True) -> CheckResult:
    """An extra check: `python -c CODE` in its own process, ok when it exits 0 (used by tests and plugins)."""
    spec = CheckSpec(check_id, check_id, required=required, runner="snippet")
    rc, out, secs = _run_command([python, "-c", code], timeout)
    if rc == 0:
        return _result(spec, OK, out.splitlines()[-1] if out else "exit 0", None, secs)
    how = "timed out" if rc is None else (f"died ({_signal_name(rc)})" if rc < 0 else f"exit {rc}")
    return _result(spec, FAIL, f"{how}: {out.splitlines()[-1] if out else 'no output'}", None, secs)


# ---------------------------------------------------------------------------------------------- the report


def bundled_config() -> Path | None:
    """The RTMPose config `hoofenv train` uses by default, when this hoofenv ships one."""
    here = Path(__file__).resolve().parent
    for folder in (here / "configs", here.parent / "configs"):
        found = sorted(folder.glob("rtmpose*.py")) if folder.is_dir() else []
        if found:
            return found[0]
    return None


def _gpu_present() -> bool:
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg"))


def _blocked(results: dict[str, CheckResult]) -> None:
    def root(check_id: str, seen: frozenset = frozenset()) -> str | None:
        res = results.get(check_id)
        if res is None or res.status != FAIL or check_id in seen:
            return None
        if res.own:
            return check_id
        for need in BY_ID[check_id].needs if check_id in BY_ID else ():
            r = root(need, seen | {check_id})
            if r:
                return r
        return check_id

    for check_id, res in results.items():
        if res.status != FAIL:
            continue
        r = root(check_id)
        if r and r != check_id:
            res.blocked_by = r
            res.hint = f"fix {r} first" + (f": {results[r].hint}" if results[r].hint else "")


def verify(python: str | os.PathLike, *, env_label: str | None = None, plan: dict | None = None,
           plan_source: str | None = None, config: str | None = None, data: str | None = None,
           only: list[str] | None = None, timeout: float = DEFAULT_TIMEOUT, fault: str | None = None,
           extra: list[tuple[str, str]] | None = None) -> Report:
    """Run the checks against the environment whose interpreter is `python`.

    extra: (id, python code) checks run as `python -c CODE`, each in its own process. fault: "CHECK:crash" or
    "CHECK:hang" makes the probe crash or hang at that check (tests; $HOOFENV_VERIFY_FAULT).
    """
    python = str(python)
    env_label = env_label or str(Path(python).parent.parent)
    t0 = time.monotonic()
    config = config or (str(bundled_config()) if bundled_config() else None)
    wanted = [c for c in CHECKS if (only is None or c.id in only) and (c.id != "data.check" or data)]
    groups: dict[str, list[str]] = {}
    for c in wanted:
        if c.runner == "probe":
            groups.setdefault(c.group, []).append(c.id)
    args = {"plan": plan, "config": config, "env": env_label, "checkpoint_module": str(CHECKPOINT_MODULE),
            "gpu_present": _gpu_present(), "fault": fault or os.environ.get("HOOFENV_VERIFY_FAULT"),
            "default_types": RTMPOSE_TYPES}
    results: dict[str, CheckResult] = {}
    lock = threading.Lock()

    def job(fn, *a) -> None:
        try:
            out = fn(*a)
        except Exception as exc:  # noqa: BLE001 - the report must survive its own bugs too
            out = {"verify.internal": CheckResult("verify.internal", False, True, 0.0, f"{type(exc).__name__}: {exc}",
                                                  "report this bug", FAIL, "hoofenv verify itself")}
        with lock:
            results.update(out if isinstance(out, dict) else {out.id: out})

    jobs = []
    for group_ids in groups.values():
        jobs.append((run_probe, python, group_ids, args, timeout))
    ids = {c.id for c in wanted}
    if "pip.check" in ids:
        jobs.append((check_pip, python, env_label, timeout))
    if "mim.list" in ids:
        jobs.append((check_mim, python, timeout))
    if "data.check" in ids:
        jobs.append((check_data, data, timeout))
    for check_id, code in extra or []:
        jobs.append((run_snippet, python, check_id, code, timeout))
    threads = [threading.Thread(target=job, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _blocked(results)
    order = [c.id for c in wanted] + [i for i, _ in extra or []] + ["verify.internal"]
    checks = [results[i] for i in order if i in results]
    notes = []
    if plan is None:
        notes.append("no plan (--plan, or <env>/hoofenv-plan.json from `hoofenv install`): versions are checked "
                     "against the known guards only")
    if config is None and "registry.types" in ids:
        notes.append("no training config (--config): checked the RTMPose types hoofenv trains with")
    return Report(env_label, python, plan_source, config, checks, round(time.monotonic() - t0, 2), notes)


def render(report: Report) -> str:
    width = max([len(c.id) for c in report.checks] + [10])
    lines = [f"hoofenv verify {report.env}", f"  python: {report.python}",
             f"  plan:   {report.plan or 'none'}", f"  config: {report.config or 'none (built-in RTMPose types)'}"]
    lines += [f"  note: {n}" for n in report.notes]
    lines.append("")
    for c in report.checks:
        mark = MARK[c.status]
        lines.append(f"[{mark}] {c.id:<{width}} {c.seconds:6.2f}s  {c.detail}")
        if c.status in (FAIL, WARN) and c.hint:
            lines.append(f"    {' ' * width}          Fix: {c.hint}")
    failed = [c.id for c in report.checks if not c.ok and c.required]
    roots = [c.id for c in report.checks if not c.ok and c.required and not c.blocked_by]
    warned = [c.id for c in report.checks if c.status == WARN]
    lines.append("")
    if not failed:
        lines.append(f"• All {len(report.checks)} checks passed in {report.seconds:.1f} s"
                     + (f" ({len(warned)} warning{'s' if len(warned) != 1 else ''}: {', '.join(warned)})." if warned
                        else "."))
    else:
        lines.append(f"✗ {len(failed)} of {len(report.checks)} required checks failed in {report.seconds:.1f} s; "
                     f"root cause{'s' if len(roots) != 1 else ''}: {', '.join(roots)}.")
    return "\n".join(lines)
