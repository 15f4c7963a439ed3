"""`group_vars/` YAML beside an inventory (a file per group, or a directory of
files), as vars with their origins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kaudit.core.errors import InventoryError
from kaudit.core.yamlio import load_yaml, locate, read_text, to_plain
from kaudit.inventory.raw import Origin


def _load_group_vars(inv_path: Path, groups: list[str]) -> dict[str, dict[str, Origin]]:
    """Vars from group_vars/<group>{,.yml,.yaml,.json} and group_vars/<group>/*."""
    base = inv_path.parent / "group_vars"
    out: dict[str, dict[str, Origin]] = {}
    if not base.is_dir():
        return out
    for group in groups:
        merged = _vars_for(base, group)
        if merged:
            out[group] = merged
    return out


def _vars_for(base: Path, name: str) -> dict[str, Origin]:
    """<base>/<name>{,.yml,.yaml,.json} then <base>/<name>/*.{yml,yaml,json}, merged."""
    files = [base / (name + s) for s in ("", ".yml", ".yaml", ".json")
             if (base / (name + s)).is_file()]
    d = base / name
    if d.is_dir():
        files.extend(sorted(p for p in d.iterdir() if p.is_file()
                            and p.suffix in (".yml", ".yaml", ".json")
                            and not p.name.startswith(".")))
    merged: dict[str, Origin] = {}
    for f in files:
        merged.update(_load_vars_file(f))
    return merged


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




def _load_host_vars(inv_path: Path, hosts: list[str]) -> dict[str, dict[str, Origin]]:
    """Vars from host_vars/<host>{,.yml,.yaml,.json} and host_vars/<host>/*; they win
    over the host's inline vars, as in Ansible."""
    base = inv_path.parent / "host_vars"
    out: dict[str, dict[str, Origin]] = {}
    if not base.is_dir():
        return out
    for host in hosts:
        merged = _vars_for(base, host)
        if merged:
            out[host] = merged
    return out
