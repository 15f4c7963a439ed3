"""Network sections: addresses, interfaces, routes, /etc/hosts, the VIP."""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
from typing import Any

from kaudit.facts.parsers.frame import Ctx, strip_comment, to_int

_ADDR = re.compile(r"^\d+:\s+(\S+)\s+(inet6?)\s+([0-9A-Fa-f.:]+)/(\d+)")
_ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "blackhole", "unreachable",
                "prohibit", "throw", "nat", "anycast"}


def _route_dest(tokens: list[str]) -> tuple[str | None, str | None]:
    """(CIDR or 'default', dev) of one `ip -o route` line."""
    if tokens and tokens[0] in _ROUTE_TYPES:
        tokens = tokens[1:]
    if not tokens:
        return None, None
    dev = tokens[tokens.index("dev") + 1] if "dev" in tokens[:-1] else None
    dest = tokens[0]
    if dest == "default":
        return "default", dev
    try:
        return str(ipaddress.ip_network(dest, strict=False)), dev
    except ValueError:
        return None, dev


def _route_entry(tokens: list[str]) -> dict[str, Any] | None:
    """{dest, type, dev, via, proto} of one `ip -o route` line (None for default/junk)."""
    rtype = tokens[0] if tokens and tokens[0] in _ROUTE_TYPES else "unicast"
    dest, dev = _route_dest(tokens)
    if dest is None or dest == "default":
        return None
    entry: dict[str, Any] = {"dest": dest, "type": rtype, "dev": dev}
    for key in ("via", "proto"):
        if key in tokens[:-1]:
            entry[key] = tokens[tokens.index(key) + 1]
    return entry


def _proc_routes(text: str) -> tuple[list[str], str | None]:
    routes: list[str] = []
    default = None
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        try:
            dest = socket.inet_ntoa(struct.pack("<I", int(f[1], 16)))
            mask = socket.inet_ntoa(struct.pack("<I", int(f[7], 16)))
        except (ValueError, struct.error):
            continue
        if dest == "0.0.0.0" and mask == "0.0.0.0":
            default = default or f[0]
            continue
        routes.append(str(ipaddress.ip_network(f"{dest}/{mask}", strict=False)))
    return routes, default


def parse_network(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("network")
    net: dict[str, Any] = {}
    interfaces: dict[str, Any] = {}
    for line in sec.lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "if":
            kv = dict(f.partition("=")[::2] for f in fields[2:])
            interfaces[fields[1]] = {"mtu": to_int(kv.get("mtu")), "state": kv.get("state") or None}
    net["interfaces"] = interfaces
    addr = sec.cmd("ip-addr")
    if addr is not None and addr.kind == "cmd" and addr.rc == 0:
        addresses = []
        for line in addr.lines:
            m = _ADDR.match(line)
            if m and m.group(1).split("@")[0] != "lo":
                addresses.append({"ifname": m.group(1).split("@")[0], "address": m.group(3),
                                  "prefixlen": int(m.group(4)), "family": m.group(2)})
        net["addresses"] = addresses
    else:
        ctx.note("addresses unknown (no `ip` command)")
    routes: list[str] = []
    entries: list[dict[str, Any]] = []
    default: str | None = None
    default6: str | None = None
    have_routes = False
    for name in ("ip-route", "ip-route6"):
        b = sec.cmd(name)
        if b is None or b.kind != "cmd" or b.rc != 0:
            continue
        have_routes = True
        for line in b.lines:
            entry = _route_entry(line.split())
            if entry is not None:
                entries.append(entry)
            dest, dev = _route_dest(line.split())
            if dest == "default":
                if name == "ip-route":
                    default = default or dev
                else:
                    default6 = default6 or dev
            elif dest is not None and dest not in routes:
                routes.append(dest)
    proc = sec.file("/proc/net/route")
    if not have_routes and proc is not None:
        routes, default = _proc_routes(proc)
        entries = [{"dest": r, "type": "unicast", "dev": None} for r in routes]
        have_routes = True
    if have_routes:
        net["routes"] = routes
        net["route_entries"] = entries
        if default or default6:
            net["default_ifname"] = default or default6
    else:
        ctx.note("routes unknown")
    return {"network": net}


def parse_hosts(ctx: Ctx) -> dict[str, Any]:
    text = ctx.need("hosts").file("/etc/hosts")
    if text is None:
        ctx.note("/etc/hosts missing")
        return {}
    entries = []
    for line in text.splitlines():
        fields = strip_comment(line).split()
        if len(fields) >= 2:
            entries.append({"address": fields[0], "names": fields[1:]})
    return {"hosts_file": entries}


def _same_ip(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return False


def parse_vip(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.sec("vip")
    kv = sec.kv() if sec is not None else {}
    if not kv.get("vip"):
        ctx.note("no VIP given to the probe, VIP facts not collected")
        return {}
    vip: dict[str, Any] = {"address": kv["vip"]}
    port = to_int(kv.get("tcp_port"))
    if port is not None:
        vip["port"] = port
    if kv.get("icmp") in ("yes", "no"):
        vip["icmp"] = kv["icmp"] == "yes"
    else:
        ctx.note(f"ping result unknown ({kv.get('icmp', 'not reported')})")
    if kv.get("tcp") in ("open", "closed"):
        vip["tcp"] = kv["tcp"] == "open"
    else:
        ctx.note(f"TCP check not possible (method {kv.get('tcp_method', 'unknown')})")
    vip["tcp_method"] = kv.get("tcp_method", "none")
    addresses = ctx.facts.get("network", {}).get("addresses")
    if isinstance(addresses, list):
        vip["held"] = any(_same_ip(a.get("address", ""), kv["vip"]) for a in addresses)
        holders = [a["ifname"] for a in addresses if _same_ip(a.get("address", ""), kv["vip"])]
        if holders:
            vip["ifname"] = holders[0]
    return {"vip": vip}
