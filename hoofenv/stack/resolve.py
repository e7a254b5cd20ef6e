"""Facts + matrix + overrides -> Plan. Pure and deterministic: no I/O, no clock, no environment.

Gates run in order (platform, driver, GPU architecture, wheels, Python, package guards); each candidate
that fails records why, so a refusal can say what would have to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.version import Version

from hoofenv.machine.cuda import ComputeCapability, CudaTag, DriverVersion
from hoofenv.errors import HoofenvError, UsageError
from hoofenv.machine.facts import Facts
from hoofenv.stack.matrix import (NO_INDEX, TEMPLATE_FIELDS, URL_SCHEMES, Matrix, MmcvBuildRow, MmcvWheelRow,
                                  TorchRow, template_problem)
from hoofenv.stack.plan import MmcvBuild, MmcvChoice, Plan, Problem, PythonSource


@dataclass
class Overrides:
    python: str | None = None
    torch: str | None = None
    cuda: str | None = None
    allow_build: bool = False
    mmcv_source: str | None = None  # None (auto) | "wheel" | "build"
    torch_index_url: str | None = None
    mmcv_base_url: str | None = None

    def any_stack(self) -> bool:
        return bool(self.python or self.torch or self.cuda or self.mmcv_source)

    def check(self) -> None:
        """Each override as the resolver will parse it; a bad one is a usage error naming its flag."""
        for name in ("python", "torch", "cuda", "torch_index_url", "mmcv_base_url"):
            value = getattr(self, name)
            problem = None if value is None else override_problem(name, value)
            if problem:
                flag = "--" + name.replace("_", "-")
                raise UsageError(f"{flag} {value}: {problem}", hint=OVERRIDE_HINTS[name])
        if self.mmcv_source not in (None, "wheel", "build"):
            raise UsageError(f"--mmcv-source {self.mmcv_source}: wheel or build")


OVERRIDE_HINTS = {
    "python": "write the Python minor as X.Y, e.g. `--python 3.11`",
    "torch": "write a torch release, e.g. `--torch 2.1.2` or `--torch 2.1`",
    "cuda": "use `cpu` or a PyTorch wheel tag such as `cu121`",
    "torch_index_url": "an http(s):// or file:// URL in which `{cuda}` stands for the tag, e.g. "
                       "`https://mirror.example/whl/{cuda}`; or `none` to take torch from PyPI and its mirrors",
    "mmcv_base_url": "the scheme and host of a mirror of download.openmmlab.com, e.g. `https://mirror.example`",
}


def override_problem(name: str, value: str) -> str | None:
    """Why `value` cannot be override `name` (python, torch, cuda, torch_index_url, mmcv_base_url), or None."""
    import re

    if name == "python":
        return None if re.fullmatch(r"\d{1,2}\.\d{1,3}(\.\d{1,3})?", value) else "not a Python version like 3.11"
    if name == "torch":
        return None if re.fullmatch(r"\d{1,3}(\.\d{1,4}){1,2}", value) else "not a torch release like 2.1.2 or 2.1"
    if name == "cuda":
        try:
            CudaTag.parse(value)
        except HoofenvError:
            return "not a CUDA wheel tag (cpu, cu118, cu121, ...)"
        return None
    if name == "torch_index_url" and value == NO_INDEX:
        return None
    if not value.startswith(URL_SCHEMES):
        return "not an http://, https:// or file:// URL"
    return template_problem(value, TEMPLATE_FIELDS["torch" if name == "torch_index_url" else "mmcv_base"])


@dataclass(order=True)
class _Candidate:
    key: tuple
    torch: TorchRow = field(compare=False)
    tag: CudaTag = field(compare=False)
    python: tuple[int, int] = field(compare=False)
    mmcv: Version = field(compare=False)
    wheel: MmcvWheelRow | None = field(compare=False)
    build: MmcvBuildRow | None = field(compare=False)


class _Refusal(Exception):
    """A gate that nothing passes: the plan is refused with this problem."""

    def __init__(self, code: str, message: str, hint: str, causes: list[str] | None = None):
        super().__init__(message)
        self.problem = Problem(code, message + "".join(f"; {c}" for c in causes or []), hint)


def resolve(facts: Facts, matrix: Matrix, overrides: Overrides | None = None) -> Plan:
    o = overrides or Overrides()
    o.check()
    plan = Plan(status="ok", target=_target(facts))
    try:
        _platform(facts, matrix, plan)  # 1
        allowed, gpus_cc = _cuda_tags(facts, matrix, o, plan)  # 2
        candidates, rejected, available = _candidates(facts, matrix, o, allowed, gpus_cc)  # 3-6
    except _Refusal as refusal:
        plan.problems.append(refusal.problem)
        plan.status = "refused"
        return plan
    return _fill(plan, max(candidates), facts, matrix, o, available, rejected)


def _platform(facts: Facts, matrix: Matrix, plan: Plan) -> None:
    """1. Linux x86_64 (mmcv has compiled ops nowhere else)."""
    train = matrix.platforms["train"]
    if facts.os.system not in train["system"]:
        raise _Refusal("unsupported-os", f"training needs Linux; this is {facts.os.system}",
                       "run hoofenv on a Linux x86_64 machine, or in WSL2 on Windows "
                       "(`wsl --install -d Ubuntu-22.04`)", [train["why"]])
    if facts.os.arch not in train["arch"]:
        raise _Refusal("unsupported-arch", f"training needs x86_64; this machine is {facts.os.arch}",
                       "use an x86_64 Linux machine: mmcv publishes no wheels with compiled ops for "
                       f"{facts.os.arch}", [train["why"]])
    text = f"{facts.os.distro or facts.os.system} {facts.os.distro_version or ''} {facts.os.arch}".replace("  ", " ")
    plan.why.append(text + (" under WSL2: the Windows NVIDIA driver serves CUDA through /usr/lib/wsl"
                            if facts.os.wsl else ""))


def _cuda_tags(facts: Facts, matrix: Matrix, o: Overrides, plan: Plan) -> tuple[list[CudaTag],
                                                                                 list[ComputeCapability]]:
    """2. The CUDA tags the driver runs (or cpu), and the GPUs' compute capabilities."""
    want_cpu = o.cuda is not None and o.cuda.lower() == "cpu"
    forced_tag = CudaTag.parse(o.cuda) if o.cuda else None
    if forced_tag and not forced_tag.is_cpu and not matrix.cuda_row(forced_tag):
        known = ", ".join(str(r.tag) for r in matrix.cuda)
        raise _Refusal("unknown-cuda", f"--cuda {o.cuda} is not in the matrix", f"use one of: cpu, {known}")
    allowed: list[CudaTag] = []
    gpus_cc: list[ComputeCapability] = []
    nv = facts.nvidia
    if want_cpu:
        plan.why.append("--cuda cpu: a CPU-only stack was asked for")
    elif nv is None:
        plan.why.append("no NVIDIA GPU found: a CPU stack (training works, slowly)")
    elif nv.error_code == "driver-mismatch":
        raise _Refusal("driver-mismatch", "the NVIDIA kernel module and user-space library versions differ",
                       "reboot to load the upgraded driver: `sudo reboot` (or plan for CPU: `hoofenv plan --cuda "
                       "cpu`)", [nv.error] if nv.error else None)
    elif nv.error_code == "no-driver" or not nv.driver_version:
        names = ", ".join(g.name for g in nv.gpus) or "an NVIDIA GPU"
        raise _Refusal("no-driver", f"{names} is present but no NVIDIA driver is loaded",
                       "install a driver: `sudo ubuntu-drivers install` (or `sudo apt install nvidia-driver-535`), "
                       "reboot; or plan for CPU: `hoofenv plan --cuda cpu`", [nv.error] if nv.error else None)
    else:
        allowed = _driver_tags(nv, matrix, forced_tag, plan)
        gpus_cc = _gpu_capabilities(nv, matrix, plan)
    for cc in sorted(set(gpus_cc)):
        plan.why.append(f"GPU architecture {cc.sm}: only builds carrying {cc.sm} code qualify")
    if not allowed:
        return [CudaTag.parse("cpu")], gpus_cc
    return ([forced_tag] if forced_tag else allowed), gpus_cc


def _driver_tags(nv, matrix: Matrix, forced_tag: CudaTag | None, plan: Plan) -> list[CudaTag]:
    driver = DriverVersion.parse(nv.driver_version)
    ceiling = CudaTag.from_version(nv.cuda_driver_version) if nv.cuda_driver_version else None
    # minor-version compatibility: the reported CUDA caps only the major (11.8 runs on an 11.4 driver)
    allowed = [row.tag for row in matrix.cuda
               if row.min_driver["linux"] <= driver and (ceiling is None or row.tag.major <= ceiling.major)]
    if not allowed:
        lowest = min(matrix.cuda, key=lambda r: r.min_driver["linux"])
        raise _Refusal("driver-too-old",
                       f"driver {driver} is older than every CUDA build in the matrix (the oldest, {lowest.tag}, "
                       f"needs >= {lowest.min_driver['linux']} {_cite(lowest.id, lowest.source)})",
                       "upgrade the driver: `sudo apt install nvidia-driver-535` and reboot "
                       "(or plan for CPU: `hoofenv plan --cuda cpu`)")
    top = max(allowed)
    top_row = matrix.cuda_row(top)
    plan.why.append(f"driver {driver} supports CUDA <= {nv.cuda_driver_version or top.version}; "
                    f"builds up to {top} run on it ({top} needs >= {top_row.min_driver['linux']}) "
                    f"{_cite(top_row.id, top_row.source)}")
    if forced_tag and not forced_tag.is_cpu and forced_tag not in allowed:
        row = matrix.cuda_row(forced_tag)
        raise _Refusal("cuda-override-driver", f"--cuda {forced_tag} needs driver >= {row.min_driver['linux']}; "
                       f"this one is {driver} {_cite(row.id, row.source)}", f"upgrade the driver, or use `--cuda {top}`")
    return allowed


def _gpu_capabilities(nv, matrix: Matrix, plan: Plan) -> list[ComputeCapability]:
    found = []
    for gpu in nv.gpus:
        if gpu.compute_capability:
            found.append(ComputeCapability.parse(gpu.compute_capability))
            continue
        cc = matrix.cc_for_name(gpu.name)
        if cc:
            found.append(cc)
            plan.why.append(f"{gpu.name}: compute capability {cc} from its family name [gpu_families]")
        else:
            plan.problems.append(Problem("unknown-gpu", f"{gpu.name}: compute capability unknown",
                                         "set it explicitly: `HOOFENV_CUDA_ARCH=8.6 hoofenv plan`", "warning"))
    return found


def _candidates(facts: Facts, matrix: Matrix, o: Overrides, allowed: list[CudaTag],
                gpus_cc: list[ComputeCapability]) -> tuple[list[_Candidate], list[str], set[tuple[int, int]]]:
    """3-6. Every (torch, tag, python, mmcv) that passes each gate, the reasons of those that did not, and the
    Python minors on this machine."""
    torch_rows = matrix.torch
    if o.torch:
        row = matrix.torch_row(o.torch)
        if not row:
            raise _Refusal("unknown-torch", f"--torch {o.torch} is not in the matrix",
                           "use one of: " + ", ".join(str(r.version) for r in matrix.torch))
        torch_rows = [row]
    python_minors = _python_candidates(facts, matrix, o)
    available = {_minor_of(v) for v in facts.python.available} | {_minor_of(facts.python.version)}
    running = _minor_of(facts.python.version)  # the user's chosen interpreter wins a tie
    guards = [matrix.packages[name].requires["mmcv"] for name in ("mmdet", "mmpose")]
    mmcv_ok = [v for v in matrix.mmcv_versions if all(v in spec for spec in guards)]
    rejected: list[str] = []
    candidates: list[_Candidate] = []
    for trow in torch_rows:
        for tag, arch in trow.builds.items():
            if tag not in allowed:
                continue
            missing = [cc.sm for cc in gpus_cc if arch is not None and not arch.runs_on(cc)]
            if missing:
                rejected.append(f"torch {trow.version}+{tag} carries {arch.describe()}, not {', '.join(missing)} "
                                f"[{trow.id}, arch_sets.{arch.name}]")
                continue
            for py in python_minors:
                if not trow.supports_python(py):
                    rejected.append(f"torch {trow.version} has no wheels for Python {_fmt(py)} [{trow.id}]")
                    continue
                found = _first_mmcv(matrix, o, trow, tag, py, mmcv_ok, rejected)
                if found:
                    mmcv, wheel, build = found
                    key = (wheel is not None or o.allow_build, py in available, py == running, trow.version, tag,
                           py, mmcv, wheel is not None)
                    candidates.append(_Candidate(key, trow, tag, py, mmcv, wheel, None if wheel else build))
    if not candidates:
        want_cpu = o.cuda is not None and o.cuda.lower() == "cpu"
        hint = "hoofenv plan --cuda cpu" if not want_cpu else "hoofenv plan (without overrides)"
        if o.any_stack():
            hint = f"drop the overrides (`{hint}` or plain `hoofenv plan`); the reasons above say which cannot work"
        raise _Refusal("no-stack", "no combination of torch, CUDA build, Python and mmcv passes every gate", hint,
                       list(dict.fromkeys(rejected))[-6:])
    return candidates, rejected, available


def _first_mmcv(matrix: Matrix, o: Overrides, trow: TorchRow, tag: CudaTag, py: tuple[int, int],
                mmcv_ok: list[Version], rejected: list[str]):
    """The newest mmcv inside the guards with a wheel or a known-good build here: (version, wheel, build)."""
    for mmcv in mmcv_ok:
        wheel = None if o.mmcv_source == "build" else _wheel(matrix, mmcv, trow, tag, py)
        build = next((b for b in matrix.mmcv_build if b.mmcv == mmcv and b.builds_for(trow.version)), None)
        if wheel is None and (build is None or o.mmcv_source == "wheel"):
            rejected.append(f"no mmcv {mmcv} wheel for torch {trow.minor}/{tag}/cp{py[0]}{py[1]} "
                            "and no known-good source build [mmcv_wheels, mmcv_build]")
            continue
        return mmcv, wheel, build
    return None


def _fill(plan: Plan, c: _Candidate, facts: Facts, matrix: Matrix, o: Overrides,
          available: set[tuple[int, int]], rejected: list[str]) -> Plan:
    why = plan.why
    plan.python = _fmt(c.python)
    plan.torch = str(c.torch.version)
    plan.torchvision = c.torch.torchvision
    plan.cuda = str(c.tag)
    arch = c.torch.builds[c.tag]
    arch_text = f", carries {arch.describe()}" if arch else ""
    why.append(f"torch {plan.torch}+{plan.cuda} with torchvision {plan.torchvision}: the newest release whose "
               f"{'mmcv wheel exists' if c.wheel else 'mmcv builds from source'} for this machine{arch_text} "
               f"{_cite(c.torch.id, c.torch.source)}")
    plan.rows += [c.torch.id, f"cuda.{c.tag}" if not c.tag.is_cpu else "cuda.cpu"]

    plan.python_source = _python_source(facts, c.python, available)
    if plan.python_source.how == "path":
        why.append(f"Python {plan.python}: {plan.python_source.path} is on this machine")
    else:
        why.append(f"Python {plan.python}: none here fits (mmcv/torch wheels: {_fmt(c.torch.python[0])}-"
                   f"{_fmt(c.torch.python[1])}); obtained with `{plan.python_source.command}`")
        plan.problems.append(Problem("python-missing", f"Python {plan.python} is not on this machine",
                                     plan.python_source.command, "warning"))

    if c.wheel:
        plan.mmcv = MmcvChoice(str(c.mmcv), "wheel")
        why.append(f"mmcv {c.mmcv}: prebuilt wheel for torch {c.torch.minor}/{c.tag}/cp{c.python[0]}{c.python[1]} "
                   f"{_cite(c.wheel.id, c.wheel.source)}")
        plan.rows.append(c.wheel.id)
    else:
        plan.mmcv = MmcvChoice(str(c.mmcv), "build", _build(c, facts, o))
        plan.rows.append(c.build.id)
        why.append(f"mmcv {c.mmcv}: built from source ({plan.mmcv.build.reason}, about "
                   f"{plan.mmcv.build.minutes} min) {_cite(c.build.id, c.build.source)}")
        for tool in plan.mmcv.build.missing:
            plan.problems.append(Problem(f"build-needs-{tool.split()[0]}", f"building mmcv needs {tool}",
                                         _tool_hint(tool), "error"))

    pkgs = matrix.packages
    plan.mmengine, plan.mmdet, plan.mmpose = (str(pkgs[n].version) for n in ("mmengine", "mmdet", "mmpose"))
    why.append(f"mmcv {c.mmcv} is inside mmdet {plan.mmdet}'s guard ({pkgs['mmdet'].requires['mmcv']}) and "
               f"mmpose {plan.mmpose}'s ({pkgs['mmpose'].requires['mmcv']}) {_cite('packages.mmdet', pkgs['mmdet'].source)}")
    plan.rows += ["packages.mmengine", "packages.mmdet", "packages.mmpose"]
    for name, pin in matrix.pins.items():
        exact = pin.spec.startswith("==") and not pin.spec.startswith("===")
        plan.pins[name] = pin.spec[2:] if exact and "," not in pin.spec else pin.spec
        why.append(f"{name}{pin.spec}: {pin.why} {_cite(f'pins.{name}', pin.source)}")
        plan.rows.append(f"pins.{name}")
    plan.mmpose_runtime = list(matrix.mmpose_runtime)

    plan.weights_only = c.torch.version >= Version(matrix.checkpoint["weights_only_default_from"])
    if plan.weights_only:
        why.append(f"torch {plan.torch} loads checkpoints with weights_only=True: {matrix.checkpoint['remedy']} "
                   f"{_cite('checkpoint', matrix.checkpoint['source'])}")

    plan.indexes = _indexes(matrix, c, o)
    if o.torch_index_url or o.mmcv_base_url:
        why.append("index mirror(s) given: " + ", ".join(f"{k} -> {v}" for k, v in plan.indexes.items()))
    return plan


def _build(c: _Candidate, facts: Facts, o: Overrides) -> MmcvBuild:
    row = c.build
    tools = facts.tools
    needs = list(row.needs)
    missing = [t for t in row.needs if t == "gcc" and not tools.gcc]
    arch_list = None
    if not c.tag.is_cpu:
        needs.append(f"nvcc {c.tag.version}")
        if not tools.nvcc:
            missing.append(f"nvcc {c.tag.version}")
        elif tools.nvcc.split(".")[:2] != c.tag.version.split(".")[:2]:
            missing.append(f"nvcc {c.tag.version} (found {tools.nvcc})")
        ccs = sorted({ComputeCapability.parse(g.compute_capability) for g in (facts.nvidia.gpus if facts.nvidia else [])
                      if g.compute_capability})
        arch_list = ";".join(str(cc) for cc in ccs) or None
    cores = facts.cpu_count or 2
    mem = facts.memory_gib or 8.0
    max_jobs = max(1, min(cores, int(mem // row.peak_memory_gib) or 1))
    base = row.minutes["cpu" if c.tag.is_cpu else "cuda"]
    minutes = max(1, round(base * 2 / max_jobs))
    if o.mmcv_source == "build":
        reason = "--mmcv-source build"
    elif o.allow_build and c.wheel is None:
        reason = "--allow-build, and it gives the newest stack"
    else:
        reason = f"no prebuilt mmcv {c.mmcv} wheel exists for torch {c.torch.minor}/{c.tag}: the only way"
    return MmcvBuild(
        torch_headers=row.headers_for(c.torch.version),
        cuda_arch_list=arch_list,
        force_cuda=not c.tag.is_cpu,
        needs=needs,
        missing=missing,
        max_jobs=max_jobs,
        minutes=minutes,
        reason=reason,
    )


def _tool_hint(tool: str) -> str:
    if tool.startswith("gcc"):
        return "sudo apt-get install -y build-essential"
    if tool.startswith("nvcc"):
        version = tool.split()[1]
        return f"install the CUDA toolkit {version}: `sudo apt-get install -y cuda-toolkit-{version.replace('.', '-')}` " \
               "(NVIDIA's apt repository), then put its bin/ on PATH"
    return f"install {tool}"


def _indexes(matrix: Matrix, c: _Candidate, o: Overrides) -> dict[str, str]:
    torch_tpl = o.torch_index_url or matrix.indexes["torch"]
    base = (o.mmcv_base_url or matrix.indexes["mmcv_base"]).rstrip("/")
    out = {"torch": torch_tpl.format(cuda=c.tag)}
    if c.wheel:
        out["mmcv"] = matrix.indexes["mmcv"].format(base=base, cuda=c.tag, torch_minor=c.torch.minor)
    return out


def _python_candidates(facts: Facts, matrix: Matrix, o: Overrides) -> list[tuple[int, int]]:
    if o.python:
        try:
            wanted = _minor_of(o.python)
        except (ValueError, IndexError) as exc:
            raise HoofenvError(f"--python {o.python} is not a Python version", hint="write it as `3.11`",
                               code="bad-python", exit_code=2) from exc
        lo, hi = matrix.stack_python
        if not lo <= wanted <= hi:
            raise HoofenvError(f"--python {o.python} cannot run the stack", [matrix.stack_python_why],
                               hint=f"use --python {_fmt(lo)} to {_fmt(hi)}, e.g. `--python 3.11`",
                               code="python-override", exit_code=1)
        return [wanted]
    lo, hi = matrix.stack_python
    return [(3, m) for m in range(lo[1], hi[1] + 1)]


def _python_source(facts: Facts, py: tuple[int, int], available: set) -> PythonSource:
    for interp in [*facts.python.interpreters]:
        if _minor_of(interp.version) == py:
            return PythonSource("path", path=interp.path)
    if _minor_of(facts.python.version) == py:
        return PythonSource("path", path=facts.python.executable)
    version = _fmt(py)
    if facts.tools.uv:
        return PythonSource("uv", command=f"uv python install {version}")
    if facts.tools.conda or facts.tools.mamba:
        tool = "mamba" if facts.tools.mamba else "conda"
        return PythonSource("conda", command=f"{tool} create -y -p .hoofenv/python python={version}")
    return PythonSource("uv", command=f"pip install uv && uv python install {version}")


def _wheel(matrix: Matrix, mmcv: Version, trow: TorchRow, tag: CudaTag, py: tuple[int, int]) -> MmcvWheelRow | None:
    cp = f"cp{py[0]}{py[1]}"
    for row in matrix.mmcv_wheels:
        if row.mmcv == mmcv and row.torch_minor == trow.minor and tag in row.cuda and cp in row.python \
                and "linux" in row.platforms:
            return row
    return None


def _target(facts: Facts) -> dict:
    nv = facts.nvidia
    return {
        "os": f"{facts.os.distro or facts.os.system} {facts.os.distro_version or ''}".strip(),
        "arch": facts.os.arch,
        "driver": nv.driver_version if nv else None,
        "gpus": [f"{g.name} ({g.compute_capability or '?'})" for g in nv.gpus] if nv else [],
    }


def _minor_of(version: str) -> tuple[int, int]:
    parts = str(version).split(".")
    return int(parts[0]), int(parts[1])


def _fmt(py: tuple[int, int]) -> str:
    return f"{py[0]}.{py[1]}"


def _cite(row_id: str, source: tuple[str, ...]) -> str:
    return f"[{row_id}; {', '.join(source)}]"
