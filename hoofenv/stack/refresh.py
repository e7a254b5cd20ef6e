"""`hoofenv matrix refresh`: what the sources say now against compat_matrix.yaml, as findings and a proposed diff.

Reads PyPI's JSON API (releases, wheel tags, Requires-Python, the CUDA that PyPI's own torch pins), the PyTorch
index's file list (CUDA variants per torch release) and the OpenMMLab index pages (which mmcv wheels exist). Each
source that does not answer is named and skipped (after its first failure, so an unreachable host costs one
timeout). The matrix file is never written: the proposed rows (`confidence: inferred`, citing the source) come as
a unified diff for a maintainer to review and `git apply`.
"""

from __future__ import annotations

import difflib
import json
import re
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from packaging.version import InvalidVersion, Version

from hoofenv.stack.matrix import Matrix

PYPI = "https://pypi.org"
TORCH_INDEX = "https://download.pytorch.org/whl"
MMCV_BASE = "https://download.openmmlab.com"
TIMEOUT = 15.0
WHEEL_CP = re.compile(r"-(cp3\d+)-cp3\d+-(?:manylinux|linux)[^/]*x86_64\.whl$")
TORCH_FILE = re.compile(r"torch-(?P<v>\d+\.\d+\.\d+)(?:%2B|\+)(?P<tag>cu\d+|cpu)-(?P<cp>cp3\d+)-cp3\d+-"
                        r"(?:manylinux|linux)[^\"'<>/]*x86_64\.whl")
MMCV_FILE = re.compile(r"mmcv-(?P<v>\d+\.\d+\.\d+)-(?P<cp>cp3\d+)-cp3\d+-(?:manylinux|linux)[^\"'<>/]*x86_64\.whl")


@dataclass
class Finding:
    kind: str  # new-torch, newer-patch, python-range, torch-variants, pypi-cuda, mmcv-wheels, package, toolchain
    subject: str
    text: str
    proposed: bool = False  # whether the diff carries it


@dataclass
class Report:
    sources: dict[str, str] = field(default_factory=dict)  # name -> "ok" | "unreachable: why"
    findings: list[Finding] = field(default_factory=list)
    diff: str = ""

    def to_dict(self) -> dict:
        return {"sources": self.sources, "findings": [asdict(f) for f in self.findings], "diff": self.diff}


class Unreachable(Exception):
    pass


class Fetcher:
    """GETs with one timeout; a host that failed once is not asked again."""

    def __init__(self, timeout: float = TIMEOUT):
        self.timeout = timeout
        self.dead: dict[str, str] = {}

    def get(self, url: str, accept: str | None = None) -> bytes | None:
        host = url.split("/")[2] if "://" in url else url
        if host in self.dead:
            raise Unreachable(self.dead[host])
        req = urllib.request.Request(url, headers={"User-Agent": "hoofenv-matrix-refresh",
                                                   **({"Accept": accept} if accept else {})})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise Unreachable(f"{url}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.dead[host] = f"{url}: {getattr(exc, 'reason', exc)}"
            raise Unreachable(self.dead[host]) from exc


def _versions(releases: dict) -> list[Version]:
    out = []
    for text, files in releases.items():
        try:
            v = Version(text)
        except InvalidVersion:
            continue
        if not v.is_prerelease and not v.is_devrelease and files:
            out.append(v)
    return sorted(out)


def _cp_range(files: list[dict]) -> tuple[str, str] | None:
    cps = sorted({int(m.group(1)[3:]) for f in files if (m := WHEEL_CP.search(f.get("filename", "")))})
    return (f"3.{cps[0]}", f"3.{cps[-1]}") if cps else None


def _uploaded(files: list[dict]) -> datetime | None:
    times = [f.get("upload_time", "")[:10] for f in files if f.get("upload_time")]
    return datetime.strptime(min(times), "%Y-%m-%d") if times else None


def _pair(torch_day: datetime | None, vision: dict) -> str | None:
    """The torchvision released within two days of a torch release (they ship together)."""
    if torch_day is None:
        return None
    near = [v for v in _versions(vision) if (d := _uploaded(vision[str(v)])) and abs((d - torch_day).days) <= 2]
    return str(near[-1]) if near else None


def _pypi_cuda(info: dict) -> str | None:
    """'13.2' from PyPI torch's `cuda-toolkit[...]==13.2.2` (or `nvidia-cuda-runtime-cu12==12.8.90`) pin."""
    for req in info.get("requires_dist") or []:
        m = re.match(r"(?:cuda-toolkit\[[^\]]*\]|nvidia-cuda-runtime(?:-cu\d+)?)\s*==\s*(\d+)\.(\d+)", req)
        if m:
            return f"{m.group(1)}.{m.group(2)}"
    return None


class Edits:
    """Line edits of the matrix's text (comments and layout kept), turned into a unified diff."""

    ROW = re.compile(r'^  - \{version: "(?P<v>[^"]+)"')

    def __init__(self, text: str):
        self.before = text.splitlines(keepends=True)
        self.lines = list(self.before)

    def _last(self, pattern: str) -> int:
        hits = [i for i, line in enumerate(self.lines) if re.match(pattern, line)]
        return hits[-1] if hits else len(self.lines) - 1

    def _row(self, version: str) -> int | None:
        return next((i for i, line in enumerate(self.lines) if (m := self.ROW.match(line)) and m["v"] == version), None)

    def insert_after(self, pattern: str, line: str) -> None:
        self.lines.insert(self._last(pattern) + 1, line.rstrip("\n") + "\n")

    def torch_row(self, version: str, vision: str, py: tuple[str, str], builds: dict[str, str | None],
                  sources: list[str]) -> None:
        b = ", ".join(f"{t}: {s or 'null'}" for t, s in builds.items())
        self.insert_after(r'  - \{version: "', f'  - {{version: "{version}", torchvision: "{vision}", python: '
                          f'["{py[0]}", "{py[1]}"], builds: {{{b}}}, source: [{", ".join(sources)}], '
                          f'confidence: inferred}}  # hoofenv matrix refresh: review')

    def sub_in_row(self, version: str, pattern: str, repl: str) -> bool:
        i = self._row(version)
        if i is None:
            return False
        new = re.sub(pattern, repl, self.lines[i], count=1)
        changed = new != self.lines[i]
        self.lines[i] = new
        return changed

    def diff(self, name: str = "compat_matrix.yaml") -> str:
        return "".join(difflib.unified_diff(self.before, self.lines, f"a/{name}", f"b/{name}"))


def _newest_set(m: Matrix, tag: str) -> str | None:
    """The arch set the newest torch row uses for `tag` (a new release of the same variant starts from it)."""
    for row in reversed(m.torch):
        for t, arch in row.builds.items():
            if str(t) == tag and arch is not None:
                return arch.name
    return None


def torch_findings(m: Matrix, torch_json: dict, vision_json: dict | None, edits: Edits,
                   index_tags: dict[str, set[str]] | None) -> list[Finding]:
    """New releases, newer patches and Python ranges from PyPI; a new row's variants from the PyTorch index when
    it answered, else PyPI's own CUDA build and cpu."""
    releases, vision = torch_json.get("releases", {}), (vision_json or {}).get("releases", {})
    newest: dict[str, Version] = {}
    for v in _versions(releases):
        newest[f"{v.major}.{v.minor}"] = v
    rows = {r.minor: r for r in m.torch}
    oldest = min(r.version for r in m.torch)
    latest_cuda = _pypi_cuda(torch_json.get("info", {}))
    out = []
    for minor, v in sorted(newest.items(), key=lambda kv: kv[1]):
        if v < oldest:
            continue
        files, row = releases[str(v)], rows.get(minor)
        py, day = _cp_range(files), _uploaded(files)
        vis = _pair(day, vision)
        when = day.strftime("%Y-%m-%d") if day else "?"
        if row is None:
            tags = sorted(index_tags.get(str(v), set())) if index_tags else \
                ([f"cu{latest_cuda.replace('.', '')}"] if latest_cuda and str(v) == torch_json["info"].get("version")
                 else [])
            builds = {t: _newest_set(m, t) for t in tags if t != "cpu" and _newest_set(m, t)} | {"cpu": None}
            ok = bool(py and vis)
            if ok:
                edits.torch_row(str(v), vis, py, builds, ["pypi-json"] + (["pytorch-index"] if index_tags else []))
            out.append(Finding("new-torch", f"torch {v}", f"torch {v} ({when}) is on PyPI and not in the matrix: Python "
                               f"{'-'.join(py) if py else '?'}, torchvision {vis or '?'} (released with it), "
                               f"variants {', '.join(builds)}", ok))
            continue
        if v > row.version:
            ok = edits.sub_in_row(str(row.version), r'version: "[^"]+"', f'version: "{v}"')
            if ok and vis:
                edits.sub_in_row(str(v), r'torchvision: "[^"]+"', f'torchvision: "{vis}"')
            out.append(Finding("newer-patch", f"torch {v}", f"torch {v} ({when}) replaces {row.version} as the "
                               f"newest {minor}.x (torchvision {vis or '?'})", ok))
        have = (f"{row.python[0][0]}.{row.python[0][1]}", f"{row.python[1][0]}.{row.python[1][1]}")
        if py and py != have:
            ok = edits.sub_in_row(str(v if v > row.version else row.version), r'python: \["[^"]+", "[^"]+"\]',
                                  f'python: ["{py[0]}", "{py[1]}"]')
            out.append(Finding("python-range", f"torch {v}", f"torch {v}'s wheels cover Python {py[0]}-{py[1]}; "
                               f"the matrix says {have[0]}-{have[1]}", ok))
    return out + _pypi_cuda_finding(m, torch_json, latest_cuda, edits)


def _pypi_cuda_finding(m: Matrix, torch_json: dict, cuda: str | None, edits: Edits) -> list[Finding]:
    version = torch_json.get("info", {}).get("version")
    row = m.torch_row(version) if version else None
    if not cuda or row is None:
        return []
    tag = f"cu{cuda.replace('.', '')}"
    if tag in {str(t) for t in row.builds}:
        return []
    arch = _newest_set(m, tag)
    ok = bool(arch) and edits.sub_in_row(version, r"builds: \{", f"builds: {{{tag}: {arch}, ")
    return [Finding("pypi-cuda", f"torch {version}", f"PyPI's torch {version} is a CUDA {cuda} build ({tag}); "
                    f"the matrix row lists {', '.join(str(t) for t in row.builds)}"
                    + ("" if arch else f" (no arch set for {tag} yet: add one under arch_sets)"), ok)]


def index_tags(html: str) -> dict[str, set[str]]:
    """torch version -> the variants (cu128, cpu, ...) the PyTorch index lists Linux x86_64 wheels of."""
    found: dict[str, set[str]] = {}
    for m in TORCH_FILE.finditer(html):
        found.setdefault(m["v"], set()).add(m["tag"])
    return found


def variant_findings(m: Matrix, tags: dict[str, set[str]], edits: Edits) -> list[Finding]:
    out = []
    for row in m.torch:
        have = {str(t) for t in row.builds}
        there = tags.get(str(row.version))
        if there is None:
            out.append(Finding("torch-variants", f"torch {row.version}", f"the PyTorch index lists no Linux x86_64 "
                               f"wheels of torch {row.version}"))
            continue
        for tag in sorted(there - have):
            arch = _newest_set(m, tag)
            ok = bool(arch) and tag in {str(r.tag) for r in m.cuda} and \
                edits.sub_in_row(str(row.version), r"builds: \{", f"builds: {{{tag}: {arch}, ")
            out.append(Finding("torch-variants", f"torch {row.version}", f"the PyTorch index has torch "
                               f"{row.version}+{tag}, the matrix does not" + ("" if ok else
                               f" (add a `cuda` row and an arch set for {tag} first)"), ok))
        for tag in sorted(have - there):
            out.append(Finding("torch-variants", f"torch {row.version}", f"the matrix lists torch {row.version}+{tag}, "
                               "the PyTorch index has no such wheel: remove it from the row"))
    return out


def mmcv_pages(m: Matrix, fetch: Fetcher, base: str) -> dict[tuple[str, str], dict[str, set[str]]]:
    """(torch minor, tag) -> mmcv version -> CPython tags, from the OpenMMLab index (mim's page layout)."""
    pages: dict[tuple[str, str], dict[str, set[str]]] = {}
    for row in m.torch:
        for tag in row.builds:
            body = fetch.get(f"{base.rstrip('/')}/mmcv/dist/{tag}/torch{row.minor}.0/index.html")
            found: dict[str, set[str]] = {}
            for hit in MMCV_FILE.finditer((body or b"").decode("utf-8", "replace")):
                found.setdefault(hit["v"], set()).add(hit["cp"])
            pages[(row.minor, str(tag))] = found
    return pages


def mmcv_findings(m: Matrix, pages: dict[tuple[str, str], dict[str, set[str]]], edits: Edits) -> list[Finding]:
    out, new_rows = [], {}
    for (minor, tag), versions in sorted(pages.items()):
        for version, cps in sorted(versions.items()):
            row = next((r for r in m.mmcv_wheels if str(r.mmcv) == version and r.torch_minor == minor), None)
            if row is None:
                entry = new_rows.setdefault((version, minor), [set(), set()])
                entry[0].add(tag)
                entry[1].update(cps)
            elif tag not in {str(t) for t in row.cuda} or not cps <= row.python:
                out.append(Finding("mmcv-wheels", f"mmcv {version}", f"the OpenMMLab index has mmcv {version} for "
                                   f"torch {minor}/{tag} ({', '.join(sorted(cps))}); the matrix row {row.id} lists "
                                   f"{', '.join(sorted(str(t) for t in row.cuda))} / {', '.join(sorted(row.python))}"))
    for row in m.mmcv_wheels:
        for tag in row.cuda:
            page = pages.get((row.torch_minor, str(tag)))
            if page is not None and str(row.mmcv) not in page:
                out.append(Finding("mmcv-wheels", f"mmcv {row.mmcv}", f"the matrix says mmcv {row.mmcv} has wheels "
                                   f"for torch {row.torch_minor}/{tag}; the OpenMMLab index page lists none"))
    for (version, minor), (tags, cps) in sorted(new_rows.items()):
        key = lambda c: int(c[3:])  # noqa: E731
        edits.insert_after(r'  - \{mmcv: "', f'  - {{mmcv: "{version}", torch: "{minor}", cuda: [{", ".join(sorted(tags))}]'
                           f', python: [{", ".join(sorted(cps, key=key))}], platforms: [linux], source: '
                           f'[mmcv-index-pages], confidence: inferred}}  # hoofenv matrix refresh: review')
        out.append(Finding("mmcv-wheels", f"mmcv {version}", f"the OpenMMLab index has mmcv {version} wheels for "
                           f"torch {minor} ({', '.join(sorted(tags))}), not in the matrix", True))
    return out


def package_findings(m: Matrix, latest: dict[str, dict]) -> list[Finding]:
    """Newer OpenMMLab releases: named, never proposed (their import guards must be read first)."""
    out = []
    for name, data in latest.items():
        version = Version(data["info"]["version"])
        have = max(m.mmcv_versions) if name == "mmcv" else m.packages[name].version
        if version > have:
            out.append(Finding("package", f"{name} {version}", f"{name} {version} is on PyPI; the matrix has {have}: "
                               "read its version guards (mmpose/mmdet __init__) before adopting it"))
    return out


def toolchain_findings(m: Matrix, cuda_toolkit: dict, edits: Edits) -> list[Finding]:
    """The matrix's CUDA 13 tags whose nvcc is on PyPI (cuda-toolkit X.Y) without a cuda_toolchains row."""
    on_pypi = {(v.major, v.minor) for v in _versions(cuda_toolkit.get("releases", {})) if v.major >= 13}
    used = {(r.tag.major, r.tag.minor) for r in m.cuda}
    out = []
    for major, minor in sorted(on_pypi & used):
        cuda = f"{major}.{minor}"
        if m.toolchain_row(cuda) is None:
            edits.insert_after(r'  - \{cuda: "', f'  - {{cuda: "{cuda}", pypi: ["cuda-toolkit[nvcc,cccl]=={cuda}.*"], '
                               f'source: [nvidia-pypi-toolchain, pypi-json], confidence: inferred}}  # hoofenv '
                               'matrix refresh: review')
            out.append(Finding("toolchain", f"CUDA {cuda}", f"cuda-toolkit {cuda} (nvcc from PyPI) has no "
                               "cuda_toolchains row", True))
    return out


def refresh(m: Matrix, text: str, pypi: str = PYPI, torch_index: str = TORCH_INDEX, mmcv_base: str = MMCV_BASE,
            fetch: Fetcher | None = None) -> Report:
    """Every source read once; what each says against the matrix; the proposed edits as one diff."""
    fetch = fetch or Fetcher()
    report, edits = Report(), Edits(text)

    def read(name: str, url: str, accept: str | None = None, parse=json.loads):
        try:
            body = fetch.get(url, accept)
        except Unreachable as exc:
            report.sources[name] = f"unreachable: {exc}"
            return None
        report.sources[name] = "ok" if body is not None else f"not found: {url}"
        try:
            return parse(body) if body is not None else None
        except ValueError:
            report.sources[name] = f"unreadable: {url}"
            return None

    base = pypi.rstrip("/")
    torch_json = read("pypi: torch", f"{base}/pypi/torch/json")
    vision_json = read("pypi: torchvision", f"{base}/pypi/torchvision/json")
    html = read("pytorch index", f"{torch_index.rstrip('/')}/torch/", parse=lambda b: b.decode("utf-8", "replace"))
    tags = index_tags(html) if html else None
    if torch_json:
        report.findings += torch_findings(m, torch_json, vision_json, edits, tags)
    if tags:
        report.findings += variant_findings(m, tags, edits)
    try:
        report.findings += mmcv_findings(m, mmcv_pages(m, fetch, mmcv_base), edits)
        report.sources["openmmlab index"] = "ok"
    except Unreachable as exc:
        report.sources["openmmlab index"] = f"unreachable: {exc}"
    latest = {n: d for n in ("mmcv", "mmdet", "mmpose", "mmengine") if (d := read(f"pypi: {n}", f"{base}/pypi/{n}/json"))}
    report.findings += package_findings(m, latest)
    toolkit = read("pypi: cuda-toolkit", f"{base}/pypi/cuda-toolkit/json")
    if toolkit:
        report.findings += toolchain_findings(m, toolkit, edits)
    report.diff = edits.diff(Path(m.path).name)
    return report
