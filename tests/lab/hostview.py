"""One lab host's own files: the overlay upper tree laid over the shared Debian
root (its fleet files, stand-in commands, hidden and opaque paths)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .fleet import HostSpec

STANDIN_DIR = "/usr/local/sbin"   # first on sshd's default PATH for root
def render(text: str, values: dict[str, str]) -> str:
    """Fill `${key}` placeholders (YAML and shell text keep their own braces)."""
    for k, v in values.items():
        text = text.replace("${" + k + "}", v)
    return text


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.write_text(text)
    os.chmod(path, mode)


def _resolve(path: str, spec: dict[str, Any]) -> str:
    """`path` with a leading fleet symlink (absolute target) replaced by its target."""
    for link, target in (spec.get("symlinks") or {}).items():
        if path.startswith(link.rstrip("/") + "/") and str(target).startswith("/"):
            return str(target).rstrip("/") + path[len(link.rstrip("/")):]
    return path


def build_upper(host: HostSpec, upper: Path, values: dict[str, str]) -> None:
    """Write the host's overlay upper layer over the shared root: fleet files, stand-in
    commands, whiteouts, disk mount points (boot.py adds units, sshd and /proc)."""
    spec = host.spec
    for d in spec.get("opaque") or []:
        # An opaque upper directory hides the machine's own contents of it.
        p = upper / d.lstrip("/")
        p.mkdir(parents=True, exist_ok=True)
        os.setxattr(p, "trusted.overlay.opaque", b"y")
    for path, text in (spec.get("files") or {}).items():
        if text is None:     # `path: null` in a host entry drops a default file
            continue
        real = _resolve(render(path, values), spec)
        # Files on a fleet disk are copied onto it once it is mounted.
        on_disk = any(real.startswith(mp.rstrip("/") + "/") for mp in spec.get("disks") or {})
        root = upper.parent / "ondisk" if on_disk else upper
        _write(root / real.lstrip("/"), render(str(text), values))
    for path, target in (spec.get("symlinks") or {}).items():
        p = upper / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, p)
    for path in spec.get("hide") or []:
        # An overlay whiteout (char device 0/0) removes the path from the view.
        p = upper / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        os.mknod(p, 0o600 | 0o020000, os.makedev(0, 0))
    for name, body in (spec.get("commands") or {}).items():
        if body is None:
            continue
        _write(upper / STANDIN_DIR.lstrip("/") / name,
               "#!/bin/sh\n" + render(str(body), values), 0o755)
    for mp in spec.get("disks") or {}:
        (upper / mp.lstrip("/")).mkdir(parents=True, exist_ok=True)
