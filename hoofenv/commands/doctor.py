"""`hoofenv doctor`: machine facts and the environment against the plan, a hint for each problem."""

from __future__ import annotations

import argparse

from hoofenv.commands import _common


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="check this machine and the installed stack against the plan",
                       description="Probe the machine, resolve the plan, compare the environment with it. "
                                   "Exit 0 when nothing is wrong, 1 otherwise.")
    _common.add_json(p)
    _common.add_facts(p)
    _common.add_overrides(p)
    p.add_argument("--env", metavar="PATH", help="environment to inspect (default .hoofenv/env, or $HOOFENV_ENV)")
    p.add_argument("--current", action="store_true", help="inspect the running Python environment instead")
    p.add_argument("--facts-out", metavar="FILE", help="also write the probed facts to FILE (for `plan --facts`)")
    p.add_argument("-v", "--verbose", action="store_true", help="details for passing checks too")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from hoofenv.doctor import diagnose, render
    from hoofenv.environment import Environment

    facts, plan = _common.plan_from(args)
    if args.facts_out:
        from hoofenv.fsutil import atomic_write_text

        atomic_write_text(args.facts_out, facts.to_json() + "\n")
    env = Environment.current() if args.current else Environment.default(args.env)
    report = diagnose(facts, plan, env)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render(report, args.verbose))
    return 0 if report.ok else 1
