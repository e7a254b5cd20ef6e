"""One error type for everything hoofenv refuses or fails at, rendered like uv's diagnostics.

    error: step `mmcv 2.1.0 (binary only)` failed (exit 1)
      Caused by: command: uv pip install ...
      Caused by: the env in use was not changed

      output (last 3 lines):
        × No solution found when resolving dependencies:
        ╰─▶ Because there is no version of mmcv==2.1.0 ...

    hint: hoofenv install --mmcv-source build

What failed, the causal chain, a failing subprocess's own output in an indented block of its own, a blank line,
then `hint:` with the exact command. Every `code` is registered in CODES (a test holds the package to it), so a
script reading `--json` can rely on the set; a family such as `step-failed:NAME` is registered by its prefix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

USAGE = 2  # a flag, argument, file or variable the user gave is wrong: nothing was done
PROBLEM = 1  # the input was understood, and hoofenv found a problem or refused

# code -> what it means. Families (`step-failed:`) end with a colon.
CODES: dict[str, str] = {
    "error": "an unclassified failure",
    "usage": "a flag, argument or variable is wrong",
    "os-error": "the filesystem refused (full disk, permissions, a folder where a file belongs)",
    # machine facts and the matrix
    "facts-unreadable": "the --facts file cannot be read",
    "facts-invalid": "the --facts file is not valid facts JSON",
    "bad-cuda-tag": "a CUDA tag is not `cpu` or `cuXYZ`",
    "bad-driver-version": "an NVIDIA driver version does not parse",
    "bad-compute-capability": "a compute capability does not parse",
    "bad-python": "a Python version does not parse",
    "python-override": "--python names a version the stack cannot run on",
    "matrix-unreadable": "compat_matrix.yaml cannot be read",
    "matrix-invalid": "compat_matrix.yaml breaks its schema",
    "plan-invalid": "a plan file is not a hoofenv plan",
    "plan-refused": "the plan is refused: nothing to install",
    # install
    "no-uv": "--installer uv without uv",
    "no-python": "the plan's Python cannot be obtained",
    "system-python": "--current on a system Python",
    "env-protected": "the env path is a system folder or holds the project, home, the running Python or the cache",
    "env-not-hoofenv": "something hoofenv did not make is at the env path (or its stage folder): refused, untouched",
    "disk-full": "not enough free disk for the install",
    "no-mmcv-wheel": "no mmcv wheel to use",
    "build-no-wheel": "the mmcv build wrote no wheel",
    "build-no-ops": "the mmcv build wrote a wheel without its compiled ops (never cached)",
    "build-compile-failed": "the mmcv compile failed (the first compiler error and the likely fix)",
    "sdist-unsafe": "the mmcv sdist is not a plain archive of one folder",
    "sdist-patch": "a matrix patch no longer applies to the mmcv sdist",
    "toolchain-missing": "the build venv lacks the PyPI nvcc the plan installs",
    "step-failed:": "an install step failed (the suffix names the step)",
    "interrupted": "interrupted by the user",
    "mismatch": "the finished env does not match the plan",
    "no-lock": "--locked without a lock file",
    "lock-invalid": "the lock file is not a hoofenv lock",
    "lock-drift": "--locked, and the plan computed now differs from the lock",
    "source-unreachable": "a package source an install step needs does not answer (named, with how it failed)",
    # environments, verify, train, predict
    "env-missing": "no environment at the given place",
    "no-env": "no managed environment to train in",
    "env-python": "the environment's python cannot run",
    "verify": "hoofenv verify failed for the training env",
    "data-layout": "the dataset folder lacks annotations/{train,val}.json or images/",
    "data-check": "the data check found errors that would break training",
    "no-resume": "--resume without a run to continue",
    "work-dir-used": "the work dir already holds a run",
    "pretrained-unavailable": "the pretrained backbone could not be downloaded",
    "checkpoint-refused": "a checkpoint holds more than weights and data (weights_only refused it)",
    "config-not-ours": "a config.py that MMEngine would run is not one hoofenv rendered (edited, replaced, unrecorded)",
    "not-a-checkpoint": "a file given as a checkpoint is not one (text, empty, truncated zip, TorchScript)",
    "oom": "CUDA out of memory at a fixed batch size",
    "train-failed": "training failed",
    "predict-failed": "prediction failed",
    "onnx-missing": "ONNX export without the onnx package",
    "onnx-install": "installing onnx (training env) or the ONNX runtime env failed",
    "export-failed": "the ONNX export failed",
    "onnx-runtime-missing": "predict --onnx under a python without numpy, onnxruntime or Pillow",
    "onnx-model": "--onnx names a file that is not a hoofenv ONNX export",
    "angles-unfit": "the angle points do not fit the model's keypoints",
    "demo-install": "the demo's install step failed",
    "demo-verify": "the demo's verify step failed",
    "demo-train": "the demo's train step failed",
    "demo-predict": "the demo's predict step failed",
    "missing-pillow": "pictures need Pillow",
    "refused": "hoofenv refuses to write over what it did not write",
    "missing-dependency": "an optional package is missing",
    # data
    "file-not-found": "an annotation file is missing",
    "invalid-json": "a file is not valid JSON",
    "wrong-type": "a JSON field has the wrong type",
    "missing-field": "a JSON field is missing",
    "no-keypoint-names": "no category carries keypoint names",
    "schema": "keypoint schemas are inconsistent or differ",
    "conflict": "two different pictures share a name",
    "image-file-missing": "an image file is missing",
    "annotation-missing-image": "annotations point at images that do not exist",
    # scaling out (docs/scaling.md)
    "gpus-missing": "--gpus N with fewer CUDA GPUs here",
    "tracking-missing": "--track with its package missing from an env hoofenv did not make",
    "tracking-install": "installing a --track package into the managed env failed",
    "tracking-python": "a --track package needs a newer Python than the training env's",
    "slurm-submit": "sbatch refused the job script",
    # data safety (docs/data.md)
    "non-finite": "a number is NaN, Infinity or beyond +-2^53 (not JSON)",
    "split-mismatch": "a train/val pair is not the one `hoofenv data split` wrote together",
    "same-input": "the same export is given twice",
    "unsafe-path": "a file_name leaves the images folder",
    # CVAT exports as exported (data import, train --data EXPORT)
    "export-layout": "a path is not a CVAT 'COCO Keypoints 1.0' export (zip or folder)",
    "zip-invalid": "a zip cannot be read or a member is damaged",
    "zip-unsafe": "a zip is refused: a member would write outside, is a link, or sizes say zip bomb",
    "unsafe-file-name": "an image file_name is absolute or climbs out with `..`",
    "data-changed": "--resume, but the exports differ from those the run was prepared from",
    # config check, train --config with a full config
    "config-check": "the config check found errors",
    "config-probe": "the config could not be examined inside the env",
}


def registered(code: str) -> bool:
    family, sep, _ = code.partition(":")
    return code in CODES or (bool(sep) and f"{family}:" in CODES)


@dataclass
class HoofenvError(Exception):
    """A problem the CLI renders once, uv-style (message, causes, the failing output, hint), or as JSON."""

    message: str
    causes: list[str] = field(default_factory=list)
    hint: str | None = None
    code: str = "error"
    exit_code: int = PROBLEM
    output: list[str] = field(default_factory=list)  # the last lines a failing subprocess printed

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        lines = [f"error: {self.message}"]
        lines += [f"  Caused by: {c}" for c in self.causes]
        if self.output:
            lines += ["", f"  output (last {len(self.output)} lines):"]
            lines += [f"    {line}" for line in self.output]
        if self.hint:
            lines += ["", f"hint: {self.hint}"]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "causes": list(self.causes), "hint": self.hint,
                "output": list(self.output)}


class UsageError(HoofenvError):
    def __init__(self, message: str, causes: list[str] | None = None, hint: str | None = None,
                 code: str = "usage"):
        super().__init__(message, causes or [], hint, code=code, exit_code=USAGE)
