"""Operators of the rule language (docs/rules.md): unit parsing, version and CIDR
helpers, human-readable value text, and one compiled test per operator name.

An operator is compiled once per rule (`compile_op`): the rule's value is parsed
there (units, regex, CIDRs), so evaluating a fact on a thousand hosts only runs
the cheap `test`. The failure text (`explain`) is built only when a test fails.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


class OperatorError(Exception):
    """An operator cannot be applied: bad unit, wrong fact type, malformed CIDR or pattern."""


class _Missing:
    """Stands for an absent fact (distinct from a fact whose value is null)."""

    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()

# --------------------------------------------------------------------- numbers and units

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


# --------------------------------------------------------------------- CIDRs

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
RFC1918: tuple[ipaddress.IPv4Network, ...] = tuple(
    ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
# IPv6 has no RFC 1918; unique local addresses (RFC 4193) are its private range.
ULA = ipaddress.IPv6Network("fc00::/7")


def to_network(value: Any) -> Network:
    """A CIDR or a bare address (as /32 or /128); a {address: ...} item uses its address."""
    if isinstance(value, dict) and "address" in value:
        value = value["address"]
    if not isinstance(value, str):
        raise OperatorError(f"expected an IP address or CIDR, got {_type_name(value)}")
    net = _network_of_text(value.strip())
    if net is None:
        raise OperatorError(f"not an IP address or CIDR: {value!r}")
    return net


@functools.lru_cache(maxsize=65536)
def _network_of_text(text: str) -> Network | None:
    # Cached: the same routes and CIDRs come back on every host (networks are immutable).
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _networks(value: Any) -> list[Network]:
    items = value if isinstance(value, list) else [value]
    return [to_network(v) for v in items]


def _inside(inner: Network, outer: Network) -> bool:
    # subnet_of raises TypeError across IP versions; an IPv6 net is never inside an IPv4 one.
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


def cidr_contains(outer: Any, inner: Any) -> bool:
    """True when `inner` (address or CIDR) lies inside `outer`; never across IP versions."""
    return _inside(to_network(inner), to_network(outer))


def cidr_overlap(a: Any, b: Any) -> bool:
    """True when the two CIDRs share any address."""
    na, nb = to_network(a), to_network(b)
    return na.version == nb.version and na.overlaps(nb)


def overlapping_pairs(cidrs: Iterable[Any]) -> list[tuple[str, str]]:
    """Every pair of CIDRs in the list that overlap, in list order."""
    nets = [(str(c.get("address")) if isinstance(c, dict) else str(c), to_network(c))
            for c in cidrs]
    return [(nets[i][0], nets[j][0]) for i in range(len(nets)) for j in range(i + 1, len(nets))
            if nets[i][1].version == nets[j][1].version
            and nets[i][1].overlaps(nets[j][1])]


def cidrs_disjoint(cidrs: Iterable[Any]) -> bool:
    """True when no two CIDRs of the list overlap."""
    return not overlapping_pairs(cidrs)


def is_private(value: Any) -> bool:
    """Inside 10/8, 172.16/12 or 192.168/16 (IPv6: fc00::/7). 192.0.0.0/16 is not private."""
    net = to_network(value)
    if isinstance(net, ipaddress.IPv6Network):
        return net.subnet_of(ULA)
    return any(net.subnet_of(r) for r in RFC1918)


# --------------------------------------------------------------------- human-readable text

_MAX_TEXT = 300
_LABEL_KEYS = ("device", "name", "address", "path", "ifname", "id")


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
        label = next((k for k in _LABEL_KEYS if isinstance(item.get(k), str | int)), None)
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


# --------------------------------------------------------------------- equality helpers

_TRUE = frozenset({"true", "yes", "on"})
_FALSE = frozenset({"false", "no", "off"})


def as_bool(value: Any) -> bool | None:
    """A boolean fact: True/False, or the strings true/false/yes/no/on/off; else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    return None


def values_equal(a: Any, b: Any) -> bool:
    """Rule-language equality: numeric when both sides are numbers, booleans by meaning,
    sizes/durations by magnitude, else exact string equality."""
    if type(a) is str and type(b) is str and a == b:
        return True  # the common case, before any parsing
    if isinstance(a, bool) or isinstance(b, bool):
        ba, bb = as_bool(a), as_bool(b)
        return ba is not None and ba == bb
    na, nb = as_number(a), as_number(b)
    if na is not None and nb is not None:
        return na == nb
    if a is None or b is None:
        return a is b
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return bool(a == b)
    if str(a) == str(b):
        return True
    if _may_be_quantity(a) and _may_be_quantity(b):
        try:
            qa, qb = _quantity(a, "eq"), _quantity(b, "eq")
        except OperatorError:
            return False
        # As in lt/ge, a bare number beside a unit is in that unit (bytes, seconds).
        return (qa[0] == qb[0] or "num" in (qa[0], qb[0])) and qa[1] == qb[1]
    return False


def _may_be_quantity(value: Any) -> bool:
    if isinstance(value, str):
        head = value.lstrip()[:1]
        return head.isdigit() or head in ("+", "-", ".")
    return isinstance(value, int | float)


def _canon(value: Any) -> str:
    """A hashable, order-independent key for any JSON value."""
    return json.dumps(value, sort_keys=True, default=str)


class _EqIndex:
    """A list of values indexed so that `has(x)` == any(values_equal(x, v) for v in values)
    without comparing pairwise: known-flag lists and package lists have hundreds of items.

    Two strings are values_equal only when they are the same string or both may be a
    number or quantity ("6443" vs "6443.0", "1Gi" vs "1024Mi"), so a string is looked up
    in a set and compared one by one only with the few numeric-looking strings and the
    values that are not strings (numbers, booleans, null, lists) where the rules are
    richer. Anything else that is not a string is compared with every value."""

    __slots__ = ("exact", "numeric", "others", "values")

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        strings = [v for v in values if type(v) is str]
        self.exact = set(strings)
        # _may_be_quantity, inlined: this runs over every package of every host.
        self.numeric = [v for v in strings
                        if (h := v.lstrip()[:1]).isdigit() or h in ("+", "-", ".")]
        self.others = [v for v in values if type(v) is not str] \
            if len(strings) != len(values) else []

    def has(self, x: Any, swap: bool = False) -> bool:
        """Whether some value equals `x` (values_equal(x, v); (v, x) with `swap`)."""
        if type(x) is str:
            if x in self.exact:
                return True
            pool = self.others + self.numeric if _may_be_quantity(x) else self.others
        else:
            pool = self.values
        if swap:
            return any(values_equal(v, x) for v in pool)
        return any(values_equal(x, v) for v in pool)


# --------------------------------------------------------------------- compiled operators


@dataclass(frozen=True, slots=True)
class CompiledOp:
    """One operator bound to its value: `test(fact)` decides, `explain(fact)` says why not."""

    name: str
    test: Callable[[Any], bool]
    expected: str
    explain: Callable[[Any], str] = describe


Factory = Callable[[Any], CompiledOp]
_FACTORIES: dict[str, Factory] = {}
# Operators that take no `value` (the rule schema may use this).
VALUELESS_OPS: frozenset[str] = frozenset({
    "empty", "not_empty", "exists", "missing", "cidrs_disjoint", "cidr_private", "unique",
    "true", "false"})


def _op(*names: str) -> Callable[[Factory], Factory]:
    def register(factory: Factory) -> Factory:
        for name in names:
            _FACTORIES[name] = factory
        return factory
    return register


def _scalar(fact: Any, op: str) -> Any:
    if isinstance(fact, list | dict) or fact is MISSING:
        raise OperatorError(f"{op} needs a single value, got {_type_name(fact)}")
    return fact


@_op("eq")
def _eq(value: Any) -> CompiledOp:
    return CompiledOp("eq", lambda f: values_equal(f, value), f"= {_scalar_text(value)}")


@_op("ne")
def _ne(value: Any) -> CompiledOp:
    return CompiledOp("ne", lambda f: not values_equal(f, value), f"!= {_scalar_text(value)}")


@_op("eq_ci")
def _eq_ci(value: Any) -> CompiledOp:
    want = _scalar_text(value).casefold()
    return CompiledOp("eq_ci", lambda f: _scalar_text(_scalar(f, "eq_ci")).casefold() == want,
                      f"= {_scalar_text(value)} (any case)")


def _membership(name: str, value: Any, negate: bool) -> CompiledOp:
    if not isinstance(value, list):
        raise OperatorError(f"{name} needs a list value, got {_type_name(value)}")
    items = list(value)
    index = _EqIndex(items)

    def test(fact: Any) -> bool:
        # As `any(values_equal(_scalar(fact), v) for v in items)`: no item, no check.
        found = bool(items) and index.has(_scalar(fact, name))
        return found != negate
    return CompiledOp(name, test, f"{'not in' if negate else 'in'} {_list_text(items)}")


@_op("in")
def _in(value: Any) -> CompiledOp:
    return _membership("in", value, negate=False)


@_op("not_in")
def _not_in(value: Any) -> CompiledOp:
    return _membership("not_in", value, negate=True)


_ORDER: dict[str, tuple[str, Callable[[float, float], bool]]] = {
    "lt": ("<", lambda a, b: a < b), "le": ("<=", lambda a, b: a <= b),
    "gt": (">", lambda a, b: a > b), "ge": (">=", lambda a, b: a >= b),
}


def _ordering(name: str, value: Any) -> CompiledOp:
    symbol, cmp = _ORDER[name]
    want = _quantity(value, name)

    def test(fact: Any) -> bool:
        got = _quantity(fact, name)
        _same_scale(got, want, name)
        return cmp(got[1], want[1])

    def explain(fact: Any) -> str:
        try:
            kind, mag = _quantity(fact, name)
        except OperatorError:
            return describe(fact)
        scale = want[0] if kind == "num" else kind
        if scale == "size" and not math.isinf(mag):
            # Show the fact in the value's unit system (8G -> GB, 16Gi -> GiB).
            unit_of = str(value) if want[0] == "size" else str(fact)
            return format_bytes(mag, binary="i" in unit_of.lower())
        if scale == "dur":
            return format_seconds(mag)
        return describe(fact)
    return CompiledOp(name, test, f"{symbol} {_quantity_text(value)}", explain)


for _name in _ORDER:
    _FACTORIES[_name] = functools.partial(_ordering, _name)


_VERSION_OPS: dict[str, tuple[str, Callable[[int], bool]]] = {
    "version_lt": ("<", lambda c: c < 0), "version_le": ("<=", lambda c: c <= 0),
    "version_gt": (">", lambda c: c > 0), "version_ge": (">=", lambda c: c >= 0),
    "version_eq": ("=", lambda c: c == 0),
}


def _versioning(name: str, value: Any) -> CompiledOp:
    symbol, ok = _VERSION_OPS[name]
    _version_key(value)  # reject a bad value at compile time
    return CompiledOp(name, lambda f: ok(compare_versions(_scalar(f, name), value)),
                      f"version {symbol} {_scalar_text(value)}")


for _name in _VERSION_OPS:
    _FACTORIES[_name] = functools.partial(_versioning, _name)


def _regexing(name: str, value: Any, negate: bool) -> CompiledOp:
    if not isinstance(value, str):
        raise OperatorError(f"{name} needs a pattern string, got {_type_name(value)}")
    try:
        pattern = re.compile(value)
    except re.error as exc:
        raise OperatorError(f"bad regex {value!r}: {exc}") from None

    def test(fact: Any) -> bool:
        return (pattern.search(_scalar_text(_scalar(fact, name))) is not None) != negate
    verb = "does not match" if negate else "matches"
    return CompiledOp(name, test, f"{verb} /{value}/")


@_op("regex")
def _regex(value: Any) -> CompiledOp:
    return _regexing("regex", value, negate=False)


@_op("not_regex")
def _not_regex(value: Any) -> CompiledOp:
    return _regexing("not_regex", value, negate=True)


def _contained(fact: Any, item: Any, op: str, index: _EqIndex | None = None) -> bool:
    if isinstance(fact, str):
        return _scalar_text(item) in fact
    if isinstance(fact, list):
        if index is not None:  # the fact's values, indexed (same answer, no pairwise scan)
            return index.has(item, swap=True)
        if isinstance(item, str) and item in fact:
            return True  # exact match is the common case; the scan handles "6443" vs 6443
        return any(values_equal(x, item) for x in fact)
    if isinstance(fact, dict):
        return _scalar_text(item) in fact
    raise OperatorError(f"{op} needs a string, list or mapping, got {_type_name(fact)}")


def _containing(name: str, value: Any, negate: bool) -> CompiledOp:
    items = list(value) if isinstance(value, list) else [value]
    last: list[Any] = [None, None]  # (fact, its offenders): test and explain ask in turn

    def offenders(fact: Any) -> list[Any]:
        # For contains: the items missing; for not_contains: the items present.
        if last[1] is not None and fact is last[0]:
            return list(last[1])
        index = _EqIndex(fact) if isinstance(fact, list) else None
        found = [i for i in items if _contained(fact, i, name, index) == negate]
        last[0], last[1] = fact, found
        return list(found)

    def explain(fact: Any) -> str:
        if isinstance(fact, str):
            return describe(fact)
        bad = ", ".join(_scalar_text(i) for i in offenders(fact))
        return f"{'contains' if negate else 'missing'} {bad}"
    shown = ", ".join(_scalar_text(i) for i in items)
    return CompiledOp(name, lambda f: not offenders(f),
                      f"{'does not contain' if negate else 'contains'} {shown}", explain)


@_op("contains")
def _contains(value: Any) -> CompiledOp:
    return _containing("contains", value, negate=False)


@_op("not_contains")
def _not_contains(value: Any) -> CompiledOp:
    return _containing("not_contains", value, negate=True)


def is_empty(value: Any) -> bool:
    """[], {}, "" and null are empty."""
    return value is None or (isinstance(value, list | dict | str) and len(value) == 0)


@_op("empty")
def _empty(value: Any) -> CompiledOp:
    return CompiledOp("empty", is_empty, "empty")


@_op("not_empty")
def _not_empty(value: Any) -> CompiledOp:
    return CompiledOp("not_empty", lambda f: not is_empty(f), "not empty")


@_op("exists")
def _exists(value: Any) -> CompiledOp:
    return CompiledOp("exists", lambda f: f is not MISSING, "present")


@_op("missing")
def _missing(value: Any) -> CompiledOp:
    return CompiledOp("missing", lambda f: f is MISSING, "absent")


@_op("cidr_in")
def _cidr_in(value: Any) -> CompiledOp:
    outers = _networks(value)

    def outside(fact: Any) -> list[str]:
        items = fact if isinstance(fact, list) else [fact]
        bad = []
        for item in items:
            net = to_network(item)
            if not any(_inside(net, o) for o in outers):
                bad.append(str(item.get("address")) if isinstance(item, dict) else str(item))
        return bad
    return CompiledOp("cidr_in", lambda f: not outside(f),
                      f"inside {', '.join(map(str, outers))}",
                      lambda f: f"outside: {', '.join(outside(f))}")


@_op("cidr_not_overlap")
def _cidr_not_overlap(value: Any) -> CompiledOp:
    others = _networks(value)

    def overlaps(fact: Any) -> list[str]:
        items = fact if isinstance(fact, list) else [fact]
        found: list[str] = []
        for item in items:
            net = to_network(item)
            found.extend(f"{item} overlaps {o}" for o in others
                         if net.version == o.version and net.overlaps(o))
        return found
    return CompiledOp("cidr_not_overlap", lambda f: not overlaps(f),
                      f"no overlap with {', '.join(map(str, others))}",
                      lambda f: "; ".join(overlaps(f)))


def _need_list(fact: Any, op: str) -> list[Any]:
    if not isinstance(fact, list):
        raise OperatorError(f"{op} needs a list, got {_type_name(fact)}")
    return fact


@_op("cidrs_disjoint")
def _cidrs_disjoint(value: Any) -> CompiledOp:
    def pairs(fact: Any) -> list[tuple[str, str]]:
        return overlapping_pairs(_need_list(fact, "cidrs_disjoint"))
    return CompiledOp("cidrs_disjoint", lambda f: not pairs(f), "pairwise disjoint",
                      lambda f: "; ".join(f"{a} overlaps {b}" for a, b in pairs(f)))


@_op("cidr_private")
def _cidr_private(value: Any) -> CompiledOp:
    def public(fact: Any) -> list[str]:
        items = fact if isinstance(fact, list) else [fact]
        return [str(i) for i in items if not is_private(i)]
    return CompiledOp("cidr_private", lambda f: not public(f),
                      "inside RFC 1918 (10/8, 172.16/12, 192.168/16)",
                      lambda f: f"not private: {', '.join(public(f))}")


@_op("unique")
def _unique(value: Any) -> CompiledOp:
    def duplicates(fact: Any) -> list[tuple[Any, int]]:
        items = _need_list(fact, "unique")
        counts = Counter(_canon(i) for i in items)
        seen: dict[str, Any] = {}
        for i in items:
            seen.setdefault(_canon(i), i)
        return [(seen[k], n) for k, n in counts.items() if n > 1]
    return CompiledOp("unique", lambda f: not duplicates(f), "no duplicates",
                      lambda f: "duplicates: " + ", ".join(
                          f"{_item_text(v)} ({n}x)" for v, n in duplicates(f)))


def _entries(name: str, value: Any, symbol: str, good: Callable[[Any, Any], bool]
             ) -> CompiledOp:
    """Every key of the value mapping has a fact entry that compares well; names each miss."""
    if not isinstance(value, dict) or not value:
        raise OperatorError(f"{name} needs a mapping of key: value, got {_type_name(value)}")
    wanted = {str(k): v for k, v in value.items()}

    def wrong(fact: Any) -> list[str]:
        if not isinstance(fact, dict):
            raise OperatorError(f"{name} needs a mapping fact, got {_type_name(fact)}")
        bad = []
        for key, want in wanted.items():
            got = fact.get(key, MISSING)
            if got is MISSING or not good(got, want):
                bad.append(f"{key}={_scalar_text(got)} (expected {symbol} "
                           f"{_quantity_text(want)})")
        return bad
    expected = ", ".join(f"{k} {symbol} {_quantity_text(v)}" for k, v in wanted.items())
    return CompiledOp(name, lambda f: not wrong(f), expected, lambda f: "; ".join(wrong(f)))


def _at_least(got: Any, want: Any) -> bool:
    try:
        a, b = _quantity(got, "entries_ge"), _quantity(want, "entries_ge")
    except OperatorError:
        return False
    return a[1] >= b[1] and (a[0] == b[0] or "num" in (a[0], b[0]))


@_op("entries_eq")
def _entries_eq(value: Any) -> CompiledOp:
    return _entries("entries_eq", value, "=", values_equal)


@_op("entries_ge")
def _entries_ge(value: Any) -> CompiledOp:
    return _entries("entries_ge", value, ">=", _at_least)


def _ip_or_none(text: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    return _ip_of_text(str(text).strip("[]"))


@functools.lru_cache(maxsize=65536)
def _ip_of_text(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # Cached: a maps_hosts value lists every cluster member, on every host.
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@_op("maps_hosts")
def _maps_hosts(value: Any) -> CompiledOp:
    """The fact is a hosts file ([{address, names}]); each {name, address} of the value
    resolves to its address. The first line naming a host wins, as in glibc's files
    lookup; names compare case-insensitively. Items whose name is itself an address, or
    whose address is not an IP literal, have nothing to map and are left out."""
    if not isinstance(value, list):
        raise OperatorError(f"maps_hosts needs a list of {{name, address}}, "
                            f"got {_type_name(value)}")
    wanted: list[tuple[str, str, Any]] = []
    for item in value:
        if not isinstance(item, dict):
            raise OperatorError("maps_hosts needs a list of {name, address}")
        name, addr = str(item.get("name", "")), _ip_or_none(item.get("address"))
        if name and addr is not None and _ip_or_none(name) is None:
            wanted.append((name, str(addr), addr))

    lowered = [(name, name.lower(), addr) for name, _, addr in wanted]
    absent_all = [f"{name} absent" for name, _, _ in wanted]
    positions: dict[str, list[int]] = {}
    for i, (_, low, _) in enumerate(lowered):
        positions.setdefault(low, []).append(i)
    last: list[Any] = [None, None]  # (fact, its answer): test and explain ask in turn

    def wrong(fact: Any) -> list[str]:
        if last[1] is not None and fact is last[0]:
            return list(last[1])
        first: dict[str, str] = {}
        for entry in _need_list(fact, "maps_hosts"):
            if not isinstance(entry, dict):
                continue
            for n in entry.get("names") or []:
                first.setdefault(str(n).lower(), str(entry.get("address")))
        # A hosts file names a few hosts; the value may list a thousand. Only the wanted
        # names the file has are looked at; the runs between them are all "absent".
        hits = sorted(i for low in first if low in positions for i in positions[low])
        bad: list[str] = []
        start = 0
        for i in hits:
            bad.extend(absent_all[start:i])
            name, low, addr = lowered[i]
            got = first[low]
            if _ip_or_none(got) != addr:
                bad.append(f"{name} -> {got}")
            start = i + 1
        bad.extend(absent_all[start:])
        last[0], last[1] = fact, bad
        return list(bad)
    expected = _capped([f"{n} -> {t}" for n, t, _ in wanted], ", ") or "nothing to map"
    return CompiledOp("maps_hosts", lambda f: not wrong(f), expected,
                      lambda f: _capped(wrong(f), "; "))


_MAX_LISTED = 20


def _capped(items: list[str], sep: str) -> str:
    """Join at most _MAX_LISTED items: a 1,000-host fleet's finding stays readable."""
    if len(items) <= _MAX_LISTED:
        return sep.join(items)
    return sep.join(items[:_MAX_LISTED]) + f"{sep}(+{len(items) - _MAX_LISTED} more)"


def _boolean(name: str, want: bool) -> CompiledOp:
    def test(fact: Any) -> bool:
        got = as_bool(fact)
        if got is None:
            raise OperatorError(f"{name} needs a boolean fact, got {describe(fact)!r}")
        return got is want
    return CompiledOp(name, test, name)


@_op("true")
def _true(value: Any) -> CompiledOp:
    return _boolean("true", True)


@_op("false")
def _false(value: Any) -> CompiledOp:
    return _boolean("false", False)


def compile_op(name: str, value: Any = None) -> CompiledOp:
    """Bind operator `name` to its value once; OperatorError for an unknown op or bad value."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise OperatorError(f"unknown operator {name!r}")
    return factory(value)


def _plain(name: str) -> Callable[..., bool]:
    def run(fact: Any, value: Any = None) -> bool:
        return compile_op(name, value).test(fact)
    run.__name__ = f"op_{name}"
    run.__doc__ = f"Apply operator {name!r}: OPS[{name!r}](fact, value) -> bool."
    return run


# Every operator of docs/rules.md as a plain predicate `OPS[op](fact, value) -> bool`
# (pass MISSING as the fact for an absent one). The engine uses compile_op instead.
OPS: dict[str, Callable[..., bool]] = {name: _plain(name) for name in _FACTORIES}
