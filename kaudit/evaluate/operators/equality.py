"""Equality of fact values across types ("1" == 1, "8Gi" == 8589934592) and a
hashed index for membership tests."""

from __future__ import annotations

import json
from typing import Any

from kaudit.evaluate.operators.base import OperatorError
from kaudit.evaluate.operators.units import _quantity, as_number

_TRUE = frozenset({"true", "yes", "on"})
_FALSE = frozenset({"false", "no", "off"})


def as_bool(value: Any) -> bool | None:
    """A boolean fact: True/False, or the strings true/false/yes/no/on/off; else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    return None


def values_equal(a: Any, b: Any) -> bool:
    """Rule-language equality: numeric when both sides are numbers, booleans by meaning,
    sizes/durations by magnitude, else exact string equality."""
    if type(a) is str and type(b) is str and a == b:
        return True  # the common case, before any parsing
    if isinstance(a, bool) or isinstance(b, bool):
        ba, bb = as_bool(a), as_bool(b)
        return ba is not None and ba == bb
    na, nb = as_number(a), as_number(b)
    if na is not None and nb is not None:
        return na == nb
    if a is None or b is None:
        return a is b
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return bool(a == b)
    if str(a) == str(b):
        return True
    if _may_be_quantity(a) and _may_be_quantity(b):
        try:
            qa, qb = _quantity(a, "eq"), _quantity(b, "eq")
        except OperatorError:
            return False
        # As in lt/ge, a bare number beside a unit is in that unit (bytes, seconds).
        return (qa[0] == qb[0] or "num" in (qa[0], qb[0])) and qa[1] == qb[1]
    return False


def _may_be_quantity(value: Any) -> bool:
    if isinstance(value, str):
        head = value.lstrip()[:1]
        return head.isdigit() or head in ("+", "-", ".")
    return isinstance(value, int | float)


def canonical(value: Any) -> str:
    """A hashable, order-independent key for any JSON value."""
    return json.dumps(value, sort_keys=True, default=str)


class _EqIndex:
    """A list of values indexed so that `has(x)` == any(values_equal(x, v) for v in values)
    without comparing pairwise: known-flag lists and package lists have hundreds of items.

    Two strings are values_equal only when they are the same string or both may be a
    number or quantity ("6443" vs "6443.0", "1Gi" vs "1024Mi"), so a string is looked up
    in a set and compared one by one only with the few numeric-looking strings and the
    values that are not strings (numbers, booleans, null, lists) where the rules are
    richer. Anything else that is not a string is compared with every value."""

    __slots__ = ("exact", "numeric", "others", "values")

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        strings = [v for v in values if type(v) is str]
        self.exact = set(strings)
        # _may_be_quantity, inlined: this runs over every package of every host.
        self.numeric = [v for v in strings
                        if (h := v.lstrip()[:1]).isdigit() or h in ("+", "-", ".")]
        self.others = [v for v in values if type(v) is not str] \
            if len(strings) != len(values) else []

    def has(self, x: Any, swap: bool = False) -> bool:
        """Whether some value equals `x` (values_equal(x, v); (v, x) with `swap`)."""
        if type(x) is str:
            if x in self.exact:
                return True
            pool = self.others + self.numeric if _may_be_quantity(x) else self.others
        else:
            pool = self.values
        if swap:
            return any(values_equal(v, x) for v in pool)
        return any(values_equal(x, v) for v in pool)


