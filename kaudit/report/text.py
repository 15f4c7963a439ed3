"""Sanitising helpers: text that came from a host must never drive the
operator's terminal or break an XML document."""

from __future__ import annotations

from typing import Any

from kaudit.core.sanitize import clean, shorten, show, xml_safe

__all__ = ["clean", "shorten", "show", "waiver_reason", "xml_safe"]

def waiver_reason(waiver: dict[str, Any]) -> str:
    """'waived: <justification> (until <date>)' for a waiver record."""
    why = waiver.get("justification") or "no justification given"
    until = waiver.get("expires")
    return f"waived: {why}" + (f" (until {until})" if until else "")
