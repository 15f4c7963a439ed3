"""Compiled operators: each operator name is a factory binding the rule's value
once; `compile_op` looks one up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kaudit.evaluate.operators.base import MISSING, OperatorError, _type_name
from kaudit.evaluate.operators.text import describe


@dataclass(frozen=True, slots=True)
class CompiledOp:
    """One operator bound to its value: `test(fact)` decides, `explain(fact)` says why not."""

    name: str
    test: Callable[[Any], bool]
    expected: str
    explain: Callable[[Any], str] = describe


Factory = Callable[[Any], CompiledOp]
FACTORIES: dict[str, Factory] = {}


def _op(*names: str) -> Callable[[Factory], Factory]:
    def register(factory: Factory) -> Factory:
        for name in names:
            FACTORIES[name] = factory
        return factory
    return register


def _scalar(fact: Any, op: str) -> Any:
    if isinstance(fact, list | dict) or fact is MISSING:
        raise OperatorError(f"{op} needs a single value, got {_type_name(fact)}")
    return fact


def compile_op(name: str, value: Any = None) -> CompiledOp:
    """Bind operator `name` to its value once; OperatorError for an unknown op or bad value."""
    factory = FACTORIES.get(name)
    if factory is None:
        raise OperatorError(f"unknown operator {name!r}")
    return factory(value)

