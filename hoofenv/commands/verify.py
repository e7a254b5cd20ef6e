"""`hoofenv verify`: run every check inside the installed environment; ✓/✗ per check with its time and a hint."""

from __future__ import annotations

import argparse
import json

from hoofenv.commands import _common
from hoofenv.errors import HoofenvError, UsageError

PLAN_FILE = "hoofenv-plan.json"


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="prove the installed stack works: torch, mmcv ops, registries, checkpoints",
                       description="Run each check inside the environment (its own python, a subprocess with a "
                                   "timeout per check group). Exit 0 only when every required check passes.")
    _common.add_json(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--env", metavar="PATH", help="environment to verify (default .hoofenv/env, or $HOOFENV_ENV)")
    where.add_argument("--python", metavar="PATH", help="verify the environment of this interpreter instead")
    p.add_argument("--plan", metavar="FILE", help=f"plan to compare with (default <env>/{PLAN_FILE})")
    p.add_argument("--config", metavar="FILE", help="training config whose type= entries must resolve")
    p.add_argument("--data", metavar="ANN.json", help="also run `hoofenv data check` on this annotation file")
    p.add_argument("--only", metavar="IDS", help="comma-separated check ids (e.g. mmcv.ops,registry.types)")
    p.add_argument("--timeout", type=float, default=120.0, metavar="S", help="seconds per check (default 120)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hoofenv.environment import Environment
    from hoofenv.plan import Plan
    from hoofenv.verify import BY_ID, render, verify

    if args.python:
        python = Path(args.python).absolute()
        env_path = python.parent.parent
    else:
        env_path = Environment.default(args.env).path
        python = Environment(env_path).python
    if not python.exists():
        raise HoofenvError(f"no environment at {env_path}", [f"{python} does not exist"],
                           hint="create it with `hoofenv install`, or name one with --env PATH / --python PATH",
                           code="env-missing")
    plan_path = Path(args.plan) if args.plan else env_path / PLAN_FILE
    plan = None
    if args.plan or plan_path.exists():
        plan = Plan.load(plan_path).to_dict()
    for name, value in (("--config", args.config), ("--data", args.data)):
        if value and not Path(value).is_file():
            raise UsageError(f"{name} {value}: no such file")
    only = [i.strip() for i in args.only.split(",")] if args.only else None
    unknown = [i for i in only or [] if i not in BY_ID]
    if unknown:
        raise UsageError(f"unknown check id(s): {', '.join(unknown)}", hint="ids: " + ", ".join(BY_ID))
    report = verify(python, env_label=str(env_path), plan=plan, plan_source=str(plan_path) if plan else None,
                    config=str(Path(args.config).absolute()) if args.config else None,
                    data=str(Path(args.data).absolute()) if args.data else None, only=only, timeout=args.timeout)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(render(report))
    return 0 if report.ok else 1
