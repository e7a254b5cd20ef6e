"""JSON -> dataclasses with every type checked once, at the boundary. Facts, plans and locks are files that travel
between machines and may be edited by hand; a wrong type is reported by its dotted field path, never met later as
a TypeError deep inside the resolver or the installer."""

from __future__ import annotations

import functools
import math
import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, Callable

from hoofenv.errors import HoofenvError

Bad = Callable[[str, str], HoofenvError]  # (field path, why) -> the error to raise


def build(cls, data: Any, bad: Bad, path: str = ""):
    """`cls(**data)` with each field converted to its annotated type; unknown keys are ignored (newer writers)."""
    if not isinstance(data, dict):
        raise bad(path, f"expected an object, got {_kind(data)}")
    hints = _hints(cls)
    kwargs = {}
    for f in fields(cls):
        where = f"{path}.{f.name}" if path else f.name
        if f.name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise bad(where, "is required")
            continue
        kwargs[f.name] = convert(hints[f.name], data[f.name], bad, where)
    return cls(**kwargs)


@functools.lru_cache(maxsize=None)
def _hints(cls) -> dict[str, Any]:
    """The resolved annotations (evaluating them compiles each string: once per class, not per load)."""
    return typing.get_type_hints(cls)


def convert(kind: Any, value: Any, bad: Bad, path: str):
    """`value` as `kind`: str, int, float (finite), bool, list[X], dict[str, X], X | None, a dataclass, or Any."""
    if kind is Any:
        return value
    origin, args = typing.get_origin(kind) or (kind if kind in (list, dict) else None), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise bad(path, "must not be null")
        inner = [a for a in args if a is not type(None)]
        return convert(inner[0] if len(inner) == 1 else Any, value, bad, path)
    if value is None:
        raise bad(path, "must not be null")
    if origin is list:
        if not isinstance(value, list):
            raise bad(path, f"expected a list, got {_kind(value)}")
        return [convert(args[0] if args else Any, v, bad, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad(path, f"expected an object, got {_kind(value)}")
        item = args[1] if len(args) == 2 else Any
        return {str(k): convert(item, v, bad, f"{path}.{k}") for k, v in value.items()}
    if is_dataclass(kind):
        return build(kind, value, bad, path)
    return _scalar(kind, value, bad, path)


def _scalar(kind: Any, value: Any, bad: Bad, path: str):
    if kind is bool:
        if not isinstance(value, bool):
            raise bad(path, f"expected true or false, got {_show(value)}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(path, f"expected an integer, got {_show(value)}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad(path, f"expected a number, got {_show(value)}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise bad(path, f"must be a finite number, got {_show(value)}")
        return number
    if kind is str:
        if not isinstance(value, str):
            raise bad(path, f"expected a string, got {_show(value)}")
        if "\x00" in value:  # no path, version or name holds one, and the OS refuses it in paths
            raise bad(path, "contains a NUL character")
        return value
    return value


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null",
            int: "an integer", float: "a number"}.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
