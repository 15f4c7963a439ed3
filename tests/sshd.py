"""Real OpenSSH servers for tests: each SshServer runs its own `sshd -D` with a
private config dir on a 127.0.0.x address and is stopped (by pid) on exit."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SSHD = "/usr/sbin/sshd"
TEST_USER = "kaudit-test"


def ensure_test_user() -> str:
    """A local account with /bin/sh as shell that sshd will let in."""
    try:
        subprocess.run(["id", "-u", TEST_USER], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", TEST_USER], check=True,
                       capture_output=True)
    # useradd leaves the password "!" (locked); sshd without PAM refuses locked
    # accounts even for key auth. "*" means no password but not locked.
    subprocess.run(["usermod", "-p", "*", TEST_USER], check=True, capture_output=True)
    return TEST_USER


def keygen(path: Path, comment: str = "kaudit-test") -> Path:
    """An unencrypted Ed25519 key pair at path / path.pub."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                    "-f", str(path)], check=True, capture_output=True)
    return path


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def wait_banner(address: str, port: int, timeout: float = 10.0) -> None:
    """Until the port accepts and says SSH-."""
    end = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        if time.monotonic() > end:
            raise RuntimeError(f"sshd on {address}:{port} did not come up")
        time.sleep(0.05)


class SshServer:
    """One sshd. `authorized` are public key files allowed to log in as the test user."""

    def __init__(self, address: str, authorized: list[Path], *, port: int | None = None,
                 host_key: Path | None = None, extra: str = "",
                 log_level: str = "INFO") -> None:
        self.address = address
        self.port = port or free_port(address)
        self.dir = Path(tempfile.mkdtemp(prefix="kaudit-sshd-"))
        os.chmod(self.dir, 0o755)
        self.host_key = host_key or keygen(self.dir / "ssh_host_ed25519_key", "host")
        auth = self.dir / "authorized_keys"
        auth.write_text("".join(Path(f"{p}.pub").read_text() for p in authorized))
        os.chmod(auth, 0o644)
        self.config = self.dir / "sshd_config"
        # `extra` goes first: sshd keeps the first value it reads for a keyword.
        self.config.write_text(
            f"{extra}\nListenAddress {address}:{self.port}\n"
            f"HostKey {self.host_key}\n"
            f"PidFile {self.dir}/sshd.pid\n"
            f"AuthorizedKeysFile {auth}\n"
            "UsePAM no\nUseDNS no\nStrictModes no\nMaxStartups 100\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PermitRootLogin prohibit-password\nAllowTcpForwarding yes\n"
            f"LogLevel {log_level}\n")
        self.log = self.dir / "sshd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host_pub(self) -> str:
        """`type base64` of the server's host key."""
        return " ".join(Path(f"{self.host_key}.pub").read_text().split()[:2])

    def known_hosts_line(self) -> str:
        name = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{name} {self.host_pub}\n"

    def start(self) -> SshServer:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)],
                                         stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_banner(self.address, self.port)
        except RuntimeError:
            self.stop()
            raise RuntimeError(f"sshd failed to start: {self.log.read_text()[-2000:]}") from None
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def __enter__(self) -> SshServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
