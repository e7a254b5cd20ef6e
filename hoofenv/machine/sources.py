"""Which package sources this machine can use: what pip and uv are configured with, what local folders hold, and
whether each remote source answers (DNS, connect, TLS, HTTP), checked side by side within one short deadline and
kept briefly in the cache so that `plan` stays fast. Nothing here decides anything: stack/sources.py does.

Reading pip's configuration lives here (install/sources.py builds the installers' arguments from it) because uv
does not read pip's: hoofenv passes the same indexes, find-links and constraints to either installer.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hoofenv.errors import UsageError
from hoofenv.files import atomic_write_text
from hoofenv.machine.facts import ConstraintFact, SourceFact, SourcesFacts
from hoofenv.paths import cache_root

INDEX_ENV = "HOOFENV_INDEX_URL"
EXTRA_INDEX_ENV = "HOOFENV_EXTRA_INDEX_URL"
FIND_LINKS_ENV = "HOOFENV_FIND_LINKS"
PYPI = "https://pypi.org/simple"
URL_SCHEMES = ("http://", "https://", "file://")  # what an index or find-links URL may be
DEADLINE_S = 2.0  # an unanswered host costs at most this, whatever it hides (DNS, connect, TLS, HTTP)
CONNECT_S = 1.5
CACHE_TTL_S = 300.0  # `plan` and `install` reuse a check this young; `doctor` always checks again
CACHE_FILE = "sources.json"
# a remote index or page counts as answering below these HTTP statuses (404: an index without that project)
STATUS_TEXT = {"ok": "answers", "dns": "DNS failure", "refused": "connection refused", "timeout": "timeout",
               "tls": "TLS error", "proxy": "proxy error", "http": "HTTP error", "network": "network unreachable",
               "missing": "not there", "offline": "not checked (--offline)", "unasked": "not asked",
               "error": "error"}
HOLDS = re.compile(r"^(torch|torchvision|mmcv)-[^/]*\.(whl|tar\.gz)$", re.I)


@dataclass
class Target:
    """A place to ask for packages (an index or find-links), with where it came from (`origin`)."""

    role: str
    url: str
    origin: str = "upstream"
    tag: str | None = None
    torch_minor: str | None = None


# ---------------------------------------------------------------- configuration (pip, uv, hoofenv's own)

def pip_config_files() -> list[Path]:
    """The files pip reads, lowest priority first (pip's own order on Linux)."""
    if os.environ.get("PIP_CONFIG_FILE") == os.devnull:
        return []
    xdg_dirs = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")
    files = [Path(d) / "pip" / "pip.conf" for d in reversed(xdg_dirs)] + [Path("/etc/pip.conf")]
    home = Path.home()
    files += [home / ".pip" / "pip.conf",
              Path(os.environ.get("XDG_CONFIG_HOME", home / ".config")) / "pip" / "pip.conf"]
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    if sys.prefix != sys.base_prefix:
        files.append(Path(sys.prefix) / "pip.conf")
    return [f for f in files if f.is_file()]


PIP_KEYS = ("index-url", "extra-index-url", "find-links", "constraint", "no-index", "cert", "proxy")


def pip_config_origins() -> dict[str, tuple[str, str]]:
    """key -> (value, where it was set) as pip would see them: its files in order, then PIP_* variables. A file
    pip could not read either is refused, naming it."""
    values: dict[str, tuple[str, str]] = {}
    for path in pip_config_files():
        import configparser  # here: most machines have no pip config file, and `plan` skips the import

        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise UsageError(f"pip's configuration file {path} cannot be read", [str(exc).splitlines()[0]],
                             hint=f"fix or move {path} (pip refuses it too), or pass --no-pip-config") from None
        for section in ("global", "install"):
            if parser.has_section(section):
                values.update({k.lower(): (v, f"pip config {path}") for k, v in parser.items(section)})
    for key in PIP_KEYS:
        env = "PIP_" + key.upper().replace("-", "_")
        if os.environ.get(env):  # as pip: an empty value is no value, a blank one (" ") clears the setting
            values[key] = (os.environ[env], f"${env}")
    return values


def pip_config() -> dict[str, str]:
    """index-url, extra-index-url, find-links, constraint, no-index as pip would see them (files, then PIP_*)."""
    return {k: v for k, (v, _) in pip_config_origins().items()}


MISSING_PATH = "neither a URL nor an existing path"


def location_problem(text: str, kind: str) -> str | None:
    """Why `text` cannot be an index (`index`: a URL or a folder laid out like one) or a find-links entry
    (`links`: a URL, a folder of wheels or a file), or None when it can."""
    if not text or any(c.isspace() for c in text):
        return "an empty value or one with white space"
    if "://" in text:
        return None if text.startswith(URL_SCHEMES) else "not an http://, https:// or file:// URL"
    path = os.path.expanduser(text)
    if not os.path.exists(path):  # os.path: a name too long or with a NUL is `missing`, not an OSError
        return MISSING_PATH
    if kind == "index" and not os.path.isdir(path):
        return "a file; an index is a URL or a folder laid out like one"
    return None


def _checked(pairs: list[tuple[str, str]], kind: str, key: str | None = None) -> list[tuple[str, str]]:
    """`pairs` (value, origin), each a usable location. `key`: pip's setting they come from, where a find-links
    folder that does not exist is dropped, as pip ignores it, instead of failing uv later."""
    kept = []
    for value, origin in pairs:
        problem = location_problem(value, kind)
        if problem == MISSING_PATH and key and kind == "links":
            continue
        if problem:
            if origin.startswith("$"):
                what = "an index URL (http://, https://, file://) or a folder laid out like one" if kind == "index" \
                    else "URLs or folders of wheels, separated by spaces"
                hint = f"set it to {what}, or unset it: `unset {origin[1:]}`"
                hint += ", or pass --no-pip-config" if origin.startswith("$PIP_") else ""
            else:
                hint = f"fix `{key}` in {origin.removeprefix('pip config ')}, or pass --no-pip-config"
            raise UsageError(f"{origin}{f' ({key})' if key else ''}: `{value}` is {problem}", hint=hint)
        kept.append((value, origin))
    return kept


@dataclass
class Configured:
    """The sources the installers will be given, each with where it was set."""

    index: tuple[str, str] | None  # (url, origin); None: PyPI
    extra: list[tuple[str, str]]
    find_links: list[tuple[str, str]]
    constraints: list[tuple[str, str]]
    uv: list[tuple[str, str, str]]  # (role, url, origin) from uv's own configuration, which uv reads itself
    cert: str | None = None
    proxy: str | None = None
    wheelhouse: str | None = None


def read_configured(*, index_url: str | None = None, extra_index_urls: list[str] | None = None,
                    find_links: list[str] | None = None, use_pip_config: bool = True,
                    wheelhouse: str | None = None) -> Configured:
    """Flags first, then HOOFENV_* variables, then pip's configuration (unless use_pip_config is False)."""
    cfg = pip_config_origins() if use_pip_config else {}
    pip = lambda key: [(u, cfg[key][1]) for u in cfg.get(key, ("", ""))[0].split()]  # noqa: E731
    index_env = _checked([(u, f"${INDEX_ENV}") for u in os.environ.get(INDEX_ENV, "").split()], "index")
    if len(index_env) > 1:
        raise UsageError(f"${INDEX_ENV} names {len(index_env)} indexes; it replaces PyPI with one",
                         hint=f"put the others in ${EXTRA_INDEX_ENV}")
    config_index = _checked(pip("index-url"), "index", "index-url")
    index = (index_url, "--index-url") if index_url else (index_env or config_index or [None])[0]
    extra = [(u, "--extra-index-url") for u in extra_index_urls or []]
    extra += _checked([(u, f"${EXTRA_INDEX_ENV}") for u in os.environ.get(EXTRA_INDEX_ENV, "").split()], "index")
    extra += _checked(pip("extra-index-url"), "index", "extra-index-url")
    links = [(str(Path(wheelhouse).absolute()), "--wheelhouse")] if wheelhouse else []
    links += [(u, "--find-links") for u in find_links or []]
    links += _checked([(u, f"${FIND_LINKS_ENV}") for u in os.environ.get(FIND_LINKS_ENV, "").split()], "links")
    links += _checked(pip("find-links"), "links", "find-links")
    constraints = pip("constraint")
    return Configured(index=index, extra=_unique(extra), find_links=_unique(links), constraints=constraints,
                      uv=uv_configured(), cert=cfg.get("cert", (None, ""))[0], proxy=cfg.get("proxy", (None, ""))[0],
                      wheelhouse=str(Path(wheelhouse).absolute()) if wheelhouse else None)


def _unique(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    seen, out = set(), []
    for url, origin in pairs:
        if url not in seen:
            seen.add(url)
            out.append((url, origin))
    return out


def uv_config_files() -> list[Path]:
    home = Path.home()
    user = Path(os.environ.get("XDG_CONFIG_HOME", home / ".config")) / "uv" / "uv.toml"
    system = [Path(d) / "uv" / "uv.toml" for d in os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":")]
    return [f for f in [*system, Path("/etc/uv/uv.toml"), user] if f.is_file()]


def uv_configured() -> list[tuple[str, str, str]]:
    """Indexes and find-links uv reads from its own files and UV_* variables (unless UV_NO_CONFIG)."""
    out: list[tuple[str, str, str]] = []
    if not os.environ.get("UV_NO_CONFIG"):
        for path in uv_config_files():
            out += _uv_toml(path)
    for env, role in (("UV_INDEX_URL", "index"), ("UV_DEFAULT_INDEX", "index"), ("UV_EXTRA_INDEX_URL", "extra-index"),
                      ("UV_INDEX", "extra-index"), ("UV_FIND_LINKS", "find-links")):
        for url in re.split(r"[\s,]+", os.environ.get(env, "").strip()):
            if url:
                out.append((role, url.split("=", 1)[1] if re.match(r"^[\w.-]+=", url) else url, f"${env}"))
    return out


def _uv_toml(path: Path) -> list[tuple[str, str, str]]:
    try:
        import tomllib
    except ImportError:  # Python 3.10: uv's own files are not read (its UV_* variables are)
        return []
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return []
    origin = f"uv config {path}"
    out = []
    for table in (data, data.get("pip") if isinstance(data.get("pip"), dict) else {}):
        if isinstance(table.get("index-url"), str):
            out.append(("index", table["index-url"], origin))
        for key, role in (("extra-index-url", "extra-index"), ("find-links", "find-links")):
            out += [(role, u, origin) for u in table.get(key) or [] if isinstance(u, str)]
    for index in data.get("index") or []:
        if isinstance(index, dict) and isinstance(index.get("url"), str):
            out.append(("index" if index.get("default") else "extra-index", index["url"], origin))
    return out


def constraint_lines(constraints: list[tuple[str, str]]) -> list[ConstraintFact]:
    """The requirement lines of the configured constraint files (comments and options dropped)."""
    out = []
    for file, origin in constraints:
        try:
            text = Path(file).read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                out.append(ConstraintFact(requirement=line, file=file, origin=origin))
    return out


def configured_targets(c: Configured) -> list[Target]:
    index_url, index_origin = c.index or (PYPI, "upstream (PyPI)")
    targets = [Target("index", index_url, index_origin)]
    targets += [Target("extra-index", u, o) for u, o in c.extra]
    targets += [Target("wheelhouse" if u == c.wheelhouse else "find-links", u, o) for u, o in c.find_links]
    known = {t.url for t in targets}
    targets += [Target(role, u, o) for role, u, o in c.uv if u not in known]
    return targets


# ---------------------------------------------------------------- local sources

def local_path(url: str) -> Path | None:
    """The folder or file a local source names (a path or a file:// URL); None for a remote one."""
    if url.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(url).path))
    if re.match(r"^[a-z][a-z0-9+.-]*://", url, re.I):
        return None
    return Path(url).expanduser()


def check_local(t: Target) -> SourceFact:
    """Is it there, and which torch, torchvision and mmcv files does it hold."""
    path = local_path(t.url)
    fact = SourceFact(role=t.role, url=t.url, origin=t.origin, tag=t.tag, torch_minor=t.torch_minor)
    if path is None or not path.exists():
        fact.status, fact.detail = "missing", f"{path} does not exist"
        return fact
    names: list[str] = []
    try:
        if path.is_dir() and t.role in ("index", "extra-index"):
            for project in ("torch", "torchvision", "mmcv"):
                page = path / project / "index.html"
                if page.is_file():
                    names += re.findall(r'href="[^"#]*?([^/"#]+)(?:#[^"]*)?"', page.read_text(errors="replace"))
        elif path.is_dir():
            names = [p.name for p in path.iterdir()]
        elif path.is_file():
            names = re.findall(r'href="[^"#]*?([^/"#]+)(?:#[^"]*)?"', path.read_text(errors="replace"))
    except OSError as exc:
        fact.status, fact.detail = "error", str(exc)
        return fact
    from urllib.parse import unquote

    fact.holds = sorted({unquote(n) for n in names if HOLDS.match(unquote(n))})
    return fact


def is_remote(url: str) -> bool:
    return bool(re.match(r"^https?://", url, re.I))


# ---------------------------------------------------------------- the cache and the whole probe

def _cache_key(t: Target, c: Configured) -> str:
    proxies = ",".join(os.environ.get(k, "") for k in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY",
                                                      "no_proxy", "NO_PROXY"))
    return f"{t.role} {t.url} {c.proxy or ''} {c.cert or ''} {proxies}"


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def probe_sources(targets: list[Target], c: Configured, *, offline: bool = False, use_cache: bool = True,
                  deadline_s: float = DEADLINE_S) -> SourcesFacts:
    """Every target's SourceFact, in the order given: local ones looked at now, remote ones from the cache when
    younger than CACHE_TTL_S, the rest asked now (all hosts at once)."""
    cache_path = cache_root() / CACHE_FILE
    cache = _read_cache(cache_path)
    now = time.time()
    found: dict[int, SourceFact] = {}
    ask: list[tuple[int, Target]] = []
    for i, t in enumerate(targets):
        if not is_remote(t.url):
            found[i] = check_local(t)
        elif offline:
            found[i] = SourceFact(role=t.role, url=t.url, origin=t.origin, tag=t.tag, torch_minor=t.torch_minor,
                                  status="offline", detail="--offline: not asked")
        else:
            hit = cache.get(_cache_key(t, c)) if use_cache else None
            if hit and now - hit.get("at", 0) < CACHE_TTL_S:
                found[i] = SourceFact(**{**hit["fact"], "origin": t.origin})
            else:
                ask.append((i, t))
    if ask:
        from hoofenv.machine.reach import check_remote  # only on a cache miss: `plan` stays small

        checked = check_remote([t for _, t in ask], deadline_s=deadline_s, cert=c.cert, proxy=c.proxy)
        for (i, t), fact in zip(ask, checked):
            found[i] = fact
            cache[_cache_key(t, c)] = {"at": now, "fact": asdict(fact)}
        cache = {k: v for k, v in cache.items() if isinstance(v, dict) and now - v.get("at", 0) < CACHE_TTL_S}
        try:
            atomic_write_text(cache_path, json.dumps(cache, indent=1))
        except OSError:
            pass  # a read-only home only costs the next run its speed
    notes = []
    if c.uv:
        notes.append("uv reads its own configuration too: " + ", ".join(f"{u} ({o})" for _, u, o in c.uv))
    return SourcesFacts(offline=offline, entries=[found[i] for i in range(len(targets))],
                        constraints=constraint_lines(c.constraints), notes=notes)


def describe(fact: SourceFact, timing: bool = False) -> str:
    """`download.pytorch.org: DNS failure` / `pypi.org: answers (45 ms)` / `/opt/wheels: holds torch-...`. Plans
    use it without timing, so that the same sources give the same words."""
    name = host_of(fact.url)
    if fact.status == "ok":
        if not is_remote(fact.url):
            return f"{name}: " + (f"holds {_holdings(fact.holds)}" if fact.holds else "there (no torch/mmcv files)")
        return f"{name}: answers" + (f" ({fact.ms:.0f} ms)" if timing and fact.ms is not None else "")
    text = STATUS_TEXT.get(fact.status, fact.status)
    if fact.status == "http" and fact.http_status:
        text = f"HTTP {fact.http_status}"
    detail = fact.detail if fact.status in ("tls", "proxy", "network", "error", "missing", "timeout") else None
    return f"{name}: {text}" + (f" ({detail})" if detail else "")


def _holdings(names: list[str]) -> str:
    """`torch 2.14.1; torchvision 0.28.0, 0.29.1` from the file names."""
    found: dict[str, list[str]] = {}
    for n in names:
        parts = n.split("-")
        if len(parts) > 1:
            found.setdefault(parts[0].lower(), []).append(parts[1] + (" (sdist)" if n.endswith(".tar.gz") else ""))
    return "; ".join(f"{k} {', '.join(dict.fromkeys(v))}" for k, v in found.items())


@functools.lru_cache(maxsize=256)
def host_of(url: str) -> str:
    if is_remote(url):
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return parts.netloc or url
    return str(local_path(url) or url)
