"""Operators on one value: equality, membership, ordering, versions, regex,
contains, empty/exists."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from typing import Any

from kaudit.evaluate.operators.base import MISSING, OperatorError, _type_name
from kaudit.evaluate.operators.equality import _EqIndex, values_equal
from kaudit.evaluate.operators.registry import FACTORIES, CompiledOp, _op, _scalar
from kaudit.evaluate.operators.text import (
    _list_text,
    _quantity_text,
    _scalar_text,
    describe,
    format_bytes,
    format_seconds,
)
from kaudit.evaluate.operators.units import _quantity, _same_scale, _version_key, compare_versions


@_op("eq")
def _eq(value: Any) -> CompiledOp:
    return CompiledOp("eq", lambda f: values_equal(f, value), f"= {_scalar_text(value)}")


@_op("ne")
def _ne(value: Any) -> CompiledOp:
    return CompiledOp("ne", lambda f: not values_equal(f, value), f"!= {_scalar_text(value)}")


@_op("eq_ci")
def _eq_ci(value: Any) -> CompiledOp:
    want = _scalar_text(value).casefold()
    return CompiledOp("eq_ci", lambda f: _scalar_text(_scalar(f, "eq_ci")).casefold() == want,
                      f"= {_scalar_text(value)} (any case)")


def _membership(name: str, value: Any, negate: bool) -> CompiledOp:
    if not isinstance(value, list):
        raise OperatorError(f"{name} needs a list value, got {_type_name(value)}")
    items = list(value)
    index = _EqIndex(items)

    def test(fact: Any) -> bool:
        # As `any(values_equal(_scalar(fact), v) for v in items)`: no item, no check.
        found = bool(items) and index.has(_scalar(fact, name))
        return found != negate
    return CompiledOp(name, test, f"{'not in' if negate else 'in'} {_list_text(items)}")


@_op("in")
def _in(value: Any) -> CompiledOp:
    return _membership("in", value, negate=False)


@_op("not_in")
def _not_in(value: Any) -> CompiledOp:
    return _membership("not_in", value, negate=True)


_ORDER: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "lt": ("<", lambda a, b: a < b), "le": ("<=", lambda a, b: a <= b),
    "gt": (">", lambda a, b: a > b), "ge": (">=", lambda a, b: a >= b),
}


def _ordering(name: str, value: Any) -> CompiledOp:
    symbol, cmp = _ORDER[name]
    want = _quantity(value, name)

    def test(fact: Any) -> bool:
        got = _quantity(fact, name)
        _same_scale(got, want, name)
        return cmp(got[1], want[1])

    def explain(fact: Any) -> str:
        try:
            kind, mag = _quantity(fact, name)
        except OperatorError:
            return describe(fact)
        scale = want[0] if kind == "num" else kind
        if scale == "size" and not math.isinf(mag):
            # Show the fact in the value's unit system (8G -> GB, 16Gi -> GiB).
            unit_of = str(value) if want[0] == "size" else str(fact)
            return format_bytes(mag, binary="i" in unit_of.lower())
        if scale == "dur":
            return format_seconds(mag)
        return describe(fact)
    return CompiledOp(name, test, f"{symbol} {_quantity_text(value)}", explain)


for _name in _ORDER:
    FACTORIES[_name] = functools.partial(_ordering, _name)


_VERSION_OPS: dict[str, tuple[str, Callable[[int], bool]]] = {
    "version_lt": ("<", lambda c: c < 0), "version_le": ("<=", lambda c: c <= 0),
    "version_gt": (">", lambda c: c > 0), "version_ge": (">=", lambda c: c >= 0),
    "version_eq": ("=", lambda c: c == 0),
}


def _versioning(name: str, value: Any) -> CompiledOp:
    symbol, ok = _VERSION_OPS[name]
    _version_key(value)  # reject a bad value at compile time
    return CompiledOp(name, lambda f: ok(compare_versions(_scalar(f, name), value)),
                      f"version {symbol} {_scalar_text(value)}")


for _name in _VERSION_OPS:
    FACTORIES[_name] = functools.partial(_versioning, _name)


def _regexing(name: str, value: Any, negate: bool) -> CompiledOp:
    if not isinstance(value, str):
        raise OperatorError(f"{name} needs a pattern string, got {_type_name(value)}")
    try:
        pattern = re.compile(value)
    except re.error as exc:
        raise OperatorError(f"bad regex {value!r}: {exc}") from None

    def test(fact: Any) -> bool:
        return (pattern.search(_scalar_text(_scalar(fact, name))) is not None) != negate
    verb = "does not match" if negate else "matches"
    return CompiledOp(name, test, f"{verb} /{value}/")


@_op("regex")
def _regex(value: Any) -> CompiledOp:
    return _regexing("regex", value, negate=False)


@_op("not_regex")
def _not_regex(value: Any) -> CompiledOp:
    return _regexing("not_regex", value, negate=True)


def _contained(fact: Any, item: Any, op: str, index: _EqIndex | None = None) -> bool:
    if isinstance(fact, str):
        return _scalar_text(item) in fact
    if isinstance(fact, list):
        if index is not None:  # the fact's values, indexed (same answer, no pairwise scan)
            return index.has(item, swap=True)
        if isinstance(item, str) and item in fact:
            return True  # exact match is the common case; the scan handles "6443" vs 6443
        return any(values_equal(x, item) for x in fact)
    if isinstance(fact, dict):
        return _scalar_text(item) in fact
    raise OperatorError(f"{op} needs a string, list or mapping, got {_type_name(fact)}")


def _containing(name: str, value: Any, negate: bool) -> CompiledOp:
    items = list(value) if isinstance(value, list) else [value]
    last: list[Any] = [None, None]  # (fact, its offenders): test and explain ask in turn

    def offenders(fact: Any) -> list[Any]:
        # For contains: the items missing; for not_contains: the items present.
        if last[1] is not None and fact is last[0]:
            return list(last[1])
        index = _EqIndex(fact) if isinstance(fact, list) else None
        found = [i for i in items if _contained(fact, i, name, index) == negate]
        last[0], last[1] = fact, found
        return list(found)

    def explain(fact: Any) -> str:
        if isinstance(fact, str):
            return describe(fact)
        bad = ", ".join(_scalar_text(i) for i in offenders(fact))
        return f"{'contains' if negate else 'missing'} {bad}"
    shown = ", ".join(_scalar_text(i) for i in items)
    return CompiledOp(name, lambda f: not offenders(f),
                      f"{'does not contain' if negate else 'contains'} {shown}", explain)


@_op("contains")
def _contains(value: Any) -> CompiledOp:
    return _containing("contains", value, negate=False)


@_op("not_contains")
def _not_contains(value: Any) -> CompiledOp:
    return _containing("not_contains", value, negate=True)


def is_empty(value: Any) -> bool:
    """[], {}, "" and null are empty."""
    return value is None or (isinstance(value, list | dict | str) and len(value) == 0)


@_op("empty")
def _empty(value: Any) -> CompiledOp:
    return CompiledOp("empty", is_empty, "empty")


@_op("not_empty")
def _not_empty(value: Any) -> CompiledOp:
    return CompiledOp("not_empty", lambda f: not is_empty(f), "not empty")


@_op("exists")
def _exists(value: Any) -> CompiledOp:
    return CompiledOp("exists", lambda f: f is not MISSING, "present")


@_op("missing")
def _missing(value: Any) -> CompiledOp:
    return CompiledOp("missing", lambda f: f is MISSING, "absent")


