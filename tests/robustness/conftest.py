"""Helpers shared by the robustness matrix: run the real CLI, a tiny rule pack
whose results are fully predictable, replaying sshd servers, hostile sockets."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requires
import sshd as sshd_harness  # tests/sshd.py

REPO = Path(__file__).resolve().parents[2]
RECORDING = REPO / "fixtures" / "probe" / "debian-local.out"

# Two host rules and one cluster rule: on a complete host every one passes, so
# "the other hosts' results are intact" is an exact assertion.
PACK = """\
pack: rb
rules:
  - id: rb.hostname
    title: Host reports a hostname
    severity: high
    scope: host
    check: {fact: hostname, op: not_empty}
    message: "hostname {observed} on {host}"
  - id: rb.kernel
    title: Host reports its kernel release
    severity: low
    scope: host
    check: {fact: kernel.release, op: not_empty}
  - id: rb.hostname-plain
    title: Hostname has no odd characters
    severity: medium
    scope: host
    check: {fact: hostname, op: regex, value: "^[a-z0-9.-]+$"}
    message: "hostname {observed} is odd (param ${params.x})"
"""


def write_pack(d: Path) -> tuple[Path, Path]:
    """(rules dir, profile file) selecting only the rb pack."""
    rules = d / "rb-rules"
    rules.mkdir(exist_ok=True)
    (rules / "rb.yaml").write_text(PACK)
    profile = d / "rb-profile.yaml"
    profile.write_text("description: robustness matrix\npacks: [rb]\nparams: {x: 1}\n")
    return rules, profile


def run_kaudit(*args: str | Path, cwd: Path, timeout: float = 120,
               prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[bytes]:
    """The real CLI in a subprocess (bytes out, so escape bytes can be checked)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
    env["NO_COLOR"] = "1"
    env["HOME"] = str(cwd)   # never the ~/.ssh of the machine running the tests
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run([*prefix, sys.executable, "-m", "kaudit", *map(str, args)],
                          cwd=cwd, capture_output=True, timeout=timeout, env=env)


def assert_one_line_error(proc: subprocess.CompletedProcess[bytes], code: int,
                          *needles: str) -> str:
    """Exit `code`, one `kaudit: error:` message holding every needle, no traceback."""
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == code, (proc.returncode, err, proc.stdout[-2000:])
    assert "Traceback" not in err and "Traceback" not in proc.stdout.decode("utf-8", "replace")
    assert err.startswith("kaudit: error: "), err
    for n in needles:
        assert n in err, (n, err)
    return err


@dataclass
class Fleet:
    """Shared ssh settings of a scan against test servers."""

    dir: Path
    user: str
    key: Path
    known_hosts: Path
    ssh_config: Path
    rules: Path
    profile: Path

    def args(self, *extra: str | Path, timeout: float = 20) -> list[str | Path]:
        return ["scan", "-p", self.profile, "--rules", self.rules, "-u", self.user,
                "-i", self.key, "--known-hosts", self.known_hosts, "--ssh-config",
                self.ssh_config, "--timeout", str(timeout), "--no-progress", *extra]

    def trust(self, *servers: sshd_harness.SshServer) -> None:
        with open(self.known_hosts, "a") as f:
            f.writelines(s.known_hosts_line() for s in servers)


def replay(recording: bytes | None = None) -> tuple[str, dict[str, bytes]]:
    """A ForceCommand body answering like the probe, from a recording, in milliseconds."""
    data = recording if recording is not None else RECORDING.read_bytes()
    body = data.split(b"\n", 1)[1]
    return ("cat >/dev/null\nprintf 'KAUDIT-PROBE 1 %s\\n' \"$(date +%s.%N)\"\n"
            "cat {dir}/rec.out\n", {"rec.out": body})


def start_sshd(addresses: list[str], authorized: list[Path], *,
               force: str | None = None, files: dict[str, bytes] | None = None,
               host_key: Path | None = None, port: int | None = None
               ) -> sshd_harness.SshServer:
    """One sshd listening on every address (same port), optionally with a ForceCommand
    script `force` (a shell body; `{dir}` is the server's own world-readable dir)."""
    port = port or sshd_harness.free_port(addresses[0])
    extra = "".join(f"ListenAddress {a}:{port}\n" for a in addresses[1:])
    server = sshd_harness.SshServer(addresses[0], authorized, port=port, host_key=host_key,
                                    extra=extra)
    try:
        for name, data in (files or {}).items():
            (server.dir / name).write_bytes(data)
            os.chmod(server.dir / name, 0o644)
        if force is not None:
            script = server.dir / "force.sh"
            script.write_text("#!/bin/sh\n" + force.replace("{dir}", str(server.dir)))
            script.chmod(0o755)
            server.config.write_text(f"ForceCommand {script}\n" + server.config.read_text())
        server.start()
        for a in addresses[1:]:
            sshd_harness.wait_banner(a, port)
    except BaseException:
        server.cleanup()
        raise
    return server


@pytest.fixture
def fleet(ssh_env, tmp_path: Path) -> Fleet:  # type: ignore[no-untyped-def]
    rules, profile = write_pack(tmp_path)
    cfg = tmp_path / "ssh_config"
    cfg.write_text("")
    return Fleet(dir=tmp_path, user=ssh_env.user, key=ssh_env.key,
                 known_hosts=tmp_path / "known_hosts", ssh_config=cfg, rules=rules,
                 profile=profile)


@pytest.fixture(scope="module")
def good_pair(ssh_env) -> Iterator[sshd_harness.SshServer]:  # type: ignore[no-untyped-def]
    """Two healthy hosts (127.0.0.2 and .3) answering with a recorded probe output."""
    force, files = replay()
    server = start_sshd(["127.0.0.2", "127.0.0.3"], [ssh_env.key], force=force, files=files)
    try:
        yield server
    finally:
        server.cleanup()


def good_lines(server: sshd_harness.SshServer) -> str:
    return (f"g1 ansible_host=127.0.0.2 ansible_port={server.port}\n"
            f"g2 ansible_host=127.0.0.3 ansible_port={server.port}\n")


def trust_pair(fleet: Fleet, server: sshd_harness.SshServer) -> None:
    pub = server.host_pub
    with open(fleet.known_hosts, "a") as f:
        for a in ("127.0.0.2", "127.0.0.3"):
            f.write(f"[{a}]:{server.port} {pub}\n")


def assert_good_hosts_intact(report: dict, names: tuple[str, ...] = ("g1", "g2")) -> None:
    """Every named host is ok and every rb rule passed on it."""
    hosts = {h["name"]: h for h in report["hosts"]}
    for n in names:
        assert hosts[n]["status"] == "ok" and hosts[n]["error"] is None, f"{n}: {hosts[n]}"
        mine = {r["rule"]: r["status"] for r in report["results"] if r["host"] == n}
        assert mine == {"rb.hostname": "pass", "rb.kernel": "pass",
                        "rb.hostname-plain": "pass"}, mine


def load_json(p: Path) -> dict:
    return json.loads(p.read_text(encoding="utf-8"))


class Listener:
    """A TCP server on 127.0.0.x: `mode` silent (accept, say nothing) or a fixed reply."""

    def __init__(self, address: str, reply: bytes | None = None) -> None:
        self.sock = socket.socket()
        self.sock.bind((address, 0))
        self.sock.listen(64)
        self.address = address
        self.port = int(self.sock.getsockname()[1])
        self.reply = reply
        self.conns: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.reply is not None:
                try:
                    conn.sendall(self.reply)
                    conn.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def drop(self) -> None:
        """Close the connections accepted so far (they are this test's own fds)."""
        conns, self.conns = self.conns, []
        for c in conns:
            c.close()

    def close(self) -> None:
        self.stopped.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)
        for c in self.conns:
            c.close()


def need(*tools: str) -> None:
    """Fail (never skip) when not root or a tool is missing (tests/requires.py)."""
    requires.need(*tools, root=True)
