"""Operators of the rule language (docs/rules.md): unit parsing, version and CIDR
helpers, human-readable value text, and one compiled test per operator name.

An operator is compiled once per rule (`compile_op`): the rule's value is parsed
there (units, regex, CIDRs), so evaluating a fact on a thousand hosts only runs
the cheap `test`. The failure text (`explain`) is built only when a test fails.
Importing this package registers every operator (scalar_ops, fleet_ops).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kaudit.evaluate.operators import counters, fleet_ops, names, scalar_ops, skew, support
from kaudit.evaluate.operators.base import MISSING, OperatorError
from kaudit.evaluate.operators.equality import _EqIndex, as_bool, values_equal
from kaudit.evaluate.operators.networks import (
    cidr_contains,
    cidr_overlap,
    cidrs_disjoint,
    is_private,
    overlapping_pairs,
    to_network,
)
from kaudit.evaluate.operators.registry import FACTORIES, CompiledOp, compile_op
from kaudit.evaluate.operators.text import describe, format_seconds
from kaudit.evaluate.operators.units import (
    as_number,
    compare_versions,
    parse_duration,
    parse_size,
)

assert counters and fleet_ops and names and scalar_ops and skew and support  # registered


def _plain(name: str) -> Callable[..., bool]:
    def run(fact: Any, value: Any = None) -> bool:
        return compile_op(name, value).test(fact)
    run.__name__ = f"op_{name}"
    run.__doc__ = f"Apply operator {name!r}: OPS[{name!r}](fact, value) -> bool."
    return run


# Every operator of docs/rules.md as a plain predicate `OPS[op](fact, value) -> bool`
# (pass MISSING as the fact for an absent one). The engine uses compile_op instead.
OPS: dict[str, Callable[..., bool]] = {name: _plain(name) for name in FACTORIES}

__all__ = ["MISSING", "OPS", "CompiledOp", "OperatorError", "_EqIndex", "as_bool", "as_number",
           "cidr_contains", "cidr_overlap", "cidrs_disjoint", "compare_versions", "compile_op",
           "describe", "format_seconds", "is_private", "overlapping_pairs", "parse_duration",
           "parse_size", "to_network", "values_equal"]
