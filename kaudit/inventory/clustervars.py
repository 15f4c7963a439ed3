"""Canonical cluster vars from the inventory's layers (Kubespray names too),
`{{ var }}` templates, `--var` overrides, and their validation."""

from __future__ import annotations

import ipaddress
from typing import Any

from kaudit.core.errors import InventoryError
from kaudit.core.ports import as_port
from kaudit.core.yamlio import load_yaml
from kaudit.inventory.groupvars import _plain
from kaudit.inventory.ini import _is_ip
from kaudit.inventory.raw import (
    _TEMPLATE,
    _TIMEZONE,
    _VAR_NAME,
    _VERSION,
    CLUSTER_VARS,
    KUBESPRAY_VARS,
    Origin,
    _Raw,
    is_secret,
)


def _check_port(origin: Origin, name: str) -> int:
    value, p, ln = origin
    port = as_port(value)
    if port is None:
        raise InventoryError(f"{name} must be a port number 1-65535, got {value!r}",
                             path=p, line=ln)
    return port


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
                  overrides: dict[str, str] | None
                  ) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(cluster vars, where each came from, notes on values that could not be used)."""
    values: dict[str, Origin] = {k: (v, "default", None) for k, v in CLUSTER_VARS.items()
                                 if v is not None}
    extra: dict[str, Any] = {}
    extra_at: dict[str, str] = {}
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
            for k, v in layer.items():
                if k not in CLUSTER_VARS and k not in KUBESPRAY_VARS \
                        and k != "loadbalancer_apiserver" and not is_secret(k):
                    extra[k] = v[0]
                    extra_at[k] = _at(v)
            continue
        for key, origin in _canonical(layer).items():
            prev = seen.get(key)
            if prev and prev[0] != group and prev[1][0] != origin[0]:
                raise InventoryError(
                    f"cluster var {key!r} differs between groups {prev[0]!r} and {group!r}",
                    path=origin[1], line=origin[2])
            seen[key] = (group, origin)
            values[key] = origin
    plan_notes: list[str] = []
    for key, origin in raw.plan.items():
        # A plan file given with the inventory (--kubeadm-config) over the inventory.
        if key not in CLUSTER_VARS:
            extra[key] = origin[0]
            extra_at[key] = _at(origin)
            continue
        before = values.get(key)
        if before is not None and before[1] != "default" and str(before[0]) != str(origin[0]):
            plan_notes.append(f"{key}: the kubeadm config says {origin[0]} ({_at(origin)}), "
                              f"the inventory {before[0]} ({_at(before)}); using the kubeadm "
                              "config")
        values[key] = origin
    for key, value in (overrides or {}).items():
        layer = _override_layer(key, value)
        if layer:
            values.update(layer)
        else:
            extra[key] = value
            extra_at[key] = "--var"
    out: dict[str, Any] = {}
    origins: dict[str, str] = {}
    notes: list[str] = plan_notes
    for key in CLUSTER_VARS:
        if key in values:
            try:
                origin = _resolve_template(key, values[key], values, extra)
            except InventoryError as exc:
                # Unresolved, not fatal: the var stays unset (rules that need it are an
                # error, naming it) and never reaches a rule as the literal {{ ... }}.
                notes.append(f"unresolved: {exc}")
                origins[key] = f"unresolved ({_at(values[key])})"
                continue
            out[key] = _check_cluster_var(key, origin)
            origins[key] = _at(origin)
    for key, value in list(extra.items()):
        if isinstance(value, str) and "{{" in value:
            del extra[key]
            notes.append(f"unresolved: {key} holds a Jinja expression, which kaudit does not "
                         "evaluate; it is left unset")
    out.update(extra)
    origins.update({k: extra_at[k] for k in extra if k in extra_at})
    return out, origins, notes


def _at(origin: Origin) -> str:
    """`file:line` of a value, or where it came from (default, --var)."""
    _, p, ln = origin
    return f"{p}:{ln}" if ln else p


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


