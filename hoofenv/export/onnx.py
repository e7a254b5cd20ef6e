"""`hoofenv export --onnx` and `hoofenv predict --onnx`: the model as ONNX, and inference in a light env of its own.

Export runs in the training env (inenv/predict_runner.py -> inenv/onnx_export.py). torch.onnx.export needs the
`onnx` package, which the stack does not install: hoofenv adds it on demand at the version compat_matrix.yaml's
`on_demand` section names, with every distribution already in the env held where it is (a constraints file of
their installed versions), so the export can never move numpy or torch.

Inference runs inenv/onnx_runner.py under a python that has numpy, onnxruntime and Pillow and nothing of the
training stack: --python PY, else hoofenv's own interpreter when it has them (`pip install "hoofenv[onnx]"` on a
small machine), else the runtime env hoofenv keeps in its cache folder, made on first use from the same
`on_demand` pins.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from hoofenv.errors import HoofenvError, UsageError
from hoofenv.inenv import protocol
from hoofenv.machine import inenv
from hoofenv.paths import cache_root

# The installer, the matrix and the training modules are imported where they are needed: `predict --onnx` starts
# with none of them (its whole point is a fast start; bench/bench_onnx.py).
Emit = Callable[[dict], None]
RUNTIME_PACKAGES = ("numpy", "onnxruntime", "pillow")  # keys of compat_matrix.yaml `on_demand`
RUNTIME_MODULES = ("numpy", "onnxruntime", "PIL")
INSTALLED = ("import importlib.metadata as m, json\n"
             "print(json.dumps(sorted({d.metadata['Name']: d.version for d in m.distributions()"
             " if d.metadata['Name']}.items())))")


def _requirement(name: str) -> str:
    from hoofenv.stack import matrix

    pin = matrix.load().on_demand.get(name)
    return f"{name}{pin.spec}" if pin else name


def _installer():
    from hoofenv.install.installers import Installer
    from hoofenv.install.sources import sources_from

    return Installer.choose(None, sources_from())


def _run_install(cmd: list[str], what: str, hint: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        tail = [t for t in (proc.stdout + proc.stderr).splitlines() if t.strip()][-12:]
        raise HoofenvError(f"installing {what} failed (exit {proc.returncode})", causes=[f"command: {' '.join(cmd)}"],
                           output=tail, hint=hint, code="onnx-install")


def has_onnx(python: Path) -> bool:
    proc = subprocess.run([str(python), "-c", "import onnx"], capture_output=True, stdin=subprocess.DEVNULL)
    return proc.returncode == 0


def ensure_onnx(python: Path, emit: Emit, install: bool = True) -> None:
    """The onnx package in the training env, installed at the pinned version if absent, the env's other
    distributions held at their installed versions."""
    if has_onnx(python):
        return
    req = _requirement("onnx")
    if not install:
        raise HoofenvError("ONNX export needs the `onnx` package in the training env", causes=[f"{python}: no onnx"],
                           hint=f"hoofenv export ... (without --no-install), or: {python} -m pip install '{req}'",
                           code="onnx-missing")
    found = subprocess.run([str(python), "-c", INSTALLED], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if found.returncode != 0:
        raise HoofenvError(f"cannot list the distributions of {python}", output=found.stderr.splitlines()[-8:],
                           code="env-python")
    emit({"event": "installing", "what": req, "into": str(python)})
    with tempfile.TemporaryDirectory(prefix="hoofenv-onnx-") as tmp:
        held = Path(tmp) / "held.txt"
        held.write_text("".join(f"{name}=={version}\n" for name, version in json.loads(found.stdout)))
        _run_install(_installer().install_cmd(python, [req], constraints=[held]), req,
                     hint=f"{python} -m pip install '{req}'   (then run the export again)")
    emit({"event": "installed", "what": req, "into": str(python)})


def export(ckpt: str, out: str, config: str | None = None, env: str | None = None, python: str | None = None,
           device: str = "cpu", trust_checkpoint: bool = False, install: bool = True, emit: Emit | None = None) -> Path:
    """CKPT -> OUT.onnx with the metadata onnx_runner reads; returns OUT."""
    from hoofenv.train.checkpoints import EVENTS, checkpoint_error
    from hoofenv.train.options import TrainOptions
    from hoofenv.train.predict import find_config
    from hoofenv.train.preflight import stack_python

    emit = emit or (lambda e: None)
    ckpt_path = Path(ckpt).expanduser()
    if not ckpt_path.is_file():
        raise UsageError(f"{ckpt}: no such checkpoint")
    target = Path(out).expanduser().resolve()
    if target.suffix != ".onnx":
        raise UsageError(f"--onnx {out}: the file name must end in .onnx", hint=f"--onnx {target.with_suffix('.onnx')}")
    cfg = find_config(ckpt_path.resolve(), config, f"hoofenv export {ckpt} --onnx {out}")
    py = stack_python(TrainOptions(data="", env=env, python=python))
    ensure_onnx(py, emit, install)
    args = [str(cfg), str(ckpt_path.resolve()), "-o", str(target.parent), "--device", device,
            "--export-onnx", str(target)]
    if trust_checkpoint:
        args.append("--trust-checkpoint")
    lines: list[str] = []
    reasons: list[str] = []
    refused: list[dict] = []

    def on_event(event: dict) -> None:
        if event["event"] in EVENTS:
            refused.append(event)
        elif event["event"] == "export-unsupported":
            reasons.append(str(event.get("message")))
        emit(event)

    rc = inenv.stream(inenv.command(py, "predict", args), on_event, lambda text: lines.append(text) and None)
    refusal = checkpoint_error(rc, refused[-1] if refused else None,
                               f"hoofenv export {ckpt} --onnx {out} --trust-checkpoint")
    if refusal:
        raise refusal
    if rc == protocol.EXIT_USAGE and reasons:
        raise UsageError(f"cannot export {ckpt} for the ONNX runner", causes=reasons, code="export-failed")
    if rc != protocol.EXIT_OK or not target.is_file():
        raise HoofenvError(f"ONNX export failed (exit {rc})", causes=reasons,
                           output=[t for t in lines if t.strip()][-12:], code="export-failed")
    return target


# ------------------------------------------------------------------------------------------------- runtime env
def runtime_env_dir() -> Path:
    return cache_root() / "onnx-runtime" / "env"


def _own_interpreter_has_runtime() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in RUNTIME_MODULES)


def runtime_python(python: str | None, emit: Emit) -> Path:
    """The interpreter that runs onnx_runner.py (module docstring says which)."""
    if python:
        path = Path(python).expanduser()
        if not path.exists():
            raise UsageError(f"--python {python} does not exist")
        return path.absolute()
    if _own_interpreter_has_runtime():
        return Path(sys.executable)
    env = runtime_env_dir()
    py = env / "bin" / "python"
    if py.exists():
        return py
    reqs = [_requirement(n) for n in RUNTIME_PACKAGES]
    emit({"event": "installing", "what": ", ".join(reqs), "into": str(env)})
    installer = _installer()
    staging = env.with_name(env.name + ".partial")
    if staging.exists():  # a run that stopped half-way (ours: only hoofenv makes this folder)
        import shutil

        shutil.rmtree(staging)
    hint = f'pip install "hoofenv[onnx]"   (or: hoofenv predict --onnx ... --python PY with {", ".join(reqs)})'
    _run_install(installer.venv_cmd(sys.executable, staging), "the ONNX runtime env", hint)
    _run_install(installer.install_cmd(staging / "bin" / "python", reqs), ", ".join(reqs), hint)
    staging.rename(env)  # a half-made env never takes the place of a working one
    emit({"event": "installed", "what": ", ".join(reqs), "into": str(env)})
    return py


def predict_onnx(model: str, images: list[str], out: str, bboxes: str | None = None, python: str | None = None,
                 angles: str | None = None, threads: int = 0, emit: Emit | None = None):
    """onnx_runner.py over IMAGES: DIR/predictions.json and DIR/NAME.png, as the PyTorch path writes them.
    Returns the train.predict.PredictRun of what the runner reported."""
    from hoofenv.train.predict import PredictRun

    emit = emit or (lambda e: None)
    model_path = Path(model).expanduser()
    if not model_path.is_file():
        raise UsageError(f"--onnx {model}: no such file")
    missing = [i for i in images if not Path(i).is_file()]
    if missing:
        raise UsageError(f"{len(missing)} image(s) not found", causes=missing[:5])
    if bboxes and not Path(bboxes).is_file():
        raise UsageError(f"--bboxes {bboxes}: no such file")
    py = runtime_python(python, emit)
    run = PredictRun(Path(out).resolve())
    args = [str(model_path.resolve()), *[str(Path(i).resolve()) for i in images], "-o", str(run.out)]
    args += ["--bboxes", str(Path(bboxes).resolve())] if bboxes else []
    args += ["--angles", angles] if angles else []
    args += ["--threads", str(threads)] if threads else []
    lines: list[str] = []
    notes: list[dict] = []

    def on_event(event: dict) -> None:
        if event["event"] in ("missing-package", "model-unreadable"):
            notes.append(event)

    collect = run.collect(lambda e: (on_event(e), emit(e)))
    rc = inenv.stream(inenv.command(py, "onnx", args), collect, lambda text: lines.append(text) and None)
    if rc != protocol.EXIT_OK:
        raise _runner_error(rc, py, model, run, notes, lines)
    return run


def _runner_error(rc: int, py: Path, model: str, run, notes: list[dict], lines: list[str]):
    kinds = {n["event"]: n for n in notes}
    if rc == protocol.EXIT_MISSING_PACKAGE and "missing-package" in kinds:
        return HoofenvError(f"{py} lacks {kinds['missing-package']['package']}",
                            causes=["predict --onnx runs with numpy, onnxruntime and Pillow"],
                            hint=f"{py} -m pip install {' '.join(_requirement(n) for n in RUNTIME_PACKAGES)}",
                            code="onnx-runtime-missing")
    if "model-unreadable" in kinds:
        return UsageError(f"--onnx {model}: {kinds['model-unreadable']['message']}",
                          hint="export it with: hoofenv export CKPT --onnx MODEL.onnx", code="onnx-model")
    if run.unfit:
        return UsageError(f"--angle-points: {run.unfit}", hint="hoofenv predict ... --angles --angle-points "
                                                               "toe=NAME,heel=NAME,hoof_top=NAME,pastern_low=NAME,"
                                                               "pastern_high=NAME", code="angles-unfit")
    if run.bad_input:
        return UsageError(run.bad_input)
    return HoofenvError(f"ONNX prediction failed (exit {rc})", output=[t for t in lines if t.strip()][-12:],
                        code="predict-failed")
