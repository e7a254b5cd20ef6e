"""What verify returns: one result per check, and the report that links each failure to its root cause."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from hoofenv.inenv.protocol import BY_ID, FAIL, OK, SKIP, WARN, CheckSpec


@dataclass
class CheckResult:
    id: str
    ok: bool
    required: bool
    seconds: float
    detail: str
    hint: str | None = None
    status: str = OK  # ok | warn | fail | skip (skip and warn count as ok)
    title: str = ""
    blocked_by: str | None = None
    own: bool = False  # the probe knows this failure is a root cause in itself (never blocked_by)


@dataclass
class Report:
    env: str
    python: str
    plan: str | None
    config: str | None
    checks: list[CheckResult]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks if c.required)

    def get(self, check_id: str) -> CheckResult:
        return next(c for c in self.checks if c.id == check_id)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "env": self.env, "python": self.python, "plan": self.plan, "config": self.config,
                "seconds": self.seconds, "notes": self.notes, "checks": [asdict(c) for c in self.checks]}


def result(spec: CheckSpec, status: str, detail: str, hint: str | None, seconds: float) -> CheckResult:
    ok = status in (OK, SKIP, WARN)
    if status == FAIL and not spec.required:
        status, ok = WARN, True  # a failed optional check is a warning
    return CheckResult(spec.id, ok, spec.required, round(seconds, 2), detail, hint, status, spec.title)


def link_root_causes(results: dict[str, CheckResult]) -> None:
    """A failed check whose prerequisite (`needs`) failed too gets `blocked_by` the root and the root's hint."""
    def root(check_id: str, seen: frozenset = frozenset()) -> str | None:
        res = results.get(check_id)
        if res is None or res.status != FAIL or check_id in seen:
            return None
        if res.own:
            return check_id
        for need in BY_ID[check_id].needs if check_id in BY_ID else ():
            r = root(need, seen | {check_id})
            if r:
                return r
        return check_id

    for check_id, res in results.items():
        if res.status != FAIL:
            continue
        r = root(check_id)
        if r and r != check_id:
            res.blocked_by = r
            res.hint = f"fix {r} first" + (f": {results[r].hint}" if results[r].hint else "")
