"""Loading an inventory: a file (INI plus group_vars/ beside it) or `@local`."""

from __future__ import annotations

import re
from pathlib import Path

from kaudit.core.errors import InventoryError
from kaudit.core.model import Inventory
from kaudit.core.yamlio import read_text
from kaudit.inventory.build import _build
from kaudit.inventory.groupvars import _load_group_vars
from kaudit.inventory.ini import _parse_ini


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
