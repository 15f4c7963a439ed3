"""Fleet definitions (fixtures/fleets/*.yaml): hosts, their file views and faults."""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

FLEETS_DIR = Path(__file__).resolve().parents[2] / "fixtures" / "fleets"
GROUPS = ("masters", "workers")


def merge(base: Any, over: Any) -> Any:
    """Deep merge of mappings; anything else in `over` replaces `base`."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(over)


@dataclass
class HostSpec:
    """One lab host after defaults, group defaults and its own keys are merged."""

    name: str
    address: str
    group: str
    spec: dict[str, Any]

    @property
    def sshd(self) -> bool:
        return bool(self.spec.get("sshd", True))


@dataclass
class Fleet:
    name: str
    path: Path
    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network
    scanner: str
    inventory_vars: dict[str, str]
    hosts: list[HostSpec]
    inventory_extra: list[dict[str, str]]
    squatters: dict[str, list[str]]
    faults: list[dict[str, Any]]
    known_env_failures: list[tuple[str, str | None]] = field(default_factory=list)
    expect_phase: str = "preflight"

    def host(self, name: str) -> HostSpec:
        return next(h for h in self.hosts if h.name == name)

    def inventory_hosts(self) -> list[tuple[str, str, str]]:
        """(name, address, group) for every inventory line, lab hosts first."""
        out = [(h.name, h.address, h.group) for h in self.hosts]
        out += [(e["name"], e["address"], e["group"]) for e in self.inventory_extra]
        return out

    def inventory_text(self, user: str = "root") -> str:
        """An Ansible INI inventory for this fleet (what an admin would write)."""
        lines = [f"# lab fleet {self.name}"]
        for group in GROUPS:
            lines.append(f"[{group}]")
            lines += [f"{n} ansible_host={a}" for n, a, g in self.inventory_hosts() if g == group]
            lines.append("")
        lines.append("[all:vars]")
        lines.append(f"ansible_user={user}")
        lines += [f"{k}={v}" for k, v in self.inventory_vars.items()]
        return "\n".join(lines) + "\n"

    def expected_failures(self) -> set[tuple[str, str | None]]:
        return {(r, h) for f in self.faults for r, h in f.get("expect_fail", [])}


def _pairs(raw: Any) -> list[tuple[str, str | None]]:
    return [(str(p[0]), None if p[1] is None else str(p[1])) for p in raw or []]


def _load_doc(path: Path, depth: int = 0) -> dict[str, Any]:
    """A fleet document; `base: NAME` deep-merges this file over another fleet."""
    doc = YAML(typ="safe").load(path.read_text()) or {}
    base = doc.pop("base", None)
    if base is None:
        return dict(doc)
    if depth > 4:
        raise ValueError(f"{path}: fleet base chain too deep")
    parent = _load_doc(path.parent / f"{base}.yaml", depth + 1)
    parent.pop("faults", None)      # a fleet states its own faults
    parent.pop("name", None)
    return dict(merge(parent, doc))


def load_fleet(name_or_path: str | Path) -> Fleet:
    """Load a fleet by name (fixtures/fleets/NAME.yaml) or path."""
    path = Path(name_or_path)
    if not path.exists():
        path = FLEETS_DIR / f"{name_or_path}.yaml"
    doc = _load_doc(path)
    net = doc["network"]
    cidr = ipaddress.ip_network(net["cidr"])
    defaults = doc.get("defaults") or {}
    group_defaults = doc.get("group_defaults") or {}
    hosts = []
    for name, raw in (doc.get("hosts") or {}).items():
        raw = raw or {}
        group = raw.get("group", "workers")
        spec = merge(merge(defaults, group_defaults.get(group) or {}), raw)
        address = str(spec["address"])
        if ipaddress.ip_address(address) not in cidr:
            raise ValueError(f"{path}: host {name} address {address} is outside {cidr}")
        for key in spec.get("sysctls") or {}:
            # Only per-network-namespace keys: anything else would change the machine.
            if not str(key).startswith("net."):
                raise ValueError(f"{path}: host {name}: sysctl {key} is not per-namespace")
        hosts.append(HostSpec(name=str(name), address=address, group=group, spec=spec))
    for addrs in (doc.get("squatters") or {}).values():
        for a in addrs:
            if ipaddress.ip_interface(a).ip not in cidr:
                raise ValueError(f"{path}: squatter address {a} is outside {cidr}")
    ivars = doc.get("inventory_vars") or {}
    squat = doc.get("squatters") or {}
    return Fleet(name=doc.get("name", path.stem), path=path, cidr=cidr,
                 scanner=str(net["scanner"]),
                 inventory_vars={str(k): str(v) for k, v in ivars.items()},
                 hosts=hosts, inventory_extra=list(doc.get("inventory_extra") or []),
                 squatters={str(k): [str(a) for a in v] for k, v in squat.items()},
                 faults=[dict(f, expect_fail=_pairs(f.get("expect_fail")),
                              expect_undecided=_pairs(f.get("expect_undecided")))
                         for f in doc.get("faults") or []],
                 known_env_failures=_pairs(doc.get("known_env_failures")),
                 expect_phase=str(doc.get("expect_phase", "preflight")))
