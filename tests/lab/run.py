"""Subprocess helpers: every command the lab runs is bounded in time."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

DEFAULT_TIMEOUT = 20.0
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


def unmet() -> str | None:
    """Why the lab cannot be built on this machine, or None: a program of
    tests/system-packages.txt is missing (the lab's own tools among them:
    debootstrap, systemd-nspawn, ip, ssh)."""
    import os

    try:
        import requires  # under pytest: tests/ is on sys.path
    except ImportError:  # python -m tests.lab from the repository top
        from tests import requires  # type: ignore[no-redef]

    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, mounts, loop devices)"
    gone = requires.missing()
    return requires.message(gone) if gone else None
