"""Package sources: indexes, mirrors, find-links, a wheelhouse, and pip's own configuration.

uv does not read pip's configuration, so hoofenv reads it (the files pip reads, and PIP_* variables) and passes
the same indexes, find-links and constraints to either installer: one "mirror" setting serves both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from hoofenv.machine.facts import SourcesFacts
from hoofenv.machine.sources import is_remote, pip_config, pip_config_files, read_configured  # noqa: F401
from hoofenv.stack.matrix import NO_INDEX  # noqa: F401 -- for the installers and the lock

# pip reads its own configuration on top of the arguments hoofenv gives it; these variables (a blank value clears a
# setting) make a pip step use exactly the sources the plan chose, the user's other settings (cert, proxy) kept
PIP_ISOLATE = {"PIP_EXTRA_INDEX_URL": " ", "PIP_FIND_LINKS": " ", "PIP_CONSTRAINT": " "}


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


def sources_from(*, index_url: str | None = None, extra_index_urls: list[str] | None = None,
                 find_links: list[str] | None = None, use_pip_config: bool = True, offline: bool = False,
                 wheelhouse: str | None = None) -> Sources:
    """Flags first, then HOOFENV_* variables, then pip's configuration (unless use_pip_config is False)."""
    src = Sources(offline=offline, wheelhouse=str(Path(wheelhouse).absolute()) if wheelhouse else None)
    if wheelhouse:
        src.find_links = [src.wheelhouse]
        if offline:
            return src
    c = read_configured(index_url=index_url, extra_index_urls=extra_index_urls, find_links=find_links,
                        use_pip_config=use_pip_config, wheelhouse=wheelhouse)
    src.index_url = c.index[0] if c.index else None
    src.extra_index_urls = [u for u, _ in c.extra]
    src.find_links = [u for u, _ in c.find_links]
    src.constraints = [f for f, _ in c.constraints if Path(f).is_file()]
    return src


def answering(src: Sources, facts: SourcesFacts | None) -> tuple[Sources, list[str]]:
    """The sources without those the probe found dead (a configured mirror that is down would cost every pip
    step its timeout and retries), and a line for each one left out. The main index is kept: it is the plan's."""
    if facts is None:
        return src, []
    dead = {e.url: e for e in facts.entries if e.role in ("extra-index", "find-links") and e.status != "ok"}
    left_out = [f"{u}: {dead[u].status}" + (f" ({dead[u].detail})" if dead[u].detail else "") + ", left out"
                for u in [*src.extra_index_urls, *src.find_links] if u in dead and u != src.wheelhouse]
    kept = dataclasses.replace(src, extra_index_urls=[u for u in src.extra_index_urls if u not in dead],
                               find_links=[u for u in src.find_links if u not in dead or u == src.wheelhouse])
    return kept, left_out
