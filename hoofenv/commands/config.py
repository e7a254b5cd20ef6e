"""`hoofenv config check FILE`: an MMPose 1.x config judged inside the managed env before it trains.

Only argparse and hoofenv.errors at the top: the library is imported inside the functions.
"""

from __future__ import annotations


from hoofenv.commands import options as _common

MARKS = {"error": ("[✗]", "red"), "warning": ("[!]", "yellow"), "info": ("[i]", "cyan")}


def add_parser(sub) -> None:
    p = sub.add_parser("config", help="check an MMPose config (your own or hoofenv's) before training",
                       description="Check MMPose 1.x configs inside the managed env.")
    s = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    c = s.add_parser("check", help="load FILE with MMEngine's Config in the env and report what would break or "
                                   "silently mistrain; exit 1 on errors",
                     description="Load FILE with MMEngine's Config inside the managed env (_base_ and read_base() "
                                 "work; the config runs as Python there, never in hoofenv's own process) and report "
                                 "metainfo, codec, pipeline, schedule, path, import, registry, checkpoint and server "
                                 "problems, each with the config key and the edit. Exit 0 ok (warnings allowed), "
                                 "1 errors, 2 usage.")
    c.add_argument("file", metavar="FILE", type=_common.existing_file, help="an MMPose 1.x config (.py)")
    c.add_argument("--data", metavar="DIR", type=_common.existing_dir,
                   help="judge the config as `hoofenv train --config FILE --data DIR` would train it: DIR's "
                        "annotations/{train,val}.json and images/ substituted into every loader and evaluator")
    c.add_argument("--env", metavar="PATH", help="the managed env (default $HOOFENV_ENV or .hoofenv/env)")
    c.add_argument("--python", metavar="PATH", type=_common.existing_file,
                   help="python of a training stack (instead of --env)")
    c.add_argument("--online", action="store_true",
                   help="contact the URLs it names (checkpoint downloads, servers); default: name them only")
    c.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    c.set_defaults(func=run_check)


def run_check(args) -> int:
    from pathlib import Path

    from hoofenv.train.options import TrainOptions
    from hoofenv.train.preflight import data_paths, stack_python
    from hoofenv.verify.config_check import check_config

    path = Path(args.file).expanduser()
    data = str(data_paths(args.data)[0]) if args.data else None
    python = stack_python(TrainOptions(data="", env=args.env, python=args.python))
    report = check_config(python, path, data=data, online=args.online)
    if args.json:
        from dataclasses import asdict

        from hoofenv.commands.output import emit_json

        emit_json({"ok": report.ok, **asdict(report)})
        return 0 if report.ok else 1
    from hoofenv.commands.output import line

    line(f"hoofenv config check {args.file}" + (f" --data {args.data}" if args.data else ""))
    render(report)
    return 0 if report.ok else 1


def render(report, verbose: bool = True) -> None:
    """Findings as `data check` prints them, then one summary line."""
    from hoofenv.commands.output import line, styled

    if not any(f.code == "config-load" for f in report.findings):
        styled([("[✓]", "green"), (f" loaded with MMEngine's Config; {report.types} types "
                                   f"({'registry index' if report.registry_source == 'cache' else 'registries imported'})",
                                   None)])
    for f in report.findings:
        if f.severity == "info" and not verbose:
            continue
        mark, colour = MARKS[f.severity]
        styled([(mark, colour), (f" {f.code}: {f.key}: {f.message}", None)])
        for d in f.details[:4]:
            line(f"    {d}")
        if f.hint != "none needed":
            line(f"    Fix: {f.hint}")
    counts = {s: sum(1 for f in report.findings if f.severity == s) for s in MARKS}
    summary = f"{counts['error']} errors, {counts['warning']} warnings, {counts['info']} notes in {report.config}"
    styled([("✗" if counts["error"] else "!" if counts["warning"] else "✓",
             "red" if counts["error"] else "yellow" if counts["warning"] else "green"), (" " + summary, None)])
