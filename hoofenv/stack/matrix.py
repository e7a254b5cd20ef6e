"""compat_matrix.yaml -> typed, validated rows. A bad row is reported by its place and its field."""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from hoofenv.machine.cuda import ComputeCapability, CudaTag, DriverVersion
from hoofenv.errors import HoofenvError
from hoofenv.files import atomic_write_text
from hoofenv.paths import cache_root, resource

MATRIX_ENV = "HOOFENV_MATRIX"
PARSED_CACHE = "compat_matrix.parsed.json"  # in cache_root(); compat_matrix.json is older hoofenvs' (sha256-keyed)
CONFIDENCE = {"verified", "secondary", "inferred"}
NO_INDEX = "none"  # --torch-index-url none: take torch from the general sources (PyPI and mirrors)
# the placeholders each index template may use (str.format fields)
TEMPLATE_FIELDS = {"torch": {"cuda"}, "mmcv_base": set(), "mmcv": {"base", "cuda", "torch_minor"}}


def template_problem(text: str, allowed: set[str]) -> str | None:
    """Why `text` cannot be a URL template with `allowed` {placeholders}, or None when it can."""
    from _string import formatter_parser  # string.Formatter().parse itself; `import string` compiles a pattern

    try:
        parsed = list(formatter_parser(text))
    except ValueError as exc:
        return f"{exc} (write a literal brace as {{{{ or }}}})"
    if any(c.isspace() for c in text):
        return "contains white space"
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in allowed:
            known = ", ".join(f"{{{a}}}" for a in sorted(allowed)) or "none"
            return f"unknown placeholder {{{name}}} (known: {known})"
        if spec or conversion:
            return f"placeholder {{{name}}} takes no format spec or conversion"
    return None


@dataclass(frozen=True)
class CudaRow:
    """A CUDA build tag and the lowest driver that runs it, per system."""

    tag: CudaTag
    min_driver: dict[str, DriverVersion]
    source: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"cuda.{self.tag}"


@dataclass(frozen=True)
class ArchSet:
    """The GPU architectures a torch build carries code for (and PTX for newer ones)."""

    name: str
    arch: tuple[ComputeCapability, ...]
    ptx: bool
    source: tuple[str, ...]

    def runs_on(self, cc: ComputeCapability) -> bool:
        if any(cc.runs_code_for(a) for a in self.arch):
            return True
        return self.ptx and bool(self.arch) and cc.runs_code_for(max(self.arch), ptx=True)

    def describe(self) -> str:
        text = " ".join(a.sm for a in self.arch)
        return text + (" +PTX" if self.ptx else "")


@dataclass(frozen=True)
class TorchRow:
    """A torch release: its torchvision, Python range and CUDA builds."""

    version: Version
    torchvision: str
    python: tuple[tuple[int, int], tuple[int, int]]
    builds: dict[CudaTag, ArchSet | None]
    source: tuple[str, ...]
    confidence: str

    @property
    def id(self) -> str:
        return f"torch.{self.version}"

    @property
    def minor(self) -> str:
        return f"{self.version.major}.{self.version.minor}"

    def supports_python(self, py: tuple[int, int]) -> bool:
        return self.python[0] <= py <= self.python[1]


@dataclass(frozen=True)
class PypiBuild:
    """The one build PyPI serves for a torch release on Linux x86_64 (no local version tag on its files)."""

    torch: Version
    build: CudaTag
    source: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"pypi_torch.{self.torch}"


@dataclass(frozen=True)
class MmcvWheelRow:
    """The prebuilt mmcv wheels OpenMMLab serves for one torch minor."""

    mmcv: Version
    torch_minor: str
    cuda: frozenset[CudaTag]
    python: frozenset[str]
    platforms: frozenset[str]
    source: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"mmcv_wheels.{self.mmcv}/torch{self.torch_minor}"


@dataclass(frozen=True)
class SourcePatch:
    """A text replacement in the unpacked sdist, for the torch versions that need it."""

    torch: SpecifierSet
    file: str
    replace: str
    with_: str
    why: str

    def describe(self) -> str:
        return f"{self.file}: {self.replace} -> {self.with_} ({self.why})"


@dataclass(frozen=True)
class UnityBuild:
    """One sdist folder's `*.cpp` files (but `exclude`) compiled as `units` translation units (install/sdist.py)."""

    folder: str
    exclude: tuple[str, ...]
    units: int
    why: str


@dataclass(frozen=True)
class MmcvBuildRow:
    """How an mmcv version builds from source: against which torch, with what, how long."""

    mmcv: Version
    torch: SpecifierSet
    build_torch: tuple[tuple[SpecifierSet, str], ...]
    needs: tuple[str, ...]
    cuda_needs: str
    minutes: dict[str, int]
    peak_memory_gib: dict[str, float]
    source: tuple[str, ...]
    patches: tuple[SourcePatch, ...] = ()
    cflags: str | None = None
    unity: tuple[UnityBuild, ...] = ()

    @property
    def id(self) -> str:
        return f"mmcv_build.{self.mmcv}"

    def patches_for(self, torch: Version) -> list[SourcePatch]:
        return [p for p in self.patches if torch in p.torch]

    def headers_for(self, torch: Version) -> str | None:
        """The torch to compile against when it is not the installed one (C++ standard limits)."""
        for spec, version in self.build_torch:
            if torch in spec:
                return version
        return None

    def builds_for(self, torch: Version) -> bool:
        return torch in self.torch or self.headers_for(torch) is not None


@dataclass(frozen=True)
class ToolchainRow:
    """A CUDA major.minor whose full nvcc toolchain installs from PyPI (`pypi`: requirements)."""

    cuda: str
    pypi: tuple[str, ...]
    source: tuple[str, ...]
    confidence: str

    @property
    def id(self) -> str:
        return f"cuda_toolchains.{self.cuda}"


@dataclass(frozen=True)
class Package:
    """mmengine, mmdet or mmpose: its version and what it requires of the others."""

    name: str
    version: Version | None
    requires: dict[str, SpecifierSet]
    source: tuple[str, ...]


@dataclass(frozen=True)
class Pin:
    """A package held to a spec, with the reason."""

    name: str
    spec: str
    why: str
    source: tuple[str, ...]


@dataclass(frozen=True)
class TrackingRow:
    """`hoofenv train --track NAME`: MMEngine's vis backend, the module it imports, the pinned packages."""

    name: str
    backend: str
    module: str
    packages: tuple[str, ...]
    python: SpecifierSet
    why: str
    source: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"tracking.{self.name}"


@dataclass
class Matrix:
    """compat_matrix.yaml, validated: the rows the resolver chooses from and cites."""

    path: str
    sources: dict[str, str]
    cuda: list[CudaRow]
    arch_sets: dict[str, ArchSet]
    torch: list[TorchRow]
    mmcv_wheels: list[MmcvWheelRow]
    mmcv_build: list[MmcvBuildRow]
    packages: dict[str, Package]
    mmcv_versions: list[Version]
    pins: dict[str, Pin]
    mmpose_runtime: list[str]
    checkpoint: dict[str, Any]
    indexes: dict[str, str]
    platforms: dict[str, dict[str, Any]]
    stack_python: tuple[tuple[int, int], tuple[int, int]]
    stack_python_why: str
    gpu_families: list[tuple[re.Pattern, ComputeCapability]] = field(default_factory=list)
    pypi_torch: dict[Version, "PypiBuild"] = field(default_factory=dict)
    cuda_toolchains: list[ToolchainRow] = field(default_factory=list)
    nvcc_install: dict[str, Any] = field(default_factory=dict)

    def toolchain_row(self, cuda_version: str) -> ToolchainRow | None:
        return next((r for r in self.cuda_toolchains if r.cuda == cuda_version), None)
    on_demand: dict[str, Pin] = field(default_factory=dict)  # added when a command needs it, outside the plan

    def cuda_row(self, tag: CudaTag) -> CudaRow | None:
        return next((r for r in self.cuda if r.tag == tag), None)

    def torch_row(self, version: str) -> TorchRow | None:
        """Exact version, or the newest row of that minor when only X.Y is given."""
        rows = [r for r in self.torch if str(r.version) == version]
        rows = rows or [r for r in self.torch if r.minor == version]
        return rows[-1] if rows else None

    def cc_for_name(self, name: str) -> ComputeCapability | None:
        for pattern, cc in self.gpu_families:
            if pattern.search(name):
                return cc
        return None

    def cite(self, *ids: str) -> str:
        return "[" + ", ".join(ids) + "]"


def default_path() -> Path:
    """The packaged copy (wheel installs), else the repository's (editable installs)."""
    env = os.environ.get(MATRIX_ENV)
    return Path(env) if env else resource("compat_matrix.yaml")


def load(path: str | os.PathLike | None = None) -> Matrix:
    """The matrix at `path` (--matrix), $HOOFENV_MATRIX, or the shipped one. A matrix the user named that cannot be
    read or breaks the schema is a usage error (exit 2); the shipped one failing is hoofenv's problem (exit 1)."""
    origin = "--matrix" if path else (f"${MATRIX_ENV}" if os.environ.get(MATRIX_ENV) else None)
    path = Path(path) if path else default_path()
    exit_code = 2 if origin else 1
    came = [f"the path comes from {origin}"] if origin else []
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HoofenvError(f"cannot read the compatibility matrix {path}", [exc.strerror or str(exc), *came],
                           hint=f"check the path given to {origin}" if origin else
                           "reinstall hoofenv: `pip install --force-reinstall hoofenv`",
                           code="matrix-unreadable", exit_code=exit_code) from exc
    return from_data(_parsed(path, raw, exit_code), str(path), exit_code)


def from_data(data: Any, path: str = "compat_matrix.yaml", exit_code: int = 1) -> Matrix:
    """The parsed YAML -> a validated Matrix (errors name `path` and the row)."""
    return _Validator(path, exit_code).matrix(data)


def _parsed(path: Path, raw: bytes, exit_code: int = 1) -> Any:
    """The YAML as plain data. The shipped matrix is parsed once per content and kept as JSON in the cache, because
    importing PyYAML and parsing cost about a third of a `hoofenv plan` from a facts file. The content's key is its
    length and CRC-32: any edit changes it (an mtime can stay), and zlib is loaded already where hashlib's OpenSSL
    would cost `plan` ~4 ms; it only tells an edited file from the parsed one, it guards nothing (whoever can
    write the cache can write any data under any key). Validation runs on the data either way."""
    import zlib

    digest = f"{len(raw)}:{zlib.crc32(raw):08x}"
    cached = cache_root() / PARSED_CACHE if path == resource("compat_matrix.yaml") else None
    try:
        kept = json.loads(cached.read_text()) if cached else None
        if kept["content"] == digest:
            return kept["data"]
    except (OSError, ValueError, TypeError, KeyError):
        pass
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(raw.decode("utf-8", "replace"), Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise HoofenvError(f"the compatibility matrix {path} is not valid YAML",
                           [f"{where}{getattr(exc, 'problem', exc)}"],
                           hint=f"fix the YAML syntax at that place in {path}", code="matrix-invalid",
                           exit_code=exit_code) from exc
    except RecursionError as exc:
        raise HoofenvError(f"the compatibility matrix {path} is nested too deeply", hint=f"fix {path}",
                           code="matrix-invalid", exit_code=exit_code) from exc
    try:
        if cached:
            atomic_write_text(cached, json.dumps({"content": digest, "data": data}))
    except (OSError, TypeError, ValueError, HoofenvError):
        pass  # a read-only cache, or YAML that JSON cannot hold (dates): parsed again next time
    return data


class _Validator:
    def __init__(self, path: str, exit_code: int = 1):
        self.path = path
        self.exit_code = exit_code
        self.sources: dict[str, str] = {}

    def fail(self, where: str, why: str) -> HoofenvError:
        return HoofenvError(f"invalid compatibility matrix {self.path}: {where}: {why}",
                            hint=f"correct `{where}` in {self.path} (every row needs its fields and a known source)",
                            code="matrix-invalid", exit_code=self.exit_code)

    def strings(self, row: Any, key: str, where: str, required: bool = True) -> list[str]:
        """A list field whose items must all be strings."""
        items = self.get(row, key, where, list, required) or []
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self.fail(f"{where}.{key}[{i}]", f"expected str, got {item!r}")
        return items

    def number(self, row: Any, key: str, where: str, minimum: float = 0.0) -> float:
        """A finite number above `minimum`."""
        value = self.get(row, key, where, (int, float))
        if isinstance(value, bool) or not math.isfinite(value) or value <= minimum:
            raise self.fail(f"{where}.{key}", f"expected a number above {minimum:g}, got {value!r}")
        return float(value)

    def get(self, row: Any, key: str, where: str, kind: type | tuple = str, required: bool = True):
        if not isinstance(row, dict):
            raise self.fail(where, f"expected a mapping, got {type(row).__name__}")
        if key not in row:
            if required:
                raise self.fail(where, f"field `{key}` is missing")
            return None
        value = row[key]
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(f"{where}.{key}", f"expected {names}, got {value!r}")
        return value

    def source(self, row: dict, where: str) -> tuple[str, ...]:
        value = self.get(row, "source", where, (list, str))
        ids = [value] if isinstance(value, str) else value
        if not ids:
            raise self.fail(f"{where}.source", "must name at least one source")
        for sid in ids:
            if not isinstance(sid, str) or sid not in self.sources:
                raise self.fail(f"{where}.source", f"unknown source `{sid}` (define it under `sources`)")
        conf = row.get("confidence")
        if conf is not None and (not isinstance(conf, str) or conf not in CONFIDENCE):
            raise self.fail(f"{where}.confidence", f"`{conf}` is not one of {sorted(CONFIDENCE)}")
        return tuple(ids)

    def parse(self, fn, value, where: str):
        try:
            return fn(value)
        except (HoofenvError, InvalidVersion, InvalidSpecifier, ValueError, TypeError, re.error) as exc:
            reason = exc.message if isinstance(exc, HoofenvError) else str(exc)
            raise self.fail(where, reason) from exc

    def matrix(self, data: Any) -> Matrix:
        if not isinstance(data, dict):
            raise self.fail("(top level)", "expected a mapping")
        if data.get("schema") != 1:
            raise self.fail("schema", f"unsupported schema {data.get('schema')!r}; this hoofenv reads schema 1")
        self.sources = self.get(data, "sources", "(top level)", dict)
        cuda = self.cuda(data)
        known_tags = {r.tag for r in cuda} | {CudaTag.parse("cpu")}
        arch_sets = self.arch_sets(data)
        packages, mmcv_versions = self.packages(data)
        checkpoint, indexes, platforms = self.settings(data)
        stack_python, stack_why = self.stack_python(data)
        torch = self.torch(data, known_tags, arch_sets)
        matrix = Matrix(self.path, self.sources, cuda, arch_sets, torch,
                      self.mmcv_wheels(data, known_tags), self.mmcv_build(data), packages, mmcv_versions,
                      self.pins(data), self.mmpose_runtime(data), checkpoint, indexes, platforms, stack_python,
                      stack_why, self.gpu_families(data), pypi_torch=self.pypi_torch(data, torch),
                      cuda_toolchains=self.cuda_toolchains(data), nvcc_install=self.nvcc_install(data))
        matrix.tracking = self.tracking(data)
        matrix.on_demand = self.on_demand(data)
        return matrix

    def on_demand(self, data: dict) -> dict[str, Pin]:
        """`on_demand` (optional): packages a command adds when it needs them (onnx into the training env for
        `hoofenv export`; the ONNX runtime env), never part of the plan, the lock or the stack's key."""
        pins = {}
        for name, row in (self.get(data, "on_demand", "(top level)", dict, required=False) or {}).items():
            where = f"on_demand.{name}"
            spec = self.get(row, "spec", where)
            self.parse(SpecifierSet, spec, f"{where}.spec")
            pins[name] = Pin(name, spec, self.get(row, "why", where), self.source(row, where))
        return pins

    def cuda(self, data: dict) -> list[CudaRow]:
        rows = []
        listed = self.get(data, "cuda", "(top level)", list)
        if not listed:
            raise self.fail("cuda", "lists no CUDA build (the driver gate needs at least one)")
        for i, row in enumerate(listed):
            where = f"cuda[{i}]"
            tag = self.parse(CudaTag.parse, self.get(row, "tag", where), f"{where}.tag")
            drivers = self.get(row, "min_driver", where, dict)
            if "linux" not in drivers:
                raise self.fail(f"{where}.min_driver", "needs a `linux` entry")
            parsed = {k: self.parse(DriverVersion.parse, str(v), f"{where}.min_driver.{k}")
                      for k, v in drivers.items()}
            rows.append(CudaRow(tag, parsed, self.source(row, where)))
        return rows

    def arch_sets(self, data: dict) -> dict[str, ArchSet]:
        sets = {}
        for name, row in self.get(data, "arch_sets", "(top level)", dict).items():
            where = f"arch_sets.{name}"
            arch = tuple(self.parse(ComputeCapability.parse, str(a), f"{where}.arch")
                         for a in self.get(row, "arch", where, list))
            ptx = self.get(row, "ptx", where, bool, required=False)
            sets[name] = ArchSet(name, arch, bool(ptx), self.source(row, where))
        return sets

    def torch(self, data: dict, known_tags: set, arch_sets: dict[str, ArchSet]) -> list[TorchRow]:
        rows = []
        for i, row in enumerate(self.get(data, "torch", "(top level)", list)):
            version = self.parse(Version, self.get(row, "version", f"torch[{i}]"), f"torch[{i}].version")
            where = f"torch[{i}] ({version})"
            self.parse(Version, self.get(row, "torchvision", where), f"{where}.torchvision")
            py = self.get(row, "python", where, list)
            if len(py) != 2:
                raise self.fail(f"{where}.python", "expected [lowest, highest] CPython minor, e.g. ['3.8', '3.11']")
            py_range = tuple(self.parse(_minor, str(p), f"{where}.python") for p in py)
            builds = {}
            for tag_text, set_name in self.get(row, "builds", where, dict).items():
                tag = self.parse(CudaTag.parse, tag_text, f"{where}.builds")
                if tag not in known_tags:
                    raise self.fail(f"{where}.builds.{tag_text}", "CUDA tag not defined under `cuda`")
                if tag.is_cpu:
                    builds[tag] = None
                    continue
                if not isinstance(set_name, (str, int)) or set_name not in arch_sets:
                    raise self.fail(f"{where}.builds.{tag_text}",
                                    f"arch set `{set_name}` is not defined under `arch_sets`")
                builds[tag] = arch_sets[set_name]
            rows.append(TorchRow(version, row["torchvision"], py_range, builds, self.source(row, where),
                                 row.get("confidence", "verified")))
        return sorted(rows, key=lambda r: r.version)

    def mmcv_wheels(self, data: dict, known_tags: set) -> list[MmcvWheelRow]:
        rows = []
        for i, row in enumerate(self.get(data, "mmcv_wheels", "(top level)", list)):
            where = f"mmcv_wheels[{i}]"
            mmcv = self.parse(Version, self.get(row, "mmcv", where), f"{where}.mmcv")
            tags = frozenset(self.parse(CudaTag.parse, t, f"{where}.cuda") for t in self.get(row, "cuda", where, list))
            for tag in tags - known_tags:
                raise self.fail(f"{where}.cuda", f"CUDA tag `{tag}` not defined under `cuda`")
            pys = self.get(row, "python", where, list)
            for tag in pys:
                if not re.fullmatch(r"cp3\d+", str(tag)):
                    raise self.fail(f"{where}.python", f"`{tag}` is not a CPython tag like cp311")
            torch = self.get(row, "torch", where, (str, int, float))
            if not re.fullmatch(r"\d+\.\d+", str(torch)):
                raise self.fail(f"{where}.torch", f"`{torch}` is not a torch minor like 2.1")
            rows.append(MmcvWheelRow(mmcv, str(torch), tags, frozenset(map(str, pys)),
                                     frozenset(self.strings(row, "platforms", where)), self.source(row, where)))
        return rows

    def mmcv_build(self, data: dict) -> list[MmcvBuildRow]:
        rows = []
        for i, row in enumerate(self.get(data, "mmcv_build", "(top level)", list)):
            where = f"mmcv_build[{i}]"
            build_torch = tuple(
                (self.parse(SpecifierSet, spec, f"{where}.build_torch"),
                 str(self.parse(Version, v, f"{where}.build_torch.{spec}")))
                for spec, v in (self.get(row, "build_torch", where, dict, required=False) or {}).items()
            )
            minutes = self.get(row, "minutes", where, dict)
            rows.append(MmcvBuildRow(
                mmcv=self.parse(Version, self.get(row, "mmcv", where), f"{where}.mmcv"),
                torch=self.parse(SpecifierSet, self.get(row, "torch", where), f"{where}.torch"),
                build_torch=build_torch,
                needs=tuple(self.strings(row, "needs", where)),
                cuda_needs=self.get(row, "cuda_needs", where),
                minutes={k: self.number(minutes, k, f"{where}.minutes") for k in ("cpu", "cuda")},
                peak_memory_gib=self.per_kind(row, "peak_memory_gib", where),
                source=self.source(row, where),
                patches=tuple(self.patch(p, f"{where}.patches[{j}]")
                              for j, p in enumerate(self.get(row, "patches", where, list, required=False) or [])),
                cflags=self.get(row, "cflags", where, required=False),
                unity=tuple(self.unity(u, f"{where}.unity[{j}]")
                            for j, u in enumerate(self.get(row, "unity", where, list, required=False) or [])),
            ))
        return rows

    def per_kind(self, row: Any, key: str, where: str) -> dict[str, float]:
        """A number for both kinds, or {cpu: N, cuda: N}: each a finite number above 0."""
        value = self.get(row, key, where, (int, float, dict))
        raw = value if isinstance(value, dict) else {"cpu": value, "cuda": value}
        return {kind: self.number(raw, kind, f"{where}.{key}") for kind in ("cpu", "cuda")}

    def unity(self, row: Any, where: str) -> UnityBuild:
        folder = self.get(row, "folder", where)
        if folder.startswith("/") or ".." in folder.split("/"):
            raise self.fail(f"{where}.folder", f"`{folder}` must be a relative path inside the sdist")
        units = self.get(row, "units", where, int)
        if isinstance(units, bool) or not 1 <= units <= 64:
            raise self.fail(f"{where}.units", f"`{units}` is not a number of translation units from 1 to 64")
        exclude = self.get(row, "exclude", where, list, required=False) or []
        if not all(isinstance(e, str) and e and "/" not in e for e in exclude):
            raise self.fail(f"{where}.exclude", "expected a list of file names in the folder")
        return UnityBuild(folder, tuple(exclude), units, self.get(row, "why", where))

    def patch(self, row: Any, where: str) -> SourcePatch:
        file = self.get(row, "file", where)
        if file.startswith("/") or ".." in file.split("/"):
            raise self.fail(f"{where}.file", f"`{file}` must be a relative path inside the sdist")
        return SourcePatch(self.parse(SpecifierSet, self.get(row, "torch", where), f"{where}.torch"), file,
                           self.get(row, "replace", where), self.get(row, "with", where), self.get(row, "why", where))

    def cuda_toolchains(self, data: dict) -> list[ToolchainRow]:
        rows = []
        for i, row in enumerate(self.get(data, "cuda_toolchains", "(top level)", list, required=False) or []):
            where = f"cuda_toolchains[{i}]"
            cuda = str(self.get(row, "cuda", where))
            if not re.fullmatch(r"\d+\.\d+", cuda):
                raise self.fail(f"{where}.cuda", f"`{cuda}` is not a CUDA version like 13.0")
            pypi = self.get(row, "pypi", where, list)
            if not pypi or not all(isinstance(r, str) and r.strip() for r in pypi):
                raise self.fail(f"{where}.pypi", "expected a list of requirement strings")
            rows.append(ToolchainRow(cuda, tuple(pypi), self.source(row, where), row.get("confidence", "verified")))
        return rows

    def nvcc_install(self, data: dict) -> dict:
        section = self.get(data, "nvcc_install", "(top level)", dict, required=False)
        if section is None:
            return {}
        for key in ("apt", "apt_nvcc", "conda", "conda_nvcc", "gcc"):
            self.get(section, key, "nvcc_install")
        self.source(section, "nvcc_install")
        return section

    def packages(self, data: dict) -> tuple[dict[str, Package], list[Version]]:
        packages, mmcv_versions = {}, []
        for name, row in self.get(data, "packages", "(top level)", dict).items():
            where = f"packages.{name}"
            src = self.source(row, where)
            if name == "mmcv":
                mmcv_versions = sorted((self.parse(Version, v, f"{where}.versions")
                                        for v in self.get(row, "versions", where, list)), reverse=True)
                continue
            requires = {k: self.parse(SpecifierSet, v, f"{where}.requires.{k}")
                        for k, v in (self.get(row, "requires", where, dict, required=False) or {}).items()}
            packages[name] = Package(name, self.parse(Version, self.get(row, "version", where), f"{where}.version"),
                                     requires, src)
        for needed in ("mmengine", "mmdet", "mmpose"):
            if needed not in packages:
                raise self.fail("packages", f"`{needed}` is missing")
        for guarded in ("mmdet", "mmpose"):  # their guards on mmcv pick the mmcv versions
            if "mmcv" not in packages[guarded].requires:
                raise self.fail(f"packages.{guarded}.requires", "needs an `mmcv` specifier")
        return packages, mmcv_versions

    def pins(self, data: dict) -> dict[str, Pin]:
        pins = {}
        for name, row in self.get(data, "pins", "(top level)", dict).items():
            where = f"pins.{name}"
            spec = self.get(row, "spec", where)
            self.parse(SpecifierSet, spec, f"{where}.spec")
            pins[name] = Pin(name, spec, self.get(row, "why", where), self.source(row, where))
        return pins

    def mmpose_runtime(self, data: dict) -> list[str]:
        runtime = self.strings(data, "mmpose_runtime", "(top level)")
        self.source({"source": data.get("mmpose_runtime_source")}, "mmpose_runtime_source")
        return runtime

    def settings(self, data: dict) -> tuple[dict, dict, dict]:
        """checkpoint, indexes and platforms."""
        checkpoint = self.get(data, "checkpoint", "(top level)", dict)
        self.parse(Version, self.get(checkpoint, "weights_only_default_from", "checkpoint"),
                   "checkpoint.weights_only_default_from")
        self.get(checkpoint, "remedy", "checkpoint")
        self.source(checkpoint, "checkpoint")
        indexes = self.get(data, "indexes", "(top level)", dict)
        for key, allowed in TEMPLATE_FIELDS.items():
            problem = template_problem(self.get(indexes, key, "indexes"), allowed)
            if problem:
                raise self.fail(f"indexes.{key}", problem)
        platforms = self.get(data, "platforms", "(top level)", dict)
        train = self.get(platforms, "train", "platforms", dict)
        self.strings(train, "system", "platforms.train")
        self.strings(train, "arch", "platforms.train")
        self.get(train, "why", "platforms.train")
        return checkpoint, indexes, platforms

    def stack_python(self, data: dict) -> tuple[tuple, str]:
        sp = self.get(data, "stack_python", "(top level)", dict)
        sp_range = self.get(sp, "range", "stack_python", list)
        if len(sp_range) != 2:
            raise self.fail("stack_python.range", "expected [lowest, highest] CPython minor")
        stack_python = tuple(self.parse(_minor, str(p), "stack_python.range") for p in sp_range)
        why = self.get(sp, "why", "stack_python")
        self.source(sp, "stack_python")
        return stack_python, why

    def pypi_torch(self, data: dict, torch: list[TorchRow]) -> dict[Version, PypiBuild]:
        """Optional: without it no plan takes torch from PyPI when the PyTorch index does not answer."""
        rows = {}
        by_version = {r.version: r for r in torch}
        for i, row in enumerate(self.get(data, "pypi_torch", "(top level)", list, required=False) or []):
            where = f"pypi_torch[{i}]"
            version = self.parse(Version, str(self.get(row, "torch", where)), f"{where}.torch")
            tag = self.parse(CudaTag.parse, str(self.get(row, "build", where)), f"{where}.build")
            trow = by_version.get(version)
            if trow is None:
                raise self.fail(f"{where}.torch", f"torch {version} is not a row under `torch`")
            if tag not in trow.builds:
                raise self.fail(f"{where}.build", f"{tag} is not among torch {version}'s builds")
            rows[version] = PypiBuild(version, tag, self.source(row, where))
        return rows

    def gpu_families(self, data: dict) -> list:
        families = []
        for i, row in enumerate(self.get(data, "gpu_families", "(top level)", list)):
            where = f"gpu_families[{i}]"
            pattern = self.parse(_regex, self.get(row, "pattern", where), f"{where}.pattern")
            families.append((pattern, self.parse(ComputeCapability.parse, str(self.get(row, "cc", where)),
                                                 f"{where}.cc")))
        self.source({"source": data.get("gpu_families_source")}, "gpu_families_source")
        return families


    def tracking(self, data: dict) -> dict[str, TrackingRow]:
        """Optional section: `hoofenv train --track` is refused for a name it lacks."""
        rows = {}
        for name, row in (self.get(data, "tracking", "(top level)", dict, required=False) or {}).items():
            where = f"tracking.{name}"
            packages = self.get(row, "packages", where, list)
            for i, req in enumerate(packages):
                if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*==[0-9][0-9A-Za-z.+!-]*", str(req)):
                    raise self.fail(f"{where}.packages[{i}]", f"`{req}` is not an exact pin NAME==VERSION")
            rows[name] = TrackingRow(name, self.get(row, "backend", where), self.get(row, "module", where),
                                     tuple(packages),
                                     self.parse(SpecifierSet, self.get(row, "python", where), f"{where}.python"),
                                     self.get(row, "why", where), self.source(row, where))
        return rows


def _regex(text: str) -> re.Pattern:
    """Compiled quietly: a doubtful pattern is the matrix author's to fix, not a warning on every user's screen."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return re.compile(text)


def _minor(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)
