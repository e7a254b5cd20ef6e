"""Facts + matrix + overrides -> Plan. Pure and deterministic: no I/O, no clock, no environment.

Gates run in order (platform, driver, GPU architecture, wheels, Python, package guards); each candidate
that fails records why, so a refusal can say what would have to change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.version import Version

from hoofenv.machine.cuda import ComputeCapability, CudaTag, DriverVersion
from hoofenv.errors import HoofenvError, UsageError
from hoofenv.machine.facts import GPU, Facts
from hoofenv.machine.sources import URL_SCHEMES
from hoofenv.stack.build import PYPI, plan_build, toolchain_ready
from hoofenv.stack.matrix import (NO_INDEX, TEMPLATE_FIELDS, Matrix, MmcvBuildRow, MmcvWheelRow,
                                  TorchRow, template_problem)
from hoofenv.stack.plan import MmcvChoice, Plan, Problem, PythonSource, describe_patch
from hoofenv.stack.sources import SourceView, TorchSource, fill_sources


@dataclass
class Overrides:
    """The command line's (and environment's) choices that the resolver takes or refuses."""

    python: str | None = None
    torch: str | None = None
    cuda: str | None = None
    allow_build: bool = False
    mmcv_source: str | None = None  # None (auto) | "wheel" | "build"
    torch_index_url: str | None = None
    mmcv_base_url: str | None = None
    gpus: list[int] | None = None  # --gpu: plan for these GPUs (nvidia-smi indices) only
    nvcc: str | None = None  # --nvcc PATH, or "pypi"
    nvcc_version: str | None = None  # what that nvcc says it is (the CLI runs it)
    nvcc_home: str | None = None
    ptx: bool = False  # --ptx: the mmcv build also carries PTX for the newest GPU

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
    """One torch x CUDA x Python x mmcv combination; candidates compare by `key` alone."""

    key: tuple
    torch: TorchRow = field(compare=False)
    tag: CudaTag = field(compare=False)
    python: tuple[int, int] = field(compare=False)
    mmcv: Version = field(compare=False)
    wheel: MmcvWheelRow | None = field(compare=False)
    build: MmcvBuildRow | None = field(compare=False)
    src: TorchSource | None = field(default=None, compare=False)  # only with the machine's sources
    mmcv_note: str = field(default="", compare=False)  # why no wheel although the matrix has one (its index)


class _Refusal(Exception):
    """A gate that nothing passes: the plan is refused with this problem."""

    def __init__(self, code: str, message: str, hint: str, causes: list[str] | None = None):
        super().__init__(message)
        self.problem = Problem(code, message + "".join(f"; {c}" for c in causes or []), hint)


def resolve(facts: Facts, matrix: Matrix, overrides: Overrides | None = None) -> Plan:
    o = overrides or Overrides()
    o.check()
    plan = Plan(status="ok", target=_target(facts))
    view = SourceView(facts, matrix, o.torch_index_url, o.mmcv_base_url)
    try:
        _platform(facts, matrix, plan)  # 1
        allowed, gpus = _cuda_tags(facts, matrix, o, plan)  # 2
        candidates, rejected, available = _candidates(facts, matrix, o, allowed, gpus, view)  # 3-6
    except _Refusal as refusal:
        plan.problems.append(refusal.problem)
        plan.status = "refused"
        return plan
    plan = _fill(plan, max(candidates), facts, matrix, o, available, [cc for _, cc in gpus])
    return fill_sources(plan, max(candidates), view, rejected) if view.active else plan


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
                                                                                 list[tuple[GPU, ComputeCapability]]]:
    """2. The CUDA tags the driver runs (or cpu), and the served GPUs with their compute capabilities."""
    want_cpu = o.cuda is not None and o.cuda.lower() == "cpu"
    forced_tag = CudaTag.parse(o.cuda) if o.cuda else None
    if forced_tag and not forced_tag.is_cpu and not matrix.cuda_row(forced_tag):
        known = ", ".join(str(r.tag) for r in matrix.cuda)
        raise _Refusal("unknown-cuda", f"--cuda {o.cuda} is not in the matrix", f"use one of: cpu, {known}")
    allowed: list[CudaTag] = []
    gpus_cc: list[tuple[GPU, ComputeCapability]] = []
    nv = facts.nvidia
    if o.gpus and not want_cpu and (nv is None or not nv.gpus):
        raise _Refusal("unknown-gpu-index", f"--gpu {','.join(map(str, o.gpus))}: no NVIDIA GPU is known here",
                       "drop --gpu (or plan for CPU: `hoofenv plan --cuda cpu`)")
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
    elif not o.gpus and nv.visible is not None and not _selected(nv, o):
        plan.why.append(f"CUDA_VISIBLE_DEVICES={nv.visible_env!r} hides every GPU: a CPU stack")
    else:
        allowed = _driver_tags(nv, matrix, forced_tag, plan)
        chosen = _selected(nv, o)
        why = _selection_why(nv, o, chosen)
        if why:
            plan.why.append(why)
        gpus_cc = _gpu_capabilities(chosen, matrix, plan)
    for cc in sorted({cc for _, cc in gpus_cc}):
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


def _selected(nv, o: Overrides) -> list[GPU]:
    """The GPUs the plan serves: --gpu's, else those CUDA_VISIBLE_DEVICES leaves visible, else all."""
    if o.gpus:
        by_index = {g.index: g for g in nv.gpus}
        unknown = [i for i in o.gpus if i not in by_index]
        if unknown:
            have = ", ".join(f"{g.index} ({g.name})" for g in nv.gpus) or "none"
            raise _Refusal("unknown-gpu-index", f"--gpu {','.join(map(str, unknown))}: no such GPU here",
                           f"use one of this machine's GPU indices (as nvidia-smi numbers them): {have}")
        return [by_index[i] for i in dict.fromkeys(o.gpus)]
    if nv.visible is not None:
        return [g for g in nv.gpus if g.index in nv.visible]
    return list(nv.gpus)


def _selection_why(nv, o: Overrides, chosen: list[GPU]) -> str | None:
    if not o.gpus and nv.visible is None:
        return None
    names = ", ".join(f"GPU {g.index} ({g.name})" for g in chosen)
    ids = ",".join(g.uuid or str(g.index) for g in chosen)
    order = "" if all(g.uuid for g in chosen) else " CUDA_DEVICE_ORDER=PCI_BUS_ID"
    how = f"--gpu {','.join(map(str, o.gpus))}" if o.gpus else f"CUDA_VISIBLE_DEVICES={nv.visible_env}"
    return (f"{how}: planning for {names} only of {len(nv.gpus)}; train on {'it' if len(chosen) == 1 else 'them'} "
            f"with `CUDA_VISIBLE_DEVICES={ids}{order}`")


def _gpu_capabilities(gpus: list[GPU], matrix: Matrix, plan: Plan) -> list[tuple[GPU, ComputeCapability]]:
    found = []
    for gpu in gpus:
        if gpu.compute_capability:
            found.append((gpu, ComputeCapability.parse(gpu.compute_capability)))
            continue
        cc = matrix.cc_for_name(gpu.name)
        if cc:
            found.append((gpu, cc))
            plan.why.append(f"{gpu.name}: compute capability {cc} from its family name [gpu_families]")
        else:
            plan.problems.append(Problem("unknown-gpu", f"{gpu.name}: compute capability unknown",
                                         "set it explicitly: `HOOFENV_CUDA_ARCH=8.6 hoofenv plan`", "warning"))
    return found


def _candidates(facts: Facts, matrix: Matrix, o: Overrides, allowed: list[CudaTag],
                gpus: list[tuple[GPU, ComputeCapability]], view: SourceView
                ) -> tuple[list[_Candidate], list[str], set[tuple[int, int]]]:
    """3-6. Every (torch, tag, python, mmcv) that passes each gate (with the machine's sources: that a source
    serves it and no configured constraint forbids it), the reasons of those that did not, and the Python minors
    on this machine. Among those that build mmcv, one whose nvcc needs no installing comes first (a CUDA 13 torch,
    whose nvcc is on PyPI, where the driver allows it)."""
    gpus_cc = [cc for _, cc in gpus]
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
        excluded = view.excluded(trow)
        if excluded:
            rejected.append(excluded)
            continue
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
                src, why = view.torch(trow, tag, py) if view.active else (None, "")
                if view.active and src is None:
                    rejected.append(why)
                    view.blocked.append(why)
                    continue
                found = _first_mmcv(matrix, o, trow, tag, py, mmcv_ok, rejected, view)
                if found:
                    mmcv, wheel, build, note = found
                    ready = wheel is not None or toolchain_ready(tag, facts, matrix, o)
                    key = (wheel is not None or o.allow_build, ready, py in available, py == running, trow.version,
                           tag, py, mmcv, wheel is not None)
                    candidates.append(_Candidate(key, trow, tag, py, mmcv, wheel, None if wheel else build, src,
                                                 note))
    if not candidates and len(set(gpus_cc)) > 1:
        raise _mixed_refusal(matrix, allowed, gpus)
    if not candidates:
        want_cpu = o.cuda is not None and o.cuda.lower() == "cpu"
        hint = "hoofenv plan --cuda cpu" if not want_cpu else "hoofenv plan (without overrides)"
        if o.any_stack():
            hint = f"drop the overrides (`{hint}` or plain `hoofenv plan`); the reasons above say which cannot work"
        if view.blocked:
            raise _Refusal("no-source", "no package source this machine can reach serves a workable stack",
                           "give a mirror: `hoofenv install --index-url URL` (PyPI's), `--torch-index-url URL`, "
                           "`--mmcv-base-url URL`; or a wheelhouse: on a connected machine `hoofenv install --facts "
                           "THIS-MACHINE.json --download-to DIR`, then here `hoofenv install --wheelhouse DIR "
                           "--offline` (record the facts here with `hoofenv doctor --facts-out THIS-MACHINE.json`)",
                           list(dict.fromkeys(view.blocked))[-6:])
        raise _Refusal("no-stack", "no combination of torch, CUDA build, Python and mmcv passes every gate", hint,
                       list(dict.fromkeys(rejected))[-6:])
    return candidates, rejected, available


def _mixed_refusal(matrix: Matrix, allowed: list[CudaTag], gpus: list[tuple[GPU, ComputeCapability]]) -> _Refusal:
    """GPUs of architectures no single torch build carries: name each one's newest build and offer --gpu."""
    parts, hints = [], []
    for gpu, cc in sorted(gpus, key=lambda p: p[0].index):
        fits = [f"{r.version}+{tag}" for r in matrix.torch for tag, arch in r.builds.items()
                if tag in allowed and arch is not None and arch.runs_on(cc)]
        parts.append(f"GPU {gpu.index} {gpu.name} ({cc.sm}): newest build carrying it: "
                     f"{fits[-1] if fits else 'none this driver runs'}")
        hints.append(f"`hoofenv plan --gpu {gpu.index}` ({gpu.name})")
    return _Refusal("mixed-gpus", "no torch build carries code for every GPU here, so no plan serves them together",
                    "plan for the card(s) you train on: " + " or ".join(hints) + " (or set CUDA_VISIBLE_DEVICES); "
                    "a CPU plan: `hoofenv plan --cuda cpu`", parts)


def _first_mmcv(matrix: Matrix, o: Overrides, trow: TorchRow, tag: CudaTag, py: tuple[int, int],
                mmcv_ok: list[Version], rejected: list[str], view: SourceView):
    """The newest mmcv inside the guards with a wheel or a known-good build here: (version, wheel, build, note);
    with the machine's sources, a wheel needs its index to answer and a build needs an index serving the sdist."""
    for mmcv in mmcv_ok:
        wheel = None if o.mmcv_source == "build" else _wheel(matrix, mmcv, trow, tag, py)
        note = ""
        if wheel is not None:
            reachable, note = view.mmcv_wheel(tag, trow.minor)
            wheel = wheel if reachable else None
        build = next((b for b in matrix.mmcv_build if b.mmcv == mmcv and b.builds_for(trow.version)), None)
        if wheel is None and build is not None and o.mmcv_source != "wheel":
            has_sdist, where = view.sdist()
            if not has_sdist:
                rejected.append(f"mmcv {mmcv} cannot be built: no index serves its sdist ({where})")
                view.blocked.append(rejected[-1])
                continue
        if wheel is None and (build is None or o.mmcv_source == "wheel"):
            rejected.append(f"no mmcv {mmcv} wheel for torch {trow.minor}/{tag}/cp{py[0]}{py[1]} "
                            + (f"reachable ({note}) " if note else "")
                            + "and no known-good source build [mmcv_wheels, mmcv_build]")
            if note:
                view.blocked.append(rejected[-1])
            continue
        return mmcv, wheel, build, note
    return None


def _fill(plan: Plan, c: _Candidate, facts: Facts, matrix: Matrix, o: Overrides,
          available: set[tuple[int, int]], gpus_cc: list[ComputeCapability]) -> Plan:
    why = plan.why
    plan.python = _fmt(c.python)
    plan.torch = str(c.torch.version)
    plan.torchvision = c.torch.torchvision
    plan.cuda = str(c.tag)
    arch = c.torch.builds[c.tag]
    arch_text = f", carries {arch.describe()}" if arch else ""
    shown = f"{plan.torch}+{plan.cuda}" if c.src is None or c.src.label else \
        f"{plan.torch} (PyPI's {c.src.build} build, for a {plan.cuda} stack)"
    why.append(f"torch {shown} with torchvision {plan.torchvision}: the newest release whose "
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
        _fill_build(plan, c, facts, matrix, o, gpus_cc)

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


def _fill_build(plan: Plan, c: _Candidate, facts: Facts, matrix: Matrix, o: Overrides,
                gpus_cc: list[ComputeCapability]) -> None:
    """The mmcv source build, its compiler and patches, each with its reason."""
    if o.mmcv_source == "build":
        reason = "--mmcv-source build"
    elif c.mmcv_note:
        reason = f"{c.mmcv_note} -> no prebuilt wheel to fetch"
    elif o.allow_build and c.wheel is None:
        reason = "--allow-build, and it gives the newest stack"
    else:
        reason = f"no prebuilt mmcv {c.mmcv} wheel exists for torch {c.torch.minor}/{c.tag}: the only way"
    build, problems = plan_build(c.torch, c.tag, c.build, facts, matrix, o, gpus_cc, reason)
    plan.mmcv = MmcvChoice(str(c.mmcv), "build", build)
    plan.rows.append(c.build.id)
    plan.why.append(f"mmcv {c.mmcv}: built from source against torch {plan.torch} ({reason}, about {build.minutes} "
                    f"min at MAX_JOBS={build.max_jobs}" + (f", TORCH_CUDA_ARCH_LIST={build.cuda_arch_list}"
                                                           if build.cuda_arch_list else "")
                    + f") {_cite(c.build.id, c.build.source)}")
    for patch in build.patches:
        key = ".unity" if "unity" in patch else ".patches"
        plan.why.append(f"mmcv sdist patched: {describe_patch(patch)} {_cite(c.build.id + key, c.build.source)}")
    t = build.toolchain
    if t and t.how == PYPI:
        row = matrix.toolchain_row(t.cuda)
        plan.rows.append(row.id)
        plan.why.append(f"nvcc {t.cuda} for the build comes from PyPI into the build venv ({', '.join(t.packages)}): "
                        "no system CUDA toolkit and no sudo; that is why a CUDA 13 torch is preferred where the "
                        f"driver (>= 580) allows it {_cite(row.id, row.source)}")
    elif t and t.how in ("system", "given"):
        plan.why.append(f"nvcc {t.version or '?'} at {t.nvcc} ({'--nvcc' if t.how == 'given' else 'found here'}) "
                        f"compiles the CUDA ops for torch's CUDA {t.cuda}")
    plan.problems += problems


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
