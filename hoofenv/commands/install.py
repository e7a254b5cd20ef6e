"""`hoofenv install`: the plan -> a staged, locked, verified env (library: hoofenv/install/pipeline.py)."""

from __future__ import annotations

import argparse
import time

from hoofenv.commands import options as _common


def add_parser(sub) -> None:
    p = sub.add_parser("install", help="install the plan's stack into a dedicated env (staged, locked, verified)",
                       description="Install the plan into .hoofenv/env (or --env PATH, $HOOFENV_ENV): uv where "
                                   "present, pip otherwise; mmcv from a wheel only (built once and cached when the "
                                   "plan says so); staged and switched on success; writes hoofenv.lock.")
    _common.add_facts(p)
    _common.add_overrides(p)
    _common.add_json(p)
    where = p.add_argument_group("where")
    where.add_argument("--env", metavar="PATH", help="the env to create or update (default .hoofenv/env; $HOOFENV_ENV)")
    where.add_argument("--current", action="store_true",
                       help="install into the running venv or conda env, in place (never a system Python)")
    how = p.add_argument_group("how")
    how.add_argument("--installer", choices=["uv", "pip"], help="default: uv when installed, else pip")
    how.add_argument("--dry-run", action="store_true", help="print the exact commands; run none")
    how.add_argument("--mmcv-wheel", metavar="FILE", type=_common.existing_file,
                     help="use this mmcv wheel (e.g. one built elsewhere) and cache it")
    how.add_argument("--no-verify", action="store_true", help="do not run `hoofenv verify` afterwards")
    how.add_argument("--min-free-gib", type=_common.number(0, inclusive=True), metavar="N",
                     help="free disk required before starting "
                     "(default: from the plan, ~3 GiB CPU / ~9 GiB CUDA, +2 when building mmcv)")
    src = p.add_argument_group("sources (mirrors: flags, $HOOFENV_INDEX_URL, $HOOFENV_EXTRA_INDEX_URL, "
                               "$HOOFENV_FIND_LINKS, and pip's own configuration)")
    src.add_argument("--index-url", metavar="URL", type=_common.index, help="replace PyPI (a mirror)")
    src.add_argument("--extra-index-url", metavar="URL", type=_common.index, action="append", default=[],
                     help="another index (repeat)")
    src.add_argument("--find-links", metavar="DIR|URL", type=_common.links, action="append", default=[],
                     help="a folder/page of wheels")
    src.add_argument("--no-pip-config", action="store_true",
                     help="ignore pip's configured index-url/extra-index-url/find-links/constraint")
    src.add_argument("--wheelhouse", metavar="DIR", type=_common.existing_dir,
                     help="install from this folder of wheels (with --offline: only)")
    src.add_argument("--offline", action="store_true", help="no network at all (needs --wheelhouse or warm caches)")
    src.add_argument("--download-to", metavar="DIR", type=_common.dir_to_write,
                     help="fill DIR with every wheel of the plan for an air-gapped machine; installs nothing")
    lk = p.add_argument_group("lock")
    lk.add_argument("--lock", metavar="FILE", type=_common.file_to_write, default="hoofenv.lock",
                    help="lock file (default ./hoofenv.lock)")
    lk.add_argument("--locked", action="store_true",
                    help="install exactly the lock's files (hash-checked); refuse if the plan has drifted")
    p.set_defaults(func=run)


class TerminalProgress:
    """install's progress on stderr: a live status line on a terminal, plain lines otherwise (every 60 s for a
    long step such as the mmcv build)."""

    def __init__(self) -> None:
        from hoofenv.commands.output import console

        self.console = console(stderr=True)
        self.status = None
        self.last_print = 0.0

    def note(self, text: str, level: str = "info") -> None:
        from hoofenv.commands.output import marked, line

        if level == "info":
            line(text, stderr=True)
        else:
            marked("ok" if level == "ok" else "warn", text, stderr=True)

    def step_started(self, label: str) -> None:
        self.last_print = time.monotonic()
        if self.console.is_terminal:
            from rich.text import Text

            self.status = self.console.status(Text(label))
            self.status.start()

    def step_output(self, label: str, line: str, elapsed: float) -> None:
        from rich.text import Text

        if self.status:
            self.status.update(Text.assemble(f"{label}  {elapsed:5.1f}s  ", (line[:70], "dim")))
        elif time.monotonic() - self.last_print > 60:
            self.console.print(Text(f"    ... {label}: {elapsed:.0f}s elapsed"))
            self.last_print = time.monotonic()

    def step_finished(self, label: str, ok: bool, seconds: float) -> None:
        from hoofenv.commands.output import styled

        if self.status:
            self.status.stop()
            self.status = None
        styled([("✓" if ok else "✗", "green" if ok else "red"), (f" {label}  ", None), (f"{seconds:.1f}s", "dim")],
               stderr=True)


def json_progress():
    """With --json, stdout is the result; warnings (waiting for another install, resuming) still go to stderr."""
    from hoofenv.install.runner import Progress

    class WarningsOnly(Progress):
        def note(self, text: str, level: str = "info") -> None:
            if level == "warn":
                from hoofenv.commands.output import line

                line(f"warning: {text}", stderr=True)

    return WarningsOnly()


def render_dry_run(result: dict, plan) -> None:
    from hoofenv.commands.output import line
    from hoofenv.machine.environment import PLAN_FILE

    if "stage" in result:
        line(f"# {result['python']}; installer: {result['installer']}; env: {result['env']} "
             f"(staged in {result['stage']})")
        line(f"# {result['stage']}/hoofenv-constraints.txt holds:\n"
             + "".join(f"#   {c}\n" for c in result["constraints"].splitlines()[1:]).rstrip("\n"))
    for s in result["steps"]:
        line(f"# {s['title']}\n{s['command']}")
    if "stage" in result:
        switch = "" if result["stage"] == result["env"] else f"; switch {result['env']} -> {result['stage']}"
        line(f"# then: write {result['stage']}/{PLAN_FILE}, {result['lock']}{switch}; hoofenv verify")
    if result.get("would_remove"):
        line("# first, remove hoofenv's stale stages: " + ", ".join(result["would_remove"]))


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from hoofenv.commands.output import emit_json
    from hoofenv.errors import UsageError
    from hoofenv.install import pipeline
    from hoofenv.install.sources import sources_from

    if args.current and args.env:
        raise UsageError("--current and --env name two different envs", hint="pick one")
    facts, plan = _common.plan_from(args)
    sources = sources_from(index_url=args.index_url, extra_index_urls=args.extra_index_url,
                           find_links=args.find_links, use_pip_config=not args.no_pip_config,
                           offline=args.offline, wheelhouse=args.wheelhouse)
    opts = pipeline.Options(env=args.env, current=args.current, installer=args.installer, sources=sources,
                            lock_path=Path(args.lock).absolute(), locked=args.locked, dry_run=args.dry_run,
                            download_to=args.download_to, mmcv_wheel=args.mmcv_wheel, min_free_gib=args.min_free_gib)
    result = pipeline.install(plan, facts, opts, json_progress() if args.json else TerminalProgress())
    if args.dry_run and not args.json:
        render_dry_run(result, plan)
    if result.get("changed") and not args.no_verify and not args.dry_run:
        result["verify"] = verify_after(Path(result["env"]), args.json)
    if args.json:
        emit_json(result)
    return 0


def verify_after(env, json_mode: bool) -> dict:
    """`hoofenv verify` of the env just installed; its report goes to stderr (stdout is the install's JSON)."""
    from hoofenv.commands.verify import render
    from hoofenv.machine.environment import Environment
    from hoofenv.stack.plan import Plan
    from hoofenv.verify.run import verify

    environment = Environment(env)
    plan = Plan.load(environment.plan_file).to_dict() if environment.plan_file.exists() else None
    report = verify(environment.python, env_label=str(env), plan=plan,
                    plan_source=str(environment.plan_file) if plan else None)
    if not json_mode:
        from hoofenv.commands.output import line

        line(render(report), stderr=True)
    return {"ran": True, "exit_code": 0 if report.ok else 1, "result": report.to_dict()}
