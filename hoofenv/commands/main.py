"""The `hoofenv` command: argument parsing and dispatch. Each subcommand is a module of this package with
`add_parser(subparsers)` and `run(args) -> exit status`; the library it calls returns data, and the command
renders it (text, or JSON with --json). Errors are rendered here, once."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from hoofenv import __version__
from hoofenv.errors import HoofenvError

# Subcommand name -> module in hoofenv.commands. Every module is imported to build the parser, so each keeps its
# top-level imports to argparse and hoofenv.errors: a heavy import there slows `hoofenv plan` for everyone.
COMMANDS = ["doctor", "plan", "install", "verify", "data", "train", "predict", "demo"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hoofenv",
        description="Probe, plan, install, verify, check data and train RTMPose hoof keypoints.",
    )
    parser.add_argument("--version", action="version", version=f"hoofenv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hoofenv.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except HoofenvError as err:
        if getattr(args, "json", False):
            print(json.dumps({"ok": False, "error": err.to_dict()}, indent=2))
        else:
            print(err.render(), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
