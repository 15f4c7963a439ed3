"""Subprocess helpers: every command the lab runs is bounded in time."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence

DEFAULT_TIMEOUT = 20.0
TOOLS = ("ip", "unshare", "chroot", "losetup", "mkfs.ext4", "mount", "ssh-keygen")
SSHD = "/usr/sbin/sshd"


class LabError(RuntimeError):
    """A lab step failed; the message says which command and what it printed."""


def run(args: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT, check: bool = True,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output, and fail loudly (with stderr) when asked."""
    try:
        cp = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                            input=input, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {' '.join(args)}") from exc
    if check and cp.returncode != 0:
        raise LabError(f"{' '.join(args)} -> rc={cp.returncode}: {cp.stderr.strip()[-800:]}")
    return cp


def skip_reason() -> str | None:
    """Why the lab cannot be built on this machine, or None."""
    import os

    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, mounts, loop devices)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not os.path.exists(SSHD):
        missing.append("sshd")
    if missing:
        return f"the lab needs these commands: {', '.join(missing)}"
    return None
