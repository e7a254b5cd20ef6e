"""Package sources (indexes, mirrors, find-links, wheelhouse) and the uv / pip command lines that use them.

Pure: builds argv lists, runs nothing. uv does not read pip's configuration, so hoofenv reads it (the files pip
reads, and PIP_* variables) and passes the same indexes, find-links and constraints to either installer: one
"mirror" setting serves both.
"""

from __future__ import annotations

import configparser
import os
import shutil
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


def find_uv() -> str | None:
    """uv next to the running interpreter (the dev extra), then on PATH."""
    here = Path(sys.executable).parent / "uv"
    if here.exists():
        return str(here)
    return shutil.which("uv")


@dataclass
class Installer:
    kind: str  # "uv" | "pip"
    sources: Sources
    uv: str | None = None

    @classmethod
    def choose(cls, wanted: str | None, sources: Sources) -> "Installer":
        uv = find_uv()
        if wanted == "uv" and not uv:
            from hoofenv.errors import HoofenvError

            raise HoofenvError("--installer uv: uv is not installed", hint="pip install uv  (or --installer pip)",
                               code="no-uv", exit_code=2)
        kind = wanted or ("uv" if uv else "pip")
        return cls(kind, sources, uv if kind == "uv" else None)

    # -- environments -------------------------------------------------------------------------------------
    def venv_cmd(self, python: str, path: Path) -> list[str]:
        if self.kind == "uv":
            return [self.uv, "venv", "--quiet", "--allow-existing", "--python", python, str(path)]
        return [python, "-m", "venv", str(path)]

    # -- installs -----------------------------------------------------------------------------------------
    def source_args(self, extra_index: str | None = None, extra_find_links: list[str] = ()) -> list[str]:
        s = self.sources
        args: list[str] = []
        if s.offline:
            args += ["--offline"] if self.kind == "uv" else []
            args += ["--no-index"]
        elif s.index_url:
            args += ["--index-url", s.index_url]
        if not s.offline:
            for url in ([extra_index] if extra_index and extra_index != NO_INDEX else []) + s.extra_index_urls:
                args += ["--extra-index-url", url]
        for link in [*([] if s.offline else extra_find_links), *s.find_links]:
            args += ["--find-links", link]
        if self.kind == "uv" and not s.offline and (s.extra_index_urls or extra_index):
            # a package can be newer on PyPI than on a mirror/torch index: pick the best version across all
            args += ["--index-strategy", "unsafe-best-match"]
        return args

    def install_cmd(self, python: Path, requirements: list[str], *, constraints: list[Path] = (),
                    no_deps: bool = False, only_binary: list[str] = (), extra_index: str | None = None,
                    requirement_file: Path | None = None, require_hashes: bool = False,
                    upgrade: bool = False, find_links: list[str] = (), compile_bytecode: bool = True) -> list[str]:
        if self.kind == "uv":
            cmd = [self.uv, "pip", "install", "--python", str(python)]
        else:
            cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"]
        if no_deps:
            cmd.append("--no-deps")
        # uv compiles only what the run installs, pip always does; without .pyc the stack imports in 12.2 s
        # instead of 4.7 s here (PYTHONDONTWRITEBYTECODE=1)
        if compile_bytecode and self.kind == "uv":
            cmd.append("--compile-bytecode")
        if upgrade:
            cmd.append("--upgrade")
        for name in only_binary:
            cmd += ["--only-binary", name]
        for c in [*self.sources.constraints, *constraints]:
            cmd += ["--constraint", str(c)]
        if self.kind == "uv":  # uv keeps --constraint out of build envs; xtcocotools 1.14.3 has no wheel for
            for c in constraints:  # cp312 or aarch64, and its sdist would build against numpy 2 (no import on 1.26)
                cmd += ["--build-constraints", str(c)]
        if requirement_file:
            cmd += ["--requirement", str(requirement_file)]
        if require_hashes:
            cmd.append("--require-hashes")
        cmd += self.source_args(extra_index, find_links)
        return cmd + list(requirements)

    def uninstall_cmd(self, python: Path, names: list[str]) -> list[str]:
        if self.kind == "uv":
            return [self.uv, "pip", "uninstall", "--python", str(python), *names]
        return [str(python), "-m", "pip", "uninstall", "-y", *names]

    def download_cmd(self, python: Path, requirements: list[str], dest: Path, *, constraints: list[Path] = (),
                     no_deps: bool = False, extra_index: str | None = None, find_links: list[str] = ()) -> list[str]:
        """pip download (uv has none): wheels only, for the target env's interpreter."""
        cmd = [str(python), "-m", "pip", "download", "--disable-pip-version-check", "--progress-bar", "off",
               "--only-binary", ":all:", "--dest", str(dest)]
        if no_deps:
            cmd.append("--no-deps")
        for c in [*self.sources.constraints, *constraints]:
            cmd += ["--constraint", str(c)]
        pip = Installer("pip", self.sources)
        return cmd + pip.source_args(extra_index, find_links) + list(requirements)
