"""Package sources: indexes, mirrors, find-links, a wheelhouse, and pip's own configuration.

uv does not read pip's configuration, so hoofenv reads it (the files pip reads, and PIP_* variables) and passes
the same indexes, find-links and constraints to either installer: one "mirror" setting serves both.
"""

from __future__ import annotations

import configparser
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv.errors import UsageError
from hoofenv.stack.matrix import NO_INDEX, URL_SCHEMES  # noqa: F401 -- NO_INDEX: for the installers and the lock

INDEX_ENV = "HOOFENV_INDEX_URL"
EXTRA_INDEX_ENV = "HOOFENV_EXTRA_INDEX_URL"
FIND_LINKS_ENV = "HOOFENV_FIND_LINKS"


@dataclass
class Sources:
    index_url: str | None = None  # None: the installer's default (PyPI)
    extra_index_urls: list[str] = field(default_factory=list)
    find_links: list[str] = field(default_factory=list)
    constraints: list[str] = field(default_factory=list)  # extra constraint files (pip config's `constraint`)
    offline: bool = False
    wheelhouse: str | None = None

    def to_dict(self) -> dict:
        return {"index_url": self.index_url or "https://pypi.org/simple", "extra_index_urls": self.extra_index_urls,
                "find_links": self.find_links, "constraints": self.constraints, "offline": self.offline,
                "wheelhouse": self.wheelhouse}


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


def pip_config(origins: dict[str, str] | None = None) -> dict[str, str]:
    """index-url, extra-index-url, find-links, constraint, no-index as pip would see them (files, then PIP_*).
    `origins` is filled with where each value came from (a file, or `$PIP_...`)."""
    values: dict[str, str] = {}
    origins = {} if origins is None else origins
    for path in pip_config_files():
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError) as exc:
            raise UsageError(f"pip's configuration file {path} cannot be read", [str(exc).splitlines()[0]],
                             hint=f"fix or move {path} (pip refuses it too), or pass --no-pip-config") from None
        for section in ("global", "install"):
            if parser.has_section(section):
                items = {k.lower(): v for k, v in parser.items(section)}
                values.update(items)
                origins.update(dict.fromkeys(items, str(path)))
    for key in ("index-url", "extra-index-url", "find-links", "constraint", "no-index"):
        variable = "PIP_" + key.upper().replace("-", "_")
        env = os.environ.get(variable)
        if env is not None:
            values[key] = env
            origins[key] = f"${variable}"
    return values


MISSING_PATH = "neither a URL nor an existing path"


def _checked(values: list[str], kind: str, origin: str, hint: str, lenient: bool = False) -> list[str]:
    """`values`, each a usable location; `lenient` (pip's own settings): a find-links folder that does not exist
    is dropped, as pip ignores it, instead of failing uv later."""
    kept = []
    for value in values:
        problem = location_problem(value, kind)
        if problem == MISSING_PATH and lenient and kind == "links":
            continue
        if problem:
            raise UsageError(f"{origin}: `{value}` is {problem}", hint=hint)
        kept.append(value)
    return kept


def _from_env(variable: str, kind: str) -> list[str]:
    what = "an index URL (http://, https://, file://) or a folder laid out like one" if kind == "index" else \
        "URLs or folders of wheels, separated by spaces"
    return _checked(os.environ.get(variable, "").split(), kind, f"${variable}",
                    f"set it to {what}, or unset it: `unset {variable}`")


def _from_config(cfg: dict[str, str], origins: dict[str, str], key: str, kind: str) -> list[str]:
    origin = origins.get(key, "pip's configuration")
    hint = f"unset {origin[1:]}" if origin.startswith("$") else f"fix `{key}` in {origin}"
    return _checked(cfg.get(key, "").split(), kind, f"{origin} ({key})", f"{hint}, or pass --no-pip-config",
                    lenient=True)


def sources_from(*, index_url: str | None = None, extra_index_urls: list[str] | None = None,
                 find_links: list[str] | None = None, use_pip_config: bool = True, offline: bool = False,
                 wheelhouse: str | None = None) -> Sources:
    """Flags first, then HOOFENV_* variables, then pip's configuration (unless use_pip_config is False)."""
    src = Sources(offline=offline, wheelhouse=str(Path(wheelhouse).absolute()) if wheelhouse else None)
    if wheelhouse:
        src.find_links = [src.wheelhouse]
        if offline:
            return src
    origins: dict[str, str] = {}
    cfg = pip_config(origins) if use_pip_config else {}
    index_env = _from_env(INDEX_ENV, "index")
    if len(index_env) > 1:
        raise UsageError(f"${INDEX_ENV} names {len(index_env)} indexes; it replaces PyPI with one",
                         hint=f"put the others in ${EXTRA_INDEX_ENV}")
    config_index = _from_config(cfg, origins, "index-url", "index")
    src.index_url = index_url or (index_env or [None])[0] or (config_index or [None])[0]
    src.extra_index_urls += list(extra_index_urls or []) + _from_env(EXTRA_INDEX_ENV, "index")
    src.extra_index_urls += _from_config(cfg, origins, "extra-index-url", "index")
    src.find_links += list(find_links or []) + _from_env(FIND_LINKS_ENV, "links")
    src.find_links += _from_config(cfg, origins, "find-links", "links")
    src.constraints += [c for c in cfg.get("constraint", "").split() if Path(c).is_file()]
    src.extra_index_urls = list(dict.fromkeys(src.extra_index_urls))
    src.find_links = list(dict.fromkeys(src.find_links))
    return src
