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
    torch_headers: str | None
    cuda_arch_list: str | None
    force_cuda: bool
    needs: list[str]
    missing: list[str]
    max_jobs: int
    minutes: int
    reason: str
    toolchain: Toolchain | None = None
    patches: list[dict] = field(default_factory=list)  # {file, replace, with, why}: applied to the unpacked sdist
    cflags: str | None = None


@dataclass
class MmcvChoice:
    version: str
    source: str  # "wheel" | "build"
    build: MmcvBuild | None = None


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

    @property
    def resolved(self) -> bool:
        return self.status == "ok"

    @property
    def ok(self) -> bool:
        """Resolved, and nothing blocks acting on it (a missing build tool is an error, not a refusal)."""
        return self.resolved and not any(p.severity == "error" for p in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Plan":
        data = dict(data)
        if data.get("mmcv"):
            mmcv = dict(data["mmcv"])
            if mmcv.get("build"):
                build = dict(mmcv["build"])
                if build.get("toolchain"):
                    build["toolchain"] = Toolchain(**build["toolchain"])
                mmcv["build"] = MmcvBuild(**build)
            data["mmcv"] = MmcvChoice(**mmcv)
        if data.get("python_source"):
            data["python_source"] = PythonSource(**data["python_source"])
        data["problems"] = [Problem(**p) for p in data.get("problems", [])]
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> "Plan":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as exc:
            raise HoofenvError(f"cannot read plan file {path}", [str(exc)],
                               hint="write one with `hoofenv plan --json > plan.json`", code="plan-invalid",
                               exit_code=2) from exc

    def requirement(self, name: str) -> str:
        """A pip requirement string for a planned package (`torch==2.1.2`, `setuptools<81`)."""
        versions = {"torch": self.torch, "torchvision": self.torchvision, "mmengine": self.mmengine,
                    "mmdet": self.mmdet, "mmpose": self.mmpose, "mmcv": self.mmcv.version if self.mmcv else None}
        if versions.get(name):
            return f"{name}=={versions[name]}"
        spec = self.pins.get(name)
        if spec is None:
            return name
        return f"{name}{spec}" if spec[:1] in "<>=!~" else f"{name}=={spec}"
