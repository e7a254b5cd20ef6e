"""`hoofenv config check`: an MMPose 1.x config -- the user's own or hoofenv's rendered template -- judged before
training. The config is loaded inside the managed env (hoofenv/inenv/config_probe.py: MMEngine's Config, so `_base_`
and `read_base()` work); this module never imports torch or mmengine. It judges the facts the probe reports and
returns findings in `data check`'s shape: code, severity, the config key, a message and the edit that fixes it.

What MMPose does with each problem is the reason it is here: a loader without metainfo falls back to its class's
keypoints (COCO's 17 for CocoDataset) and fails with index errors; an encoder whose sigma differs from the head's
decoder trains targets the decoder reads differently; RandomFlip without swap pairs teaches left as right; relative
paths resolve against whatever folder training starts in; and so on (docs/config.md has the list).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.inenv import protocol
from hoofenv.machine import inenv
from hoofenv.paths import cache_root

ERROR, WARNING, INFO = "error", "warning", "info"

# code -> (severity, what it means); docs/config.md explains each
CODES: dict[str, tuple[str, str]] = {
    "config-load": (ERROR, "MMEngine cannot load the config"),
    "metainfo-missing": (ERROR, "a dataset without metainfo falls back to its class's keypoints"),
    "metainfo-head": (ERROR, "the metainfo's keypoint count differs from the head's out_channels"),
    "metainfo-annotations": (ERROR, "the metainfo's keypoint count differs from the annotations' categories"),
    "metainfo-sigmas": (ERROR, "the metainfo's sigmas are not one per keypoint (CocoMetric cannot broadcast)"),
    "metainfo-invalid": (ERROR, "the metainfo file does not load or defines no dataset_info"),
    "codec-mismatch": (ERROR, "a GenerateTarget encoder or the head differs from the head's decoder"),
    "input-size-mismatch": (ERROR, "TopdownAffine's input_size differs from the codec's"),
    "flip-without-swap": (ERROR, "flipping with left/right keypoints that have no swap partner"),
    "half-body-inert": (WARNING, "RandomHalfBody never fires with these keypoints"),
    "switch-never": (WARNING, "PipelineSwitchHook switches at or after max_epochs: stage 2 never runs"),
    "stage2-unused": (WARNING, "a stage-2 pipeline that no PipelineSwitchHook switches to"),
    "scheduler-beyond-max-epochs": (WARNING, "a param_scheduler ends or starts beyond max_epochs"),
    "best-not-saved": (WARNING, "save_best unset with max_keep_ckpts=1: the best model is lost"),
    "relative-path": (WARNING, "a relative path depends on the folder training starts in"),
    "path-missing": (ERROR, "a path the config names does not exist here"),
    "path-not-writable": (ERROR, "work_dir cannot be created here"),
    "val-test-images-differ": (WARNING, "val and test read the same ann_file from different image folders"),
    "custom-import-failed": (ERROR, "a custom_imports module does not import in the env"),
    "type-unresolved": (ERROR, "a type= that no registry resolves"),
    "needs-server": (WARNING, "a vis backend or URL that needs a server or an account"),
    "checkpoint-cached": (INFO, "a pretrained checkpoint is in torch's hub cache"),
    "checkpoint-downloadable": (INFO, "a pretrained checkpoint is not cached but its URL answers (--online)"),
    "checkpoint-not-cached": (WARNING, "a pretrained checkpoint is not cached: training downloads it (network)"),
    "checkpoint-unavailable": (ERROR, "a pretrained checkpoint is neither cached nor downloadable"),
    "syncbn-single-device": (INFO, "SyncBN on one device: MMEngine reverts it to BatchNorm"),
}


@dataclass
class ConfigFinding:
    code: str
    severity: str
    key: str
    message: str
    hint: str
    details: list[str] = field(default_factory=list)


@dataclass
class ConfigReport:
    config: str
    ok: bool
    findings: list[ConfigFinding] = field(default_factory=list)
    types: int = 0
    registry_source: str | None = None
    seconds: float = 0.0
    rendered: str | None = None

    @property
    def errors(self) -> list[ConfigFinding]:
        return [f for f in self.findings if f.severity == ERROR]


@dataclass
class Job:
    """One config for the probe: `data` substituted, `overrides` merged, paths made absolute, dumped to render_to."""

    config: str
    data: str | None = None
    overrides: dict = field(default_factory=dict)
    absolute: bool = False
    render_to: str | None = None
    training: bool = False  # hoofenv sets work_dir itself: the config's own is not judged


def registry_cache(python: str | os.PathLike) -> Path:
    digest = hashlib.sha256(os.path.realpath(python).encode()).hexdigest()[:12]
    return cache_root() / "config-check" / f"registry-{digest}.json"


def run_probe(python: str | os.PathLike, jobs: list[Job], cwd: str | os.PathLike | None = None,
              timeout: float = 900, env: dict | None = None) -> list[dict]:
    """The facts of each job, from one process in the env."""
    with tempfile.TemporaryDirectory(prefix="hoofenv-config-") as tmp:
        args = Path(tmp) / "args.json"
        args.write_text(json.dumps({"jobs": [j.__dict__ for j in jobs],
                                    "registry_cache": str(registry_cache(python))}))
        try:
            proc = subprocess.run(inenv.command(python, "config", [str(args)]), capture_output=True, text=True,
                                  timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL,
                                  env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"})
        except subprocess.TimeoutExpired:
            raise HoofenvError(f"examining the config took over {timeout:.0f} s inside the env", code="config-probe",
                               hint=f"hoofenv verify --python {python}") from None
    facts = [e for e in map(protocol.parse, proc.stdout.splitlines()) if e and e["event"] == "config-facts"]
    if proc.returncode != 0 or len(facts) != len(jobs):
        tail = [t for t in (proc.stderr or proc.stdout).splitlines() if t.strip()][-12:]
        raise HoofenvError(f"the config could not be examined inside the env ({python}, exit {proc.returncode})",
                           output=tail, hint=f"hoofenv verify --python {python}", code="config-probe")
    return facts


def check_configs(python: str | os.PathLike, jobs: list[Job], online: bool = False,
                  cwd: str | os.PathLike | None = None, env: dict | None = None) -> list[ConfigReport]:
    facts = run_probe(python, jobs, cwd=cwd, env=env)
    return [judge(f, j, online) for f, j in zip(facts, jobs)]


def check_config(python: str | os.PathLike, config: str | os.PathLike, data: str | None = None,
                 online: bool = False, **job) -> ConfigReport:
    return check_configs(python, [Job(str(Path(config).absolute()), data=data, **job)], online)[0]


def judge(facts: dict, job: Job, online: bool = False) -> ConfigReport:
    """The findings for one config's facts (pure: no env, no network unless `online`)."""
    report = ConfigReport(config=job.config, ok=True, rendered=facts.get("rendered"),
                          registry_source=facts.get("registry_source"),
                          seconds=round(facts.get("load_seconds", 0) + facts.get("registry_seconds", 0), 3))
    out: list[ConfigFinding] = []
    if facts.get("load_error") or facts.get("internal_error"):
        why = facts.get("load_error") or facts.get("internal_error")
        out.append(finding("config-load", "<file>", f"{job.config}: {why}",
                           "fix the line named (a missing _base_ file is named relative to the config's folder)"))
    else:
        from hoofenv.verify import config_rules as rules

        cfg = facts["cfg"]
        report.types = len(facts.get("types") or [])
        for rule in rules.RULES:
            out += rule(cfg, facts, job)
        out += rules.checkpoint_findings(facts, online)
        out += rules.server_findings(cfg, online)
    order = {ERROR: 0, WARNING: 1, INFO: 2}
    report.findings = sorted(out, key=lambda f: (order[f.severity], f.code, f.key))
    report.ok = not report.errors
    return report


def finding(code: str, key: str, message: str, hint: str, details: list[str] | None = None) -> ConfigFinding:
    return ConfigFinding(code, CODES[code][0], key, message, hint, details or [])


def same_value(a, b) -> bool:
    """Config values compared as MMEngine would use them: tuples and lists alike, floats within 1e-6."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-6, abs_tol=1e-9)
    return a == b
