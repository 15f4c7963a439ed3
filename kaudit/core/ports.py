"""The one port-number check (inventory vars, probe arguments, ssh_config)."""

from __future__ import annotations

from typing import Any


def as_port(value: Any) -> int | None:
    """`value` as a TCP port 1-65535, or None when it is not one. An int (not a
    bool) or a string of ASCII digits, surrounding blanks allowed; nothing else
    ("+22", "22.0", "٢٢" and True are not ports)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            return None
        value = int(text)
    if isinstance(value, int) and 1 <= value <= 65535:
        return value
    return None
