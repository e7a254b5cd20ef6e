"""Human output for plans: a table of what gets installed, the reasons, and the problems uv-style."""

from __future__ import annotations

from hoofenv.plan import Plan


def render_plan(plan: Plan) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(highlight=False)
    if plan.resolved:
        table = Table(title="hoofenv plan", title_justify="left", show_edge=False)
        table.add_column("component")
        table.add_column("version")
        table.add_column("from", overflow="fold")
        src = plan.python_source
        table.add_row("python", plan.python, src.path if src and src.how == "path" else (src.command if src else ""))
        table.add_row("torch", f"{plan.torch}+{plan.cuda}", plan.indexes.get("torch", ""))
        table.add_row("torchvision", plan.torchvision, plan.indexes.get("torch", ""))
        if plan.mmcv:
            origin = plan.indexes.get("mmcv", "") if plan.mmcv.source == "wheel" else \
                f"source build, ~{plan.mmcv.build.minutes} min, MAX_JOBS={plan.mmcv.build.max_jobs}"
            table.add_row("mmcv", f"{plan.mmcv.version} ({plan.mmcv.source})", origin)
        for name in ("mmengine", "mmdet", "mmpose"):
            table.add_row(name, getattr(plan, name), "PyPI")
        for name, spec in plan.pins.items():
            table.add_row(name, spec, "pin")
        console.print(table)
    else:
        console.print("[bold red]error[/]: no stack for this machine: plan refused")
    console.print("\n[bold]why[/]")
    for line in plan.why:
        console.print(f"  - {escape(line)}", soft_wrap=True)
    for p in plan.problems:
        colour = "red" if p.severity == "error" else "yellow"
        console.print(f"\n[bold {colour}]{'error' if p.severity == 'error' else 'warning'}[/]: {escape(p.message)}",
                      soft_wrap=True)
        if p.hint:
            console.print(f"[bold]hint[/]: {escape(p.hint)}", soft_wrap=True)
