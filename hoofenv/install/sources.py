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

INDEX_ENV = "HOOFENV_INDEX_URL"
EXTRA_INDEX_ENV = "HOOFENV_EXTRA_INDEX_URL"
FIND_LINKS_ENV = "HOOFENV_FIND_LINKS"
NO_INDEX = "none"  # --torch-index-url none: take torch from the general sources (PyPI and mirrors)


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


def pip_config() -> dict[str, str]:
    """index-url, extra-index-url, find-links, constraint, no-index as pip would see them (files, then PIP_*)."""
    values: dict[str, str] = {}
    for path in pip_config_files():
        parser = configparser.RawConfigParser()
        try:
            parser.read(path)
        except configparser.Error:
            continue
        for section in ("global", "install"):
            if parser.has_section(section):
                values.update({k.lower(): v for k, v in parser.items(section)})
    for key in ("index-url", "extra-index-url", "find-links", "constraint", "no-index"):
        env = os.environ.get("PIP_" + key.upper().replace("-", "_"))
        if env is not None:
            values[key] = env
    return values


def sources_from(*, index_url: str | None = None, extra_index_urls: list[str] | None = None,
                 find_links: list[str] | None = None, use_pip_config: bool = True, offline: bool = False,
                 wheelhouse: str | None = None) -> Sources:
    """Flags first, then HOOFENV_* variables, then pip's configuration (unless use_pip_config is False)."""
    src = Sources(offline=offline, wheelhouse=str(Path(wheelhouse).absolute()) if wheelhouse else None)
    if wheelhouse:
        src.find_links = [src.wheelhouse]
        if offline:
            return src
    cfg = pip_config() if use_pip_config else {}
    src.index_url = index_url or os.environ.get(INDEX_ENV) or cfg.get("index-url")
    src.extra_index_urls += list(extra_index_urls or []) + os.environ.get(EXTRA_INDEX_ENV, "").split()
    src.extra_index_urls += cfg.get("extra-index-url", "").split()
    src.find_links += list(find_links or []) + os.environ.get(FIND_LINKS_ENV, "").split()
    src.find_links += cfg.get("find-links", "").split()
    src.constraints += [c for c in cfg.get("constraint", "").split() if Path(c).is_file()]
    src.extra_index_urls = list(dict.fromkeys(src.extra_index_urls))
    src.find_links = list(dict.fromkeys(src.find_links))
    return src
