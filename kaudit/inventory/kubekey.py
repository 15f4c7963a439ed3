"""KubeKey's cluster files, read unchanged:

- 3.x `Cluster` (kubekey.kubesphere.io/v1alpha2): `spec.hosts` (a list of
  {name, address, internalAddress, port, user, password, privateKeyPath}),
  `spec.roleGroups` (etcd, control-plane or master, worker; `node[2:10]` ranges),
  and the cluster plan: `controlPlaneEndpoint` {domain, address, port},
  `network.kubePodsCIDR`/`kubeServiceCIDR`, `system.timezone`,
  `kubernetes.version`, `etcd.dataDir`.
- 4.x `Inventory` (kubekey.kubesphere.io/v1): `spec.hosts.<name>.connector`
  {type, host, port, user, password, private_key}, `internal_ipv4`, and
  `spec.groups.<name>` {hosts: [...], groups: [...]}; the cluster plan lives in
  KubeKey's separate Config file, so cluster vars come from --var or
  --kubeadm-config.

Passwords become connection secrets: used to log in where no key works, never
printed or stored (docs/inventory/kubekey.md says how to use keys instead)."""

from __future__ import annotations

from typing import Any

from kaudit.core.errors import InventoryError
from kaudit.core.yamlio import load_yaml, locate
from kaudit.inventory.groupvars import _plain
from kaudit.inventory.ini import _expand
from kaudit.inventory.raw import Origin, _Raw, _RawHost

API_V3 = "kubekey.kubesphere.io/v1alpha2"
API_V4 = "kubekey.kubesphere.io/v1"
# 3.x host fields -> the Ansible names kaudit's inventory layer understands.
_V3_HOST = {"address": "ansible_host", "port": "ansible_port", "user": "ansible_user",
            "password": "ansible_password", "privateKeyPath": "ansible_ssh_private_key_file"}
_V4_CONNECTOR = {"host": "ansible_host", "port": "ansible_port", "user": "ansible_user",
                 "password": "ansible_password", "private_key": "ansible_ssh_private_key_file"}
# 3.x plan fields -> cluster vars.
_V3_PLAN = (
    (("controlPlaneEndpoint", "address"), "vip"),
    (("controlPlaneEndpoint", "port"), "lb_port"),
    (("controlPlaneEndpoint", "domain"), "lb_dns_name"),
    (("network", "kubePodsCIDR"), "pod_cidr"),
    (("network", "kubeServiceCIDR"), "service_cidr"),
    (("system", "timezone"), "timezone"),
    (("kubernetes", "version"), "k8s_version"),
    (("etcd", "dataDir"), "etcd_data_dir"),
)


def kubekey_kind(tree: Any) -> str | None:
    """'kubekey3' or 'kubekey4' for a KubeKey file, else None."""
    if not isinstance(tree, dict):
        return None
    api, kind = tree.get("apiVersion"), tree.get("kind")
    if api == API_V3 and kind == "Cluster":
        return "kubekey3"
    if api == API_V4 and kind == "Inventory":
        return "kubekey4"
    return None


def _parse_kubekey(text: str, path: str) -> _Raw:
    tree = load_yaml(path, text=text, error=InventoryError)
    kind = kubekey_kind(tree)
    if kind is None:
        raise InventoryError(f"not a KubeKey file: expected apiVersion {API_V3} kind Cluster "
                             f"or apiVersion {API_V4} kind Inventory", path=path, line=1)
    spec = tree.get("spec")
    if not isinstance(spec, dict):
        raise InventoryError("KubeKey file has no spec mapping", path=path,
                             line=locate(tree, ["spec"])[0] or 1)
    raw = _Raw(path=path, format=kind)
    raw.add_group("all")
    raw.add_group("ungrouped")
    raw.group_vars["all"] = {}
    if kind == "kubekey3":
        _v3(raw, tree, spec)
    else:
        _v4(raw, tree, spec)
    return raw


def _line(tree: Any, keys: list[Any]) -> int | None:
    return locate(tree, keys)[0]


def _fail(message: str, raw: _Raw, tree: Any, keys: list[Any]) -> InventoryError:
    return InventoryError(message, path=raw.path, line=_line(tree, keys))


def _host(raw: _Raw, name: str, line: int | None) -> _RawHost:
    if name in raw.hosts:
        raise InventoryError(f"host {name!r} is defined twice", path=raw.path, line=line)
    rh = raw.hosts[name] = _RawHost(name=name, line=line or 0)
    return rh


def _origin(raw: _Raw, tree: Any, keys: list[Any], value: Any) -> Origin:
    return (_plain(value), raw.path, _line(tree, keys))


def _first_address(value: Any) -> str:
    """internalAddress may hold an IPv4 and an IPv6 address: "172.16.0.2,2022::2"."""
    return str(value).split(",")[0].strip()


def _v3(raw: _Raw, tree: Any, spec: dict[str, Any]) -> None:
    hosts = spec.get("hosts")
    if not isinstance(hosts, list) or not hosts:
        raise _fail("spec.hosts must be a list of hosts ({name, address, ...})", raw, tree,
                    ["spec", "hosts"])
    for i, entry in enumerate(hosts):
        keys = ["spec", "hosts", i]
        if not isinstance(entry, dict) or not entry.get("name"):
            raise _fail("each of spec.hosts needs a name", raw, tree, keys)
        rh = _host(raw, str(entry["name"]), _line(tree, keys))
        for field, var in _V3_HOST.items():
            if entry.get(field) not in (None, ""):
                rh.vars[var] = _origin(raw, tree, [*keys, field], entry[field])
        if entry.get("internalAddress"):
            rh.vars["ip"] = (_first_address(entry["internalAddress"]), raw.path,
                             _line(tree, [*keys, "internalAddress"]))
    groups = spec.get("roleGroups")
    if not isinstance(groups, dict) or not groups:
        raise _fail("spec.roleGroups must map roles (etcd, control-plane, worker) to hosts",
                    raw, tree, ["spec", "roleGroups"])
    for group, members in groups.items():
        keys = ["spec", "roleGroups", group]
        raw.add_group(str(group), _line(tree, keys) or 0)
        raw.group_vars.setdefault(str(group), {})
        if not isinstance(members, list):
            raise _fail(f"roleGroups.{group} must be a list of host names", raw, tree, keys)
        for j, pattern in enumerate(members):
            line = _line(tree, [*keys, j]) or 0
            for name in _expand(str(pattern), raw.path, line):
                member = raw.hosts.get(name)
                if member is None:
                    raise InventoryError(f"roleGroups.{group}: {name!r} is not in spec.hosts",
                                         path=raw.path, line=line)
                if str(group) not in member.groups:
                    member.groups.append(str(group))
    for path, var in _V3_PLAN:
        node: Any = spec
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node in (None, ""):
            continue
        raw.group_vars["all"][var] = _origin(raw, tree, ["spec", *path], node)


def _v4(raw: _Raw, tree: Any, spec: dict[str, Any]) -> None:
    hosts = spec.get("hosts")
    if not isinstance(hosts, dict) or not hosts:
        raise _fail("spec.hosts must map host names to {connector: ...}", raw, tree,
                    ["spec", "hosts"])
    for name, entry in hosts.items():
        keys = ["spec", "hosts", name]
        rh = _host(raw, str(name), _line(tree, keys))
        entry = entry or {}
        if not isinstance(entry, dict):
            raise _fail(f"host {name!r} must be a mapping", raw, tree, keys)
        connector = entry.get("connector") or {}
        if not isinstance(connector, dict):
            raise _fail(f"host {name!r}: connector must be a mapping", raw, tree,
                        [*keys, "connector"])
        for field, var in _V4_CONNECTOR.items():
            if connector.get(field) not in (None, ""):
                rh.vars[var] = _origin(raw, tree, [*keys, "connector", field], connector[field])
        if connector.get("type") == "local":
            rh.vars["ansible_connection"] = ("local", raw.path,
                                             _line(tree, [*keys, "connector", "type"]))
        for field in ("internal_ipv4", "internal_ipv6"):
            if entry.get(field):
                rh.vars["ip"] = _origin(raw, tree, [*keys, field], entry[field])
                break
    groups = spec.get("groups") or {}
    if not isinstance(groups, dict):
        raise _fail("spec.groups must map group names to {hosts: [...], groups: [...]}", raw,
                    tree, ["spec", "groups"])
    for group in groups:
        raw.add_group(str(group), _line(tree, ["spec", "groups", group]) or 0)
        raw.group_vars.setdefault(str(group), {})
    for group, node in groups.items():
        keys = ["spec", "groups", group]
        node = node or {}
        for j, name in enumerate(node.get("hosts") or []):
            member = raw.hosts.get(str(name))
            if member is None:
                raise _fail(f"groups.{group}: {name!r} is not in spec.hosts", raw, tree,
                            [*keys, "hosts", j])
            if str(group) not in member.groups:
                member.groups.append(str(group))
        for j, child in enumerate(node.get("groups") or []):
            if str(child) not in raw.children:
                raise _fail(f"groups.{group}: group {child!r} is not defined", raw, tree,
                            [*keys, "groups", j])
            raw.children[str(group)].append(str(child))
            raw.parents[str(child)].append(str(group))
