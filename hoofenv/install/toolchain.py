"""The CUDA compiler of an mmcv build: NVIDIA's PyPI toolchain made into a CUDA_HOME, or the machine's own nvcc.

NVIDIA's wheels (cuda-toolkit[nvcc,cccl]) put nvcc, its headers and libraries under the build venv's
`site-packages/nvidia/cu13/{bin,include,lib,nvvm}`. torch's extension builder wants a CUDA_HOME with `bin/nvcc`,
`include` and `lib64` holding `libcudart.so`, which the wheels ship only as `libcudart.so.13`. So the build folder
gets a `cuda/` of links: bin, include and nvvm to the wheel's, and a lib64 folder linking each library under its own
name and its unversioned one. Nothing inside the venv is changed (a uv venv hardlinks its files to uv's cache).

Run as a build step (`python -m hoofenv.install.toolchain BUILD_VENV CUDA DEST`): it checks that nvcc runs and is
of torch's CUDA major.minor before a compile of many minutes starts, and says which nvcc PATH would have found.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from hoofenv.errors import HoofenvError
from hoofenv.stack.plan import Plan, Toolchain

CUDA_HOME_DIR = "cuda"


def wheel_root(build_env: Path, cuda: str) -> Path:
    """`site-packages/nvidia/cu13` of the build venv."""
    major = cuda.split(".")[0]
    found = sorted(build_env.glob(f"lib/python3*/site-packages/nvidia/cu{major}"))
    if not found or not (found[0] / "bin" / "nvcc").exists():
        raise HoofenvError(f"no nvcc from PyPI in {build_env}", [f"looked for lib/python3*/site-packages/nvidia/"
                           f"cu{major}/bin/nvcc"], hint="re-run the install: the toolchain step installs it",
                           code="toolchain-missing")
    return found[0]


def make_cuda_home(root: Path, dest: Path) -> Path:
    """A CUDA_HOME of links to NVIDIA's wheel folder `root` (see the module's docstring)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name in ("bin", "include", "nvvm"):
        if (root / name).exists():
            (dest / name).symlink_to(root / name, target_is_directory=True)
    lib64 = dest / "lib64"
    lib64.mkdir()
    for lib in sorted((root / "lib").iterdir()):
        (lib64 / lib.name).symlink_to(lib)
        m = re.match(r"^(lib.+\.so)\.\d+(\.\d+)*$", lib.name)
        if m and not (lib64 / m.group(1)).exists() and not (root / "lib" / m.group(1)).exists():
            (lib64 / m.group(1)).symlink_to(lib)
    return dest


def nvcc_release(nvcc: Path) -> str | None:
    try:
        out = subprocess.run([str(nvcc), "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"release (\d+\.\d+)", out)
    return m.group(1) if m else None


def cuda_home_for(t: Toolchain | None, build_dir: Path) -> str | None:
    """The CUDA_HOME the compile step gets: the build folder's links (PyPI), the nvcc's own home (system, given),
    or None (CPU builds, and old facts that know only `nvcc` on PATH: torch then finds it there)."""
    if t is None or t.how == "missing":
        return None
    if t.how == "pypi":
        return str(build_dir / CUDA_HOME_DIR)
    if t.cuda_home:
        return t.cuda_home
    return str(Path(t.nvcc).resolve().parent.parent) if t.nvcc and os.sep in t.nvcc else None


def build_env(plan: Plan, build_dir: Path) -> dict[str, str]:
    """The compile step's environment: ops on, CUDA or not, jobs, architectures, flags, CUDA_HOME."""
    b = plan.mmcv.build
    env = {"MMCV_WITH_OPS": "1", "FORCE_CUDA": "1" if b.force_cuda else "0", "MAX_JOBS": str(b.max_jobs)}
    if b.cuda_arch_list:
        env["TORCH_CUDA_ARCH_LIST"] = b.cuda_arch_list
    if b.cflags:
        # appended after Python's own CFLAGS (-O3 -DNDEBUG ... -g) by every setuptools; CFLAGS itself would replace
        # them in setuptools >= 72 and compile at -O0 (seen here: the first real build's command lines)
        env["CPPFLAGS"] = b.cflags
    home = cuda_home_for(b.toolchain, build_dir) if b.force_cuda else None
    if home:
        env["CUDA_HOME"] = home
    return env


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print("usage: python -m hoofenv.install.toolchain BUILD_VENV CUDA DEST", file=sys.stderr)
        return 2
    venv, cuda, dest = Path(args[0]), args[1], Path(args[2])
    try:
        home = make_cuda_home(wheel_root(venv, cuda), dest)
    except (HoofenvError, OSError) as exc:
        print(str(exc), file=sys.stderr)
        return 1
    nvcc = home / "bin" / "nvcc"
    release = nvcc_release(nvcc)
    print(f"CUDA_HOME={home}: nvcc {release or '(does not run)'} at {nvcc.resolve()}")
    print(f"nvcc on PATH: {shutil.which('nvcc') or 'none'} (the build uses CUDA_HOME's)")
    if release != cuda:
        print(f"error: nvcc {release} from PyPI does not match torch's CUDA {cuda}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
