"""`hoofenv plan`: the stack for this machine (or a recorded one), each choice with its reason."""

from __future__ import annotations

import argparse

from hoofenv.commands import options as _common


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="resolve the stack for this machine and explain every choice",
                       description="Probe the machine (or read --facts), resolve a stack from compat_matrix.yaml "
                                   "and explain every choice, or refuse with the fix. Exit 0 ok, 1 refused.")
    _common.add_json(p)
    _common.add_facts(p)
    _common.add_overrides(p)
    _common.add_offline(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import gc

    # A plan is a few thousand objects and no garbage cycles: the collector would only walk the modules being
    # imported (~30 passes, ~7% of a `plan --json`). Switched back on after, for callers in the same process.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run(args)
    finally:
        if collecting:
            gc.enable()


def _run(args: argparse.Namespace) -> int:
    from hoofenv.commands.output import emit_json

    _, plan = _common.plan_from(args)
    if args.json:
        emit_json(plan.to_dict())
    else:
        render_plan(plan)
    return 0 if plan.ok else 1


def render_plan(plan) -> None:
    """A table of what gets installed, the reasons, and the problems uv-style."""
    from rich.table import Table
    from rich.text import Text

    from hoofenv.commands.output import console, styled

    con = console()
    if plan.resolved:
        table = Table(title="hoofenv plan", title_justify="left", show_edge=False)
        table.add_column("component")
        table.add_column("version")
        table.add_column("from", overflow="fold")
        src = plan.python_source
        torch_from = plan.source_of("torch") or plan.indexes.get("torch", "")
        rows = [("python", plan.python, src.path if src and src.how == "path" else (src.command if src else "")),
                ("torch", plan.torch_text(), torch_from), ("torchvision", plan.torchvision, torch_from)]
        if plan.mmcv:
            sdist = f" of the {plan.source_of('mmcv')} sdist" if plan.source_of("mmcv") else ""
            origin = plan.indexes.get("mmcv", "") if plan.mmcv.source == "wheel" else \
                f"source build{sdist}, ~{plan.mmcv.build.minutes} min, MAX_JOBS={plan.mmcv.build.max_jobs}"
            rows.append(("mmcv", f"{plan.mmcv.version} ({plan.mmcv.source})", origin))
        rows += [(name, getattr(plan, name), plan.source_of("packages") or "PyPI")
                 for name in ("mmengine", "mmdet", "mmpose")]
        rows += [(name, spec, "pin") for name, spec in plan.pins.items()]
        for row in rows:
            table.add_row(*(Text(str(cell or "")) for cell in row))
        con.print(table)
    else:
        styled([("error", "bold red"), (": no stack for this machine: plan refused", None)])
    styled([("\nwhy", "bold")])
    for reason in plan.why:
        con.print(Text(f"  - {reason}"))
    for p in plan.problems:
        error = p.severity == "error"
        styled([("\n" + ("error" if error else "warning"), "bold red" if error else "bold yellow"),
                (f": {p.message}", None)])
        if p.hint:
            styled([("hint", "bold"), (f": {p.hint}", None)])
