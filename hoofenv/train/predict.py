"""`hoofenv predict`: top-down inference with a hoofenv checkpoint, in the managed env (inenv/predict_runner.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from hoofenv.errors import HoofenvError, UsageError
from hoofenv.inenv import protocol
from hoofenv.machine import inenv
from hoofenv.train import rendered
from hoofenv.train.checkpoints import EVENTS, checkpoint_error
from hoofenv.train.options import TrainOptions
from hoofenv.train.preflight import stack_python


def find_config(ckpt: Path, config: str | None, command: str = "hoofenv predict CKPT IMAGES") -> Path:
    """The config given, else the one `hoofenv train` rendered beside the checkpoint (WORK_DIR/config.py) when its
    record says hoofenv wrote it: MMEngine runs a config as Python, so a config.py found beside a checkpoint from
    elsewhere runs only when the user names it. COMMAND: what the user ran, for the hint that adds --config."""
    if config:
        path = Path(config).expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"--config {config}: no such file")
        return path
    cand = ckpt.parent / "config.py"
    if not cand.is_file():
        raise UsageError(f"no config.py beside {ckpt}",
                         hint="pass --config WORK_DIR/config.py (the one `hoofenv train` rendered)")
    return rendered.config_beside(ckpt, f"{command} --config {cand}")


def predict(ckpt: str, images: list[str], out: str, bboxes: str | None = None, config: str | None = None,
            env: str | None = None, python: str | None = None, device: str = "cpu", export: str | None = None,
            trust_checkpoint: bool = False, emit: Callable[[dict], None] | None = None,
            angles: str | None = None) -> Path:
    """`angles`: "auto" or a JSON object of role -> keypoint name: draw the hoof angles on the pictures."""
    emit = emit or (lambda e: None)
    ckpt_path = Path(ckpt).expanduser()
    if not ckpt_path.is_file():
        raise UsageError(f"{ckpt}: no such checkpoint")
    cfg = find_config(ckpt_path.resolve(), config, f"hoofenv predict {ckpt} IMAGES")
    missing = [i for i in images if not Path(i).is_file()]
    if missing:
        raise UsageError(f"{len(missing)} image(s) not found", causes=missing[:5])
    if bboxes and not Path(bboxes).is_file():
        raise UsageError(f"--bboxes {bboxes}: no such file")
    if export not in (None, "onnx"):
        raise UsageError(f"--export {export}: only onnx")
    py = stack_python(TrainOptions(data="", env=env, python=python))
    args = [str(cfg), str(ckpt_path.resolve()), *[str(Path(i).resolve()) for i in images],
            "-o", str(Path(out).resolve()), "--device", device]
    args += ["--angles", angles] if angles else []
    if bboxes:
        args += ["--bboxes", str(Path(bboxes).resolve())]
    if trust_checkpoint:
        args.append("--trust-checkpoint")
    if export == "onnx":
        args.append("--export-onnx")
    lines: list[str] = []
    refused: list[dict] = []

    def on_event(event: dict) -> None:
        if event["event"] in EVENTS:
            refused.append(event)
        emit(event)

    def keep(text: str) -> None:
        lines.append(text)

    rc = inenv.stream(inenv.command(py, "predict", args), on_event, keep)
    refusal = checkpoint_error(rc, refused[-1] if refused else None,
                               f"hoofenv predict {ckpt} IMAGES... -o {out} --trust-checkpoint")
    if refusal:
        raise refusal
    if rc == protocol.EXIT_MISSING_PACKAGE:
        raise HoofenvError("ONNX export needs the `onnx` package in the training env (predictions were written)",
                           hint=f"{py} -m pip install onnx", code="onnx-missing")
    if rc != protocol.EXIT_OK:
        raise HoofenvError(f"prediction failed (exit {rc})", output=[t for t in lines if t.strip()][-12:],
                           code="predict-failed")
    return Path(out)


@dataclass
class PredictRun:
    """What a predict runner (PyTorch or ONNX) reported: the `image` and `predicted` events of results.py."""

    out: Path
    backend: str = ""
    keypoints: list[str] = field(default_factory=list)
    skeleton: list[list[int]] = field(default_factory=list)
    category: str = "hoof"
    images: list[dict] = field(default_factory=list)  # image_id, path, width, height, instances, seconds
    seconds_per_image: float | None = None
    unfit: str | None = None  # the runner's `angles-unfit` message
    bad_input: str | None = None  # the runner's `bad-boxes` message, or the picture it could not read

    def collect(self, emit: Callable[[dict], None]) -> Callable[[dict], None]:
        """An event callback that keeps what this run needs and passes every event on to `emit`."""

        def on_event(event: dict) -> None:
            kind = event.get("event")
            if kind == "image":
                self.images.append({k: event.get(k) for k in ("image_id", "path", "width", "height", "instances",
                                                               "seconds")})
            elif kind == "predicted":
                self.backend = str(event.get("backend", ""))
                self.keypoints = list(event.get("keypoints") or [])
                self.skeleton = list(event.get("skeleton") or [])
                self.category = str(event.get("category") or "hoof")
                self.seconds_per_image = event.get("seconds_per_image")
            elif kind == "angles-unfit":
                self.unfit = str(event.get("message"))
            elif kind == "bad-boxes":
                self.bad_input = f"--bboxes {event.get('message')}"
            elif kind == "unreadable":
                self.bad_input = f"{event.get('image')}: not a picture that can be read"
            emit(event)

        return on_event
