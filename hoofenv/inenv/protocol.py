"""The one protocol between hoofenv and what it runs inside the managed env. Both sides import this module, so
it holds standard library only.

An in-env program (verify, train, predict) reports back with lines on its stdout that start with MARK and hold
one JSON object with an "event" key; every other line is the stack's own output (MMEngine's log) and is passed
through untouched. Its exit status says how it ended (EXIT_*). Nothing else crosses: no argv conventions beyond
the launcher's, no sniffing of MMEngine's messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MARK = "[hoofenv] "

# How an in-env program ends.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_OOM = 3  # CUDA out of memory: the caller may halve the batch
EXIT_CHECKPOINT_REFUSED = 4  # torch's weights_only load refused a checkpoint (event `checkpoint-refused`)
EXIT_MISSING_PACKAGE = 5  # an optional package (onnx) is absent; what could be done was done
EXIT_NOT_A_CHECKPOINT = 6  # a file given as a checkpoint is not one (event `not-a-checkpoint`)

# A check's outcome; skip and warn count as passed.
OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"
STATUSES = (OK, WARN, FAIL, SKIP)

# Entry points of the launcher: name -> module of this package with a main(argv) -> int.
ENTRIES = {"verify": "verify_probe", "train": "train_runner", "predict": "predict_runner", "config": "config_probe",
           "onnx": "onnx_runner"}  # onnx: the light env of `hoofenv predict --onnx`: numpy, onnxruntime, Pillow only

# `hoofenv train --track mlflow`: MMEngine's MLflowVisBackend with metric names MLflow accepts, registered by the
# train runner and named in the rendered config
MLFLOW_BACKEND = "HoofenvMLflowVisBackend"

OPENCV_FLAVOURS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python",
                   "opencv-contrib-python-headless")


def event(kind: str, **fields) -> str:
    """The line that reports `kind` with `fields` (JSON-serialisable) to hoofenv."""
    return MARK + json.dumps({"event": kind, **fields}, default=str)


def emit(kind: str, stream=None, **fields) -> None:
    import sys

    out = stream or sys.stdout
    out.write(event(kind, **fields) + "\n")
    out.flush()


def parse(line: str) -> dict | None:
    """The event a line carries, or None for the stack's own output (a marker line that is not JSON included)."""
    if not line.startswith(MARK):
        return None
    try:
        data = json.loads(line[len(MARK):])
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("event"), str) else None


@dataclass(frozen=True)
class CheckSpec:
    """One verify check. `runner`: probe (a function `check_<id with . as _>` of verify_probe, run in the env),
    host (hoofenv runs it from its own process: `pip check`, `mim list`, the data check), or snippet. `needs`: checks whose failure explains this
    one's. Probe checks of one `group` share one process and its imports."""

    id: str
    title: str
    required: bool = True
    runner: str = "probe"
    needs: tuple[str, ...] = ()
    group: str = "stack"

    @property
    def function(self) -> str:
        return "check_" + self.id.replace(".", "_")


# In probe order: the cheap checks first, then what builds on them.
CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("python.version", "Python version vs the plan"),
    CheckSpec("pip.check", "pip check is clean", runner="host"),
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
    CheckSpec("mim.list", "mim list (optional)", required=False, runner="host"),
    CheckSpec("data.check", "hoofenv data check of the configured dataset", runner="host"),
)
BY_ID = {c.id: c for c in CHECKS}
