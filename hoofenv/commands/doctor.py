"""`hoofenv doctor`: machine facts and the environment against the plan, a hint for each problem."""

from __future__ import annotations

import argparse

from hoofenv.commands import options as _common


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="check this machine and the installed stack against the plan",
                       description="Probe the machine, resolve the plan, compare the environment with it. "
                                   "Exit 0 when nothing is wrong, 1 otherwise.")
    _common.add_json(p)
    _common.add_facts(p)
    _common.add_overrides(p)
    p.add_argument("--env", metavar="PATH", help="environment to inspect (default .hoofenv/env, or $HOOFENV_ENV)")
    p.add_argument("--current", action="store_true", help="inspect the running Python environment instead")
    p.add_argument("--facts-out", metavar="FILE", type=_common.file_to_write,
                   help="also write the probed facts to FILE (for `plan --facts`)")
    p.add_argument("-v", "--verbose", action="store_true", help="details for passing checks too")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hoofenv.commands.output import emit_json, line
    from hoofenv.machine.environment import Environment
    from hoofenv.stack.doctor import diagnose

    facts, plan = _common.plan_from(args)
    if args.facts_out:
        from hoofenv.files import atomic_write_text

        atomic_write_text(args.facts_out, facts.to_json() + "\n")
    env = Environment.current() if args.current else Environment.default(args.env)
    report = diagnose(facts, plan, env, current=args.current)
    if args.json:
        emit_json(report.to_dict())
    else:
        line(render(report, args.verbose))
    return 0 if report.ok else 1


def render(report, verbose: bool = False) -> str:
    from hoofenv.commands.output import MARKS
    from hoofenv.inenv.protocol import OK

    lines = []
    for c in report.checks:
        lines.append(f"[{MARKS[c.status]}] {c.summary}")
        if c.status != OK or verbose:
            for d in c.details:
                lines.append(f"    {MARKS[c.status] if c.status != OK else '·'} {d}")
        if c.hint and c.status != OK:
            lines.append(f"      Fix: {c.hint}")
    bad = [c for c in report.checks if c.status != OK]
    if not bad:
        lines.append("• No issues found.")
    else:
        lines.append(f"! Doctor found issues in {len(bad)} categor{'y' if len(bad) == 1 else 'ies'}.")
    return "\n".join(lines)

