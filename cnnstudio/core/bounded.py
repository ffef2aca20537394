"""Bounded looks at values read from files: a message, a check or a copy never walks an unbounded structure.

A pickle (a checkpoint) can share one object many times: `x = ['lol']; for _ in range(9): x = [x] * 10`
is 48 KB on disk and 10^9 strings to anything that walks it as a tree (repr, json.dumps, deepcopy). JSON
cannot share, but can nest 50,000 levels deep, and Python's recursive walkers then fail. The helpers here
are the one place that looks at such a value before it is known small:

- short_repr: at most `limit` characters describing any value, built with a budget (never repr() of the
  whole, which would expand every shared reference);
- fits: whether a value is a plain JSON-like tree (dicts with text keys, lists, text, numbers, None)
  of at most `max_nodes` nodes and `max_depth` levels, counted as the tree it would print as;
- loads_json: json.loads that refuses nesting deeper than MAX_JSON_DEPTH with a ValueError, never a
  RecursionError.
"""

from __future__ import annotations

import json
import math
from typing import Any

# Deeper than any file CNN Studio writes (a model spec is 4 levels, metrics.json 3); Python's own
# recursive walkers (json, copy, repr) stay far from their recursion limit below it.
MAX_JSON_DEPTH = 64
_PLAIN_LEAVES = (str, int, float, bool, type(None))


class TooDeep(ValueError):
    """JSON nested deeper than a reader allows."""


class _Full(Exception):
    """The text is long enough: stop walking."""


def short_repr(value: Any, limit: int = 60) -> str:
    """A repr-like description of `value` of at most `limit` characters, whatever its size or sharing.

    The walk stops as soon as the text is long enough, so its cost is bounded by `limit`, not by the
    value: a list of 10^9 shared references costs the same as a short one."""
    parts: list[str] = []
    length = 0

    def emit(text: str) -> None:
        nonlocal length
        parts.append(text)
        length += len(text)
        if length > limit:
            raise _Full

    def walk(v: Any) -> None:
        if isinstance(v, bool) or v is None:
            emit(repr(v))
        elif isinstance(v, int):
            # repr of a huge int is quadratic in its digits (and refused above 4,300 of them).
            emit(repr(v) if v.bit_length() <= 128 else f"<a {v.bit_length()}-bit whole number>")
        elif isinstance(v, float):
            emit(repr(v))
        elif isinstance(v, (str, bytes, bytearray)):
            emit(repr(v[: limit + 1]))
        elif isinstance(v, (list, tuple)):
            emit("[" if isinstance(v, list) else "(")
            for i, item in enumerate(v):
                if i:
                    emit(", ")
                walk(item)
            emit("]" if isinstance(v, list) else ")")
        elif isinstance(v, dict):
            emit("{")
            for i, (key, item) in enumerate(v.items()):
                if i:
                    emit(", ")
                walk(key)
                emit(": ")
                walk(item)
            emit("}")
        else:
            shape = getattr(v, "shape", None)
            dtype = getattr(v, "dtype", None)
            if shape is not None and dtype is not None:  # a tensor or array: never its values
                emit(f"<{type(v).__name__} {list(shape)[:8]} {dtype}>")
            else:
                emit(f"<{type(v).__name__}>")

    try:
        walk(value)
    except _Full:
        pass
    text = "".join(parts)
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


def fits(value: Any, max_nodes: int, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether `value` is a plain JSON-like tree (dict with text keys, list, tuple, text, number, bool,
    None) of at most max_nodes nodes and max_depth levels, counted as the tree a printer would walk:
    shared references count each time they appear, so a small file cannot describe a huge value.
    Walks iteratively and stops at the first node over budget."""
    budget = max_nodes
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        budget -= 1
        if budget < 0 or depth > max_depth:
            return False
        if isinstance(item, dict):
            if len(item) > budget:
                return False
            for key, sub in item.items():
                if not isinstance(key, str):
                    return False
                stack.append((sub, depth + 1))
        elif isinstance(item, (list, tuple)):
            if len(item) > budget:
                return False
            stack.extend((sub, depth + 1) for sub in item)
        elif isinstance(item, str):
            budget -= len(item) // 256  # long text costs like the nodes it could have been
        elif not isinstance(item, _PLAIN_LEAVES):
            return False
    return True


def finite_numbers(value: Any, count: int | None = None, max_len: int = 1 << 24) -> bool:
    """A list or tuple of finite ints/floats (no bools), of length `count` when given."""
    if not isinstance(value, (list, tuple)) or len(value) > max_len or (count is not None and len(value) != count):
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)


def json_depth_ok(value: Any, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether a parsed JSON value nests at most max_depth levels (iterative: any depth is safe to test).
    JSON cannot share, so its tree is as large as its text: this walk is linear in the file."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return False
        if isinstance(item, dict):
            stack.extend((sub, depth + 1) for sub in item.values())
        elif isinstance(item, list):
            stack.extend((sub, depth + 1) for sub in item)
    return True


def loads_json(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads for files a user may have edited. Raises ValueError, never RecursionError: TooDeep for
    nesting deeper than max_depth, json.JSONDecodeError for bad syntax, a plain ValueError for numbers
    Python will not convert."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise TooDeep(f"it is nested more than {max_depth} levels deep") from None
    if not json_depth_ok(value, max_depth):
        raise TooDeep(f"it is nested more than {max_depth} levels deep")
    return value
