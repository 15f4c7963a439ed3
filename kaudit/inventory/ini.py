"""Inventory reader: a subset of Ansible's INI inventory plus `group_vars/`.

The INI file is parsed into raw groups, hosts and vars (each value keeps the
file and line it came from); `group_vars/` YAML beside the file and `--var`
overrides are layered on top in Ansible's precedence order; then every host
and cluster var is validated, so nothing unsafe reaches SSH or a report.

Precedence, lowest first: [all:vars] < [group:vars] (parents before
children) < group_vars/all < group_vars/<group> < the host's own line.
Host.vars holds the host's and its groups' vars (not `all`'s) minus
connection vars, `role` and secrets. Inventory.vars holds the canonical
cluster vars (from `all` or from any group; two groups may not disagree),
other non-secret `all` vars, then `--var` overrides on top.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaudit.catalog.yamlio import load_yaml, locate, read_text, to_plain
from kaudit.core.errors import InventoryError
from kaudit.core.model import ROLES, Host, Inventory

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
}

# Kubespray's names for the same things (loadbalancer_apiserver is handled apart).
KUBESPRAY_VARS: dict[str, str] = {
    "kube_pods_subnet": "pod_cidr",
    "kube_service_addresses": "service_cidr",
    "kube_apiserver_port": "apiserver_port",
    "kube_version": "k8s_version",
}

GROUP_ROLES: dict[str, str] = {
    **dict.fromkeys(("masters", "master", "control-plane", "control_plane",
                     "kube_control_plane", "kube-master"), "master"),
    **dict.fromkeys(("workers", "worker", "nodes", "node", "kube_node"), "worker"),
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

    def add_group(self, name: str, lineno: int = 0) -> None:
        if name not in self.children:
            if len(self.group_order) >= MAX_GROUPS:
                raise InventoryError(f"more than {MAX_GROUPS} groups", path=self.path,
                                     line=lineno)
            self.group_order.append(name)
            self.children.setdefault(name, [])
            self.parents.setdefault(name, [])


# ---------------------------------------------------------------- tokenizing

def _tokenize(text: str, path: str, lineno: int) -> list[str]:
    """Split on whitespace; quotes group and are removed; `#`/`;` at a token's
    start begins a comment."""
    tokens: list[str] = []
    cur: list[str] = []
    in_token = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            if in_token:
                tokens.append("".join(cur))
                cur, in_token = [], False
            i += 1
        elif c in "#;" and not in_token:
            break
        elif c in "'\"":
            end = text.find(c, i + 1)
            if end < 0:
                # Never echo the text: it may be a password.
                raise InventoryError(f"unterminated {c} quote", path=path, line=lineno)
            cur.append(text[i + 1:end])
            in_token = True
            i = end + 1
        else:
            cur.append(c)
            in_token = True
            i += 1
    if in_token:
        tokens.append("".join(cur))
    return tokens


def _split_var(token: str, tokens: list[str], path: str, lineno: int) -> tuple[str, str]:
    key, eq, value = token.partition("=")
    if not eq or not key:
        shown = token
        if any(_mentions_secret(t) for t in tokens):
            shown = "<hidden: the line holds a secret>"
        raise InventoryError(f"expected key=value, got {shown!r}", path=path, line=lineno)
    if not _VAR_NAME.match(key):
        raise InventoryError(f"invalid variable name {key!r} (letters, digits and _ only)",
                             path=path, line=lineno)
    return key, value


# ------------------------------------------------------------- host patterns

def _expand(pattern: str, path: str, lineno: int) -> list[str]:
    """Expand Ansible host ranges: n[01:10], [a:c], n[1:10:2]; several may nest."""
    m = _RANGE.search(pattern)
    if m is None:
        return [pattern]
    beg, end, stride_s = m.group(1), m.group(2), m.group(3)
    stride = 1
    if stride_s is not None:
        if not stride_s.isdigit() or int(stride_s) < 1:
            raise InventoryError(f"host range {m.group(0)!r}: step must be a positive number",
                                 path=path, line=lineno)
        stride = int(stride_s)
    if beg.isdigit() and end.isdigit():
        width = len(beg) if beg.startswith("0") and len(beg) > 1 else 0
        if width and len(end) != width:
            raise InventoryError(f"host range {m.group(0)!r}: zero-padded start and end "
                                 "must have the same width", path=path, line=lineno)
        lo, hi = int(beg), int(end)
        if lo > hi:
            raise InventoryError(f"host range {m.group(0)!r}: start is after end",
                                 path=path, line=lineno)
        if (hi - lo) // stride + 1 > MAX_RANGE_HOSTS:
            raise InventoryError(f"host range {m.group(0)!r} expands to more than "
                                 f"{MAX_RANGE_HOSTS} hosts", path=path, line=lineno)
        items = [str(v).zfill(width) for v in range(lo, hi + 1, stride)]
    elif len(beg) == 1 and len(end) == 1 and beg.isalpha() and end.isalpha():
        letters = string.ascii_letters
        lo, hi = letters.index(beg), letters.index(end)
        if lo > hi:
            raise InventoryError(f"host range {m.group(0)!r}: start is after end",
                                 path=path, line=lineno)
        items = list(letters[lo:hi + 1:stride])
    else:
        raise InventoryError(f"host range {m.group(0)!r}: expected [NUM:NUM] or [a:z]",
                             path=path, line=lineno)
    head, tail = pattern[:m.start()], pattern[m.end():]
    out: list[str] = []
    for item in items:
        out.extend(_expand(head + item + tail, path, lineno))
        if len(out) > MAX_RANGE_HOSTS:
            raise InventoryError(f"host pattern {pattern!r} expands to more than "
                                 f"{MAX_RANGE_HOSTS} hosts", path=path, line=lineno)
    return out


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _parse_pattern(token: str, path: str,
                   lineno: int) -> tuple[list[str], str | None, str | None]:
    """`[user@]host[:port]` with ranges or `[v6]:port` -> (names, user, port)."""
    user: str | None = None
    port: str | None = None
    hostpart = token
    if "@" in token:
        user, _, hostpart = token.rpartition("@")
    if hostpart.startswith("[") and "]" in hostpart and _is_ip(hostpart[1:hostpart.index("]")]):
        close = hostpart.index("]")
        rest = hostpart[close + 1:]
        if rest and not rest.startswith(":"):
            raise InventoryError(f"unexpected {rest!r} after IPv6 address", path=path,
                                 line=lineno)
        port = rest[1:] if rest else None
        names = [hostpart[1:close]]
    elif _is_ip(hostpart):  # bare IPv6 (or IPv4): no port to split off
        names = [hostpart]
    else:
        outside = _RANGE.sub("", hostpart)
        if outside.count(":") == 1:
            hostpart, _, port = hostpart.rpartition(":")
        names = _expand(hostpart, path, lineno)
    if port == "":
        raise InventoryError(f"{token!r} is not a host (is this a YAML inventory? only the "
                             "INI format is supported)", path=path, line=lineno)
    if port is not None and not port.isdigit():
        raise InventoryError(f"invalid port {port!r} in {token!r}", path=path, line=lineno)
    for name in names:
        if not (_HOST_NAME.match(name) or _is_ip(name)):
            raise InventoryError(
                f"invalid host name {name!r}: names must start with a letter or digit and "
                "hold only letters, digits, '.', '_' and '-' (they reach reports and SSH)",
                path=path, line=lineno)
    return names, user, port


# ------------------------------------------------------------------ INI parse

def _parse_ini(text: str, path: str) -> _Raw:
    raw = _Raw(path=path)
    raw.add_group("all")
    raw.add_group("ungrouped")
    group, kind = "ungrouped", "hosts"
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and not _looks_like_host(stripped):
            group, kind = _parse_section(stripped, path, lineno)
            raw.add_group(group, lineno)
            raw.group_vars.setdefault(group, {})
            continue
        if kind == "vars":
            key, value = _parse_var_line(stripped, path, lineno)
            raw.group_vars[group][key] = (value, path, lineno)  # last wins, as in Ansible
        elif kind == "children":
            _add_child(raw, group, stripped, path, lineno)
        else:
            _add_hosts(raw, group, stripped, path, lineno)
    return raw


def _looks_like_host(line: str) -> bool:
    # `[::1]:2222 role=worker` and `[a:c].example.com` are host lines, not sections.
    close = line.find("]")
    if close > 0 and _is_ip(line[1:close]):
        return True
    return close > 0 and close + 1 < len(line) and not line[close + 1:].lstrip().startswith(
        ("#", ";"))


def _parse_section(line: str, path: str, lineno: int) -> tuple[str, str]:
    body = _tokenize(line, path, lineno)
    inner = line[1:line.find("]")].strip() if "]" in line else ""
    if "]" not in line or len(body) != 1:
        raise InventoryError(f"malformed section header {line!r}", path=path, line=lineno)
    name, colon, suffix = inner.partition(":")
    kind = "hosts"
    if colon:
        if suffix not in ("vars", "children"):
            raise InventoryError(f"unknown section type ':{suffix}' in [{inner}] "
                                 "(expected :vars or :children)", path=path, line=lineno)
        kind = suffix
    if not _GROUP_NAME.match(name):
        raise InventoryError(f"invalid group name {name!r} (letters, digits, '_', '-', '.')",
                             path=path, line=lineno)
    return name, kind


def _parse_var_line(line: str, path: str, lineno: int) -> tuple[str, str]:
    key, eq, rest = line.partition("=")
    key = key.strip()
    if not eq or not key:
        tokens = _tokenize(line, path, lineno)
        return _split_var(tokens[0] if tokens else line, tokens, path, lineno)
    if not _VAR_NAME.match(key):
        raise InventoryError(f"invalid variable name {key!r} (letters, digits and _ only)",
                             path=path, line=lineno)
    # The value is the rest of the line, as in Ansible (`a = x y` is "x y",
    # `{"k": 1}` keeps its quotes); only a trailing comment and one pair of
    # surrounding quotes are removed.
    value = _strip_comment(rest, path, lineno).strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return key, value


def _strip_comment(text: str, path: str, lineno: int) -> str:
    quote = ""
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in "#;" and (i == 0 or text[i - 1].isspace()):
            return text[:i]
    if quote:
        raise InventoryError(f"unterminated {quote} quote", path=path, line=lineno)
    return text


def _add_child(raw: _Raw, parent: str, line: str, path: str, lineno: int) -> None:
    tokens = _tokenize(line, path, lineno)
    if len(tokens) != 1 or not _GROUP_NAME.match(tokens[0]):
        raise InventoryError(f"expected one group name in [{parent}:children], got {line!r}",
                             path=path, line=lineno)
    child = tokens[0]
    if child in ("all", "ungrouped") or parent == "ungrouped":
        raise InventoryError(f"group {child!r} cannot be a child of {parent!r}",
                             path=path, line=lineno)
    raw.add_group(child, lineno)
    if parent == "all":
        return
    if child == parent or parent in _descendants(raw, child):
        raise InventoryError(f"group cycle: {parent!r} is already inside {child!r}",
                             path=path, line=lineno)
    if child not in raw.children[parent]:
        raw.children[parent].append(child)
        raw.parents[child].append(parent)


def _descendants(raw: _Raw, group: str) -> set[str]:
    seen: set[str] = set()
    stack = [group]
    while stack:
        for c in raw.children.get(stack.pop(), []):
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return seen


def _add_hosts(raw: _Raw, group: str, line: str, path: str, lineno: int) -> None:
    tokens = _tokenize(line, path, lineno)
    if not tokens:
        return
    names, user, port = _parse_pattern(tokens[0], path, lineno)
    inline: dict[str, Origin] = {}
    if user is not None:
        inline["ansible_user"] = (user, path, lineno)
    if port is not None:
        inline["ansible_port"] = (port, path, lineno)
    for token in tokens[1:]:
        key, value = _split_var(token, tokens, path, lineno)
        inline[key] = (value, path, lineno)
    for name in names:
        host = raw.hosts.get(name)
        if host is None:
            host = raw.hosts[name] = _RawHost(name=name, line=lineno)
        host.vars.update(inline)
        if group not in host.groups:
            host.groups.append(group)


# ----------------------------------------------------------------- group_vars

def _load_group_vars(inv_path: Path, groups: list[str]) -> dict[str, dict[str, Origin]]:
    """Vars from group_vars/<group>{,.yml,.yaml,.json} and group_vars/<group>/*."""
    base = inv_path.parent / "group_vars"
    out: dict[str, dict[str, Origin]] = {}
    if not base.is_dir():
        return out
    for group in groups:
        files: list[Path] = []
        for suffix in ("", ".yml", ".yaml", ".json"):
            f = base / (group + suffix)
            if f.is_file():
                files.append(f)
        d = base / group
        if d.is_dir():
            files.extend(sorted(p for p in d.iterdir() if p.is_file()
                                and p.suffix in (".yml", ".yaml", ".json")
                                and not p.name.startswith(".")))
        merged: dict[str, Origin] = {}
        for f in files:
            merged.update(_load_vars_file(f))
        if merged:
            out[group] = merged
    return out


def _load_vars_file(path: Path) -> dict[str, Origin]:
    text = read_text(path, error=InventoryError)
    if text.lstrip().startswith("$ANSIBLE_VAULT"):
        return {}  # a vault file holds secrets we cannot read and do not need
    tree = load_yaml(path, text=text, error=InventoryError)
    if tree is None:
        return {}
    if not isinstance(tree, dict):
        raise InventoryError("group_vars file must hold a mapping of variables",
                             path=str(path), line=1)
    out: dict[str, Origin] = {}
    for key, value in tree.items():
        line, _ = locate(tree, [key])
        out[str(key)] = (_plain(value), str(path), line)
    return out


def _plain(value: Any) -> Any:
    value = to_plain(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    # e.g. an `!vault |` tagged scalar: keep its text, never the object.
    return str(getattr(value, "value", value))


# -------------------------------------------------------------- build + check

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
    cluster = _cluster_vars(raw, yaml_vars, depth, overrides)
    return Inventory(path=path, hosts=hosts, vars=cluster, groups=groups_map)


def _with_role(host: Host, role: str) -> Host:
    roles = tuple(r for r in ROLES if r in host.roles or r == role)
    return Host(name=host.name, address=host.address, roles=roles, user=host.user,
                port=host.port, identity=host.identity, connection=host.connection,
                vars=host.vars, groups=host.groups, line=host.line, secrets=host.secrets)


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
                vars=host_vars, groups=tuple(groups), line=rh.line, secrets=secrets)


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


def _check_port(origin: Origin, name: str) -> int:
    value, p, ln = origin
    if isinstance(value, bool):
        value = None
    try:
        port = int(str(value).strip())
    except (TypeError, ValueError):
        port = -1
    if not 1 <= port <= 65535:
        raise InventoryError(f"{name} must be a port number 1-65535, got {value!r}",
                             path=p, line=ln)
    return port


# -------------------------------------------------------------- cluster vars

def _canonical(layer: dict[str, Origin]) -> dict[str, Origin]:
    """Map Kubespray names onto canonical ones; canonical spelling wins."""
    out: dict[str, Origin] = {}
    for key, origin in layer.items():
        if key in KUBESPRAY_VARS:
            out.setdefault(KUBESPRAY_VARS[key], origin)
        elif key == "loadbalancer_apiserver":
            lb = _lb_mapping(origin)
            if "address" in lb:
                out.setdefault("vip", (lb["address"], origin[1], origin[2]))
            if "port" in lb:
                out.setdefault("lb_port", (lb["port"], origin[1], origin[2]))
    for key, origin in layer.items():
        if key in CLUSTER_VARS:
            out[key] = origin
    return out


def _lb_mapping(origin: Origin) -> dict[str, Any]:
    value, p, ln = origin
    if isinstance(value, str):
        # INI holds it as JSON or a YAML flow mapping: {address: 10.0.0.1, port: 8443}
        try:
            value = _plain(load_yaml(p, text=value, error=InventoryError))
        except InventoryError:
            value = None
    if not isinstance(value, dict):
        raise InventoryError("loadbalancer_apiserver must be a mapping {address, port}",
                             path=p, line=ln)
    return value


def _cluster_vars(raw: _Raw, yaml_vars: dict[str, dict[str, Origin]], depth: dict[str, int],
                  overrides: dict[str, str] | None) -> dict[str, Any]:
    values: dict[str, Origin] = {k: (v, "default", None) for k, v in CLUSTER_VARS.items()
                                 if v is not None}
    extra: dict[str, Any] = {}
    groups = sorted((g for g in raw.group_order if g != "all"),
                    key=lambda g: (depth.get(g, 1), g))
    # Ansible order: INI group vars < group_vars/all < group_vars/<group>.
    # Kubespray keeps cluster settings in group_vars/k8s_cluster/, so cluster
    # vars come from any group, but two groups must not disagree.
    layers = [("all", raw.group_vars.get("all", {}))]
    layers += [(g, raw.group_vars.get(g, {})) for g in groups]
    layers += [("all", yaml_vars.get("all", {}))]
    layers += [(g, yaml_vars.get(g, {})) for g in groups]
    seen: dict[str, tuple[str, Origin]] = {}
    for group, layer in layers:
        if group == "all":
            values.update(_canonical(layer))
            extra.update({k: v[0] for k, v in layer.items()
                          if k not in CLUSTER_VARS and k not in KUBESPRAY_VARS
                          and k != "loadbalancer_apiserver" and not is_secret(k)})
            continue
        for key, origin in _canonical(layer).items():
            prev = seen.get(key)
            if prev and prev[0] != group and prev[1][0] != origin[0]:
                raise InventoryError(
                    f"cluster var {key!r} differs between groups {prev[0]!r} and {group!r}",
                    path=origin[1], line=origin[2])
            seen[key] = (group, origin)
            values[key] = origin
    for key, value in (overrides or {}).items():
        layer = _override_layer(key, value)
        if layer:
            values.update(layer)
        else:
            extra[key] = value
    out: dict[str, Any] = {}
    for key in CLUSTER_VARS:
        if key in values:
            origin = _resolve_template(key, values[key], values, extra)
            out[key] = _check_cluster_var(key, origin)
    out.update(extra)
    return out


def _override_layer(key: str, value: str) -> dict[str, Origin]:
    """One `--var KEY=VALUE` as canonical cluster vars ({} for any other var)."""
    if not _VAR_NAME.match(key):
        raise InventoryError(f"--var {key}: invalid variable name")
    if is_secret(key):
        raise InventoryError(f"--var {key}: secrets cannot be passed with --var")
    return _canonical({key: (value, "--var", None)})


def apply_overrides(cluster_vars: dict[str, Any],
                    overrides: dict[str, str] | None) -> dict[str, Any]:
    """Cluster vars (e.g. from a fact file) with `--var` overrides validated on top."""
    out = dict(cluster_vars)
    for key, value in (overrides or {}).items():
        layer = _override_layer(key, value)
        for name, origin in layer.items():
            out[name] = _check_cluster_var(name, origin)
        if not layer:
            out[key] = value
    return out


def _resolve_template(key: str, origin: Origin, values: dict[str, Origin],
                      extra: dict[str, Any]) -> Origin:
    value, p, ln = origin
    if not isinstance(value, str) or "{{" not in value:
        return origin
    m = _TEMPLATE.match(value.strip())
    if m and m.group(1) in extra and "{{" not in str(extra[m.group(1)]):
        return (extra[m.group(1)], p, ln)
    if m:
        target = KUBESPRAY_VARS.get(m.group(1), m.group(1))
        if target in values and target != key and "{{" not in str(values[target][0]):
            return (values[target][0], p, ln)
    raise InventoryError(f"{key}: cannot evaluate template {value!r}; set it with "
                         f"--var {key}=VALUE", path=_where(p), line=ln)


def _where(p: str) -> str | None:
    return None if p in ("--var", "default") else p


def _check_cluster_var(key: str, origin: Origin) -> Any:
    value, p, ln = origin
    where: dict[str, Any] = {"path": _where(p), "line": ln}
    prefix = "--var " if p == "--var" else ""
    if key in ("lb_port", "apiserver_port"):
        return _check_port((value, p, ln), prefix + key)
    if not isinstance(value, str):
        raise InventoryError(f"{prefix}{key} must be a string (quote it in YAML), "
                             f"got {value!r}", **where)
    value = value.strip()
    if key == "vip":
        if not _is_ip(value):
            raise InventoryError(f"{prefix}vip must be an IP address, got {value!r}", **where)
        return str(ipaddress.ip_address(value))
    if key in ("node_cidr", "pod_cidr", "service_cidr"):
        return _check_cidr(prefix + key, value, where)
    if key == "timezone" and not _TIMEZONE.match(value):
        raise InventoryError(f"{prefix}timezone {value!r} is not a timezone name like "
                             "Asia/Shanghai", **where)
    if key == "k8s_version" and not _VERSION.match(value):
        raise InventoryError(f"{prefix}k8s_version {value!r} is not a version like 1.28.5",
                             **where)
    return value


def _check_cidr(key: str, value: str, where: dict[str, Any]) -> str:
    if "/" not in value:
        raise InventoryError(f"{key} {value!r} must be a network like 10.96.0.0/16", **where)
    try:
        return str(ipaddress.ip_network(value))
    except ValueError:
        pass
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InventoryError(f"{key} {value!r} is not a valid network", **where) from None
    raise InventoryError(f"{key} {value!r} has host bits set; the network address is "
                         f"{net}", **where)


# ------------------------------------------------------------------- public

def parse_inventory(text: str, path: str) -> Inventory:
    """Parse the INI inventory text alone (no group_vars, no overrides)."""
    return _build(_parse_ini(text, path), {}, None)


# `kaudit scan -p baseline @local`: this machine, no SSH, no file needed.
LOCAL_INVENTORY = "@local"
_INVENTORY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


def _local_text() -> str:
    """This machine under its own hostname, so that os.hostname-valid compares the
    hostname with itself (a synthetic 'localhost' would fail it and advise
    renaming the machine); 'localhost' only when the name cannot be an entry."""
    import socket

    name = socket.gethostname()
    if not _INVENTORY_NAME.match(name):
        name = "localhost"
    return f"{name} ansible_host=127.0.0.1 ansible_connection=local\n"


def load_inventory(path: str | Path, overrides: dict[str, str] | None = None) -> Inventory:
    """Read an INI inventory plus group_vars/ beside it; `overrides` win over all."""
    if str(path) == LOCAL_INVENTORY:
        return _build(_parse_ini(_local_text(), LOCAL_INVENTORY), {}, overrides)
    p = Path(path)
    text = read_text(p, error=InventoryError)
    name = str(path)
    if p.suffix in (".yml", ".yaml") and not text.lstrip().startswith("["):
        raise InventoryError("YAML inventories are not supported yet; use the INI format",
                             path=name)
    raw = _parse_ini(text, name)
    yaml_vars = _load_group_vars(p, raw.group_order)
    return _build(raw, yaml_vars, overrides)
