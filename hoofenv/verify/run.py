"""`hoofenv verify`: prove that an installed environment can train, one check at a time, each with a stable id.

The probe checks (protocol.CHECKS) run inside the target environment through the in-env launcher, grouped so that
checks sharing imports (torch, mmcv, mmdet, mmpose) run in ONE process and the whole report costs about one import
of the stack (supervisor.py isolates a crash or a hang to its own check); `pip check`, `mim list`, the data check
and snippet checks run beside it (host_checks.py). A failed check whose prerequisite failed too carries
`blocked_by` with the root cause and that root's hint (report.py), so one broken package shows as one root failure
plus its consequences, not as a wall of unrelated errors.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from hoofenv.errors import UsageError
from hoofenv.inenv.protocol import BY_ID, CHECKS, FAIL
from hoofenv.machine.probe import driver_present
from hoofenv.paths import bundled_config
from hoofenv.verify.host_checks import check_data, check_mim, check_pip, run_snippet
from hoofenv.verify.report import CheckResult, Report, link_root_causes
from hoofenv.verify.supervisor import run_probe

DEFAULT_TIMEOUT = 120.0  # seconds per check: a cold import of the stack without .pyc files takes ~12 s here
FAULT_ENV = "HOOFENV_VERIFY_FAULT"  # test seam: "CHECK:crash" or "CHECK:hang"

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




def default_specs() -> dict[str, str]:
    """The requirement of each OpenMMLab package hoofenv installs (its matrix), for hints without a plan."""
    from hoofenv.stack import matrix

    return {name: f"{name}=={pkg.version}" for name, pkg in matrix.load().packages.items() if pkg.version}


def _fault_from_env() -> str | None:
    value = os.environ.get(FAULT_ENV)
    if not value:
        return None
    check, _, kind = value.partition(":")
    if check not in BY_ID or kind not in ("crash", "hang"):
        raise UsageError(f"${FAULT_ENV}={value!r}: expected CHECK:crash or CHECK:hang with a check id",
                         hint=f"it is a test seam: unset it (`unset {FAULT_ENV}`); check ids: {', '.join(BY_ID)}")
    return value


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
    config = config or str(bundled_config())
    wanted = [c for c in CHECKS if (only is None or c.id in only) and (c.id != "data.check" or data)]
    ids = {c.id for c in wanted}
    args = {"plan": plan, "config": config, "env": env_label, "gpu_present": driver_present(),
            "fault": fault or _fault_from_env(), "default_types": RTMPOSE_TYPES,
            "default_specs": default_specs()}
    jobs: list[tuple] = []
    groups: dict[str, list[str]] = {}
    for c in wanted:
        if c.runner == "probe":
            groups.setdefault(c.group, []).append(c.id)
    jobs += [(run_probe, python, group_ids, args, timeout) for group_ids in groups.values()]
    if "pip.check" in ids:
        jobs.append((check_pip, python, env_label, timeout))
    if "mim.list" in ids:
        jobs.append((check_mim, python, timeout))
    if "data.check" in ids:
        jobs.append((check_data, data))
    jobs += [(run_snippet, python, check_id, code, timeout) for check_id, code in extra or []]
    results = _run_jobs(jobs)
    link_root_causes(results)
    order = [c.id for c in wanted] + [i for i, _ in extra or []] + ["verify.internal"]
    notes = []
    if plan is None:
        notes.append("no plan (--plan, or <env>/hoofenv-plan.json from `hoofenv install`): versions are checked "
                     "against the known guards only")
    return Report(env_label, python, plan_source, config, [results[i] for i in order if i in results],
                  round(time.monotonic() - t0, 2), notes)


def _run_jobs(jobs: list[tuple]) -> dict[str, CheckResult]:
    """Each job in a thread of its own (they wait on subprocesses); one that raises becomes `verify.internal`."""
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

    threads = [threading.Thread(target=job, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
