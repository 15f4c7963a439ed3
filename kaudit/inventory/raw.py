"""What an inventory parser produces before validation: raw hosts, groups and
vars, each value keeping the file and line it came from; the canonical names."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from typing import Any

from kaudit.core.errors import InventoryError

# Canonical cluster vars and their defaults (None: no default, absent unless set).
CLUSTER_VARS: dict[str, Any] = {
    "vip": None,
    "lb_port": 16443,
    "apiserver_port": 6443,
    "node_cidr": None,
    "pod_cidr": None,
    "service_cidr": None,
    "timezone": None,
    "k8s_version": None,
    "lb_dns_name": None,
}

# Kubespray's names for the same things (loadbalancer_apiserver is handled apart).
KUBESPRAY_VARS: dict[str, str] = {
    "kube_pods_subnet": "pod_cidr",
    "kube_service_addresses": "service_cidr",
    "kube_apiserver_port": "apiserver_port",
    "kube_version": "k8s_version",
    "apiserver_loadbalancer_domain_name": "lb_dns_name",
}

GROUP_ROLES: dict[str, str] = {
    **dict.fromkeys(("masters", "master", "control-plane", "control_plane",
                     "kube_control_plane", "kube-master"), "master"),
    **dict.fromkeys(("workers", "worker", "nodes", "node", "kube_node", "kube_worker",
                     "kube-node"), "worker"),
    "etcd": "etcd",
}

MAX_RANGE_HOSTS = 10000
MAX_GROUPS = 5000  # far above real inventories; bounds the cycle checks

_SECRET_KEYS = frozenset({
    "ansible_password", "ansible_ssh_pass", "ansible_become_password", "ansible_become_pass",
    "ansible_ssh_private_key_passphrase", "ansible_sudo_pass", "ansible_sudo_password",
})
# Connection vars: every spelling -> the Host field it sets. Within one layer
# the ansible_* spelling wins; across layers the usual precedence applies.
_CONN_KEYS = {
    "ansible_host": "address", "ansible_ssh_host": "address", "address": "address",
    "ansible_user": "user", "ansible_ssh_user": "user", "user": "user",
    "ansible_port": "port", "ansible_ssh_port": "port", "port": "port",
    "ansible_ssh_private_key_file": "identity", "identity": "identity",
    "ansible_connection": "connection",
}
_FIELDS = frozenset("@" + f for f in _CONN_KEYS.values())
_HOST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_GROUP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*\Z")
_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_TIMEZONE = re.compile(r"[A-Za-z0-9_+\-/]{1,64}\Z")
_VERSION = re.compile(r"v?\d+\.\d+(\.\d+)?([-+][0-9A-Za-z.-]+)?\Z")
_RANGE = re.compile(r"\[([^\[\]:]*):([^\[\]:]*)(?::([^\[\]:]*))?\]")
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\Z")
_SHELL_META = set("$`'\"\\;&|<>(){}*?!~#") | set(string.whitespace)


def is_secret(key: str) -> bool:
    """True for variables whose value must never be shown or stored in vars."""
    k = key.lower()
    return (k in _SECRET_KEYS or "password" in k or "passphrase" in k or "passwd" in k
            or k.endswith("_pass"))


def _mentions_secret(token: str) -> bool:
    # Looser than is_secret: a malformed token like `ansible_ssh_pass:x` counts.
    t = token.lower()
    return any(w in t for w in ("password", "passphrase", "passwd", "_pass"))


# A value with where it came from: (value, path, line).
Origin = tuple[Any, str, int | None]


@dataclass
class _RawHost:
    name: str
    line: int
    vars: dict[str, Origin] = field(default_factory=dict)
    groups: list[str] = field(default_factory=list)


@dataclass
class _Raw:
    """The INI file as parsed, before inheritance and validation."""

    path: str
    hosts: dict[str, _RawHost] = field(default_factory=dict)
    group_order: list[str] = field(default_factory=list)
    children: dict[str, list[str]] = field(default_factory=dict)
    parents: dict[str, list[str]] = field(default_factory=dict)
    group_vars: dict[str, dict[str, Origin]] = field(default_factory=dict)
    format: str = "ini"
    notes: list[str] = field(default_factory=list)
    plan: dict[str, Origin] = field(default_factory=dict)   # canonical vars from a plan file

    def add_group(self, name: str, lineno: int = 0) -> None:
        if name not in self.children:
            if len(self.group_order) >= MAX_GROUPS:
                raise InventoryError(f"more than {MAX_GROUPS} groups", path=self.path,
                                     line=lineno)
            self.group_order.append(name)
            self.children.setdefault(name, [])
            self.parents.setdefault(name, [])


