"""Numbers, sizes (8G, 16Gi), durations (300s, 1h30m) and versions (1.28.5, 1.30.0-rc.1)."""

from __future__ import annotations

import math
import re
from typing import Any

from kaudit.evaluate.operators.base import OperatorError, _type_name

_NUM_RE = re.compile(r"^\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*$")
_INT_RE = re.compile(r"^\s*[+-]?\d+\s*$")
_SIZE_RE = re.compile(r"^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*$")
_PREFIXES = "kmgtpe"
_DUR_PART = r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d)"
_DUR_RE = re.compile(rf"^\s*([+-]?)((?:{_DUR_PART})+)\s*$")
_DUR_ITER = re.compile(_DUR_PART)
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
              "m": 60.0, "h": 3600.0, "d": 86400.0}
_UNLIMITED = frozenset({"unlimited", "infinity", "inf"})


def as_number(value: Any) -> int | float | None:
    """The number a fact or value stands for (int, float or numeric string), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _NUM_RE.match(value):
        return int(value) if _INT_RE.match(value) else float(value)
    return None


def _size_unit(unit: str, text: str) -> tuple[int, bool]:
    """Multiplier for a size unit and whether it is binary (IEC)."""
    if unit in ("", "B", "b"):
        return 1, False
    if unit == "m":
        raise OperatorError(
            f"ambiguous size {text!r}: 'm' means minutes; write M or MB (10^6) or Mi (2^20)")
    core = unit[:-1] if len(unit) > 1 and unit[-1] in "Bb" else unit
    if len(core) == 1 and core.lower() in _PREFIXES:
        return 1000 ** (_PREFIXES.index(core.lower()) + 1), False
    if len(core) == 2 and core[1] in "iI" and core[0].lower() in _PREFIXES:
        return 1024 ** (_PREFIXES.index(core[0].lower()) + 1), True
    raise OperatorError(
        f"bad size {text!r}: unknown unit {unit!r} (use K M G T P, Ki Mi Gi Ti Pi, optional B)")


def parse_size(value: Any) -> int:
    """Bytes in `value`: 512, '8G'/'8GB' (10^9), '16Gi' (2^30), '1.5Gi'."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise OperatorError(f"expected a size, got {_type_name(value)}")
    if isinstance(value, int | float):
        return round(value)
    m = _SIZE_RE.match(value)
    if not m:
        raise OperatorError(f"bad size {value!r}: expected e.g. 512, 8G, 16Gi")
    mult, _ = _size_unit(m.group(2), value)
    return round(float(m.group(1)) * mult)


def parse_duration(value: Any) -> float:
    """Seconds in `value`: '300ms', '300s', '5m', '2h', '1h30m', Go's '1m0s'; a number is as is."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise OperatorError(f"expected a duration, got {_type_name(value)}")
    if isinstance(value, int | float):
        return float(value)
    if _NUM_RE.match(value):
        return float(value)
    m = _DUR_RE.match(value)
    if not m:
        raise OperatorError(f"bad duration {value!r}: expected e.g. 300ms, 30s, 5m, 1h30m")
    total = sum(float(num) * _DUR_UNITS[unit] for num, unit in _DUR_ITER.findall(m.group(2)))
    return -total if m.group(1) == "-" else total


def _is_duration_text(value: str) -> bool:
    return _DUR_RE.match(value) is not None


def _quantity(value: Any, what: str) -> tuple[str, float]:
    """Classify a comparable value: ('num'|'size'|'dur', magnitude in bytes/seconds)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise OperatorError(f"{what} needs a number, size or duration, got {_type_name(value)}")
    if isinstance(value, int | float):
        return "num", float(value)
    number = as_number(value)
    if number is not None:
        return "num", float(number)
    if value.strip().lower() in _UNLIMITED:
        return "num", math.inf
    if _is_duration_text(value):
        return "dur", parse_duration(value)
    m = _SIZE_RE.match(value)
    if m and m.group(2):
        return "size", float(parse_size(value))
    raise OperatorError(f"{what} needs a number, size or duration, got {value!r}")


def _same_scale(a: tuple[str, float], b: tuple[str, float], what: str) -> None:
    if a[0] != b[0] and "num" not in (a[0], b[0]):
        names = {"size": "a size", "dur": "a duration"}
        raise OperatorError(f"{what}: cannot compare {names[a[0]]} with {names[b[0]]}")


# --------------------------------------------------------------------- versions

_VER_RE = re.compile(r"(\d+(?:\.\d+)*)")
_PRE_RE = re.compile(r"^[-.~_]?(dev|alpha|a|beta|b|pre|rc)\.?(\d*)", re.IGNORECASE)
_PRE_RANK = {"dev": 0, "alpha": 1, "a": 1, "beta": 2, "b": 2, "pre": 3, "rc": 4}


def _version_key(value: Any) -> tuple[tuple[int, ...], tuple[int, int, int]]:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise OperatorError(f"expected a version, got {_type_name(value)}")
    text = str(value)
    m = _VER_RE.search(text)
    if not m:
        raise OperatorError(f"not a version: {text!r}")
    nums = tuple(int(p) for p in m.group(1).split("."))
    # Only a recognised pre-release tag ranks below the release; a numeric
    # package release ("-0"), a build ("+k3s1") or a commit id is ignored.
    pre = _PRE_RE.match(text[m.end():])
    rank = (0, _PRE_RANK[pre.group(1).lower()], int(pre.group(2) or 0)) if pre else (1, 0, 0)
    return nums, rank


def compare_versions(a: Any, b: Any) -> int:
    """-1, 0 or 1 comparing numeric components: v1.28.5 == 1.28.5-0 == 1.28.5+k3s1 > 1.28."""
    (na, ra), (nb, rb) = _version_key(a), _version_key(b)
    width = max(len(na), len(nb))
    pa, pb = na + (0,) * (width - len(na)), nb + (0,) * (width - len(nb))
    if pa != pb:
        return -1 if pa < pb else 1
    if ra != rb:
        return -1 if ra < rb else 1
    return 0


