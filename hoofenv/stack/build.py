"""The mmcv source build a plan asks for: against which torch, for which GPU architectures, with which nvcc (the
machine's, a given one, or NVIDIA's from PyPI), which sdist patches, how many jobs. Pure, like resolve.py."""

from __future__ import annotations

from hoofenv.machine.cuda import ComputeCapability, CudaTag
from hoofenv.machine.facts import Facts
from hoofenv.stack.matrix import Matrix, MmcvBuildRow, TorchRow
from hoofenv.stack.plan import MmcvBuild, Problem, Toolchain

PYPI = "pypi"  # `--nvcc pypi`: NVIDIA's toolchain from PyPI even when the machine has an nvcc


def cuda_minor(version: str | None) -> str | None:
    """'12.8.93' or '12.8' -> '12.8'."""
    return ".".join(str(version).split(".")[:2]) if version else None


def choose_toolchain(tag: CudaTag, facts: Facts, matrix: Matrix, o) -> Toolchain:
    """The nvcc a CUDA build of `tag` uses: --nvcc PATH, else one on this machine of the same CUDA major.minor, else
    NVIDIA's from PyPI (CUDA 13), else none, with the commands that install one."""
    cuda = tag.version
    if o.nvcc and o.nvcc != PYPI:
        return Toolchain("given", cuda, nvcc=o.nvcc, version=cuda_minor(o.nvcc_version), cuda_home=o.nvcc_home)
    if o.nvcc != PYPI:
        for found in facts.tools.nvccs:
            if cuda_minor(found.version) == cuda:
                return Toolchain("system", cuda, nvcc=found.path, version=cuda_minor(found.version),
                                 cuda_home=found.home)
        if not facts.tools.nvccs and cuda_minor(facts.tools.nvcc) == cuda:  # facts recorded before nvccs existed
            return Toolchain("system", cuda, nvcc="nvcc", version=cuda)
    row = matrix.toolchain_row(cuda)
    if row:
        return Toolchain(PYPI, cuda, packages=list(row.pypi))
    return Toolchain("missing", cuda, commands=nvcc_commands(cuda, facts, matrix))


def nvcc_commands(cuda: str, facts: Facts, matrix: Matrix) -> list[str]:
    """The exact commands that put an nvcc of `cuda` on this machine (NVIDIA's apt repository, NVIDIA's conda
    channel), each followed by the --nvcc that uses it."""
    tpl = matrix.nvcc_install
    if not tpl:
        return []
    major, minor = cuda.split(".")
    distro, version = (facts.os.distro or "").lower(), (facts.os.distro_version or "").replace(".", "")
    repo = f"{distro}{version}" if distro in ("ubuntu", "debian") and version else "ubuntu2404"
    values = {"major": major, "minor": minor, "version": cuda, "repo": repo}
    return [f"{tpl['apt'].format(**values)} && hoofenv install --nvcc {tpl['apt_nvcc'].format(**values)}",
            f"{tpl['conda'].format(**values)} && hoofenv install --nvcc {tpl['conda_nvcc'].format(**values)}"]


def toolchain_ready(tag: CudaTag, facts: Facts, matrix: Matrix, o) -> bool:
    """Whether a build for `tag` can get its compiler without the user installing one (CPU builds need none)."""
    return tag.is_cpu or choose_toolchain(tag, facts, matrix, o).how != "missing"


def arch_list(gpus_cc: list[ComputeCapability], ptx: bool) -> str | None:
    """TORCH_CUDA_ARCH_LIST for the GPUs the plan serves ('8.6;12.0'); '+PTX' on the newest only when asked."""
    ccs = sorted(set(gpus_cc))
    if not ccs:
        return None
    return ";".join(str(cc) for cc in ccs) + ("+PTX" if ptx else "")


def plan_build(trow: TorchRow, tag: CudaTag, row: MmcvBuildRow, facts: Facts, matrix: Matrix, o,
               gpus_cc: list[ComputeCapability], reason: str) -> tuple[MmcvBuild, list[Problem]]:
    """The MmcvBuild for this candidate and the problems that stop it (missing compilers, a mismatched nvcc)."""
    tools = facts.tools
    needs = list(row.needs)
    missing = [t for t in row.needs if t == "gcc" and not tools.gcc]
    if tools.gxx_missing and tools.gcc:
        missing.append("g++")
    toolchain = None
    arches = None
    if not tag.is_cpu:
        toolchain = choose_toolchain(tag, facts, matrix, o)
        needs.append(f"nvcc {tag.version}" + (f" (PyPI: {' '.join(toolchain.packages)})"
                                              if toolchain.how == PYPI else ""))
        if toolchain.how == "missing":
            missing.append(f"nvcc {tag.version}")
        arches = arch_list(gpus_cc, o.ptx)
    kind = "cpu" if tag.is_cpu else "cuda"
    cores = facts.cpu_count or 2
    mem = facts.memory_gib or 8.0
    max_jobs = max(1, min(cores, int(mem // row.peak_memory_gib[kind]) or 1))
    n_arch = len(arches.split(";")) if arches else 1
    base = row.minutes[kind] * (1 + 0.25 * (n_arch - 1))  # device code is per arch; the host half is shared
    parallel = min(max_jobs, 16)  # ~170 sources: beyond that the longest files bound the time (an estimate)
    build = MmcvBuild(
        torch_headers=row.headers_for(trow.version),
        cuda_arch_list=arches,
        force_cuda=not tag.is_cpu,
        needs=needs,
        missing=missing,
        max_jobs=max_jobs,
        minutes=max(1, round(base * 2 / parallel)),
        reason=reason,
        toolchain=toolchain,
        patches=[{"file": p.file, "replace": p.replace, "with": p.with_, "why": p.why}
                 for p in row.patches_for(trow.version)]
        + [{"unity": u.folder, "exclude": list(u.exclude), "units": u.units, "why": u.why} for u in row.unity],
        cflags=row.cflags,
    )
    return build, _problems(build, facts, matrix, gpus_cc)


def _problems(build: MmcvBuild, facts: Facts, matrix: Matrix, gpus_cc: list[ComputeCapability]) -> list[Problem]:
    out = []
    apt_gcc = matrix.nvcc_install.get("gcc", "sudo apt-get install -y build-essential")
    for tool in build.missing:
        if tool in ("gcc", "g++"):
            out.append(Problem(f"build-needs-{'gcc' if tool == 'gcc' else 'gxx'}",
                               f"building mmcv needs {tool} (C++ compiler), which is not on this machine", apt_gcc))
    t = build.toolchain
    if t and t.how == "missing":
        sm75 = ComputeCapability(7, 5)
        cu13 = "" if not gpus_cc or min(gpus_cc) < sm75 else (
            "; or upgrade the driver to >= 580 (`sudo ubuntu-drivers install nvidia:580`, reboot, `hoofenv plan`): "
            "a CUDA 13 torch builds with NVIDIA's nvcc from PyPI, no sudo")
        cmds = " ; or: ".join(f"`{c}`" for c in t.commands) or "install NVIDIA's CUDA toolkit"
        out.append(Problem("build-needs-nvcc", f"building mmcv's CUDA ops needs nvcc {t.cuda} (torch's CUDA); none "
                           f"is on this machine and PyPI has no nvcc for CUDA {t.cuda.split('.')[0]}",
                           f"{cmds}{cu13}"))
    elif t and t.how == "given" and t.version and t.version != t.cuda:
        same_major = t.version.split(".")[0] == t.cuda.split(".")[0]
        out.append(Problem("build-nvcc-mismatch", f"--nvcc {t.nvcc} is CUDA {t.version}; torch was built with CUDA "
                           f"{t.cuda}" + (" (same major: torch warns and the build usually works)" if same_major
                                          else ": torch's extension builder refuses another major"),
                           f"give an nvcc of CUDA {t.cuda}: `hoofenv install --nvcc /usr/local/cuda-{t.cuda}/bin/nvcc`"
                           + (" (or `--nvcc pypi` where PyPI has one)" if t.cuda.startswith("13") else ""),
                           "warning" if same_major else "error"))
    return out
