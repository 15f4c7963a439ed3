"""Turn probe output into the fact tree of docs/facts.md.

`parse_probe_output` never raises: each section has its own small parser,
run in isolation, so a malformed, truncated or hostile section only drops
its own facts and adds a note saying why.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kaudit.facts.parsers import health, kube, lb, network, storage, system, timesync
from kaudit.facts.parsers.frame import Ctx, MissingSection, cap, split_output

MAX_OUTPUT = 32 * 1024 * 1024     # characters of probe output looked at

Parser = Callable[[Ctx], dict[str, Any]]

# Order matters where a parser reads earlier facts: time reads services,
# vip reads network.addresses, kubelet reads kubelet.config (from kubernetes).
PARSERS: tuple[tuple[str, Parser], ...] = (
    ("probe", system.parse_meta),
    ("os-release", system.parse_os),
    ("uname", system.parse_kernel),
    ("hostname", system.parse_hostname),
    ("cpu", system.parse_cpu),
    ("meminfo", system.parse_memory),
    ("swap", system.parse_swap),
    ("selinux", system.parse_selinux),
    ("services", system.parse_services),
    ("time", timesync.parse_time),
    ("limits", system.parse_limits),
    ("modules", system.parse_modules),
    ("sysctl", system.parse_sysctl),
    ("sysctl-files", system.parse_sysctl_files),
    ("cgroup", system.parse_cgroup),
    ("mounts", storage.parse_mounts),
    ("network", network.parse_network),
    ("hosts", network.parse_hosts),
    ("vip", network.parse_vip),
    ("kubernetes", kube.parse_kubernetes),
    ("kubelet", kube.parse_kubelet),
    ("scheduler-config", kube.parse_scheduler),
    ("versions", system.parse_versions),
    ("packages", system.parse_packages),
    ("commands", system.parse_commands),
    ("containerd", kube.parse_containerd),
    ("haproxy", lb.parse_haproxy),
    ("keepalived", lb.parse_keepalived),
    ("certs", health.parse_certs),
    ("etcd-metrics", health.parse_etcd_metrics),
    ("health", health.parse_health),
    ("disks", health.parse_disks),
)


def _merge(into: dict[str, Any], fragment: dict[str, Any]) -> None:
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def _decode(data: bytes | str, notes: list[str]) -> str:
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data[: MAX_OUTPUT * 4])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("utf-8", errors="replace")
            notes.append("probe output is not valid UTF-8; undecodable bytes replaced")
    elif isinstance(data, str):
        text = data
    else:
        notes.append(f"probe output has unexpected type {type(data).__name__}")
        return ""
    if len(text) > MAX_OUTPUT:
        notes.append(f"probe output larger than {MAX_OUTPUT} characters; the rest ignored")
        text = text[:MAX_OUTPUT]
    if "\x00" in text:
        notes.append("probe output contains NUL bytes; removed")
        text = text.replace("\x00", "")
    return text


def _parse(data: bytes | str) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    frame = split_output(_decode(data, notes), notes)
    facts: dict[str, Any] = {}
    for label, parser in PARSERS:
        ctx = Ctx(frame, facts, [], label)
        try:
            fragment = parser(ctx)
        except MissingSection as exc:
            notes.append(f"{label}: section {exc} missing from the probe output")
            continue
        except Exception as exc:  # a bug or hostile input drops this section only
            notes.append(f"{label}: could not parse ({type(exc).__name__}: {str(exc)[:200]})")
            continue
        notes += ctx.notes
        if isinstance(fragment, dict):
            _merge(facts, fragment)
    return cap(facts, notes), notes


def parse_probe_output(data: bytes | str) -> tuple[dict[str, Any], list[str]]:
    """(facts, notes) from the probe's output; never raises."""
    try:
        return _parse(data)
    except RecursionError:    # before Exception, of which it is a subclass
        return {}, ["parser failed: nesting too deep"]
    except Exception as exc:  # last line of defence: the contract is "never raises"
        return {}, [f"parser failed: {type(exc).__name__}: {str(exc)[:200]}"]
