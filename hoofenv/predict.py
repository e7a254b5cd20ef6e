"""`hoofenv predict`: top-down inference with a hoofenv checkpoint, in the managed env (_predict_runner.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hoofenv.errors import HoofenvError, UsageError
from hoofenv.train import TrainOptions, stack_python

RUNNER = Path(__file__).resolve().parent / "_predict_runner.py"


def find_config(ckpt: Path, config: str | None) -> Path:
    """The rendered config beside the checkpoint (WORK_DIR/config.py), unless given."""
    if config:
        path = Path(config).expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"--config {config}: no such file")
        return path
    cand = ckpt.parent / "config.py"
    if not cand.is_file():
        raise UsageError(f"no config.py beside {ckpt}",
                         hint="pass --config WORK_DIR/config.py (the one `hoofenv train` rendered)")
    return cand


def predict(ckpt: str, images: list[str], out: str, bboxes: str | None = None, config: str | None = None,
            env: str | None = None, python: str | None = None, device: str = "cpu", export: str | None = None,
            trust_checkpoint: bool = False) -> Path:
    ckpt_path = Path(ckpt).expanduser()
    if not ckpt_path.is_file():
        raise UsageError(f"{ckpt}: no such checkpoint")
    cfg = find_config(ckpt_path.resolve(), config)
    missing = [i for i in images if not Path(i).is_file()]
    if missing:
        raise UsageError(f"{len(missing)} image(s) not found", causes=missing[:5])
    if bboxes and not Path(bboxes).is_file():
        raise UsageError(f"--bboxes {bboxes}: no such file")
    if export not in (None, "onnx"):
        raise UsageError(f"--export {export}: only onnx")
    py = stack_python(TrainOptions(data="", env=env, python=python))
    # a checkpoint in a hoofenv work dir (config.py beside it) is our own; anything else keeps weights_only
    own = (ckpt_path.resolve().parent / "config.py").is_file() and config is None
    argv = [str(py), str(RUNNER), str(cfg), str(ckpt_path.resolve()), *[str(Path(i).resolve()) for i in images],
            "-o", str(Path(out).resolve()), "--device", device]
    if bboxes:
        argv += ["--bboxes", str(Path(bboxes).resolve())]
    if trust_checkpoint:
        argv.append("--trust-checkpoint")
    if own:
        argv.append("--own")
    if export == "onnx":
        argv.append("--export-onnx")
    proc = subprocess.run(argv, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("[hoofenv] "):
            print(line[len("[hoofenv] "):])
    if proc.returncode == 4:
        raise HoofenvError(f"torch refused to load {ckpt} with weights_only=True",
                           causes=["it is not in a hoofenv work dir and holds Python objects beyond tensors"],
                           hint="pass --trust-checkpoint if you trust where it came from", code="checkpoint-refused")
    if proc.returncode != 0:
        tail = [t for t in (proc.stdout + proc.stderr).splitlines() if t.strip()][-12:]
        raise HoofenvError(f"prediction failed (exit {proc.returncode})", causes=tail, code="predict-failed")
    return Path(out)
