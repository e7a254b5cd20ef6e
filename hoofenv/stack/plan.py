"""The resolver's answer: what to install, from where, and why. Plain data that round-trips through JSON,
so `install` and `verify` can run from a plan file written on another machine."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hoofenv.errors import HoofenvError


@dataclass
class Problem:
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
class MmcvBuild:
    torch_headers: str | None
    cuda_arch_list: str | None
    force_cuda: bool
    needs: list[str]
    missing: list[str]
    max_jobs: int
    minutes: int
    reason: str


@dataclass
class MmcvChoice:
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
    def from_dict(cls, data: dict[str, Any]) -> "Plan":
        data = dict(data)
        if data.get("mmcv"):
            mmcv = dict(data["mmcv"])
            if mmcv.get("build"):
                mmcv["build"] = MmcvBuild(**mmcv["build"])
            data["mmcv"] = MmcvChoice(**mmcv)
        if data.get("python_source"):
            data["python_source"] = PythonSource(**data["python_source"])
        data["problems"] = [Problem(**p) for p in data.get("problems", [])]
        data["sources"] = [SourceChoice(**c) for c in data.get("sources") or []]
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> "Plan":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise HoofenvError(f"cannot read plan file {path}", [str(exc)],
                               hint="write one with `hoofenv plan --json > plan.json`", code="plan-invalid",
                               exit_code=2) from exc

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
