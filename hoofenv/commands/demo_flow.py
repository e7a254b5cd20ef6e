"""`hoofenv demo`: the embedded default. A synthetic hoof dataset, then install (if needed), verify, train briefly,
predict, and say where the pictures are.

Every step after the dataset is another hoofenv command, run as `python -m hoofenv STEP ...` in a subprocess,
exactly as a user would type it, and only when that command exists in this hoofenv (`hoofenv.commands.main.COMMANDS`).
A failing step stops the demo with that step's exit code and the command to re-run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from hoofenv.data import synthetic
from hoofenv.errors import HoofenvError
from hoofenv.machine.environment import Environment
from hoofenv.machine.inenv import tied_to_this_process

# Chosen so that RTMPose-t from scratch reaches PCK@0.1 >= 0.95 on the synthetic val set in a few CPU minutes;
# measured (docs/PERFORMANCE.md, `## demo`): PCK@0.1 0.971, COCO AP 0.51 after 40 epochs trained with RTMPose's
# milder stage-2 augmentation from the first epoch (`train --stage2-epochs`; with the strong stage 1 the same 0.97
# took 60 epochs). The val pictures are unaugmented renders of the same generator, which varies roll, scale and
# colour already: rotations of std 60 deg on top only slowed learning (0.45-0.49 by epoch 25, at 7e-4 or 2e-3).
# One facing: from scratch in minutes a model cannot learn which end is the toe when both occur (synthetic.py).
DEFAULT_FACING = "right"
DEFAULT_N_TRAIN = 240
DEFAULT_N_VAL = 60
DEFAULT_EPOCHS = 40
DEFAULT_BATCH_SIZE = "8"
# The hoof fills ~100 px of a 256 px picture: a 128x128 crop keeps its detail at a quarter of the compute per
# iteration (0.19 s/iter at batch 8 here), which buys the iterations learning from scratch needs. At 256x256,
# 30 epochs of batch 4 reached only PCK@0.1 0.3-0.4.
DEFAULT_INPUT_SIZE = "128x128"
DEFAULT_OUT = Path("data") / "demo"
DEFAULT_WORK_DIR = Path("work_dirs") / "demo"
PREDICT_IMAGES = 4


@dataclass
class StepResult:
    name: str
    status: str  # ok | skipped | failed
    seconds: float = 0.0
    detail: str = ""
    command: list[str] = field(default_factory=list)
    exit_code: int = 0


@dataclass
class DemoResult:
    data_dir: str
    steps: list[StepResult] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    predictions_dir: str | None = None
    pictures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.status in ("ok", "skipped") for s in self.steps)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def _say(quiet: bool, text: str) -> None:
    # Progress goes to stderr so that `--json` keeps stdout for the one JSON object.
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def _hoofenv(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "hoofenv", *args]


def _run_step(result: DemoResult, name: str, args: list[str], quiet: bool, hint: str) -> StepResult:
    cmd = _hoofenv(args)
    _say(quiet, f"==> hoofenv {' '.join(args)}")
    started = time.perf_counter()
    # The child's stdout goes to our stderr: the user sees it live, and our stdout stays clean for --json.
    proc = subprocess.run(cmd, stdout=sys.stderr, stderr=sys.stderr, preexec_fn=tied_to_this_process())
    step = StepResult(name, "ok" if proc.returncode == 0 else "failed", round(time.perf_counter() - started, 1),
                      command=cmd, exit_code=proc.returncode)
    result.steps.append(step)
    if proc.returncode != 0:
        raise DemoStepFailed(result, HoofenvError(
            f"demo step `{name}` failed (exit {proc.returncode})",
            causes=[f"command: hoofenv {' '.join(args)}", "its output is above"],
            hint=hint, code=f"demo-{name}", exit_code=proc.returncode,
        ))
    return step


class DemoStepFailed(Exception):
    """Carries the partial result along with the error, so --json can still report the finished steps."""

    def __init__(self, result: DemoResult, error: HoofenvError):
        super().__init__(error.message)
        self.result = result
        self.error = error


def read_metrics(work_dir: Path) -> dict:
    """The last validation in WORK_DIR/metrics.json (what `hoofenv train` writes): {"epoch", "PCK@0.1", "AP"}."""
    try:
        epochs = json.loads((work_dir / "metrics.json").read_text()).get("epochs", [])
    except (OSError, ValueError, AttributeError, RecursionError):
        return {}
    evaluated = [e for e in epochs if isinstance(e, dict) and isinstance(e.get("metrics"), dict)] \
        if isinstance(epochs, list) else []
    if not evaluated:
        return {}
    last = evaluated[-1]

    def number(value):
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    return {"epoch": number(last.get("epoch")), "PCK@0.1": number(last["metrics"].get("PCK")),
            "AP": number(last["metrics"].get("coco/AP"))}


ANGLE_KEYS = {"hoof mean": "angle/hoof_mae", "hoof p90": "angle/hoof_p90", "pastern mean": "angle/pastern_mae",
              "pastern p90": "angle/pastern_p90", "HPA agreement": "angle/hpa_agreement"}


def read_angle_metrics(work_dir: Path) -> dict:
    """The angle errors of the last validation (degrees; docs/angles.md), under "angles"; {} when there are none."""
    try:
        epochs = json.loads((work_dir / "metrics.json").read_text()).get("epochs", [])
        last = [e for e in epochs if isinstance(e, dict) and isinstance(e.get("metrics"), dict)][-1]["metrics"]
    except (OSError, ValueError, AttributeError, IndexError, TypeError):
        return {}
    found = {k: last[v] for k, v in ANGLE_KEYS.items() if isinstance(last.get(v), (int, float))}
    return {"angles": found} if found else {}


def _set_aside(work_dir: Path) -> Path | None:
    """`hoofenv train` refuses a work dir that holds a run: a re-run of the demo keeps the old one beside it."""
    if not (work_dir / "last_checkpoint").exists() and not any(work_dir.glob("*.pth")):
        return None
    k = 1
    while work_dir.with_name(f"{work_dir.name}.{k}").exists():
        k += 1
    target = work_dir.with_name(f"{work_dir.name}.{k}")
    work_dir.rename(target)
    return target


def find_checkpoint(work_dir: Path) -> Path | None:
    for pattern in ("best*.pth", "**/best*.pth", "last*.pth", "epoch_*.pth", "**/*.pth"):
        found = sorted(work_dir.glob(pattern), key=lambda p: p.stat().st_mtime)
        if found:
            return found[-1]
    return None


def run(out: Path = DEFAULT_OUT, seed: int = 0, n_train: int = DEFAULT_N_TRAIN, n_val: int = DEFAULT_N_VAL,
        image_size: tuple[int, int] = (256, 256), generate_only: bool = False, env: str | None = None,
        epochs: int = DEFAULT_EPOCHS, work_dir: Path = DEFAULT_WORK_DIR, batch_size: str | None = DEFAULT_BATCH_SIZE,
        train_args: list[str] | None = None, quiet: bool = False, skip_verify: bool = False,
        facing: str = DEFAULT_FACING) -> DemoResult:
    started = time.perf_counter()
    try:
        return _run(started, out, seed, n_train, n_val, image_size, generate_only, env, epochs, work_dir,
                    batch_size, train_args, quiet, skip_verify, facing)
    except DemoStepFailed as failed:
        failed.result.seconds = round(time.perf_counter() - started, 1)
        raise


def _run(started, out, seed, n_train, n_val, image_size, generate_only, env, epochs, work_dir, batch_size,
         train_args, quiet, skip_verify, facing) -> DemoResult:
    out, work_dir = Path(out), Path(work_dir)
    result = DemoResult(data_dir=str(out))
    _say(quiet, f"==> synthetic hoof dataset: {n_train} train + {n_val} val pictures (seed {seed}, "
                f"hooves facing {facing}) -> {out}")
    synthetic.generate(out, n_train=n_train, n_val=n_val, seed=seed, image_size=image_size, facing=facing)
    result.steps.append(StepResult("generate", "ok", round(synthetic.last_duration(), 2),
                                   detail=f"{out}/images, {out}/annotations/{{train,val}}.json"))
    if generate_only:
        result.seconds = round(time.perf_counter() - started, 1)
        return result

    env_args = ["--env", env] if env else []
    environment = Environment.default(env)
    if environment.exists:
        result.steps.append(StepResult("install", "skipped", detail=f"environment exists: {environment.path}"))
    else:  # install verifies on its own by default; the demo's verify step follows, so once is enough
        _run_step(result, "install", ["install", *env_args, "--no-verify"], quiet,
                  hint="hoofenv doctor  (then: hoofenv install)")
    if skip_verify:
        _say(quiet, "==> verify skipped (--skip-verify)")
        result.steps.append(StepResult("verify", "skipped", detail="--skip-verify"))
    else:
        _run_step(result, "verify", ["verify", *env_args], quiet, hint=f"hoofenv verify {' '.join(env_args)}".strip())
    _train(result, out, work_dir, epochs, batch_size, train_args, env_args, quiet)
    _predict(result, out, work_dir, env_args, quiet)
    result.seconds = round(time.perf_counter() - started, 1)
    return result


def val_interval(epochs: int) -> int:
    """Four validations (MMEngine always validates the last epoch), not one every 5 epochs: enough for the curve."""
    return max(1, epochs // 4)


def _train(result: DemoResult, out: Path, work_dir: Path, epochs: int, batch_size: str | None,
           train_args: list[str] | None, env_args: list[str], quiet: bool) -> None:
    # --skip-verify: verify just ran (or was skipped on purpose); train would run it again as its preflight
    t_args = ["train", "--data", str(out), "--epochs", str(epochs), "--work-dir", str(work_dir),
              "--pretrained", "none", *env_args, "--skip-verify"]
    if batch_size:
        t_args += ["--batch-size", str(batch_size)]
    given = train_args or []
    for flag, value in (("--input-size", DEFAULT_INPUT_SIZE), ("--stage2-epochs", str(epochs)),
                        ("--val-interval", str(val_interval(epochs)))):
        if flag not in given:
            t_args += [flag, value]
    moved = _set_aside(work_dir)
    if moved:
        _say(quiet, f"==> the previous demo run in {work_dir} was moved to {moved}")
    t_args += list(train_args or [])
    _run_step(result, "train", t_args, quiet, hint=f"hoofenv {' '.join(t_args)}")
    result.metrics = read_metrics(work_dir)
    result.metrics.update(read_angle_metrics(work_dir))


def _predict(result: DemoResult, out: Path, work_dir: Path, env_args: list[str], quiet: bool) -> None:
    ckpt = find_checkpoint(work_dir)
    pred_dir = work_dir / "predictions"
    if ckpt is None:
        result.steps.append(StepResult("predict", "failed", detail=f"no checkpoint (*.pth) under {work_dir}",
                                       exit_code=1))
        raise DemoStepFailed(result, HoofenvError(f"training left no checkpoint under {work_dir}",
                                                  hint=f"ls {work_dir}", code="demo-predict"))
    images = sorted((out / "images").glob("val_*"))[:PREDICT_IMAGES]
    # the validation boxes, as a detector would give them: the model was trained on hoof boxes, not whole frames
    p_args = ["predict", str(ckpt), *map(str, images), "-o", str(pred_dir), "--bboxes",
              str(out / "annotations" / "val.json"), *env_args]
    p_args.append("--angles")  # hoof and pastern angles drawn, and in angles.csv
    _run_step(result, "predict", p_args, quiet, hint=f"hoofenv {' '.join(p_args)}")
    result.predictions_dir = str(pred_dir)
    result.pictures = sorted(str(p) for p in pred_dir.rglob("*.png"))


def render(result: DemoResult) -> str:
    lines = [f"demo: {'done' if result.ok else 'incomplete'} in {result.seconds:.0f} s"]
    for s in result.steps:
        extra = f" ({s.detail})" if s.detail else ""
        lines.append(f"  {s.name:<9} {s.status:<11} {s.seconds:>7.1f} s{extra}")
    lines.append(f"dataset:      {result.data_dir}/images, {result.data_dir}/annotations/{{train,val}}.json")
    if result.metrics:
        m = result.metrics
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        lines.append(f"val metrics:  PCK@0.1 {fmt(m.get('PCK@0.1'))}, AP {fmt(m.get('AP'))}"
                     + (f" (epoch {m['epoch']})" if m.get("epoch") is not None else ""))
    angle = result.metrics.get("angles") if result.metrics else None
    if angle:
        deg = lambda k: f"{angle[k]:.1f}°" if k in angle else "n/a"  # noqa: E731
        lines.append(f"angle error:  hoof {deg('hoof mean')} (90th pct {deg('hoof p90')}), pastern "
                     f"{deg('pastern mean')} (90th pct {deg('pastern p90')})"
                     + (f", HPA agreement {angle['HPA agreement']:.2f}" if "HPA agreement" in angle else ""))
    if result.predictions_dir:
        lines.append(f"pictures:     {result.predictions_dir}/ ({len(result.pictures)} PNGs)")
        lines += [f"              {p}" for p in result.pictures[:PREDICT_IMAGES]]
    return "\n".join(lines)
