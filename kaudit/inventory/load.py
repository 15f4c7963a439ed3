"""Loading an inventory: a file (INI, Ansible YAML or KubeKey, found by content, with
group_vars/ and host_vars/ beside it), or `@local`; a kubeadm config as the plan."""

from __future__ import annotations

import re
from pathlib import Path

from kaudit.core.errors import InventoryError
from kaudit.core.model import Inventory
from kaudit.core.yamlio import load_yaml, read_text
from kaudit.inventory.build import _build
from kaudit.inventory.groupvars import _load_group_vars, _load_host_vars
from kaudit.inventory.ini import _parse_ini
from kaudit.inventory.kubeadm import is_kubeadm_config, load_plan
from kaudit.inventory.kubekey import _parse_kubekey, kubekey_kind
from kaudit.inventory.kubespray import add_runtime_groups
from kaudit.inventory.yamlinv import _parse_yaml_inventory, is_yaml_inventory


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


FORMATS = ("auto", "ini", "yaml", "kubekey")


def detect_format(text: str, path: str) -> str:
    """ini, yaml or kubekey, by content (not by file name)."""
    body = [ln.strip() for ln in text.splitlines()
            if ln.strip() and not ln.lstrip().startswith(("#", ";"))]
    if not body or body[0].startswith("["):
        return "ini"
    try:
        tree = load_yaml(path, text=text, error=InventoryError)
    except InventoryError:
        return "ini"
    if kubekey_kind(tree):
        return "kubekey"
    if is_kubeadm_config(tree):
        raise InventoryError("this is a kubeadm configuration, not an inventory: give it as "
                             "--kubeadm-config with an inventory of the hosts", path=path, line=1)
    if is_yaml_inventory(tree):
        return "yaml"
    return "ini"


def load_inventory(path: str | Path, overrides: dict[str, str] | None = None, *,
                   fmt: str = "auto", kubeadm_config: str | Path | None = None) -> Inventory:
    """Read an inventory (INI, Ansible YAML or KubeKey; `fmt` forces one) plus the
    group_vars/ and host_vars/ beside it; a kubeadm config's plan over it; `overrides`
    (--var) win over all."""
    if fmt not in FORMATS:
        raise InventoryError(f"unknown inventory format {fmt!r} (one of {', '.join(FORMATS)})")
    if str(path) == LOCAL_INVENTORY:
        raw = _parse_ini(_local_text(), LOCAL_INVENTORY)
        if kubeadm_config:
            raw.plan = load_plan(kubeadm_config)
        return _build(raw, {}, overrides)
    p = Path(path)
    text = read_text(p, error=InventoryError)
    name = str(path)
    kind = detect_format(text, name) if fmt == "auto" else fmt
    if kind == "yaml":
        raw = _parse_yaml_inventory(text, name)
    elif kind == "kubekey":
        raw = _parse_kubekey(text, name)
    else:
        raw = _parse_ini(text, name)
    added = add_runtime_groups(raw)
    if added:
        raw.notes.append(f"Kubespray run-time groups added: {', '.join(added)} (as its "
                         "playbooks build them), so their group_vars apply")
    for host, layer in _load_host_vars(p, list(raw.hosts)).items():
        raw.hosts[host].vars.update(layer)
    if kubeadm_config:
        raw.plan = load_plan(kubeadm_config)
    yaml_vars = _load_group_vars(p, raw.group_order)
    return _build(raw, yaml_vars, overrides)
