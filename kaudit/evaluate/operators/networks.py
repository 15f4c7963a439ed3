"""CIDR helpers: parsing, containment, overlap, RFC 1918 / ULA privacy."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from typing import Any

from kaudit.evaluate.operators.base import OperatorError, _type_name

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


