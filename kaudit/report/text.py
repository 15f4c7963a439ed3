"""Sanitising helpers: text that came from a host must never drive the
operator's terminal or break an XML document."""

from __future__ import annotations

import json
from typing import Any

from kaudit.core.sanitize import clean, xml_safe

__all__ = ["clean", "shorten", "show", "waiver_reason", "xml_safe"]

def shorten(text: str, limit: int) -> str:
    """Cut text to about `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in value]
    if isinstance(value, dict):
        return {clean(str(k)): _cleaned(v) for k, v in value.items()}
    return value


def show(value: Any) -> str:
    """A fact value as one readable, cleaned string (strings as they are,
    structures as JSON, whose own escapes then stay inert text)."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return clean(value)
    return json.dumps(_cleaned(value), ensure_ascii=False, default=str)


def waiver_reason(waiver: dict[str, Any]) -> str:
    """'waived: <justification> (until <date>)' for a waiver record."""
    why = waiver.get("justification") or "no justification given"
    until = waiver.get("expires")
    return f"waived: {why}" + (f" (until {until})" if until else "")
