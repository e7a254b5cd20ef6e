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

# Subcommand name -> module in hoofenv.commands. `hoofenv --help` (and any argv that does not start with a command)
# imports every module to build the parser, so each keeps its top-level imports to argparse and hoofenv.errors.
COMMANDS = ["doctor", "plan", "install", "verify", "data", "train", "predict", "export", "demo", "config",
            "matrix"]


class BadArguments(Exception):
    """argparse's complaint about the command line, raised instead of exiting so that `--json` can answer in JSON."""

    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser = parser
        self.message = message


class Parser(argparse.ArgumentParser):
    """The subcommands' parsers are of this class too (argparse makes them with the parent's class)."""

    def error(self, message: str):
        raise BadArguments(self, message)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or with `only` the one subcommand's parser under the same top level: `hoofenv plan ...`
    then imports and builds one command module, not eleven (the top level's usage names COMMAND either way)."""
    parser = Parser(
        prog="hoofenv",
        description="Probe, plan, install, verify, check data and train RTMPose hoof keypoints.",
    )
    parser.add_argument("--version", action="version", version=f"hoofenv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in [only] if only in COMMANDS else COMMANDS:
        importlib.import_module(f"hoofenv.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    tolerant_streams()
    try:
        return _run(sys.argv[1:] if argv is None else list(argv))
    except BrokenPipeError:  # `hoofenv ... | head`, also while an error is reported: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _run(argv: list[str]) -> int:
    parser = build_parser(argv[0] if argv else None)
    args = argparse.Namespace(json="--json" in argv)  # until parsed: how to report an error
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except BadArguments as bad:
        return bad_arguments(bad, "--json" in argv)
    except HoofenvError as err:
        return report(err, args)
    except BrokenPipeError:
        raise
    except OSError as exc:
        return report(os_error(exc), args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def tolerant_streams() -> None:
    """A path that is not valid UTF-8 (a file name from another system) reaches us as surrogate escapes; printed,
    it must not raise UnicodeEncodeError: such characters are written as `\\udcff` (valid inside JSON strings too)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass


def bad_arguments(bad: BadArguments, json_mode: bool) -> int:
    """argparse's own wording and exit status 2; with --json also the error object on stdout."""
    bad.parser.print_usage(sys.stderr)
    print(f"{bad.parser.prog}: error: {bad.message}", file=sys.stderr)
    if json_mode:
        err = HoofenvError(f"{bad.parser.prog}: {bad.message}", hint=f"{bad.parser.prog} --help", code="usage")
        print(json.dumps({"ok": False, "error": err.to_dict()}, indent=2))
    return 2


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
