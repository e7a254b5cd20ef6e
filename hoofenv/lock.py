"""hoofenv.lock: what an install put into the env, exactly (versions, files, index URLs, sha256), with the plan and
a facts summary. `hoofenv install --locked` reinstalls exactly those files (hash-checked) and refuses when the plan
computed now differs from the locked one (drift)."""

from __future__ import annotations

import hashlib
import html.parser
import json
import re
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hoofenv import __version__
from hoofenv.environment import Environment, canonical
from hoofenv.errors import HoofenvError
from hoofenv.fsutil import atomic_write_text
from hoofenv.installer import NO_INDEX, Sources
from hoofenv.plan import Plan

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


def read(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise HoofenvError(f"--locked: no lock file at {path}", hint="create it with `hoofenv install` first",
                           code="no-lock", exit_code=1) from exc
    except json.JSONDecodeError as exc:
        raise HoofenvError(f"{path} is not a hoofenv lock", [str(exc)],
                           hint=f"regenerate it: `mv {path} {path}.bad && hoofenv install`", code="lock-invalid",
                           exit_code=2) from exc
    if data.get("lock_version") != LOCK_VERSION or "packages" not in data:
        raise HoofenvError(f"{path}: lock_version {data.get('lock_version')!r} is not {LOCK_VERSION}",
                           hint="regenerate it with `hoofenv install`", code="lock-invalid", exit_code=2)
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
    tags = {f"{p}-{a}-{pl}" for p in m["py"].split(".") for a in m["abi"].split(".") for pl in m["plat"].split(".")}
    return not dist["tags"] or bool(tags & set(dist["tags"]))


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


def build(env: Path, plan: Plan, facts, installer: str, sources: Sources) -> dict:
    indexes = [i for i in [plan.indexes.get("torch")] if i and i != NO_INDEX]
    find_links = ([plan.indexes["mmcv"]] if plan.indexes.get("mmcv") and not sources.offline else []) + \
        list(sources.find_links)
    if not sources.offline:
        indexes += [sources.index_url or "https://pypi.org/simple", *sources.extra_index_urls]
    indexes = list(dict.fromkeys(indexes))
    dists = [d for d in installed_dists(env)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        packages = list(pool.map(lambda d: resolve_file(d, indexes, find_links), dists))
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
