"""Shared fixtures. Keep small; the OpenSSH harness lives in tests/sshd.py."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requires  # tests/requires.py: the programs in tests/system-packages.txt
import sshd as sshd_harness  # tests/sshd.py; pytest puts tests/ on sys.path


def pytest_sessionstart(session: pytest.Session) -> None:
    """The suite runs whole or not at all: as root, with every listed program.
    What is missing is one message naming the Debian packages, and a failed run."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the suite runs as root (network namespaces, mounts, real sshd), "
                        "as CI does")
    gone = requires.missing()
    if gone:
        problems.append(requires.message(gone))
    if problems:
        pytest.exit("; ".join(problems), returncode=3)


@dataclass
class SshEnv:
    """A test user and client keys that real sshd servers accept (`key`) or not (`wrong_key`)."""

    user: str
    key: Path
    wrong_key: Path
    dir: Path


@pytest.fixture(scope="session")
def ssh_env(tmp_path_factory: pytest.TempPathFactory) -> SshEnv:
    requires.need("sshd", "ssh-keygen", "useradd", "usermod", root=True)
    d = tmp_path_factory.mktemp("sshkeys")
    return SshEnv(user=sshd_harness.ensure_test_user(),
                  key=sshd_harness.keygen(d / "id_good"),
                  wrong_key=sshd_harness.keygen(d / "id_wrong"), dir=d)


@pytest.fixture
def sshd_factory(ssh_env: SshEnv) -> Iterator[Callable[..., sshd_harness.SshServer]]:
    """Start sshd servers on demand; all are stopped and removed after the test."""
    servers: list[sshd_harness.SshServer] = []

    def make(address: str, **kw: object) -> sshd_harness.SshServer:
        kw.setdefault("authorized", [ssh_env.key])
        server = sshd_harness.SshServer(address, **kw)  # type: ignore[arg-type]
        servers.append(server)
        return server.start()

    try:
        yield make
    finally:
        for s in servers:
            s.cleanup()
