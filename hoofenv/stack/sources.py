"""The machine's package sources (facts.sources) -> where each part of the stack can come from. Pure: the resolver
asks this view, and a plan made from a facts file without a sources section is exactly what it always was
(every upstream source is assumed to answer).

Also the list of what the probe should ask (`probe_targets`): the PyTorch index for each CUDA tag this machine can
use, the OpenMMLab pages for those tags, from the matrix's templates or the mirrors given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.version import Version

from hoofenv.machine.cuda import CudaTag, DriverVersion
from hoofenv.machine.facts import Facts, SourceFact
from hoofenv.machine.sources import Target, describe, host_of, is_remote
from hoofenv.stack.matrix import Matrix, TorchRow
from hoofenv.stack.plan import Plan, Problem, SourceChoice

NONE = "none"  # --torch-index-url none: no PyTorch index, torch from the general sources
REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*(?P<spec>[<>=!~][^;]*?)\s*$")
WHEEL = re.compile(r"^(?P<name>[A-Za-z0-9_.]+)-(?P<version>[^-]+)-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$")


def probe_targets(facts: Facts, matrix: Matrix, torch_index_url: str | None, mmcv_base_url: str | None,
                  cuda: str | None) -> list[Target]:
    """The upstream (or mirrored) indexes a plan for this machine could use, most likely first."""
    tags = _tags(facts, matrix, cuda)
    tpl = torch_index_url or matrix.indexes["torch"]
    origin = "mirror (--torch-index-url / $HOOFENV_TORCH_INDEX_URL)" if torch_index_url else "upstream"
    targets = [] if tpl == NONE else [Target("pytorch", tpl.format(cuda=t), origin, tag=t) for t in tags]
    base = (mmcv_base_url or matrix.indexes["mmcv_base"]).rstrip("/")
    origin = "mirror (--mmcv-base-url / $HOOFENV_MMCV_BASE_URL)" if mmcv_base_url else "upstream"
    seen = set()
    for row in sorted(matrix.mmcv_wheels, key=lambda r: Version(r.torch_minor), reverse=True):
        for tag in sorted(str(t) for t in row.cuda):
            url = matrix.indexes["mmcv"].format(base=base, cuda=tag, torch_minor=row.torch_minor)
            if tag in tags and url not in seen and "linux" in row.platforms:
                seen.add(url)
                targets.append(Target("openmmlab", url, origin, tag=tag, torch_minor=row.torch_minor))
    return targets


def _tags(facts: Facts, matrix: Matrix, cuda: str | None) -> list[str]:
    if cuda:
        return [cuda.lower()]
    nv = facts.nvidia
    if nv is None or nv.error_code or not nv.driver_version:
        return ["cpu"]
    try:
        driver = DriverVersion.parse(nv.driver_version)
        ceiling = CudaTag.from_version(nv.cuda_driver_version) if nv.cuda_driver_version else None
    except Exception:  # noqa: BLE001 - a value the resolver refuses with its own message
        return ["cpu"]
    return [str(r.tag) for r in matrix.cuda
            if r.min_driver["linux"] <= driver and (ceiling is None or r.tag.major <= ceiling.major)] or ["cpu"]


@dataclass
class TorchSource:
    """Where torch's wheels come from for one CUDA build, and why."""

    build: str  # the CUDA build of the wheels (cpu, cu121, cu130)
    label: str | None  # the local version label their files carry; None: PyPI's own build
    index: str | None  # a PyTorch index URL for plan.indexes["torch"]; None: the general sources
    name: str
    url: str | None
    reason: str


def parse_wheel(name: str) -> tuple[str, str, str, str] | None:
    """`torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl` -> (torch, 2.13.0+cpu, cp311, platform)."""
    m = WHEEL.match(name)
    return (m["name"].lower().replace("_", "-"), m["version"], m["py"], m["plat"]) if m else None


class SourceView:
    """What answers on this machine, as the resolver needs it. `active` is False for facts without sources."""

    def __init__(self, facts: Facts, matrix: Matrix, torch_index_url: str | None, mmcv_base_url: str | None):
        self.s = facts.sources
        self.active = self.s is not None
        self.matrix = matrix
        self.tpl = torch_index_url or matrix.indexes["torch"]
        self.base = (mmcv_base_url or matrix.indexes["mmcv_base"]).rstrip("/")
        self.torch_mirror, self.mmcv_mirror = bool(torch_index_url), bool(mmcv_base_url)
        self._general: list[SourceFact | None] = []
        self._specs: dict[tuple[str, str], object] = {}
        self._vstr: dict = {}
        # local sources that answer, with what they hold for Linux x86_64: (name, version, cpXY)
        self._held = [(e, {(w[0], w[1], w[2]) for w in map(parse_wheel, e.holds) if w and "x86_64" in w[3]})
                      for e in (self.s.entries if self.active else []) if e.status == "ok" and not is_remote(e.url)]
        self.blocked: list[str] = []  # candidates rejected for want of a source

    # -- the facts, looked up
    def entries(self, *roles: str) -> list[SourceFact]:
        return [e for e in self.s.entries if e.role in roles] if self.active else []

    @staticmethod
    def usable(e: SourceFact) -> bool:
        """Answered, or not asked (--offline: the install takes what the wheelhouse and caches hold)."""
        return e.status in ("ok", "offline", "unasked")

    def _recorded(self, role: str, url: str, mirrored: bool, **key) -> SourceFact:
        """The entry for `url`; else, replaying facts from a machine that used a mirror (and no mirror given now),
        its entry for the same tag; else one that says it was not asked (then assumed to answer, as upstream)."""
        found = [e for e in self.entries(role) if all(getattr(e, k) == v for k, v in key.items())]
        exact = next((e for e in found if e.url == url), None)
        if exact is not None or (found and not mirrored):
            return exact or found[0]
        return SourceFact(role, url, "not asked", "unasked", **key)

    def pytorch(self, tag: str) -> SourceFact | None:
        if self.tpl == NONE:
            return None
        return self._recorded("pytorch", self.tpl.format(cuda=tag), self.torch_mirror, tag=tag)

    def openmmlab(self, tag: str, minor: str) -> SourceFact:
        url = self.matrix.indexes["mmcv"].format(base=self.base, cuda=tag, torch_minor=minor)
        return self._recorded("openmmlab", url, self.mmcv_mirror, tag=tag, torch_minor=minor)

    def general(self) -> SourceFact | None:
        """The index the other packages (and PyPI's torch, and mmcv's sdist) come from: PyPI or what replaces it,
        else an extra index that answers (a remote one first, then a local `file://` one)."""
        if not self._general:
            extras = self.entries("extra-index")
            found = [e for e in self.entries("index") + [e for e in extras if is_remote(e.url)]
                     + [e for e in extras if not is_remote(e.url)] if self.usable(e)]
            self._general.append(found[0] if found else None)
        return self._general[0]

    def local_pair(self, trow: TorchRow, label: str | None, py: tuple[int, int],
                   roles: tuple[str, ...] = ("wheelhouse", "find-links", "extra-index", "index")) -> SourceFact | None:
        """A local folder or file index holding torch and torchvision of this release and label for this Python."""
        if not self._held:
            return None
        cp = f"cp{py[0]}{py[1]}"
        suffix = f"+{label}" if label else ""
        version = self._vstr.setdefault(trow.version, str(trow.version))
        want = {("torch", f"{version}{suffix}", cp), ("torchvision", f"{trow.torchvision}{suffix}", cp)}
        for role in roles:
            for e, have in self._held:
                if e.role == role and want <= have:
                    return e
        return None

    # -- the answers
    def excluded(self, trow: TorchRow) -> str | None:
        """Why a configured constraint (pip's `constraint` files) forbids this torch release, if it does."""
        if not self.active:
            return None
        for name, version in (("torch", str(trow.version)), ("torchvision", trow.torchvision)):
            for c in self.s.constraints:
                spec = self._spec(c.requirement, name)
                if spec is not None and not spec.contains(Version(version), prereleases=True):
                    return f"torch {trow.version} (torchvision {trow.torchvision}) is excluded by the constraint " \
                           f"`{c.requirement}` in {c.file} ({c.origin})"
        return None

    def _spec(self, requirement: str, name: str):
        key = (requirement, name)
        if key not in self._specs:
            self._specs[key] = _spec_for(requirement, name)
        return self._specs[key]

    def pin_conflicts(self, pins: dict[str, str]) -> list[str]:
        """The plan's exact pins that a configured constraint forbids."""
        if not self.active:
            return []
        out = []
        for name, spec_text in pins.items():
            exact = spec_text.lstrip("=") if spec_text[:1] in "=" or spec_text[:1].isdigit() else None
            for c in self.s.constraints:
                spec = _spec_for(c.requirement, name)
                if exact and spec is not None and not spec.contains(Version(exact), prereleases=True):
                    out.append(f"the constraint `{c.requirement}` in {c.file} forbids the plan's {name}=={exact}")
        return out

    def torch(self, trow: TorchRow, tag: CudaTag, py: tuple[int, int]) -> tuple[TorchSource | None, str]:
        """Where torch and torchvision of this release and build come from here, or why nowhere: the wheelhouse
        given, the PyTorch index, a local folder holding both, then PyPI's own build (a local copy, else PyPI)."""
        t = str(tag)
        pypi = self.matrix.pypi_torch.get(trow.version)
        pypi_fits = pypi is not None and (str(pypi.build) == t or tag.is_cpu)
        cite = f"[{pypi.id}; {', '.join(pypi.source)}]" if pypi else "[pypi_torch]"
        for label, build in [(t, t)] + ([(None, str(pypi.build))] if pypi_fits else []):
            house = self.local_pair(trow, label, py, ("wheelhouse",))
            if house is not None:
                return TorchSource(build, label, None, host_of(house.url), house.url,
                                   f"the wheelhouse {house.url} holds both"), ""
        pyt = self.pytorch(t)
        if pyt is not None and self.usable(pyt):
            return TorchSource(t, t, pyt.url, _short(pyt.url), pyt.url, describe(pyt)), ""
        why = describe(pyt) if pyt else "no PyTorch index (--torch-index-url none)"
        local = self.local_pair(trow, t, py)
        if local is not None:
            return TorchSource(t, t, None, host_of(local.url), local.url,
                               f"{why} -> from {host_of(local.url)} ({local.origin}), which holds both"), ""
        if pypi is None:
            return None, f"torch {trow.version}+{t}: {why}, and which build PyPI serves for {trow.version} is not " \
                         f"recorded {cite}"
        if not pypi_fits:
            return None, f"torch {trow.version}+{t}: {why}; PyPI serves only its {pypi.build} build {cite}"
        what = f"PyPI's own build of torch {trow.version}, {_build_text(str(pypi.build), tag)} {cite}"
        local = self.local_pair(trow, None, py)
        if local is not None:
            return TorchSource(str(pypi.build), None, None, host_of(local.url), local.url,
                               f"{why} -> {what}, from {host_of(local.url)} ({local.origin}), which holds both "
                               f"files for cp{py[0]}{py[1]}"), ""
        general = self.general()
        if general is not None:
            return TorchSource(str(pypi.build), None, None, _index_name(general), general.url,
                               f"{why} -> {what}, from {_index_name(general)}"), ""
        gen = next(iter(self.entries("index")), None)
        return None, f"torch {trow.version}+{t}: {why}; {describe(gen) if gen else 'no index answers'}"

    def mmcv_wheel(self, tag: CudaTag, minor: str) -> tuple[bool, str]:
        """Does the OpenMMLab page (or its mirror) for this wheel answer; the words for the plan."""
        if not self.active:
            return True, ""
        e = self.openmmlab(str(tag), minor)
        return self.usable(e), "" if e.status == "unasked" else describe(e)

    def sdist(self) -> tuple[bool, str]:
        if not self.active:
            return True, ""
        general = self.general()
        if general is None:
            gen = next(iter(self.entries("index")), None)
            return False, describe(gen) if gen else "no index"
        return True, _index_name(general)


def fill_sources(plan: Plan, c, view: SourceView, rejected: list[str]) -> Plan:
    """The plan's sources part: the torch build and its label, where torch, mmcv and the rest come from and why,
    and the configured constraints that shaped it (`c` is the resolver's chosen candidate)."""
    src = c.src
    plan.torch_build, plan.torch_local = src.build, src.label
    if src.index:
        plan.indexes["torch"] = src.index
    else:
        plan.indexes.pop("torch", None)
    plan.sources.append(SourceChoice("torch", src.name, src.url, f"torch {plan.torch} and torchvision "
                                     f"{plan.torchvision} ({plan.requirement('torch')}): {src.reason}"))
    if plan.mmcv.source == "wheel":
        origin = plan.indexes.get("mmcv")
        plan.sources.append(SourceChoice("mmcv", _short(origin or ""), origin,
                                         f"mmcv {plan.mmcv.version}: the prebuilt wheel; {c.mmcv_note}".rstrip("; ")))
    else:
        b = plan.mmcv.build
        _, where = view.sdist()
        dead = next((e for e in view.entries("openmmlab") if not view.usable(e)), None)
        note = c.mmcv_note or (f"{describe(dead)}: no prebuilt mmcv wheel can be fetched" if dead else "")
        if note and not c.mmcv_note:
            b.reason = f"{note}; {b.reason}"
        general = view.general()
        plan.sources.append(SourceChoice("mmcv", where, general.url if general else None,
                                         (f"{note} -> " if note else "")
                                         + f"mmcv {plan.mmcv.version} built from the {where.split(' (')[0]} sdist, "
                                         f"~{b.minutes} min with {b.max_jobs} jobs here, once (cached)"))
    general = view.general()
    if general is not None:
        extras = [e for e in view.entries("extra-index", "find-links", "wheelhouse") if e.status == "ok"]
        plan.sources.append(SourceChoice("packages", _index_name(general), general.url,
                                         f"everything else: {describe(general)}" + "".join(
                                             f"; {host_of(e.url)} ({e.origin})" for e in extras)))
    plan.why += [s.reason for s in plan.sources]
    if src.label is None and plan.cuda == "cpu" and src.build != "cpu":
        plan.why.append(f"the stack stays a CPU stack: mmcv's ops are compiled for the CPU (FORCE_CUDA=0) "
                        f"although PyPI's torch is a {src.build} build")
    capped = [r for r in rejected if "is excluded by the constraint" in r]
    if capped:
        plan.why.append(f"{capped[0]}; the plan keeps to it (a plan the constraint forbids cannot install)")
    for conflict in view.pin_conflicts(plan.pins):
        plan.problems.append(Problem("constraint-conflict", conflict, "remove that line from the constraint file, "
                                     "or let hoofenv ignore pip's configuration: `hoofenv install --no-pip-config`"))
    return plan


def _spec_for(requirement: str, name: str):
    """The version specifier of a constraint line on `name` (`torch<=2.14.1`), or None. A small parser: the
    packaging.requirements module costs a `plan` more than the rest of this view."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    m = REQUIREMENT.match(requirement)
    if not m or m["name"].lower().replace("_", "-").replace(".", "-") != name:
        return None
    try:
        return SpecifierSet(m["spec"].replace(" ", ""))
    except InvalidSpecifier:
        return None


def _short(url: str) -> str:
    return re.sub(r"^https?://", "", url).rstrip("/")


def _index_name(e: SourceFact) -> str:
    return "PyPI" if e.url.rstrip("/") == "https://pypi.org/simple" else f"{_short(e.url)} ({e.origin})"


def _build_text(build: str, tag: CudaTag) -> str:
    if build == "cpu":
        return "a CPU build"
    cuda = f"{build[2:-1]}.{build[-1]}"
    return f"a CUDA {cuda} build" + (", which runs on the CPU too (with its CUDA libraries, a few GB)"
                                     if tag.is_cpu else "")

