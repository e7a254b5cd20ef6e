"""Reading an mmcv compile as it runs and after it fails.

Progress: ninja prints `[12/176] ...` as each file finishes (when its output is not a terminal); that becomes
"compiled 12/176 files, ~9 min left".
Failure: the first compiler error (file, line, message: not 200 lines of log) and the likely fix, matched on the
log's text: no C++ compiler, an nvcc of another CUDA than torch's, a compiler killed for memory (fewer jobs),
headers that need another C++ standard.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.install.runner import Progress

NINJA = re.compile(r"^\[(\d+)/(\d+)\]")
# gcc/clang: `path/file.cpp:12:5: error: ...`, nvcc: `path/file.cu(12): error: ...`, ld and nvcc fatal lines
COMPILER_ERROR = re.compile(r"^(?P<file>[^\s:()]+\.(?:cpp|cc|cu|cuh|h|hpp|c))(?::(?P<line>\d+)(?::\d+)?:|\((?P<culine>\d+)\):)"
                            r"\s*(?:fatal )?error[: ]\s*(?P<msg>.*)$")
FATAL = re.compile(r"^(?:nvcc fatal\s*:|.*fatal error:|/usr/bin/ld: |collect2: error:|ninja: error:|error: command )"
                   r".*$")
ERROR_CONTEXT = 6


@dataclass
class Diagnosis:
    file: str | None = None
    line: int | None = None
    message: str | None = None
    excerpt: list[str] = field(default_factory=list)
    cause: str | None = None
    hint: str | None = None


# (pattern over the whole log, cause, hint); the first that matches wins
CAUSES = [
    (r"unable to execute '[^']*(?:c\+\+|g\+\+|gcc|cc)'|command '[^']*(?:c\+\+|g\+\+|gcc|cc)' failed: No such file|"
     r"(?:c\+\+|g\+\+|gcc): (?:command )?not found|Could not find a C\+\+ compiler",
     "no C++ compiler (g++) on this machine", "sudo apt-get install -y build-essential"),
    (r"detected CUDA version \((?:%s|[\d.]+)\) mismatches the version that was used to compile\s*PyTorch",
     "the nvcc found is of another CUDA than torch's", "give an nvcc of torch's CUDA: `hoofenv install --nvcc "
     "/usr/local/cuda-X.Y/bin/nvcc` (or `--nvcc pypi` for CUDA 13)"),
    (r"CUDA_HOME environment variable is not set|No CUDA runtime is found|nvcc: not found|"
     r"No such file or directory: '[^']*/bin/nvcc'",
     "no nvcc for the CUDA build", "give one: `hoofenv install --nvcc PATH` (CUDA 13: `--nvcc pypi`)"),
    (r"Killed signal terminated program|died due to signal 9|internal compiler error: Killed|"
     r"virtual memory exhausted|Cannot allocate memory|std::bad_alloc|out of memory",
     "a compiler was killed for memory (too many jobs at once)",
     "fewer jobs: `MAX_JOBS=1 hoofenv install` (each nvcc/g++ job here takes 2-3 GB)"),
    (r"C\+\+20 or later compatible compiler is required|requires C\+\+20|-std=c\+\+2[03]",
     "torch's headers need a newer C++ standard than the build passed",
     "the matrix's mmcv_build.patches must cover this torch (setup.py's -std flag); report it with the log"),
    (r"Unsupported gpu architecture '(compute_\d+)'",
     "this nvcc cannot compile for one of the GPUs", "a newer nvcc (CUDA >= 12.8 for sm_120), or fewer arches "
     "with `--gpu INDEX`"),
    (r"fatal error: (Python\.h|cuda_runtime\.h|cublas_v2\.h|[\w/]+\.h): No such file",
     "a header is missing", "Python.h: `sudo apt-get install -y python3-dev`; CUDA headers: a complete toolkit "
     "(`--nvcc pypi` for CUDA 13)"),
]


def diagnose(lines: list[str]) -> Diagnosis:
    d = Diagnosis()
    for i, raw in enumerate(lines):
        line = raw.rstrip()
        m = COMPILER_ERROR.match(line.strip())
        if m:
            d.file = m.group("file")
            d.line = int(m.group("line") or m.group("culine"))
            d.message = m.group("msg").strip()
            d.excerpt = [x.rstrip() for x in lines[i:i + ERROR_CONTEXT]]
            break
        if d.message is None and FATAL.match(line.strip()):
            d.message = line.strip()
            d.excerpt = [x.rstrip() for x in lines[i:i + ERROR_CONTEXT]]
    text = "\n".join(lines)
    for pattern, cause, hint in CAUSES:
        if re.search(pattern, text):
            d.cause, d.hint = cause, hint
            break
    return d


def failure(log: Path, step_error: HoofenvError) -> HoofenvError:
    """The compile step's error, rewritten around its first compiler error and the likely fix."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return step_error
    d = diagnose(lines)
    where = f"{d.file}:{d.line}" if d.file else None
    causes = []
    if where:
        causes.append(f"first error in {where}: {d.message}")
    elif d.message:
        causes.append(f"first error: {d.message}")
    if d.cause:
        causes.append(f"likely cause: {d.cause}")
    causes += [f"full log: {log}", "nothing was cached; the env in use was not changed"]
    return HoofenvError(f"the mmcv compile failed{' in ' + d.file if d.file else ''}", causes,
                        hint=d.hint or f"read the first error in {log}", code="build-compile-failed",
                        output=d.excerpt or step_error.output)


def explain(exc: HoofenvError, logs: Path) -> HoofenvError:
    """A failed build step's error; the compile step's rewritten from its log."""
    if exc.code != "step-failed:build-mmcv":
        return exc
    found = sorted(logs.glob("*-build-mmcv.log"))
    return failure(found[-1], exc) if found else exc


class BuildProgress(Progress):
    """Passes everything to `inner`; a compile step's ninja lines become files done / total with an ETA."""

    def __init__(self, inner: Progress, clock=time.monotonic):
        self.inner = inner
        self.clock = clock
        self.first: tuple[float, int] | None = None

    def note(self, text: str, level: str = "info") -> None:
        self.inner.note(text, level)

    def step_started(self, label: str) -> None:
        self.first = None
        self.inner.step_started(label)

    def step_finished(self, label: str, ok: bool, seconds: float) -> None:
        self.inner.step_finished(label, ok, seconds)

    def step_output(self, label: str, line: str, elapsed: float) -> None:
        m = NINJA.match(line)
        if not m:
            self.inner.step_output(label, line, elapsed)
            return
        done, total = int(m.group(1)), int(m.group(2))
        self.inner.step_output(label, progress_text(done, total, elapsed, self.first), elapsed)
        if self.first is None:
            self.first = (elapsed, done)


def progress_text(done: int, total: int, elapsed: float, first: tuple[float, int] | None) -> str:
    """'compiled 40/176 files (22%), ~6 min left': the rate since the first file finished."""
    pct = f"compiled {done}/{total} files ({100 * done // max(total, 1)}%)"
    if first is None or done <= first[1]:
        return pct
    left = (elapsed - first[0]) / (done - first[1]) * (total - done)
    return pct + (f", ~{left / 60:.0f} min left" if left >= 90 else f", ~{left:.0f} s left")
