"""The `hoofenv` command: argument parsing and dispatch. Each subcommand is a module of this package with
`add_parser(subparsers)` and `run(args) -> exit status`; the library it calls returns data, and the command
renders it (text, or JSON with --json). Errors are rendered here, once."""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import os
import sys

from hoofenv import __version__
from hoofenv.errors import HoofenvError

# Subcommand name -> module in hoofenv.commands. Every module is imported to build the parser, so each keeps its
# top-level imports to argparse and hoofenv.errors: a heavy import there slows `hoofenv plan` for everyone.
COMMANDS = ["doctor", "plan", "install", "verify", "data", "train", "predict", "demo"]
COMMANDS.append("export")


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
        return report(err, args)
    except BrokenPipeError:  # `hoofenv ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        return report(os_error(exc), args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def report(err: HoofenvError, args: argparse.Namespace) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"ok": False, "error": err.to_dict()}, indent=2))
    else:
        print(err.render(), file=sys.stderr)
    return err.exit_code


# errno -> what to do about it
OS_HINTS = {
    errno.ENOSPC: "free space on that disk (`df -h {dir}`), or write somewhere else",
    errno.EDQUOT: "free space within your quota, or write somewhere else",
    errno.EACCES: "check the permissions (`ls -ld {dir}`), or write somewhere you own",
    errno.EPERM: "check the permissions (`ls -ld {dir}`), or write somewhere you own",
    errno.EROFS: "that filesystem is read-only: write somewhere else",
    errno.EISDIR: "that path is a folder: name a file inside it",
    errno.ENOTDIR: "a part of that path is a file, not a folder: choose another path",
    errno.ENOENT: "check the path: `ls {dir}`",
    errno.ENAMETOOLONG: "use a shorter path",
}


def os_error(exc: OSError) -> HoofenvError:
    """A filesystem error as one clear error naming the path, whichever command met it."""
    path = exc.filename or ""
    where = f": {path}" if path else ""
    if exc.filename2:
        where += f" -> {exc.filename2}"
    hint = OS_HINTS.get(exc.errno, "check that path and try again").format(dir=os.path.dirname(str(path)) or ".")
    return HoofenvError(f"{exc.strerror or type(exc).__name__}{where}", hint=hint, code="os-error")
