"""`increase_le`: has a counter grown by at most `max` since a baseline value?
A counter below its baseline was reset (the process restarted): its whole
current value is the increase since the restart, as Prometheus' increase() reads it.

    value: {from: BASELINE, max: N}
"""

from __future__ import annotations

from typing import Any

from kaudit.evaluate.operators.base import OperatorError, _type_name
from kaudit.evaluate.operators.registry import CompiledOp, _op


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OperatorError(f"increase_le: {what} is {_type_name(value)}, not a number")
    return float(value)


def _text(x: float) -> str:
    return str(int(x)) if x == int(x) else f"{x:g}"


@_op("increase_le")
def _increase_le(value: Any) -> CompiledOp:
    if not isinstance(value, dict) or not {"from", "max"} <= set(value):
        raise OperatorError("increase_le needs a value {from: BASELINE, max: N}")
    start = _number(value["from"], "from")
    limit = _number(value["max"], "max")

    def increase(fact: Any) -> float:
        now = _number(fact, "the fact")
        return now - start if now >= start else now

    def explain(fact: Any) -> str:
        now = _number(fact, "the fact")
        if now < start:
            return f"{_text(now)} since a restart (the counter fell from {_text(start)})"
        return f"{_text(increase(fact))} (from {_text(start)} to {_text(now)})"

    return CompiledOp("increase_le", lambda f: increase(f) <= limit,
                      f"an increase of at most {_text(limit)}", explain)
