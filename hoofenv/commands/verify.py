"""`hoofenv verify`: run every check inside the installed environment; ✓/✗ per check with its time and a hint."""

from __future__ import annotations

import argparse

from hoofenv.commands import options as _common
from hoofenv.errors import HoofenvError, UsageError


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help="prove the installed stack works: torch, mmcv ops, registries, checkpoints",
                       description="Run each check inside the environment (its own python, a subprocess with a "
                                   "timeout per check group). Exit 0 only when every required check passes.")
    _common.add_json(p)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--env", metavar="PATH", help="environment to verify (default .hoofenv/env, or $HOOFENV_ENV)")
    where.add_argument("--python", metavar="PATH", type=_common.existing_file,
                       help="verify the environment of this interpreter instead")
    p.add_argument("--plan", metavar="FILE", type=_common.existing_file,
                   help="plan to compare with (default <env>/hoofenv-plan.json)")
    p.add_argument("--config", metavar="FILE", type=_common.existing_file,
                   help="training config whose type= entries must resolve")
    p.add_argument("--data", metavar="ANN.json", type=_common.existing_file,
                   help="also run `hoofenv data check` on this annotation file")
    p.add_argument("--only", metavar="IDS", help="comma-separated check ids (e.g. mmcv.ops,registry.types)")
    p.add_argument("--timeout", type=_common.number(0), default=120.0, metavar="S",
                   help="seconds per check (default 120)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hoofenv.commands.output import emit_json, line
    from hoofenv.inenv.protocol import BY_ID
    from hoofenv.machine.environment import Environment
    from hoofenv.stack.plan import Plan
    from hoofenv.verify.run import verify

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
    plan_path = Path(args.plan) if args.plan else Environment(env_path).plan_file
    plan = Plan.load(plan_path).to_dict() if args.plan or plan_path.exists() else None
    only = [i.strip() for i in args.only.split(",")] if args.only else None
    unknown = [i for i in only or [] if i not in BY_ID]
    if unknown:
        raise UsageError(f"unknown check id(s): {', '.join(unknown)}", hint="ids: " + ", ".join(BY_ID))
    report = verify(python, env_label=str(env_path), plan=plan, plan_source=str(plan_path) if plan else None,
                    config=str(Path(args.config).absolute()) if args.config else None,
                    data=str(Path(args.data).absolute()) if args.data else None, only=only, timeout=args.timeout)
    if args.json:
        emit_json(report.to_dict())
    else:
        line(render(report))
    return 0 if report.ok else 1


def render(report) -> str:
    from hoofenv.commands.output import MARKS
    from hoofenv.inenv.protocol import FAIL, WARN

    width = max([len(c.id) for c in report.checks] + [10])
    lines = [f"hoofenv verify {report.env}", f"  python: {report.python}",
             f"  plan:   {report.plan or 'none'}", f"  config: {report.config or 'none (built-in RTMPose types)'}"]
    lines += [f"  note: {n}" for n in report.notes]
    lines.append("")
    for c in report.checks:
        lines.append(f"[{MARKS[c.status]}] {c.id:<{width}} {c.seconds:6.2f}s  {c.detail}")
        if c.status in (FAIL, WARN) and c.hint:
            lines.append(f"    {' ' * width}          Fix: {c.hint}")
    failed = [c.id for c in report.checks if not c.ok and c.required]
    roots = [c.id for c in report.checks if not c.ok and c.required and not c.blocked_by]
    warned = [c.id for c in report.checks if c.status == WARN]
    lines.append("")
    if not failed:
        lines.append(f"• All {len(report.checks)} checks passed in {report.seconds:.1f} s"
                     + (f" ({len(warned)} warning{'s' if len(warned) != 1 else ''}: {', '.join(warned)})." if warned
                        else "."))
    else:
        lines.append(f"✗ {len(failed)} of {len(report.checks)} required checks failed in {report.seconds:.1f} s; "
                     f"root cause{'s' if len(roots) != 1 else ''}: {', '.join(roots)}.")
    return "\n".join(lines)
