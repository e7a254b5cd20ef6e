"""What the probe found, as plain dataclasses that round-trip through JSON.

A facts file recorded on one machine can be fed to `plan`/`install --dry-run` on another, so loading is
strict: a wrong type names the field and the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from hoofenv.errors import HoofenvError

FACTS_ENV = "HOOFENV_FACTS"


@dataclass
class OSFacts:
    system: str
    arch: str
    distro: str | None = None
    distro_version: str | None = None
    wsl: bool = False
    wsl_version: int | None = None
    kernel: str | None = None


@dataclass
class Interpreter:
    version: str
    path: str
    home: str | None = None  # its CUDA_HOME (from `nvcc --dryrun`: a wrapper script in /usr/local/bin points elsewhere)


@dataclass
class PythonFacts:
    version: str
    executable: str
    available: list[str] = field(default_factory=list)
    interpreters: list[Interpreter] = field(default_factory=list)
    venv: bool = False
    conda: bool = False
    pip: bool = True


@dataclass
class GPU:
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
class Facts:
    os: OSFacts
    python: PythonFacts
    nvidia: NvidiaFacts | None = None
    tools: ToolFacts = field(default_factory=ToolFacts)
    disk_free_gib: float | None = None
    cpu_count: int | None = None
    memory_gib: float | None = None
    probe_notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any, source: str = "facts") -> "Facts":
        return _build(cls, data, source)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Facts":
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise HoofenvError(
                f"cannot read facts file {path}", [str(exc)],
                hint="record one on the target machine with `hoofenv doctor --facts-out facts.json`",
                code="facts-unreadable", exit_code=2,
            ) from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise HoofenvError(
                f"facts file {path} is not valid JSON",
                [f"line {exc.lineno}, column {exc.colno}: {exc.msg}"],
                hint="record one on the target machine with `hoofenv doctor --facts-out facts.json`",
                code="facts-invalid", exit_code=2,
            ) from exc
        return cls.from_dict(data, str(path))


def _build(cls, data: Any, where: str):
    """Construct dataclass `cls` from `data`, checking types; errors name the dotted field path."""
    if not isinstance(data, dict):
        raise _bad(where, f"expected an object, got {type(data).__name__}")
    kwargs = {}
    hints = _hints(cls)
    for f in fields(cls):
        path = f"{where}.{f.name}" if ":" in where else f"{where}:{f.name}"
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise _bad(path, "is required")
            continue
        kwargs[f.name] = _convert(hints[f.name], data[f.name], path)
    return cls(**kwargs)


def _convert(kind: Any, value: Any, path: str):
    optional, base, item = kind
    if value is None:
        if optional:
            return None
        raise _bad(path, "must not be null")
    if base is list:
        if not isinstance(value, list):
            raise _bad(path, f"expected a list, got {type(value).__name__}")
        return [_convert((False, item, None), v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(base, type) and hasattr(base, "__dataclass_fields__"):
        return _build(base, value, path)
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(path, f"expected a number, got {value!r}")
        return float(value)
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(path, f"expected an integer, got {value!r}")
        return value
    if base is bool:
        if not isinstance(value, bool):
            raise _bad(path, f"expected true or false, got {value!r}")
        return value
    if base is str:
        if not isinstance(value, str):
            raise _bad(path, f"expected a string, got {value!r}")
        return value
    return value


_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def _hints(cls) -> dict[str, tuple[bool, Any, Any]]:
    """Parse the dataclass's string annotations (from __future__ annotations) into (optional, base, item)."""
    out = {}
    namespace = globals()
    for f in fields(cls):
        text = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        parts = [p.strip() for p in text.split("|")]
        optional = "None" in parts
        parts = [p for p in parts if p != "None"]
        base_text = parts[0]
        item = None
        if base_text.startswith("list["):
            base = list
            inner = base_text[5:-1]
            item = _TYPES.get(inner) or namespace[inner]
        else:
            base = _TYPES.get(base_text) or namespace[base_text]
        out[f.name] = (optional, base, item)
    return out


def _bad(path: str, why: str) -> HoofenvError:
    file, _, field_path = path.partition(":")
    return HoofenvError(
        f"invalid facts in {file}: field `{field_path or '(top level)'}` {why}",
        hint="re-record the file with `hoofenv doctor --facts-out FILE`, or fix that field by hand",
        code="facts-invalid",
        exit_code=2,
    )


def load_facts_override(path: str | None) -> Facts | None:
    """`--facts FILE` wins over $HOOFENV_FACTS; None means: probe this machine."""
    path = path or os.environ.get(FACTS_ENV)
    return Facts.load(path) if path else None
