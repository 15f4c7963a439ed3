"""Operators on collections and plans: CIDRs, uniqueness, key/value entries,
/etc/hosts mappings, booleans."""

from __future__ import annotations

import functools
import ipaddress
from collections import Counter
from collections.abc import Callable
from typing import Any

from kaudit.evaluate.operators.base import MISSING, OperatorError, _type_name
from kaudit.evaluate.operators.equality import as_bool, canonical, values_equal
from kaudit.evaluate.operators.networks import (
    _inside,
    _networks,
    is_private,
    overlapping_pairs,
    to_network,
)
from kaudit.evaluate.operators.registry import CompiledOp, _op
from kaudit.evaluate.operators.text import _item_text, _quantity_text, _scalar_text, describe
from kaudit.evaluate.operators.units import _quantity


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
        counts = Counter(canonical(i) for i in items)
        seen: dict[str, Any] = {}
        for i in items:
            seen.setdefault(canonical(i), i)
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

