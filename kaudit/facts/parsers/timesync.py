"""The `time` section: timezone, synchronisation state, NTP sources."""

from __future__ import annotations

import re
from typing import Any

from kaudit.facts.parsers.frame import Ctx, strip_comment, to_float

_TIME_DAEMONS = ("chronyd", "ntpd", "ntpsec", "systemd-timesyncd")
_HOSTLIKE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]*$")


def _zone_from_link(target: str) -> str | None:
    if "zoneinfo/" in target:
        zone = target.split("zoneinfo/", 1)[1].strip()
        return zone.removeprefix("posix/").removeprefix("right/") or None
    return None


def _chrony(text: str) -> tuple[bool | None, float | None]:
    synced: bool | None = None
    offset: float | None = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "Leap status":
            synced = value == "Normal"
        elif key == "System time":
            parts = value.split()
            amount = to_float(parts[0]) if parts else None
            if amount is not None and len(parts) >= 3:
                offset = amount if parts[2] == "fast" else -amount
    return synced, offset


def _ntpdate_sources(line: str) -> list[str]:
    tokens = line.split()
    for i, tok in enumerate(tokens):
        if tok.rsplit("/", 1)[-1] in ("ntpdate", "ntpsec-ntpdate"):
            out = []
            for arg in tokens[i + 1:]:
                if arg in (">", ">>", "&&", "||", ";", "|") or arg.startswith((">", "2>")):
                    break
                if not arg.startswith("-") and _HOSTLIKE.match(arg):
                    out.append(arg)
            return out
    return []


def parse_time(ctx: Ctx) -> dict[str, Any]:
    sec = ctx.need("time")
    t: dict[str, Any] = {}
    kv = sec.kv()
    zone = _zone_from_link(kv.get("localtime", ""))
    tz_file = sec.file("/etc/timezone")
    if tz_file is not None and tz_file.strip():
        t["timezone_file"] = tz_file.strip().splitlines()[0].strip()
    if zone:
        t["timezone"] = zone
    elif "timezone_file" in t:
        t["timezone"] = t["timezone_file"]
    else:
        ctx.note("timezone unknown")

    sources: list[str] = []
    cron = False
    for line in sec.lines:
        if line.startswith("cron "):
            _, _, entry = line.partition(": ")
            if entry.lstrip().startswith("#") or "ntpdate" not in entry:
                continue
            cron = True
            sources += _ntpdate_sources(entry)
    t["ntpdate_cron"] = cron
    for b in sec.files():
        if b.name == "/etc/timezone":
            continue
        for line in b.text.splitlines():
            fields = strip_comment(line).split()
            if len(fields) >= 2 and fields[0] in ("server", "pool", "peer"):
                sources.append(fields[1])
    t["sources"] = list(dict.fromkeys(sources))

    synced: bool | None = None
    chrony = sec.cmd("chronyc-tracking")
    if chrony is not None and chrony.kind == "cmd" and chrony.rc == 0:
        synced, offset = _chrony(chrony.text)
        if offset is not None:
            t["chrony_offset_s"] = offset
    ntpstat = sec.cmd("ntpstat")
    if synced is None and ntpstat is not None and ntpstat.kind == "cmd" and ntpstat.rc in (0, 1):
        synced = ntpstat.rc == 0
    if synced is None and kv.get("timesyncd_synchronized") == "1":
        synced = True
    if synced is None:
        services = ctx.facts.get("services")
        if isinstance(services, dict) and services:
            running = [u for u in _TIME_DAEMONS
                       if services.get(u, {}).get("active") == "active"]
            if not running or running == ["systemd-timesyncd"]:
                synced = False      # nothing that disciplines the clock says it is synced
    if synced is None:
        ctx.note("synchronisation state unknown")
    else:
        t["synchronized"] = synced
    return {"time": t}
