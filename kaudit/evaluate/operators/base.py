"""What every operator module shares: the error an operator raises and the marker
for an absent fact."""

from __future__ import annotations

from typing import Any


class OperatorError(Exception):
    """An operator cannot be applied: bad unit, wrong fact type, malformed CIDR or pattern."""


class _Missing:
    """Stands for an absent fact (distinct from a fact whose value is null)."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


class Sourced(str):
    """A text value that a `${first(...)}` reference took from a fallback: `source`
    names where it came from, so a finding can say "1.35 (from versions.kubeadm)"."""

    source: str

    def __new__(cls, text: str, source: str) -> Sourced:
        obj = super().__new__(cls, text)
        obj.source = source
        return obj


def _type_name(value: Any) -> str:
    if value is MISSING:
        return "nothing (fact absent)"
    if value is None:
        return "null"
    for kind, name in ((bool, "a boolean"), (int | float, "a number"), (str, "a string"),
                       (list, "a list"), (dict, "a mapping")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


