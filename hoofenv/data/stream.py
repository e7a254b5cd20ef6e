"""Reading a large COCO file one record at a time, so `data check` never holds the whole parsed export.

`json.loads` of a 270 MB export with 800,000 annotations builds about 1.4 GB of Python objects. Here the top-level
object is walked by hand and each element of `images`, `annotations` and `categories` is parsed on its own with
the standard decoder (`raw_decode`), handed to a callback, and dropped: memory is the text plus what the callback
keeps. Anything this walker does not expect (a syntax error, a repeated section, a top level that is not an
object) is handed to `json.loads`, whose answer -- the error with line and column, or the parsed value -- is the
reference; so this never accepts a file that `json.loads` refuses.

NaN, Infinity and -Infinity are not JSON, but Python's decoder accepts them: the `parse_constant` hook counts
them, so the callback learns which record held one.
"""

from __future__ import annotations

import json
import os
import pickle
import re
from typing import Any, Callable

SECTIONS = ("images", "annotations", "categories")
_WS = re.compile(r"[ \t\n\r]*").match


class NonFinite:
    """The parse_constant hook: returns the float Python would and counts the tokens seen."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, token: str) -> float:
        self.seen += 1
        return float(token.replace("Infinity", "inf"))


def decoder(hook: NonFinite) -> json.JSONDecoder:
    return json.JSONDecoder(parse_constant=hook)


class Fallback(Exception):
    """The walker met something only `json.loads` can rule on."""


CHUNK = 1 << 20  # characters of a section parsed in one call
_BOUNDARY = re.compile(r"\}[ \t\n\r]*,[ \t\n\r]*\{")


def walk(text: str, on_batch: Callable[[str, list, int, bool], None],
         on_section_end: Callable[[str], None], splitter: Callable[[str], Any] | None = None) -> tuple[dict, int]:
    """Feed the elements of each section in batches to on_batch(section, values, index of the first,
    had_non_finite); return (the other top-level keys with their values, the count of non-finite tokens outside
    the sections).

    Raises Fallback when the text is not a plain object whose sections are arrays, each named once: the caller
    then parses it with json.loads (which raises the canonical error for invalid JSON).

    SPLITTER(section), when given, may return a helper (see _split_section) that lets a second process take the
    second half of a long section.
    """
    hook = NonFinite()
    dec = decoder(hook)
    top: dict = {}
    done: set[str] = set()
    outside = 0
    i = _WS(text, 0).end()
    if text[i:i + 1] != "{":
        raise Fallback
    i = _WS(text, i + 1).end()
    if text[i:i + 1] == "}":
        return top, 0
    n = len(text)
    while True:
        if text[i:i + 1] != '"':
            raise Fallback
        key, i = _decode(dec.raw_decode, text, i)
        i = _WS(text, i).end()
        if text[i:i + 1] != ":":
            raise Fallback
        i = _WS(text, i + 1).end()
        if key in SECTIONS and text[i:i + 1] == "[":
            if key in done or key in top:
                raise Fallback  # a repeated key: json.loads keeps the last one
            helper = splitter(key) if splitter is not None else None
            if helper is not None and len(text) - i >= SPLIT_MIN and _cores() >= 2 and hasattr(os, "fork"):
                i = _split_section(text, i + 1, key, dec, hook, on_batch, helper)
            else:
                i = _section(text, i + 1, key, dec, hook, on_batch)[0]
            done.add(key)
            on_section_end(key)
        else:
            if key in done:
                raise Fallback
            before = hook.seen
            top[key], i = _decode(dec.raw_decode, text, i)
            outside += hook.seen - before
        i = _WS(text, i).end()
        c = text[i:i + 1]
        if c == ",":
            i = _WS(text, i + 1).end()
        elif c == "}":
            if _WS(text, i + 1).end() != n:
                raise Fallback
            return top, outside
        else:
            raise Fallback


def _decode(raw, text: str, i: int):
    try:
        return raw(text, i)
    except (json.JSONDecodeError, RecursionError):
        raise Fallback from None


def _section(text: str, i: int, key: str, dec: json.JSONDecoder, hook: NonFinite, on_batch, index: int = 0,
             stop=None) -> tuple[int, int, str]:
    """The elements of one array section, from just after its `[` (or from an element's start, with INDEX
    elements before it); returns (where it ended, elements so far, how): "closed" after the section's `]`,
    "stopped" at the element that starts where the boundary match STOP ends, "passed" beyond it (so STOP was not
    a boundary between elements).

    Most elements are parsed a chunk at a time: the text up to a `}, {` about CHUNK characters on is parsed as one
    array, "[" + slice + "]". Such a slice is an array only when that `}` ends an element: a `}, {` inside a
    string or a nested value leaves it unbalanced, so it fails and the next one is tried. When the section's own
    `]` lies inside the slice, the array closes there, and that is the rest of the section. After a few failures
    the elements are parsed one by one for a while.
    """
    i = _WS(text, i).end()
    if text[i:i + 1] == "]":
        return i + 1, index, "closed"
    at_stop = stop.end() - 1 if stop is not None else -1
    single = 0  # elements still to parse one by one
    backoff = 64
    while True:
        if stop is not None and i >= at_stop:
            return i, index, "stopped" if i == at_stop else "passed"
        if not single:
            values, non_finite, end, closed = _chunk(text, i, dec, hook, stop)
            if values is not None:
                on_batch(key, values, index, non_finite)
                index += len(values)
                if closed:
                    return end, index, "closed"
                i = end
                backoff = 64
                continue
            single = backoff
            backoff *= 2
        before = hook.seen
        value, i = _decode(dec.raw_decode, text, i)
        on_batch(key, [value], index, hook.seen != before)
        index += 1
        single -= 1
        i = _WS(text, i).end()
        c = text[i:i + 1]
        if c == ",":
            i = _WS(text, i + 1).end()
        elif c == "]":
            return i + 1, index, "closed"
        else:
            raise Fallback


def _chunk(text: str, i: int, dec: json.JSONDecoder, hook: NonFinite, stop=None) -> tuple:
    """(values, had_non_finite, where to go on, whether the section's `]` was reached); values None on failure.
    A chunk never reaches past the boundary STOP."""
    at = i + CHUNK
    for _ in range(4):
        m = _BOUNDARY.search(text, at)
        if stop is not None and (m is None or m.end() > stop.end()):
            m = stop
        cut = m.start() + 1 if m else len(text)
        wrapped = "[" + text[i:cut] + "]"
        before = hook.seen
        try:
            values, end = dec.raw_decode(wrapped)
        except (json.JSONDecodeError, RecursionError):
            if m is None or m is stop:
                break
            at = m.end()
            continue
        if end < len(wrapped):  # closed by the section's own `]`
            return values, hook.seen != before, i + end - 1, True
        if m is None:
            break
        return values, hook.seen != before, m.end() - 1, False
    return None, False, i, False


SPLIT_MIN = 64 << 20  # characters left in the file before a section is shared with a second process


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _split_section(text: str, i: int, key: str, dec: json.JSONDecoder, hook: NonFinite, on_batch, helper) -> int:
    """One section in two processes: a forked child parses the elements from a `}, {` about halfway through the
    rest of the text and hands HELPER.child_batch each batch; this process parses those before it. The child's
    work is used only when this process lands exactly on the child's first element -- proof that the `}, {` lay
    between two elements -- and the child reached the section's end without an error; then
    HELPER.merge(its HELPER.child_result(), elements before it) takes it in, in file order. Otherwise the rest is
    parsed here, as without a helper, so the answer (and any error) is the one-process answer.
    """
    stop = _BOUNDARY.search(text, i + (len(text) - i) // 2)
    if stop is None:
        return _section(text, i, key, dec, hook, on_batch)[0]
    child = _fork(text, stop.end() - 1, key, helper)
    try:
        end, index, how = _section(text, i, key, dec, hook, on_batch, stop=stop)
    except BaseException:
        _reap(child, kill=True)
        raise
    if how == "closed":
        _reap(child, kill=True)
        return end
    result = _reap(child, kill=how != "stopped")
    if result is None:
        return _section(text, end, key, dec, hook, on_batch, index)[0]
    child_end, payload = result
    helper.merge(payload, index)
    return child_end


def _fork(text: str, at: int, key: str, helper) -> tuple[int, int]:
    """(pid, read end of a pipe) of a child that parses the section from AT to its end and writes back
    pickle.dumps((where it ended, helper.child_result())), or None after any error."""
    read, write = os.pipe()
    pid = os.fork()
    if pid:
        os.close(write)
        return pid, read
    try:  # the child: never returns
        os.close(read)
        try:
            own = NonFinite()
            end, _, how = _section(text, at, key, decoder(own), own, helper.child_batch)
            payload = pickle.dumps((end, helper.child_result()) if how == "closed" else None, protocol=5)
        except BaseException:
            payload = pickle.dumps(None)
        with os.fdopen(write, "wb") as out:
            out.write(payload)
    finally:
        os._exit(0)


def _reap(child: tuple[int, int], kill: bool):
    """The child's answer (None when killed or failed); the child is always waited for."""
    pid, read = child
    result = None
    try:
        if kill:
            os.kill(pid, 9)
        else:
            with os.fdopen(read, "rb", closefd=False) as inp:
                data = inp.read()
            result = pickle.loads(data) if data else None
    finally:
        os.close(read)
        os.waitpid(pid, 0)
    return result
