"""Sources that stop answering fail an install step within seconds, named, instead of after pip's timeouts and
retries (180 s x 5 on some machines) ending in resolver text that never names the host.

Before a step runs, every source on its command line is asked once (remote ones over HTTP within CHECK_S, local
ones looked at); while it runs, the remote ones are asked again every INTERVAL_S (within WATCH_S), and a host that
misses MISSES checks in a row stops the step, unless the step's process is still reading data (/proc/PID/io: a
slow link busy with a big download is not a dead one). A compile step is only checked before it starts: once its
sdist is downloaded it needs no network, and stopping it would throw its work away.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hoofenv.errors import HoofenvError
from hoofenv.install.recipe import Step
from hoofenv.machine.facts import SourceFact
from hoofenv.machine.reach import check_remote
from hoofenv.machine.sources import STATUS_TEXT, Target, check_local, host_of, is_remote

CHECK_S = 5.0
WATCH_S = 3.0
INTERVAL_S = 2.0
MISSES = 2
SOURCE_FLAGS = ("--index-url", "-i", "--extra-index-url", "--find-links", "-f")
NOT_WATCHED = {"build-mmcv"}  # compiles after its one download
HINT = ("check the network (or the proxy), then re-run the same command: finished steps are kept. Without that "
        "source: a mirror (`--index-url URL`, `--torch-index-url URL`, `--mmcv-base-url URL`), or a wheelhouse made "
        "on a connected machine (`hoofenv install --download-to DIR` there, `--wheelhouse DIR --offline` here)")


def step_sources(step: Step) -> list[str]:
    """The index and find-links locations on a step's command line."""
    argv = step.argv
    return list(dict.fromkeys(argv[i + 1] for i, a in enumerate(argv[:-1]) if a in SOURCE_FLAGS))


def _root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _dead(facts: list[SourceFact]) -> list[SourceFact]:
    return [f for f in facts if f.status != "ok"]


def _what(fact: SourceFact) -> str:
    return f"{host_of(fact.url)} ({STATUS_TEXT.get(fact.status, fact.status)}" + \
        (f", HTTP {fact.http_status}" if fact.http_status and fact.status == "http" else "") + ")"


def check(step: Step) -> None:
    """Every source of the step answers now, or the step fails before it starts."""
    urls = step_sources(step)
    remote = [Target("extra-index", _root(u)) for u in urls if is_remote(u)]
    local = [check_local(Target("find-links", u)) for u in urls if not is_remote(u)]
    dead = _dead(check_remote(remote, deadline_s=CHECK_S) if remote else []) + _dead(local)
    if dead:
        raise HoofenvError(f"`{step.title}` cannot start: " + ", ".join(_what(f) for f in dead) + " unreachable",
                           [f"{f.url}: {f.detail or STATUS_TEXT.get(f.status, f.status)}" for f in dead]
                           + [f"command: {step.shell()}", "the env in use was not changed"],
                           hint=HINT, code="source-unreachable")


def _read_bytes(pid: int | None) -> int | None:
    """Bytes the process has read so far (files and sockets), or None where /proc does not say."""
    try:
        m = re.search(r"^rchar:\s*(\d+)", Path(f"/proc/{pid}/io").read_text(), re.M)
    except (OSError, TypeError):
        return None
    return int(m.group(1)) if m else None


@dataclass
class Watch:
    """Asks the step's remote sources every INTERVAL_S while it runs; `stop` is called with the reason when one
    misses MISSES checks in a row while the process `pid` reads nothing."""

    step: Step
    stop: object  # callable(str) -> None
    pid: int | None = None

    def __post_init__(self) -> None:
        self.reason: str | None = None
        self.causes: list[str] = []
        self._done = threading.Event()
        roots = list(dict.fromkeys(_root(u) for u in step_sources(self.step) if is_remote(u)))
        self.targets = [Target("extra-index", r) for r in roots]
        self._thread = threading.Thread(target=self._run, daemon=True, name="hoofenv-watch")

    def __enter__(self) -> "Watch":
        if self.targets and self.step.name not in NOT_WATCHED:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()

    def _run(self) -> None:
        misses: dict[str, int] = {}
        read = _read_bytes(self.pid)
        while not self._done.wait(INTERVAL_S):
            facts = check_remote(self.targets, deadline_s=WATCH_S)
            before, read = read, _read_bytes(self.pid)
            busy = before is not None and read is not None and read > before
            for fact in facts:
                misses[fact.url] = misses.get(fact.url, 0) + 1 if fact.status != "ok" else 0
                if misses[fact.url] >= MISSES and not busy and not self._done.is_set():
                    self.reason = f"{_what(fact)} stopped answering during `{self.step.title}`"
                    self.causes = [f"{fact.url}: {fact.detail or STATUS_TEXT.get(fact.status, fact.status)} "
                                   f"({MISSES} checks in a row, {INTERVAL_S:g} s apart; the step read nothing "
                                   "meanwhile)"]
                    self.stop(self.reason)
                    return
