"""Generators of hostile input for the boundary tests (tests/**/test_hostile_*.py): JSON of every type in every
place, numbers out of range, text with Rich markup, braces, NUL and undecodable bytes; and the CLI run in-process.

Few examples per test keep the fast tier fast; `HOOFENV_HOSTILE_EXAMPLES=2000` multiplies them for a hunt.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

SCALE = float(os.environ.get("HOOFENV_HOSTILE_EXAMPLES", "1"))


def few(n: int):
    """Hypothesis settings for a boundary test: n examples (times the hunt scale), no deadline, no database, no
    shrinking (a CLI run per example makes shrinking take minutes; the failing example is printed as drawn)."""
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, database=None,
                    suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])


# Text a user or another program may put where hoofenv expects a name, a version or a path.
NASTY_TEXT = ["", " ", "banana", "3", "3.x", "-1", "0", "12", "1e400", "nan", "NaN", "inf", "-inf", "None", "null",
              "[bold]x[/]", "[/final]", "task [horse 1]", "[link=file:///etc]x[/link]", "{cuda}", "{CUDA}", "{0}",
              "{", "}", "{cuda!r}", "{cuda:>9}", "%s", "\x00", "a\x00b", "\udcff", "é", "🐴", "\n", "\t", "../..",
              "/", "~", "$HOME", "'; rm -rf ~", "535.183.01", "535", "8.6", "sm_86", "86", "12.2", "cu121", "cpu",
              "3.11", "3.11.9", "2.1.2", "x" * 300]
texts = st.one_of(st.sampled_from(NASTY_TEXT), st.text(max_size=12))
numbers = st.one_of(st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, -1, 1, 2**31, 2**64, 1e308, -0.0, 0.5]))
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                            st.dictionaries(texts, inner, max_size=3)),
                           max_leaves=6)


@st.composite
def mutated(draw, doc: Any, values=json_values, most: int = 3):
    """`doc` with 1..most places changed: a value replaced by a hostile one, a key deleted, or a key added."""
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, most))):
        _mutate_once(draw, doc, values)
    return doc


def _mutate_once(draw, doc: Any, values) -> None:
    node = doc
    while isinstance(node, (dict, list)) and node:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        child = node[key]
        if isinstance(child, (dict, list)) and child and draw(st.booleans()):
            node = child
            continue
        action = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
        if action == "delete":
            del node[key]
        elif action == "add" and isinstance(node, dict):
            node[draw(texts)] = draw(values)
        else:
            node[key] = draw(values)
        return


def cli(argv: list[str], env: dict[str, str | None] | None = None) -> tuple[int, str, str]:
    """`hoofenv ARGV` in this process: (exit status, stdout, stderr). `env` sets (or with None removes) variables
    for the call only. A traceback escaping main() fails the test with it."""
    from hoofenv.commands.main import main

    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    try:
        for key, value in (env or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as exc:  # --help, --version
                rc = int(exc.code or 0)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return rc, out.getvalue(), err.getvalue()


def assert_refused(rc: int, out: str, err: str, code: int, names: str, json_mode: bool = False) -> dict | None:
    """One clear refusal: the exit status, no traceback, the flag/field/variable named; with --json, stdout is one
    JSON object with ok: false."""
    assert "Traceback" not in err + out, err + out
    assert rc == code, f"exit {rc}, expected {code}:\n{out}\n{err}"
    if not json_mode:
        assert names in err, f"{names!r} not named in:\n{err}"
        return None
    doc = json.loads(out)
    assert doc["ok"] is False and doc["error"]["code"], doc
    assert names in doc["error"]["message"] + " ".join(doc["error"]["causes"]), doc
    return doc
