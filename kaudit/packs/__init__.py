"""Shipped data: rule packs and profiles. In an installed package they are
kaudit.packs.rules and kaudit.packs.profiles (pyproject maps the repository's
top-level rules/ and profiles/ there); in a plain checkout, where kaudit/ is
imported from the source tree, they are those top-level directories."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent.parent


def shipped(kind: str) -> Traversable:
    """The directory of shipped `rules` or `profiles`."""
    try:
        return resources.files(f"kaudit.packs.{kind}")
    except ModuleNotFoundError:
        local = _CHECKOUT / kind
        if (local / ".." / "pyproject.toml").is_file() and local.is_dir():
            return local
        raise
