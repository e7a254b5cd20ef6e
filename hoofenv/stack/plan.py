"""The resolver's answer: what to install, from where, and why. Plain data that round-trips through JSON,
so `install` and `verify` can run from a plan file written on another machine."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hoofenv.errors import HoofenvError
from hoofenv.machine import typed
from hoofenv.machine.cuda import CudaTag


@dataclass
class Problem:
    """Why a plan is refused (severity error) or what to watch (warning), with the fix."""

    code: str
    message: str
    hint: str | None = None
    severity: str = "error"


@dataclass
class PythonSource:
    """How the plan's interpreter is obtained: `path` (already here), `uv`, `conda`, or `missing`."""

    how: str
    path: str | None = None
    command: str | None = None


@dataclass
class Toolchain:
    """Where a CUDA build's nvcc comes from: `system` (found on this machine), `given` (--nvcc PATH), `pypi`
    (`packages` installed into the build venv: no sudo) or `missing` (`commands` that get one)."""

    how: str
    cuda: str  # the CUDA major.minor torch was built with, which nvcc must match
    nvcc: str | None = None
    version: str | None = None
    cuda_home: str | None = None
    packages: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


@dataclass
class MmcvBuild:
    """The mmcv source build a plan asks for: flags, requirements, time."""

    torch_headers: str | None
    cuda_arch_list: str | None
    force_cuda: bool
    needs: list[str]
    missing: list[str]
    max_jobs: int
    minutes: int
    reason: str
    toolchain: Toolchain | None = None
    patches: list[dict] = field(default_factory=list)  # for the sdist: {file, replace, with, why} or
    #                                                     {unity, exclude, units, why} (install/sdist.py)
    cflags: str | None = None


@dataclass
class MmcvChoice:
    """Which mmcv, and whether it is a wheel or a source build."""

    version: str
    source: str  # "wheel" | "build"
    build: MmcvBuild | None = None


@dataclass
class SourceChoice:
    """Where one part of the stack comes from and why: `package` torch (with torchvision), mmcv, or packages
    (everything else); `source` a name a person reads (PyPI, download.pytorch.org/whl/cpu, a folder)."""

    package: str
    source: str
    url: str | None
    reason: str


# plan fields that only plans made from a machine's sources carry; absent, the plan means what it always did
SOURCE_FIELDS = ("torch_build", "torch_local", "sources")


@dataclass
class Plan:
    """The stack for one machine, or its refusal, with every reason; round-trips through JSON (`Plan.load`)."""

    status: str  # "ok" | "refused"
    python: str | None = None
    python_source: PythonSource | None = None
    torch: str | None = None
    torchvision: str | None = None
    cuda: str | None = None
    mmcv: MmcvChoice | None = None
    mmengine: str | None = None
    mmdet: str | None = None
    mmpose: str | None = None
    pins: dict[str, str] = field(default_factory=dict)
    mmpose_runtime: list[str] = field(default_factory=list)
    indexes: dict[str, str] = field(default_factory=dict)
    weights_only: bool = False
    why: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)
    target: dict[str, Any] = field(default_factory=dict)
    torch_build: str | None = None  # the build of the planned torch wheels (cpu, cu121, cu130)
    torch_local: str | None = None  # the local version label their files carry (cpu, cu121); None: PyPI's own
    sources: list[SourceChoice] = field(default_factory=list)

    @property
    def resolved(self) -> bool:
        return self.status == "ok"

    @property
    def ok(self) -> bool:
        """Resolved, and nothing blocks acting on it (a missing build tool is an error, not a refusal)."""
        return self.resolved and not any(p.severity == "error" for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.torch_build is None and not self.sources:  # a plan made without a machine's sources: as always
            for key in SOURCE_FIELDS:
                data.pop(key)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any, source: str = "the plan") -> "Plan":
        """Types, then the values install and verify parse (versions, the CUDA tag, mmcv's source); a bad field is
        named with its dotted path."""
        def bad(where: str, why: str) -> HoofenvError:
            return HoofenvError(f"invalid plan in {source}: field `{where or '(top level)'}` {why}",
                                hint="write a new one with `hoofenv plan --json > plan.json` (or re-run `hoofenv "
                                     "install`, which writes the env's)", code="plan-invalid", exit_code=2)

        plan = typed.build(cls, data, bad)
        _check_values(plan, bad)
        return plan

    @classmethod
    def load(cls, path: str | Path) -> "Plan":
        hint = "write one with `hoofenv plan --json > plan.json`"
        try:
            data = json.loads(Path(path).read_bytes().decode("utf-8"))
        except OSError as exc:
            raise HoofenvError(f"cannot read plan file {path}", [exc.strerror or str(exc)], hint=hint,
                               code="plan-invalid", exit_code=2) from exc
        except (ValueError, RecursionError) as exc:  # JSON, UTF-8, nesting
            raise HoofenvError(f"plan file {path} is not JSON", [str(exc)[:200]], hint=hint, code="plan-invalid",
                               exit_code=2) from exc
        return cls.from_dict(data, str(path))

    def torch_text(self) -> str:
        """`2.1.2+cpu`, or `2.14.1 (PyPI's cu130 build)` when the files carry no label."""
        if self.torch_build is not None and self.torch_local is None:
            return f"{self.torch} (PyPI's {self.torch_build} build)"
        return f"{self.torch}+{self.cuda}"

    def headers_requirement(self) -> str:
        """The torch mmcv's build compiles against (`build.torch_headers`, else the planned one), named as exactly
        as it matters: a PyTorch index's label; PyPI's own build for CUDA ops; any build of the release for CPU ops
        (the same headers, and a local copy saves gigabytes of CUDA libraries)."""
        b = self.mmcv.build if self.mmcv else None
        version = (b.torch_headers if b else None) or self.torch
        label = self.torch_label()
        if label:
            return f"torch=={version}+{label}"
        return f"torch==={version}" if label is None and b and b.force_cuda else f"torch=={version}"

    def source_of(self, package: str) -> str | None:
        """Where the plan takes a part from (plans made from the machine's sources say it)."""
        return next((c.source for c in self.sources if c.package == package), None)

    def torch_label(self) -> str | None:
        """The local version label the planned torch and torchvision files carry: the tag when they come from a
        PyTorch index (its files are `torch-2.1.2+cpu-...`), None for PyPI's own build (no label), "" when the
        plan does not say (HOOFENV_TORCH_INDEX_URL=none on a plan made without the machine's sources)."""
        if self.torch_build is not None:
            return self.torch_local
        index = self.indexes.get("torch")
        return self.cuda if index and index != "none" and self.cuda else ""

    def requirement(self, name: str) -> str:
        """A pip requirement string for a planned package (`torch==2.1.2+cpu`, `setuptools<81`). torch and
        torchvision name their build exactly: `==2.1.2+cpu` for a PyTorch index's, `===2.14.1` for PyPI's own
        (`==2.14.1` would also take a `2.14.1+cpu` from some folder), so no source can substitute another build."""
        versions = {"torch": self.torch, "torchvision": self.torchvision, "mmengine": self.mmengine,
                    "mmdet": self.mmdet, "mmpose": self.mmpose, "mmcv": self.mmcv.version if self.mmcv else None}
        if versions.get(name) and name in ("torch", "torchvision"):
            label = self.torch_label()
            if label is None:
                return f"{name}==={versions[name]}"
            return f"{name}=={versions[name]}" + (f"+{label}" if label else "")
        if versions.get(name):
            return f"{name}=={versions[name]}"
        spec = self.pins.get(name)
        if spec is None:
            return name
        return f"{name}{spec}" if spec[:1] in "<>=!~" else f"{name}=={spec}"


def _version_ok(text: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def _spec_ok(text: str) -> bool:
    """A pin as plans hold it: an exact version (`1.26.4`) or a specifier (`<81`), as pip and doctor read it."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    if text[:1] not in "<>=!~":
        return _version_ok(text)
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return False
    return True


def _check_values(plan: Plan, bad) -> None:
    if plan.status not in ("ok", "refused"):
        raise bad("status", f"must be `ok` or `refused`, got `{plan.status}`")
    if plan.python is not None and not re.fullmatch(r"\d+\.\d+", plan.python):
        raise bad("python", f"`{plan.python}` is not a Python minor like 3.11")
    if plan.cuda is not None:
        try:
            CudaTag.parse(plan.cuda)
        except HoofenvError:
            raise bad("cuda", f"`{plan.cuda}` is not a CUDA tag (cpu, cu121, ...)") from None
    for name in ("torch", "torchvision", "mmengine", "mmdet", "mmpose"):
        value = getattr(plan, name)
        if value is not None and not _version_ok(value):
            raise bad(name, f"`{value}` is not a version")
    if plan.mmcv is not None:
        if not _version_ok(plan.mmcv.version):
            raise bad("mmcv.version", f"`{plan.mmcv.version}` is not a version")
        if plan.mmcv.source not in ("wheel", "build"):
            raise bad("mmcv.source", f"must be `wheel` or `build`, got `{plan.mmcv.source}`")
        if plan.mmcv.build is not None and plan.mmcv.build.max_jobs < 1:
            raise bad("mmcv.build.max_jobs", f"must be at least 1, got {plan.mmcv.build.max_jobs}")
    for name, spec in plan.pins.items():
        if not _spec_ok(spec):
            raise bad(f"pins.{name}", f"`{spec}` is neither a version nor a specifier like <81")
    if plan.python_source is not None and plan.python_source.how not in ("path", "uv", "conda", "missing"):
        raise bad("python_source.how", f"must be path, uv, conda or missing, got `{plan.python_source.how}`")
    if plan.status == "ok" and None in (plan.python, plan.torch, plan.cuda, plan.mmcv):
        missing = [n for n in ("python", "torch", "cuda", "mmcv") if getattr(plan, n) is None]
        raise bad(missing[0], "is required in a plan whose status is ok")


def describe_patch(patch: dict) -> str:
    """One line for a plan's sdist patch, either kind."""
    if "unity" in patch:
        but = f" but {', '.join(patch['exclude'])}" if patch.get("exclude") else ""
        return f"{patch['unity']}/*.cpp{but} compiled as {patch['units']} units: {patch['why']}"
    return f"{patch['file']}: {patch['replace']} -> {patch['with']}: {patch['why']}"
