"""Every line hoofenv prints goes through here: data on stdout, progress and errors on stderr, colour for severity
only, and text that came from the user (file names, keypoint names, paths) never read as Rich markup."""

from __future__ import annotations

import json
import sys

from hoofenv.inenv.protocol import FAIL, OK, SKIP, WARN

MARKS = {OK: "✓", WARN: "!", FAIL: "✗", SKIP: "-"}
COLOURS = {OK: "green", WARN: "yellow", FAIL: "red", SKIP: "dim", "info": None, "ok": "green", "warn": "yellow"}

_consoles: dict[bool, object] = {}


def _streams() -> None:
    """A name that is not valid UTF-8 (from argv, or a lone surrogate from a JSON file) is printed escaped
    instead of ending the command with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def console(stderr: bool = False):
    """One Rich console per stream (Rich is imported only by commands that draw tables or live status)."""
    if stderr not in _consoles:
        from rich.console import Console

        _streams()
        _consoles[stderr] = Console(stderr=stderr, highlight=False, soft_wrap=True)
    return _consoles[stderr]


def line(text: str = "", stderr: bool = False) -> None:
    """Plain text, exactly as given."""
    _streams()
    print(text, file=sys.stderr if stderr else sys.stdout, flush=True)


def marked(status: str, text: str, stderr: bool = False) -> None:
    """`✓ text` with the mark coloured by status; the text is printed verbatim."""
    from rich.text import Text

    console(stderr).print(Text.assemble((MARKS.get(status, "·"), COLOURS.get(status) or ""), " ", text))


def styled(parts: list[tuple[str, str | None]], stderr: bool = False) -> None:
    """Pieces of (text, style); the texts are printed verbatim."""
    from rich.text import Text

    console(stderr).print(Text.assemble(*[(t, s or "") for t, s in parts]))


def emit_json(obj) -> None:
    _streams()
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str), flush=True)
