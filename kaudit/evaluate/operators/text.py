"""Human-readable text for fact values in failure messages (short, one line)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from kaudit.evaluate.operators.base import MISSING
from kaudit.evaluate.operators.units import _SIZE_RE, _is_duration_text, _size_unit, as_number

_MAX_TEXT = 300
# The key that names an item of a list of mappings (a swap device, a mount, an
# address), in the order tried: shared by value text and `each`/`some` labels.
LABEL_KEYS = ("device", "name", "address", "path", "ifname", "id")

def format_bytes(n: float, binary: bool = True) -> str:
    """'3.8 GiB' (binary) or '8 GB' (decimal)."""
    base = 1024 if binary else 1000
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] if binary else \
        ["B", "KB", "MB", "GB", "TB", "PB"]
    x, i = float(n), 0
    while abs(x) >= base and i < len(units) - 1:
        x /= base
        i += 1
    text = f"{x:.1f}".removesuffix(".0") if i else f"{int(x)}"
    return f"{text} {units[i]}"


def format_seconds(s: float) -> str:
    """'812ms', '1.5s', '300s'."""
    if math.isinf(s):
        return "unlimited"
    if abs(s) < 1:
        return f"{round(s * 1000, 1):g}ms"
    return f"{round(s, 3):g}s"


def _truncate(text: str) -> str:
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _scalar_text(value: Any) -> str:
    if value is MISSING:
        return "absent"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _item_text(item: Any) -> str:
    if isinstance(item, dict):
        label = next((k for k in LABEL_KEYS if isinstance(item.get(k), str | int)), None)
        extras: list[str] = []
        for key, val in item.items():
            if key == label or isinstance(val, list | dict) or val is None:
                continue
            if key == "type" and item.get("zram") is True:
                extras.append("zram")
            elif key.endswith("_bytes") and as_number(val) is not None:
                extras.append(format_bytes(float(val)))
            elif isinstance(val, bool):
                if val and not (key == "zram" and "type" in item):
                    extras.append(key)
            elif label is not None:
                extras.append(_scalar_text(val))
            else:
                extras.append(f"{key}={_scalar_text(val)}")
        if label is None:
            return ", ".join(extras) if extras else "{}"
        return f"{item[label]} ({', '.join(extras)})" if extras else str(item[label])
    if isinstance(item, list):
        return "[" + ", ".join(_item_text(i) for i in item) + "]"
    return _scalar_text(item)


def describe(value: Any) -> str:
    """Short human text for a fact or value: '/dev/zram0 (zram, 3.8 GiB)', 'a, b', 'empty'."""
    if isinstance(value, list):
        return _truncate(", ".join(_item_text(i) for i in value)) if value else "empty"
    if isinstance(value, dict) and not value:
        return "empty"
    if isinstance(value, str) and value == "":
        return '""'
    return _truncate(_item_text(value))


def _list_text(values: Iterable[Any]) -> str:
    return "[" + ", ".join(_scalar_text(v) for v in values) + "]"


def _quantity_text(value: Any) -> str:
    """How a comparison value is shown: '8 GiB', '8 GB', '300s', '65536'."""
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m and m.group(2) and not _is_duration_text(value):
            _, binary = _size_unit(m.group(2), value)
            core = m.group(2).rstrip("Bb")
            if not core:
                return f"{m.group(1)} B"
            return f"{m.group(1)} {core[0].upper()}{'iB' if binary else 'B'}"
        return value.strip()
    return _scalar_text(value)


