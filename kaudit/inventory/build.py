"""Raw inventory -> validated Hosts and cluster vars, in Ansible's precedence
order: [all:vars] < [group:vars] (parents before children) < group_vars/all <
group_vars/<group> < the host's own line. Host.vars holds the host's and its
groups' vars (not `all`'s) minus connection vars, `role` and secrets."""

from __future__ import annotations

from dataclasses import replace

from kaudit.core.errors import InventoryError
from kaudit.core.model import ROLES, Host, Inventory
from kaudit.inventory.clustervars import _check_port, _cluster_vars
from kaudit.inventory.ini import _is_ip
from kaudit.inventory.raw import (
    _CONN_KEYS,
    _FIELDS,
    _LABEL,
    _SHELL_META,
    _USER,
    GROUP_ROLES,
    Origin,
    _Raw,
    _RawHost,
    is_secret,
)


def _depths(raw: _Raw) -> dict[str, int]:
    """Distance from `all` along the longest parent chain (Ansible's group depth)."""
    # Kahn's order (parents before children); the graph has no cycles by now,
    # and no recursion, so deep nesting cannot overflow the stack.
    pending = {g: len(raw.parents.get(g, [])) for g in raw.group_order}
    depth = {g: 1 for g, n in pending.items() if n == 0}
    ready = list(depth)
    while ready:
        g = ready.pop()
        for c in raw.children.get(g, []):
            depth[c] = max(depth.get(c, 1), depth[g] + 1)
            pending[c] -= 1
            if pending[c] == 0:
                ready.append(c)
    depth["all"] = 0
    return depth


def _ancestors(raw: _Raw, group: str) -> list[str]:
    seen: list[str] = []
    stack = [group]
    while stack:
        g = stack.pop()
        if g not in seen:
            seen.append(g)
            stack.extend(raw.parents.get(g, []))
    return seen


def _build(raw: _Raw, yaml_vars: dict[str, dict[str, Origin]],
           overrides: dict[str, str] | None) -> Inventory:
    path = raw.path
    if not raw.hosts:
        raise InventoryError("inventory defines no hosts", path=path)
    depth = _depths(raw)
    order = {g: i for i, g in enumerate(raw.group_order)}

    def layered(groups: list[str]) -> list[dict[str, Origin]]:
        """Ansible order: INI group vars, then group_vars/all, then group_vars/*."""
        ordered = sorted(groups, key=lambda g: (depth.get(g, 1), g))
        ini = [raw.group_vars.get(g, {}) for g in ordered]
        files = [yaml_vars.get(g, {}) for g in ordered]
        return ini + files

    # Hosts listed in the same groups share their group layers: merge once.
    cache: dict[tuple[str, ...], tuple[dict[str, Origin], dict[str, Origin], list[str]]] = {}
    hosts: list[Host] = []
    for rh in raw.hosts.values():
        key = tuple(rh.groups)
        if key not in cache:
            groups = {"all"}
            for g in rh.groups:
                groups.update(_ancestors(raw, g))
            resolved: dict[str, Origin] = {}
            for layer in layered(sorted(groups)):
                resolved.update(_conn_fields(layer))
            own: dict[str, Origin] = {}
            for layer in layered(sorted(groups - {"all"})):
                own.update(layer)
            eff_groups = sorted(groups - {"all", "ungrouped"}, key=lambda g: order[g])
            cache[key] = (resolved, own, eff_groups)
        resolved, own, eff_groups = cache[key]
        hosts.append(_make_host(rh, {**resolved, **_conn_fields(rh.vars)},
                                {**own, **rh.vars}, eff_groups))

    if not any("etcd" in h.roles for h in hosts):
        hosts = [_with_role(h, "etcd") if "master" in h.roles else h for h in hosts]

    groups_map: dict[str, list[str]] = {
        g: [] for g in raw.group_order if g not in ("all", "ungrouped")}
    for h in hosts:
        for g in h.groups:
            groups_map[g].append(h.name)
    cluster, origins, notes = _cluster_vars(raw, yaml_vars, depth, overrides)
    notes = [*raw.notes, *notes]
    return Inventory(path=path, hosts=hosts, vars=cluster, groups=groups_map, origins=origins,
                     notes=notes, format=raw.format)


def _with_role(host: Host, role: str) -> Host:
    return replace(host, roles=tuple(r for r in ROLES if r in host.roles or r == role))


def _conn_fields(layer: dict[str, Origin]) -> dict[str, Origin]:
    """One layer with connection vars renamed to the Host field they set."""
    out: dict[str, Origin] = {}
    for key, origin in layer.items():
        field_name = "@" + _CONN_KEYS[key] if key in _CONN_KEYS else None
        if field_name is None:
            out[key] = origin
        elif field_name not in out or key.startswith("ansible_"):
            out[field_name] = origin
    return out


def _make_host(rh: _RawHost, resolved: dict[str, Origin], own: dict[str, Origin],
               groups: list[str]) -> Host:
    conn = {k[1:]: v for k, v in resolved.items() if k in _FIELDS}
    secrets = {k: str(v[0]) for k, v in resolved.items() if is_secret(k)}
    roles: set[str] = {GROUP_ROLES[g] for g in groups if g in GROUP_ROLES}
    if "role" in resolved:
        roles.update(_parse_roles(resolved["role"]))
    host_vars = {k: v[0] for k, v in own.items()
                 if not is_secret(k) and k not in _CONN_KEYS and k != "role"}

    # A name-derived address was checked as a name (it may be an ssh_config alias).
    address = _check_address(conn["address"]) if "address" in conn else rh.name
    user = None
    if "user" in conn:
        value, p, ln = conn["user"]
        user = str(value)
        if not _USER.match(user):
            raise InventoryError(f"invalid user name {user!r} (letters, digits, '.', '_', "
                                 "'-'; must not start with '-')", path=p, line=ln)
    port = _check_port(conn["port"], "ansible_port") if "port" in conn else None
    # Kubespray: `ip` is the address Kubernetes binds to, `access_ip` the one others
    # use; either is the host's cluster address (SSH still goes to ansible_host).
    ip = None
    for key in ("ip", "access_ip"):
        if key in resolved and resolved[key][0] not in (None, "") \
                and "{{" not in str(resolved[key][0]):
            ip = _check_address(resolved[key])
            break
    identity = None
    if "identity" in conn:
        value, p, ln = conn["identity"]
        identity = str(value)
        if not identity or identity.startswith("-") or "\x00" in identity:
            raise InventoryError(f"invalid private key path {identity!r}", path=p, line=ln)
    connection = "ssh"
    if "connection" in conn:
        value, p, ln = conn["connection"]
        if value == "local":
            connection = "local"
        elif value not in ("ssh", "paramiko", "smart"):
            raise InventoryError(f"unsupported ansible_connection {value!r} "
                                 "(kaudit supports ssh and local)", path=p, line=ln)
    return Host(name=rh.name, address=address,
                roles=tuple(r for r in ROLES if r in roles), user=user, port=port,
                identity=identity, connection=connection,  # type: ignore[arg-type]
                vars=host_vars, groups=tuple(groups), line=rh.line, secrets=secrets, ip=ip)


def _parse_roles(origin: Origin) -> set[str]:
    value, p, ln = origin
    items = value if isinstance(value, list) else str(value).split(",")
    roles: set[str] = set()
    for item in items:
        name = str(item).strip()
        role = name if name in ROLES else GROUP_ROLES.get(name)
        if role is None:
            raise InventoryError(f"unknown role {name!r} (expected master, worker or etcd)",
                                 path=p, line=ln)
        roles.add(role)
    return roles


def _check_address(origin: Origin) -> str:
    value, p, ln = origin
    text = str(value)
    if _is_ip(text):
        return text
    if any(c in _SHELL_META for c in text) or not text.isprintable():
        raise InventoryError(f"address {text!r} is not an IP address or hostname "
                             "(shell metacharacters, quotes and spaces are not allowed)",
                             path=p, line=ln)
    labels = text.rstrip(".").split(".")
    if not text or len(text) > 253 or not all(_LABEL.match(lb) for lb in labels):
        raise InventoryError(f"address {text!r} is not an IP address or an RFC 1123 "
                             "hostname", path=p, line=ln)
    return text

