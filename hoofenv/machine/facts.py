"""What the probe found, as plain dataclasses that round-trip through JSON.

A facts file recorded on one machine can be fed to `plan`/`install --dry-run` on another, so loading is
strict: a wrong type names the field and the file.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hoofenv.errors import HoofenvError
from hoofenv.machine import typed
from hoofenv.machine.cuda import ComputeCapability, DriverVersion

FACTS_ENV = "HOOFENV_FACTS"


@dataclass
class OSFacts:
    """The operating system: what the train platforms and the driver gate are checked against."""

    system: str
    arch: str
    distro: str | None = None
    distro_version: str | None = None
    wsl: bool = False
    wsl_version: int | None = None
    kernel: str | None = None


@dataclass
class Interpreter:
    """A Python found on this machine, by version and path."""

    version: str
    path: str
    home: str | None = None  # its CUDA_HOME (from `nvcc --dryrun`: a wrapper script in /usr/local/bin points elsewhere)


@dataclass
class PythonFacts:
    """The running Python, the others found, and whether venv, conda and pip are at hand."""

    version: str
    executable: str
    available: list[str] = field(default_factory=list)
    interpreters: list[Interpreter] = field(default_factory=list)
    venv: bool = False
    conda: bool = False
    pip: bool = True


@dataclass
class GPU:
    """One NVIDIA GPU as NVML, nvidia-smi or lspci reports it."""

    name: str
    compute_capability: str | None = None
    memory_mib: int | None = None
    index: int = 0
    uuid: str | None = None


@dataclass
class NvidiaFacts:
    """`error_code`: None, `no-driver` (a GPU on the bus, no kernel module), `driver-mismatch` (the
    kernel module and the user-space library differ: reboot), `nvml-failed` (NVML failed another way)."""

    driver_version: str | None = None
    cuda_driver_version: str | None = None
    error: str | None = None
    error_code: str | None = None
    source: str | None = None
    gpus: list[GPU] = field(default_factory=list)
    # the GPU indices CUDA_VISIBLE_DEVICES leaves visible (None: all of them; []: none)
    visible: list[int] | None = None
    visible_env: str | None = None


@dataclass
class Nvcc:
    """One CUDA compiler found on this machine: its release (12.8) and its path."""

    version: str
    path: str
    home: str | None = None  # its CUDA_HOME (from `nvcc --dryrun`: a wrapper script in /usr/local/bin points elsewhere)


@dataclass
class ToolFacts:
    """Versions of the tools an install or an mmcv build may use; None: not found."""

    uv: str | None = None
    conda: str | None = None
    mamba: str | None = None
    nvcc: str | None = None  # the release of the nvcc on PATH
    gcc: str | None = None
    ninja: str | None = None
    gxx: str | None = None  # g++'s version (mmcv's C++ sources)
    gxx_missing: bool = False  # probed and absent (facts recorded before g++ was probed say False)
    nvccs: list[Nvcc] = field(default_factory=list)  # every nvcc found: PATH, $CUDA_HOME, /usr/local/cuda*


@dataclass
class SourceFact:
    """One package source and whether it answered (machine/sources.py).

    `role`: pytorch (the PyTorch index for `tag`), openmmlab (the mmcv page for `tag`/`torch_minor`), index (PyPI
    or what replaces it), extra-index, find-links, wheelhouse. `status`: ok, dns, refused, timeout, tls, proxy,
    http (see `http_status`), network, missing (a local folder that is not there), offline (not asked), error.
    `holds`: for a local source, the torch, torchvision and mmcv files in it."""

    role: str
    url: str
    origin: str = "upstream"
    status: str = "ok"
    ms: float | None = None
    http_status: int | None = None
    detail: str | None = None
    tag: str | None = None
    torch_minor: str | None = None
    holds: list[str] = field(default_factory=list)


@dataclass
class ConstraintFact:
    """A constraint the installers apply on this machine (pip's `constraint` setting): the plan must fit it."""

    requirement: str
    file: str
    origin: str = "pip config"


@dataclass
class SourcesFacts:
    """Which package sources this machine can use. Absent from a facts file: every upstream source answers."""

    offline: bool = False
    entries: list[SourceFact] = field(default_factory=list)
    constraints: list[ConstraintFact] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Facts:
    """Everything the plan knows about a machine; round-trips through JSON (`--facts FILE`)."""

    os: OSFacts
    python: PythonFacts
    nvidia: NvidiaFacts | None = None
    tools: ToolFacts = field(default_factory=ToolFacts)
    disk_free_gib: float | None = None
    cpu_count: int | None = None
    memory_gib: float | None = None
    probe_notes: list[str] = field(default_factory=list)
    sources: SourcesFacts | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any, source: str = "facts") -> "Facts":
        """Types, then values: what the resolver parses (versions, capabilities) and what it computes with
        (sizes and counts) is checked here, so that a facts file that loads never fails later."""
        bad = lambda where, why: _bad(source, where, why)  # noqa: E731
        facts = typed.build(cls, data, bad)
        _check_values(facts, bad)
        return facts

    @classmethod
    def load(cls, path: str | os.PathLike, origin: str | None = None) -> "Facts":
        """`origin`: where the path came from when not a flag (`$HOOFENV_FACTS`), named in the errors."""
        path = Path(path)
        came = [f"the path comes from {origin}"] if origin else []
        hint = "record one on the target machine with `hoofenv doctor --facts-out facts.json`"
        try:
            text = path.read_bytes().decode("utf-8")
        except OSError as exc:
            raise HoofenvError(f"cannot read facts file {path}", [exc.strerror or str(exc), *came], hint=hint,
                               code="facts-unreadable", exit_code=2) from exc
        except UnicodeDecodeError as exc:
            raise HoofenvError(f"facts file {path} is not UTF-8 text", [str(exc), *came], hint=hint,
                               code="facts-invalid", exit_code=2) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HoofenvError(f"facts file {path} is not valid JSON",
                               [f"line {exc.lineno}, column {exc.colno}: {exc.msg}", *came], hint=hint,
                               code="facts-invalid", exit_code=2) from exc
        except RecursionError as exc:
            raise HoofenvError(f"facts file {path} is nested too deeply to be facts", came, hint=hint,
                               code="facts-invalid", exit_code=2) from exc
        return cls.from_dict(data, str(path))


# X.Y, X.Y.Z, with a pre-release or local suffix (3.13.0rc1, 3.12.3+)
_PYTHON = re.compile(r"\d{1,3}\.\d{1,4}(\.\d{1,4})?([a-z]{1,5}\d{0,4})?\+?")
_CUDA_VERSION = re.compile(r"\d{1,3}\.\d{1,3}(\.\d{1,4})?")


def _check_values(facts: Facts, bad) -> None:
    py = facts.python
    versions = [("version", py.version), *((f"available[{i}]", v) for i, v in enumerate(py.available)),
                *((f"interpreters[{i}].version", p.version) for i, p in enumerate(py.interpreters))]
    for where, version in versions:
        if not _PYTHON.fullmatch(version):
            raise bad(f"python.{where}", f"`{version}` is not a Python version like 3.11.9")
    if facts.os.wsl_version is not None and facts.os.wsl_version not in (1, 2):
        raise bad("os.wsl_version", f"must be 1, 2 or null, got {facts.os.wsl_version}")
    for name in ("disk_free_gib", "memory_gib"):
        value = getattr(facts, name)
        if value is not None and value < 0:
            raise bad(name, f"must not be negative, got {value}")
    if facts.cpu_count is not None and facts.cpu_count < 1:
        raise bad("cpu_count", f"must be at least 1, got {facts.cpu_count}")
    nv = facts.nvidia
    if nv is None:
        return
    if nv.driver_version is not None:
        _parsed(DriverVersion.parse, nv.driver_version, "nvidia.driver_version", bad)
    if nv.cuda_driver_version is not None and not _CUDA_VERSION.fullmatch(nv.cuda_driver_version):
        raise bad("nvidia.cuda_driver_version", f"`{nv.cuda_driver_version}` is not a CUDA version like 12.2")
    for i, gpu in enumerate(nv.gpus):
        if gpu.compute_capability is not None:
            _parsed(ComputeCapability.parse, gpu.compute_capability, f"nvidia.gpus[{i}].compute_capability", bad)
        if gpu.memory_mib is not None and gpu.memory_mib < 0:
            raise bad(f"nvidia.gpus[{i}].memory_mib", f"must not be negative, got {gpu.memory_mib}")
        if gpu.index < 0:
            raise bad(f"nvidia.gpus[{i}].index", f"must not be negative, got {gpu.index}")


def _parsed(parse, text: str, where: str, bad) -> None:
    try:
        parse(text)
    except HoofenvError as exc:
        raise bad(where, exc.message) from None


def _bad(file: str, where: str, why: str) -> HoofenvError:
    return HoofenvError(
        f"invalid facts in {file}: field `{where or '(top level)'}` {why}",
        hint="re-record the file with `hoofenv doctor --facts-out FILE`, or fix that field by hand",
        code="facts-invalid",
        exit_code=2,
    )


def load_facts_override(path: str | None) -> Facts | None:
    """`--facts FILE` wins over $HOOFENV_FACTS; None means: probe this machine."""
    if path:
        return Facts.load(path)
    from_env = os.environ.get(FACTS_ENV)
    return Facts.load(from_env, f"${FACTS_ENV}") if from_env else None
