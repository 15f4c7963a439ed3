"""Shipped data: rule packs and profiles. In an installed package they are
kaudit.packs.rules and kaudit.packs.profiles (pyproject maps the repository's
top-level rules/ and profiles/ there); in a plain checkout, where kaudit/ is
imported from the source tree, they are those top-level directories."""

from __future__ import annotations

import functools
import hashlib
import json
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


MANIFEST = "trusted.json"


@functools.cache
def _manifest() -> dict[str, str]:
    try:
        text = resources.files("kaudit.packs").joinpath(MANIFEST).read_text(encoding="utf-8")
    except (FileNotFoundError, ModuleNotFoundError):
        return {}
    data = json.loads(text)
    return {str(k): str(v) for k, v in data.get("sha256", {}).items()}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_trusted(kind: str, name: str, text: str) -> bool:
    """True when `text` is exactly the shipped `kind/name` that the test suite
    validated against its schema (tests/test_catalog_trust.py keeps the manifest
    current). Anything else, an edited copy included, is validated at load time."""
    return _manifest().get(f"{kind}/{name}") == digest(text)
