"""`minor_skew`: is a component's minor version within the version skew policy of
the apiservers it talks to? The fact and the bounds are minors (35) or versions
("1.35.2", "v1.35"); Kubernetes 1.x is assumed, as its skew policy is stated in
minors of 1.x.

    value: {newest: N, oldest: N, older: K, newer: J}

passes when newest - K <= minor <= oldest + J: at most K minors older than the
newest apiserver, at most J newer than the oldest."""

from __future__ import annotations

import re
from typing import Any

from kaudit.evaluate.operators.base import OperatorError, _type_name
from kaudit.evaluate.operators.registry import CompiledOp, _op

_VERSION = re.compile(r"v?1\.(\d+)(?:\.|$|[-+])")


def as_minor(value: Any, what: str) -> int:
    """35 from 35, "1.35.2", "v1.35" or "1.35"."""
    if isinstance(value, bool):
        raise OperatorError(f"minor_skew: {what} is a boolean, not a version")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        m = _VERSION.match(value.strip())
        if m:
            return int(m.group(1))
        if value.strip().isdigit():
            return int(value.strip())
    raise OperatorError(f"minor_skew: {what} {value!r} ({_type_name(value)}) is not a "
                        "Kubernetes 1.x version or minor")


def _count(n: int) -> str:
    return f"{n} minor{'s' if n != 1 else ''}"


@_op("minor_skew")
def _minor_skew(value: Any) -> CompiledOp:
    if not isinstance(value, dict) or not {"newest", "oldest"} <= set(value):
        raise OperatorError("minor_skew needs a value {newest: V, oldest: V, older: K, newer: J}")
    newest = as_minor(value["newest"], "newest")
    oldest = as_minor(value["oldest"], "oldest")
    older = as_minor(value.get("older", 0), "older")
    newer = as_minor(value.get("newer", 0), "newer")
    low, high = newest - older, oldest + newer
    span = f"1.{oldest}" if oldest == newest else f"1.{oldest}-1.{newest}"
    expected = (f"1.{low}" if low == high else f"1.{low}-1.{high}") + f" (apiservers {span}:" \
        f" at most {_count(older)} older, {_count(newer)} newer)"

    def test(fact: Any) -> bool:
        return low <= as_minor(fact, "the fact") <= high

    def explain(fact: Any) -> str:
        minor = as_minor(fact, "the fact")
        if minor > high:
            return f"1.{minor}, {_count(minor - oldest)} newer than apiserver 1.{oldest}"
        return f"1.{minor}, {_count(newest - minor)} older than apiserver 1.{newest}"

    return CompiledOp("minor_skew", test, expected, explain)
