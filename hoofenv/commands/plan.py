"""`hoofenv plan`: the stack for this machine (or a recorded one), each choice with its reason."""

from __future__ import annotations

import argparse

from hoofenv.commands import _common


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="resolve the stack for this machine and explain every choice",
                       description="Probe the machine (or read --facts), resolve a stack from compat_matrix.yaml "
                                   "and explain every choice, or refuse with the fix. Exit 0 ok, 1 refused.")
    _common.add_json(p)
    _common.add_facts(p)
    _common.add_overrides(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    _, plan = _common.plan_from(args)
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        from hoofenv.render import render_plan

        render_plan(plan)
    return 0 if plan.ok else 1
