"""hoofenv.lock: what an install put into the env, exactly (versions, files, index URLs, sha256), with the plan and
a facts summary. `hoofenv install --locked` reinstalls exactly those files (hash-checked) and refuses when the plan
computed now differs from the locked one (drift)."""

from __future__ import annotations

import dataclasses
import hashlib
import html.parser
import json
import re
import subprocess
import tempfile
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hoofenv import __version__
from hoofenv.machine import typed
from hoofenv.machine.environment import Environment, canonical
from hoofenv.errors import HoofenvError
from hoofenv.files import atomic_write_text
from hoofenv.install.installers import Installer
from hoofenv.install.recipe import Step
from hoofenv.install.sources import NO_INDEX, Sources
from hoofenv.machine.probe import find_uv
from hoofenv.stack.plan import Plan

LOCK_VERSION = 1
# The plan fields that define the stack (the rest describes the machine or explains the choice).
STACK_FIELDS = ["python", "torch", "torchvision", "cuda", "mmcv", "mmengine", "mmdet", "mmpose", "pins",
                "mmpose_runtime", "indexes"]


def stack_of(plan: Plan | dict) -> dict:
    data = plan.to_dict() if isinstance(plan, Plan) else plan
    out = {k: data.get(k) for k in STACK_FIELDS}
    if out.get("mmcv"):
        mmcv = dict(out["mmcv"])
        build = mmcv.get("build") or {}
        # how many jobs compile it, how long it takes, what is missing: machine facts, not the stack
        mmcv["build"] = {k: build.get(k) for k in ("torch_headers", "cuda_arch_list", "force_cuda")} if build else None
        out["mmcv"] = mmcv
    return out


def drift(locked: dict, plan: Plan) -> list[str]:
    """Human lines naming every stack field that differs between the lock and the plan computed now."""
    a, b = stack_of(locked), stack_of(plan)
    return [f"{k}: locked {json.dumps(a[k])}, now {json.dumps(b[k])}" for k in STACK_FIELDS if a[k] != b[k]]


def facts_summary(facts) -> dict:
    nv = getattr(facts, "nvidia", None)
    return {"os": f"{facts.os.distro or facts.os.system} {facts.os.distro_version or ''}".strip(), "arch": facts.os.arch,
            "python": facts.python.version, "cpu_count": facts.cpu_count, "memory_gib": facts.memory_gib,
            "driver": nv.driver_version if nv else None,
            "gpus": [g.name for g in nv.gpus] if nv else []}


@dataclasses.dataclass
class _Entry:
    name: str
    version: str
    file: str | None = None
    url: str | None = None
    index: str | None = None
    sha256: str | None = None


@dataclasses.dataclass
class _LockSources:
    find_links: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Lock:
    """The fields of a lock that `install --locked` reads; checked on read so that none fails later."""

    lock_version: int
    plan: dict
    packages: list[_Entry]
    sources: _LockSources = dataclasses.field(default_factory=_LockSources)


def read(path: Path) -> dict:
    regenerate = f"regenerate it: `mv {path} {path}.bad && hoofenv install`"
    try:
        data = json.loads(Path(path).read_bytes().decode("utf-8"))
    except FileNotFoundError as exc:
        raise HoofenvError(f"--locked: no lock file at {path}", hint="create it with `hoofenv install` first",
                           code="no-lock", exit_code=1) from exc
    except OSError as exc:
        raise HoofenvError(f"cannot read the lock file {path}", [exc.strerror or str(exc)], hint=regenerate,
                           code="lock-invalid", exit_code=2) from exc
    except (ValueError, RecursionError) as exc:  # JSON, UTF-8, nesting
        raise HoofenvError(f"{path} is not a hoofenv lock", [str(exc)[:200]], hint=regenerate, code="lock-invalid",
                           exit_code=2) from exc

    def bad(where: str, why: str) -> HoofenvError:
        return HoofenvError(f"invalid lock {path}: field `{where or '(top level)'}` {why}", hint=regenerate,
                            code="lock-invalid", exit_code=2)

    if isinstance(data, dict) and data.get("lock_version") != LOCK_VERSION:
        raise HoofenvError(f"{path}: lock_version {data.get('lock_version')!r} is not {LOCK_VERSION}",
                           hint="regenerate it with `hoofenv install`", code="lock-invalid", exit_code=2)
    lock = typed.build(_Lock, data, bad)
    for i, entry in enumerate(lock.packages):
        if entry.sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", entry.sha256):
            raise bad(f"packages[{i}].sha256", "is not a sha256 in hex")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", entry.name) or not re.fullmatch(r"[\w.!+-]+",
                                                                                             entry.version):
            raise bad(f"packages[{i}]", f"`{entry.name}` `{entry.version}` is not a distribution and its version")
    try:
        Plan.from_dict(data["plan"], f"{path} (its `plan`)")
    except HoofenvError as err:
        raise HoofenvError(err.message, hint=regenerate, code="lock-invalid", exit_code=2) from None
    return data


# -- installed distributions -> files with hashes -------------------------------------------------------------

def installed_dists(env: Path) -> list[dict]:
    out = []
    for sp in Environment(env).site_packages():
        for info in sorted(sp.glob("*.dist-info")):
            meta = _headers(info / "METADATA")
            name, version = meta.get("Name"), meta.get("Version")
            if not name or not version:
                continue
            tags = _headers(info / "WHEEL", multi="Tag").get("Tag", [])
            direct = None
            if (info / "direct_url.json").exists():
                try:
                    direct = json.loads((info / "direct_url.json").read_text()).get("url")
                except (OSError, json.JSONDecodeError):
                    direct = None
            out.append({"name": canonical(name), "version": version, "tags": tags, "direct_url": direct})
    return sorted(out, key=lambda d: d["name"])


def _headers(path: Path, multi: str | None = None) -> dict:
    found: dict = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return found
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if not sep:
            continue
        if key == multi:
            found.setdefault(key, []).append(value.strip())
        else:
            found.setdefault(key, value.strip())
    return found


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)


def _fetch(url: str) -> str | None:
    if url.startswith("file://"):  # a file:// index: the folder's index.html, as pip reads it
        path = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))
        path = path / "index.html" if path.is_dir() else path
        try:
            return path.read_text(errors="replace")
        except OSError:
            return None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": "text/html"}), timeout=20) as r:
            return r.read().decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def _candidates(name: str, indexes: list[str], find_links: list[str]) -> list[tuple[str, str]]:
    """(absolute URL, where) of every file link for `name` on the indexes (PEP 503) and find-links folders."""
    out: list[tuple[str, str]] = []
    for index in indexes:
        base = index.rstrip("/") + f"/{name}/"
        page = _fetch(base)
        if page is None:
            continue
        parser = _Links()
        parser.feed(page)
        out += [(urllib.parse.urljoin(base, href), index) for href in parser.links]
    for link in find_links:
        folder = Path(link.removeprefix("file://"))
        if folder.is_dir():
            out += [(f.absolute().as_uri(), link) for f in folder.iterdir() if f.is_file()]
        elif link.startswith(("http://", "https://")):
            page = _fetch(link)
            if page:
                parser = _Links()
                parser.feed(page)
                out += [(urllib.parse.urljoin(link, h), link) for h in parser.links]
    return out


def _wheel_matches(filename: str, dist: dict) -> bool:
    m = re.match(r"^(?P<n>.+?)-(?P<v>[^-]+)(-\d[^-]*)?-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$", filename)
    if not m or canonical(m["n"]) != dist["name"] or m["v"] != dist["version"]:
        return False
    installed = {t for tag in dist["tags"] for t in _expand(tag)}  # some WHEEL files say `py2.py3-none-any`
    return not installed or bool(_expand(f"{m['py']}-{m['abi']}-{m['plat']}") & installed)


def _expand(tag: str) -> set[str]:
    """A compressed tag set (PEP 425) as single tags: `py2.py3-none-any` -> {py2-none-any, py3-none-any}."""
    parts = tag.split("-")
    if len(parts) != 3:
        return {tag}
    py, abi, plat = (x.split(".") for x in parts)
    return {f"{p}-{a}-{pl}" for p in py for a in abi for pl in plat}


def _sha256_of(url: str) -> str | None:
    if url.startswith(("http://", "https://")):  # a find-links page without hashes: hash the file itself
        h = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=60) as r:
                for chunk in iter(lambda: r.read(1 << 20), b""):
                    h.update(chunk)
        except OSError:
            return None
        return h.hexdigest()
    if url.startswith("file://"):
        path = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))
        if path.is_file():
            h = hashlib.sha256()
            with path.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            return h.hexdigest()
    return None


def _pypi_json(dist: dict, index: str) -> list[tuple[str, str]]:
    """PyPI's per-release JSON (small, with sha256) instead of a project's whole simple page (torch's is MBs)."""
    page = _fetch(f"https://pypi.org/pypi/{dist['name']}/{dist['version']}/json")
    if not page:
        return []
    try:
        files = json.loads(page).get("urls", [])
    except json.JSONDecodeError:
        return []
    return [(f"{f['url']}#sha256={f['digests']['sha256']}", index) for f in files if f.get("digests", {}).get("sha256")]


def resolve_file(dist: dict, indexes: list[str], find_links: list[str]) -> dict:
    """The file a dist was installed from: local find-links, then the indexes in order (first match with a hash)."""
    entry = {"name": dist["name"], "version": dist["version"], "file": None, "url": None, "index": None,
             "sha256": None}
    if dist.get("direct_url"):
        entry.update(url=dist["direct_url"], file=dist["direct_url"].rsplit("/", 1)[-1], index="direct",
                     sha256=_sha256_of(dist["direct_url"]))
        return entry
    sources = [("links", link) for link in find_links] + [("index", i) for i in indexes]
    for kind, where in sources:
        if kind == "index" and where.rstrip("/") in ("https://pypi.org/simple", "https://pypi.python.org/simple"):
            cands = _pypi_json(dist, where)
        else:
            cands = _candidates(dist["name"], [where] if kind == "index" else [], [where] if kind == "links" else [])
        for url, idx in cands:
            clean, _, frag = url.partition("#")
            filename = urllib.parse.unquote(clean.rsplit("/", 1)[-1])
            if not _wheel_matches(filename, dist):
                continue
            sha = frag.removeprefix("sha256=") if frag.startswith("sha256=") else _sha256_of(clean)
            entry.update(file=filename, url=clean, index=idx, sha256=sha)
            if sha:
                return entry
    return entry


def uv_files(uv: str, python: Path, dists: list[dict], source_args: list[str]) -> dict[str, dict]:
    """name -> lock entry for every dist uv finds on the sources, from uv's own view of them: two cached
    `uv pip compile --no-deps` runs of the exact pins (pylock.toml for each file's URL and sha256, the requirements
    format for the index it came from). 0.4 s for the 83 dists of the stack here, where asking each index per dist
    took 6-7 s. Empty when uv cannot (an old uv, no tomllib, a dist on no index): the caller falls back per dist."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        return {}
    if not dists:
        return {}
    with tempfile.TemporaryDirectory(prefix="hoofenv-lock-") as tmp:
        pins = Path(tmp) / "pins.txt"
        pins.write_text("".join(f"{d['name']}=={d['version']}\n" for d in dists))
        base = [uv, "pip", "compile", "--quiet", "--no-deps", "--no-header", "--python", str(python), *source_args,
                str(pins)]
        runs = {"pylock": base + ["--format", "pylock.toml", "-o", str(Path(tmp) / "pylock.toml")],
                "reqs": base + ["--generate-hashes", "--emit-index-annotation", "-o", str(Path(tmp) / "reqs.txt")]}
        procs = {k: subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for k, cmd in runs.items()}
        if any(p.wait() != 0 for p in procs.values()):
            return {}
        try:
            pylock = tomllib.loads((Path(tmp) / "pylock.toml").read_text())
            reqs = (Path(tmp) / "reqs.txt").read_text()
        except (OSError, tomllib.TOMLDecodeError):
            return {}
    index_of: dict[str, str] = {}
    current = None
    for line in reqs.splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if m:
            current = canonical(m[1])
        elif current and line.strip().startswith("# from "):
            index_of[current] = line.strip().removeprefix("# from ").strip()
    by_name = {d["name"]: d for d in dists}
    out: dict[str, dict] = {}
    for pkg in pylock.get("packages", []):
        dist = by_name.get(canonical(pkg.get("name", "")))
        if not dist:
            continue
        for wheel in pkg.get("wheels", []):
            url = wheel.get("url") or (Path(wheel["path"]).absolute().as_uri() if wheel.get("path") else None)
            sha = (wheel.get("hashes") or {}).get("sha256")
            if not url or not sha:
                continue
            filename = urllib.parse.unquote(url.rsplit("/", 1)[-1])
            if _wheel_matches(filename, dist):
                out[dist["name"]] = {"name": dist["name"], "version": dist["version"], "file": filename, "url": url,
                                     "index": index_of.get(dist["name"]), "sha256": sha}
                break
    return out


def build(env: Path, plan: Plan, facts, installer: str, sources: Sources, uv: str | None = None,
          source_args: list[str] | None = None) -> dict:
    """The lock for `env`. With `uv` (and the install's `source_args`) uv names each file; else each index is
    asked per dist (PyPI's JSON, PEP 503 pages, find-links folders)."""
    indexes = [i for i in [plan.indexes.get("torch")] if i and i != NO_INDEX]
    find_links = ([plan.indexes["mmcv"]] if plan.indexes.get("mmcv") and not sources.offline else []) + \
        list(sources.find_links)
    if not sources.offline:
        indexes += [sources.index_url or "https://pypi.org/simple", *sources.extra_index_urls]
    indexes = list(dict.fromkeys(indexes))
    dists = installed_dists(env)
    known = uv_files(uv, Environment(env).python, [d for d in dists if not d.get("direct_url")],
                     source_args or []) if uv else {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        packages = list(pool.map(lambda d: known.get(d["name"]) or resolve_file(d, indexes, find_links), dists))
    return {
        "lock_version": LOCK_VERSION,
        "hoofenv": __version__,
        "installer": installer,
        "sources": sources.to_dict() | {"indexes": indexes, "find_links": find_links},
        "plan": plan.to_dict(),
        "facts": facts_summary(facts),
        "packages": packages,
    }


def write(path: Path, data: dict) -> bool:
    """Write the lock atomically; True if its content changed (the old one kept as FILE.bak)."""
    text = json.dumps(data, indent=2, sort_keys=False) + "\n"
    path = Path(path)
    if path.exists():
        old = path.read_text()
        if old == text:
            return False
        atomic_write_text(path.with_name(path.name + ".bak"), old)
    atomic_write_text(path, text)
    return True


def requirements_text(lock: dict) -> tuple[str, bool]:
    """A requirements file pinning every locked file by version and hash; (text, every file has a hash)."""
    lines, hashed = [], True
    for p in lock["packages"]:
        if p.get("index") == "direct" and p.get("url"):
            req = f"{p['name']} @ {p['url']}"
        else:
            req = f"{p['name']}=={p['version']}"
        if p.get("sha256"):
            req += f" --hash=sha256:{p['sha256']}"
        else:
            hashed = False
        lines.append(req)
    return "\n".join(lines) + "\n", hashed


def matches_env(lock: dict, env: Path) -> bool:
    have = {d["name"]: d["version"] for d in installed_dists(env)}
    want = {p["name"]: p["version"] for p in lock["packages"]}
    return have == want


def for_env(env: Path, plan: Plan, facts, installer: Installer) -> dict:
    """The lock, with uv naming each file through the same sources the steps used. uv reads the same indexes
    pip did, so it names pip's files too; without uv each index is asked per dist (slower, 6-7 s here)."""
    uv = installer.uv or find_uv()
    args = Installer("uv", installer.sources, uv).source_args(
        plan.indexes.get("torch"), [plan.indexes["mmcv"]] if plan.indexes.get("mmcv") else []) if uv else None
    return build(env, plan, facts, installer.kind, installer.sources, uv=uv, source_args=args)


def locked_steps(lock: dict, installer: Installer, stage: Path, plan: Plan) -> list[Step]:
    """One step installing exactly the lock's files, hash-checked (`hoofenv install --locked`)."""
    _, hashed = requirements_text(lock)
    reqs = stage / "hoofenv-locked-requirements.txt"
    py = stage / "bin" / "python"
    # every line is `name==version --hash`: pip config's constraint files add nothing, and a range in one
    # (`torch<=2.14.1` here) stops --require-hashes ("all requirements must have their versions pinned")
    exact = Installer(installer.kind, dataclasses.replace(installer.sources, constraints=[]), installer.uv)
    cmd = exact.install_cmd(py, [], no_deps=True, requirement_file=reqs, require_hashes=hashed,
                            extra_index=plan.indexes.get("torch"))
    if not installer.sources.offline:
        for link in lock.get("sources", {}).get("find_links", []):
            if link not in cmd:
                cmd += ["--find-links", link]
    return [Step("locked", f"exactly the {len(lock['packages'])} locked files (hash-checked)", cmd)]
