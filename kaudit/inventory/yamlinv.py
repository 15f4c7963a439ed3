"""Ansible's YAML inventory format (`all: {hosts:, vars:, children:}`), into the same
raw form as the INI parser, every value keeping its file and line."""

from __future__ import annotations

from typing import Any

from kaudit.core.errors import InventoryError
from kaudit.core.yamlio import load_yaml, locate
from kaudit.inventory.groupvars import _plain
from kaudit.inventory.ini import _expand, _link
from kaudit.inventory.raw import _GROUP_NAME, _VAR_NAME, Origin, _Raw, _RawHost

_GROUP_KEYS = ("hosts", "vars", "children")


def is_yaml_inventory(tree: Any) -> bool:
    """An Ansible YAML inventory: a mapping of groups, each null or a mapping of
    hosts/vars/children (the usual top level is `all`)."""
    if not isinstance(tree, dict) or not tree or "apiVersion" in tree or "kind" in tree:
        return False
    return all(v is None or (isinstance(v, dict) and set(v) <= set(_GROUP_KEYS))
               for v in tree.values())


def _parse_yaml_inventory(text: str, path: str) -> _Raw:
    tree = load_yaml(path, text=text, error=InventoryError)
    if not isinstance(tree, dict):
        raise InventoryError("a YAML inventory is a mapping of groups (all: {hosts: ..., "
                             "children: ...})", path=path, line=1)
    raw = _Raw(path=path, format="yaml")
    raw.add_group("all")
    raw.add_group("ungrouped")
    for group, node in tree.items():
        _group(raw, str(group), node, tree, [group], None)
    return raw


def _line(tree: Any, keys: list[Any]) -> int | None:
    return locate(tree, keys)[0]


def _group(raw: _Raw, name: str, node: Any, tree: Any, keys: list[Any],
           parent: str | None) -> None:
    path = raw.path
    line = _line(tree, keys)
    if not _GROUP_NAME.match(name):
        raise InventoryError(f"invalid group name {name!r} (letters, digits, '_', '-', '.')",
                             path=path, line=line)
    raw.add_group(name, line or 0)
    raw.group_vars.setdefault(name, {})
    if parent is not None:
        _link(raw, parent, name, path, line)
    if node is None:
        return
    if not isinstance(node, dict):
        raise InventoryError(f"group {name!r} must be a mapping of hosts, vars and children",
                             path=path, line=line)
    for key in node:
        if key not in _GROUP_KEYS:
            raise InventoryError(f"group {name!r}: unknown key {key!r} (expected hosts, vars "
                                 "or children; a host goes under hosts:)",
                                 path=path, line=_line(tree, [*keys, key]))
    hosts = node.get("hosts")
    if hosts is not None:
        if not isinstance(hosts, dict):
            raise InventoryError(f"group {name!r}: hosts must be a mapping of host names "
                                 "(`m01:` or `m01: {ansible_host: ...}`)",
                                 path=path, line=_line(tree, [*keys, "hosts"]))
        for pattern, hvars in hosts.items():
            hkeys = [*keys, "hosts", pattern]
            hline = _line(tree, hkeys)
            own = _vars(hvars, tree, hkeys, path, f"host {pattern!r}")
            for host in _expand(str(pattern), path, hline or 0):
                rh = raw.hosts.get(host)
                if rh is None:
                    rh = raw.hosts[host] = _RawHost(name=host, line=hline or 0)
                rh.vars.update(own)
                if name not in rh.groups:
                    rh.groups.append(name)
    raw.group_vars[name].update(_vars(node.get("vars"), tree, [*keys, "vars"], path,
                                      f"group {name!r} vars"))
    children = node.get("children")
    if children is not None:
        if not isinstance(children, dict):
            raise InventoryError(f"group {name!r}: children must be a mapping of groups",
                                 path=path, line=_line(tree, [*keys, "children"]))
        for child, cnode in children.items():
            if child in ("all", "ungrouped"):
                raise InventoryError(f"group {child!r} cannot be a child of {name!r}",
                                     path=path, line=_line(tree, [*keys, "children", child]))
            _group(raw, str(child), cnode, tree, [*keys, "children", child], name)


def _vars(node: Any, tree: Any, keys: list[Any], path: str, what: str) -> dict[str, Origin]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise InventoryError(f"{what} must be a mapping of variables", path=path,
                             line=_line(tree, keys))
    out: dict[str, Origin] = {}
    for key, value in node.items():
        line = _line(tree, [*keys, key])
        if not _VAR_NAME.match(str(key)):
            raise InventoryError(f"invalid variable name {key!r} (letters, digits and _ only)",
                                 path=path, line=line)
        out[str(key)] = (_plain(value), path, line)
    return out
