"""run_probe against real OpenSSH servers on loopback, plus the pure parts of
ssh_config and known_hosts handling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requires

from kaudit.collect.ssh import CollectError, HostKeyStore, SshOptions, run_probe
from kaudit.collect.sshconfig import SshConfig, parse_jump, resolve
from kaudit.core.errors import InputError
from kaudit.core.model import Host

# Same shape as the real probe: first line, sections, end marker.
STANDIN = (b'printf "KAUDIT-PROBE 1 %s\\n" "$(date +%s.%N)"\n'
           b'echo "@@kaudit:section who"\n'
           b'echo "uid=$(id -u)"\n'
           b'echo "args=$*"\n'
           b'echo "@@kaudit:end 0"\n')
COMMAND = "sh -s -- --vip 127.0.0.1 --lb-port 16443"


def opts_for(env, tmp_path: Path, **kw) -> SshOptions:  # type: ignore[no-untyped-def]
    """Hermetic options: no agent, no ~/.ssh files of the machine running the tests."""
    cfg = tmp_path / "ssh_config"
    if not cfg.exists():
        cfg.write_text("")
    kw.setdefault("user", env.user)
    kw.setdefault("identity", [str(env.key)])
    kw.setdefault("known_hosts", str(tmp_path / "known_hosts"))
    kw.setdefault("ssh_config", str(cfg))
    kw.setdefault("timeout", 15.0)
    kw.setdefault("use_agent", False)
    return SshOptions(**kw)


def trust(tmp_path: Path, *servers) -> None:  # type: ignore[no-untyped-def]
    with open(tmp_path / "known_hosts", "a") as f:
        for s in servers:
            f.write(s.known_hosts_line())


def host_for(server, name: str = "h") -> Host:  # type: ignore[no-untyped-def]
    return Host(name=name, address=server.address, port=server.port)


def probe(host: Host, opts: SshOptions, script: bytes = STANDIN,
          command: str = COMMAND):  # type: ignore[no-untyped-def]
    return run_probe(host, script, command, opts,
                     HostKeyStore(opts.known_hosts, opts.accept_new_host_keys))


# -- against real sshd ---------------------------------------------------------------

@pytest.mark.sshd
def test_probe_runs_and_arguments_arrive(ssh_env, sshd_factory, tmp_path):
    server = sshd_factory("127.0.0.2")
    trust(tmp_path, server)
    run = probe(host_for(server), opts_for(ssh_env, tmp_path))
    uid = int(subprocess.run(["id", "-u", ssh_env.user], capture_output=True,
                             text=True, check=True).stdout)
    lines = run.stdout.decode().splitlines()
    assert lines[0].startswith("KAUDIT-PROBE 1 ")
    assert f"uid={uid}" in lines
    assert "args=--vip 127.0.0.1 --lb-port 16443" in lines
    assert lines[-1] == "@@kaudit:end 0"
    assert run.exit_status == 0 and not run.truncated


@pytest.mark.sshd
def test_clock_offset_of_local_sshd_is_small(ssh_env, sshd_factory, tmp_path):
    server = sshd_factory("127.0.0.2")
    trust(tmp_path, server)
    run = probe(host_for(server), opts_for(ssh_env, tmp_path))
    assert run.clock_offset_s is not None and run.clock_uncertainty_s is not None
    assert abs(run.clock_offset_s) < 0.5
    assert 0 <= run.clock_uncertainty_s < 2


@pytest.mark.sshd
def test_wrong_key_is_auth_failed(ssh_env, sshd_factory, tmp_path):
    server = sshd_factory("127.0.0.2")
    trust(tmp_path, server)
    with pytest.raises(CollectError) as err:
        probe(host_for(server), opts_for(ssh_env, tmp_path, identity=[str(ssh_env.wrong_key)]))
    assert err.value.status == "auth_failed"
    assert ssh_env.user in err.value.message
    key_text = ssh_env.wrong_key.read_text()
    assert key_text.splitlines()[1] not in err.value.message


@pytest.mark.sshd
def test_encrypted_key_is_skipped_with_a_note(ssh_env, sshd_factory, tmp_path):
    server = sshd_factory("127.0.0.2")
    trust(tmp_path, server)
    enc = tmp_path / "id_enc"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "s3cret-pass", "-f", str(enc)],
                   check=True)
    # The encrypted key is skipped (no prompt), the next one works.
    run = probe(host_for(server), opts_for(ssh_env, tmp_path,
                                           identity=[str(enc), str(ssh_env.key)]))
    assert any("encrypted" in n and str(enc) in n for n in run.notes)
    with pytest.raises(CollectError) as err:
        probe(host_for(server), opts_for(ssh_env, tmp_path, identity=[str(enc)]))
    assert err.value.status == "auth_failed" and "encrypted" in err.value.message
    assert "s3cret" not in err.value.message


@pytest.mark.sshd
def test_host_key_unknown_then_accepted_then_changed(ssh_env, sshd_factory, tmp_path):
    server = sshd_factory("127.0.0.2")
    kh = tmp_path / "known_hosts"
    host = host_for(server)

    with pytest.raises(CollectError) as err:
        probe(host, opts_for(ssh_env, tmp_path))
    assert err.value.status == "hostkey_rejected"
    assert f"[127.0.0.2]:{server.port}" in err.value.message
    assert not kh.exists() or kh.read_text() == ""

    run = probe(host, opts_for(ssh_env, tmp_path, accept_new_host_keys=True))
    assert run.exit_status == 0
    assert any("new host key recorded" in n for n in run.notes)
    assert kh.read_text() == server.known_hosts_line()
    # Now known: accepted without --accept-new-host-keys.
    assert probe(host, opts_for(ssh_env, tmp_path)).exit_status == 0

    old_fp, old_line = _fp(server.host_pub), server.known_hosts_line()
    port = server.port
    server.cleanup()
    imposter = sshd_factory("127.0.0.2", port=port)
    with pytest.raises(CollectError) as err:
        probe(host, opts_for(ssh_env, tmp_path, accept_new_host_keys=True))
    assert err.value.status == "hostkey_rejected"
    msg = err.value.message
    assert "CHANGED" in msg and f"[127.0.0.2]:{port}" in msg
    assert old_fp in msg and _fp(imposter.host_pub) in msg
    assert kh.read_text() == old_line  # not overwritten


def _fp(pub: str) -> str:
    blob = base64.b64decode(pub.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@pytest.mark.sshd
def test_hashed_known_hosts_entry_is_honoured(ssh_env, sshd_factory, tmp_path):
    server = sshd_factory("127.0.0.2")
    trust(tmp_path, server)
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(tmp_path / "known_hosts")],
                   check=True, capture_output=True)
    assert (tmp_path / "known_hosts").read_text().startswith("|1|")
    assert probe(host_for(server), opts_for(ssh_env, tmp_path)).exit_status == 0


@pytest.mark.sshd
def test_closed_port_is_unreachable(ssh_env, tmp_path):
    from sshd import free_port

    port = free_port("127.0.0.2")
    with pytest.raises(CollectError) as err:
        probe(Host(name="h", address="127.0.0.2", port=port), opts_for(ssh_env, tmp_path))
    assert err.value.status == "unreachable"
    assert "refused" in err.value.message.lower()


def test_unresolvable_name_is_unreachable(tmp_path):
    host = Host(name="h", address="no-such-host.invalid", port=22)
    opts = SshOptions(ssh_config=str(_empty(tmp_path)), known_hosts=str(tmp_path / "kh"),
                      use_agent=False)
    with pytest.raises(CollectError) as err:
        run_probe(host, STANDIN, COMMAND, opts, HostKeyStore(opts.known_hosts))
    assert err.value.status == "unreachable"
    assert "resolve" in err.value.message


def _empty(tmp_path: Path) -> Path:
    p = tmp_path / "empty_config"
    p.write_text("")
    return p


class SilentListener:
    """Accepts TCP connections and never says anything (or says `greeting`)."""

    def __init__(self, address: str, greeting: bytes = b"") -> None:
        self.sock = socket.create_server((address, 0))
        self.port = self.sock.getsockname()[1]
        self.greeting = greeting
        self.conns: list[socket.socket] = []
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.greeting:
                conn.sendall(self.greeting)
            self.conns.append(conn)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for c in self.conns:
            c.close()
        self.sock.close()


def test_listener_that_never_speaks_times_out(tmp_path):
    listener = SilentListener("127.0.0.6")
    try:
        opts = SshOptions(ssh_config=str(_empty(tmp_path)), known_hosts=str(tmp_path / "kh"),
                          use_agent=False, timeout=1.5)
        start = time.monotonic()
        with pytest.raises(CollectError) as err:
            run_probe(Host(name="h", address="127.0.0.6", port=listener.port), STANDIN,
                      COMMAND, opts, HostKeyStore(opts.known_hosts))
        took = time.monotonic() - start
    finally:
        listener.close()
    assert err.value.status == "timeout"
    assert 1.4 <= took < 3.0


def test_non_ssh_server_is_a_clear_error(tmp_path):
    listener = SilentListener("127.0.0.6", greeting=b"HTTP/1.1 400 Bad\x1b[31m Request\r\n"
                                                   * 120)
    try:
        opts = SshOptions(ssh_config=str(_empty(tmp_path)), known_hosts=str(tmp_path / "kh"),
                          use_agent=False, timeout=10)
        with pytest.raises(CollectError) as err:
            run_probe(Host(name="h", address="127.0.0.6", port=listener.port), STANDIN,
                      COMMAND, opts, HostKeyStore(opts.known_hosts))
    finally:
        listener.close()
    assert err.value.status == "error"
    assert "not an SSH server" in err.value.message
    assert "\x1b" not in err.value.message


@pytest.mark.sshd
def test_jump_host(ssh_env, sshd_factory, tmp_path):
    jump = sshd_factory("127.0.0.2", log_level="DEBUG1")
    target = sshd_factory("127.0.0.3")
    trust(tmp_path, jump, target)
    opts = opts_for(ssh_env, tmp_path, jump=f"{ssh_env.user}@127.0.0.2:{jump.port}")
    run = probe(host_for(target), opts)
    assert run.exit_status == 0 and run.stdout.startswith(b"KAUDIT-PROBE 1 ")
    # The target was reached through the jump host's direct-tcpip channel.
    assert f"to 127.0.0.3 port {target.port}" in jump.log_text()


@pytest.mark.sshd
def test_jump_host_key_checked_too(ssh_env, sshd_factory, tmp_path):
    jump = sshd_factory("127.0.0.2")
    target = sshd_factory("127.0.0.3")
    trust(tmp_path, target)  # the jump host's key is unknown
    opts = opts_for(ssh_env, tmp_path, jump=f"127.0.0.2:{jump.port}")
    with pytest.raises(CollectError) as err:
        probe(host_for(target), opts)
    assert err.value.status == "hostkey_rejected"
    assert f"[127.0.0.2]:{jump.port}" in err.value.message


@pytest.mark.sshd
def test_ssh_config_alias(ssh_env, sshd_factory, tmp_path):
    server = sshd_factory("127.0.0.4")
    trust(tmp_path, server)
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host node-*\n  HostName 127.0.0.4\n  Port {server.port}\n"
                   f"  User {ssh_env.user}\n  IdentityFile {ssh_env.key}\n"
                   "Host *\n  User nobody-here\n")
    opts = SshOptions(ssh_config=str(cfg), known_hosts=str(tmp_path / "known_hosts"),
                      use_agent=False)
    run = probe(Host(name="n1", address="node-1"), opts)
    assert run.exit_status == 0


@pytest.mark.sshd
def test_ssh_config_proxyjump(ssh_env, sshd_factory, tmp_path):
    jump = sshd_factory("127.0.0.2", log_level="DEBUG1")
    target = sshd_factory("127.0.0.3")
    trust(tmp_path, jump, target)
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host bastion\n  HostName 127.0.0.2\n  Port {jump.port}\n"
                   f"Host inner\n  HostName 127.0.0.3\n  Port {target.port}\n"
                   "  ProxyJump bastion\n"
                   f"Host *\n  User {ssh_env.user}\n  IdentityFile {ssh_env.key}\n")
    opts = SshOptions(ssh_config=str(cfg), known_hosts=str(tmp_path / "known_hosts"),
                      use_agent=False)
    assert probe(Host(name="i", address="inner"), opts).exit_status == 0
    assert f"to 127.0.0.3 port {target.port}" in jump.log_text()


@pytest.fixture
def sudo_rule(ssh_env):  # type: ignore[no-untyped-def]
    """A NOPASSWD sudoers entry for the test user, removed afterwards."""
    requires.need("sudo")
    path = Path("/etc/sudoers.d/kaudit-test-nopasswd")
    path.write_text(f"{ssh_env.user} ALL=(ALL) NOPASSWD: ALL\n")
    os.chmod(path, 0o440)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


@pytest.mark.sshd
def test_sudo_runs_probe_as_root(ssh_env, sshd_factory, tmp_path, sudo_rule):
    server = sshd_factory("127.0.0.2")
    trust(tmp_path, server)
    run = probe(host_for(server), opts_for(ssh_env, tmp_path, sudo=True),
                command="sudo -n sh -s -- --vip 127.0.0.1")
    assert b"uid=0\n" in run.stdout


@pytest.mark.sshd
def test_sudo_needing_a_password_is_explained(ssh_env, sshd_factory, tmp_path):
    requires.need("sudo")
    assert not Path("/etc/sudoers.d/kaudit-test-nopasswd").exists()
    server = sshd_factory("127.0.0.2")
    trust(tmp_path, server)
    with pytest.raises(CollectError) as err:
        probe(host_for(server), opts_for(ssh_env, tmp_path, sudo=True),
              command="sudo -n sh -s -- --vip 127.0.0.1")
    assert err.value.status == "error"
    assert err.value.message == ("sudo requires a password; configure NOPASSWD or "
                                 "drop --sudo")


@pytest.mark.sshd
def test_output_over_the_cap_is_truncated(ssh_env, sshd_factory, tmp_path):
    server = sshd_factory("127.0.0.2")
    trust(tmp_path, server)
    flood = b'echo "KAUDIT-PROBE 1 $(date +%s)"\nexec yes kaudit-flood-line\n'
    start = time.monotonic()
    run = probe(host_for(server), opts_for(ssh_env, tmp_path, max_output=200_000), flood)
    assert time.monotonic() - start < 10
    assert run.truncated
    assert len(run.stdout) == 200_000
    assert run.stdout.startswith(b"KAUDIT-PROBE 1 ")
    assert any("truncated" in n for n in run.notes)


@pytest.mark.sshd
def test_remote_probe_that_hangs_times_out(ssh_env, sshd_factory, tmp_path):
    server = sshd_factory("127.0.0.2")
    trust(tmp_path, server)
    start = time.monotonic()
    with pytest.raises(CollectError) as err:
        probe(host_for(server), opts_for(ssh_env, tmp_path, timeout=2.0),
              b'echo "KAUDIT-PROBE 1 $(date +%s)"\nsleep 30\n')
    assert err.value.status == "timeout"
    assert time.monotonic() - start < 4


# -- local connection ---------------------------------------------------------------

def test_local_host_runs_without_ssh(tmp_path):
    opts = SshOptions(ssh_config=str(_empty(tmp_path)), known_hosts=str(tmp_path / "kh"))
    host = Host(name="me", address="localhost", connection="local")
    run = run_probe(host, STANDIN, "sh -s -- --vip '127.0.0.1 x'", opts, HostKeyStore(None))
    lines = run.stdout.decode().splitlines()
    assert f"uid={os.geteuid()}" in lines
    assert "args=--vip 127.0.0.1 x" in lines  # quoted argument stayed one argument
    assert run.exit_status == 0
    assert run.clock_offset_s is not None and abs(run.clock_offset_s) < 0.5


def test_local_host_cap_and_timeout(tmp_path):
    opts = SshOptions(max_output=50_000, timeout=1.0)
    host = Host(name="me", address="localhost", connection="local")
    run = run_probe(host, b"exec yes\n", "sh -s --", opts, HostKeyStore(None))
    assert run.truncated and len(run.stdout) == 50_000
    start = time.monotonic()
    with pytest.raises(CollectError) as err:
        run_probe(host, b"sleep 20\n", "sh -s --", opts, HostKeyStore(None))
    assert err.value.status == "timeout"
    assert time.monotonic() - start < 2.5


# -- pure parts -----------------------------------------------------------------------

def test_parse_jump_forms():
    assert parse_jump("bastion") == (None, "bastion", None)
    assert parse_jump("ops@bastion:2222") == ("ops", "bastion", 2222)
    assert parse_jump("ssh://ops@10.0.0.1:22") == ("ops", "10.0.0.1", 22)
    assert parse_jump("[::1]:2200") == (None, "::1", 2200)
    for bad in ("ops@", "host:99999", "host:x", "[::1"):
        with pytest.raises(ValueError):
            parse_jump(bad)


def test_precedence_inventory_then_cli_then_config(tmp_path):
    cfg = tmp_path / "c"
    cfg.write_text("Host m01\n  HostName 10.1.1.1\n  User cfguser\n  Port 2201\n"
                   "  IdentityFile ~/.ssh/cfg_key\n  ProxyJump jumper@bastion:2022\n")
    config = SshConfig(str(cfg))
    ep = resolve(Host(name="m01", address="m01"), SshOptions(), config)
    assert (ep.hostname, ep.port, ep.user) == ("10.1.1.1", 2201, "cfguser")
    assert ep.identities == (os.path.expanduser("~/.ssh/cfg_key"),)
    assert not ep.default_identities
    assert ep.jump is not None and ep.jump.describe() == "jumper@bastion:2022"
    assert ep.known_hosts_name == "[10.1.1.1]:2201"

    cli = SshOptions(user="cliuser", identity=["/k/cli"], port=2202, jump="none")
    ep = resolve(Host(name="m01", address="m01"), cli, config)
    assert (ep.port, ep.user, ep.identities, ep.jump) == (2202, "cliuser", ("/k/cli",), None)

    host = Host(name="m01", address="m01", user="invuser", port=22, identity="/k/inv")
    ep = resolve(host, cli, config)
    assert (ep.port, ep.user, ep.identities) == (22, "invuser", ("/k/inv",))
    assert ep.known_hosts_name == "10.1.1.1"


def test_missing_ssh_config_is_an_input_error(tmp_path):
    with pytest.raises(InputError) as err:
        SshConfig.load(str(tmp_path / "nope"))
    assert str(tmp_path / "nope") in str(err.value)


def test_known_hosts_matching(tmp_path):
    blob = b"\x00\x00\x00\x0bssh-ed25519" + b"\x00\x00\x00\x20" + bytes(range(32))
    other = b"\x00\x00\x00\x0bssh-ed25519" + b"\x00\x00\x00\x20" + bytes(32)
    b64 = base64.b64encode(blob).decode()
    salt = os.urandom(20)
    hashed = base64.b64encode(hmac.new(salt, b"[10.0.0.9]:2222", hashlib.sha1).digest())
    kh = tmp_path / "known_hosts"
    kh.write_text(
        "# comment\n"
        f"10.0.0.1,node1 ssh-ed25519 {b64}\n"
        f"|1|{base64.b64encode(salt).decode()}|{hashed.decode()} ssh-ed25519 {b64}\n"
        f"*.example.com,!bad.example.com ssh-ed25519 {b64}\n"
        "garbage line\n"
        f"@revoked * ssh-ed25519 {base64.b64encode(bytes(5)).decode()}\n")
    store = HostKeyStore(str(kh), global_path=None)
    for name in ("10.0.0.1", "node1", "[10.0.0.9]:2222", "a.example.com"):
        assert store.check(name, "ssh-ed25519", blob) is None, name
    with pytest.raises(Exception, match="unknown host key"):
        store.check("bad.example.com", "ssh-ed25519", blob)
    with pytest.raises(Exception, match="unknown host key"):
        store.check("10.0.0.9", "ssh-ed25519", blob)   # port 22 is a different entry
    with pytest.raises(Exception, match="CHANGED"):
        store.check("node1", "ssh-ed25519", other)
    with pytest.raises(Exception, match="revoked"):
        store.check("x", "ssh-ed25519", bytes(5))



def test_known_hosts_index_of_a_large_file(tmp_path):
    """One line per host (a fleet's known_hosts): literal names are indexed, case does
    not matter, file order decides the message, and recorded keys are seen at once."""
    def key(i: int) -> bytes:
        return b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + i.to_bytes(32, "big")

    def b64(i: int) -> str:
        return base64.b64encode(key(i)).decode()

    kh = tmp_path / "known_hosts"
    kh.write_text("".join(f"[10.1.{i // 250}.{i % 250}]:22{i % 10},Node{i} ssh-ed25519 "
                          f"{b64(i)}\n" for i in range(3000))
                  + f"node7*,!node77 ecdsa-sha2-nistp256 {b64(9999)}\n")
    store = HostKeyStore(str(kh), global_path=None, accept_new=True)
    for i in (0, 1234, 2999):
        assert store.check(f"[10.1.{i // 250}.{i % 250}]:22{i % 10}", "ssh-ed25519",
                           key(i)) is None
        assert store.check(f"node{i}", "ssh-ed25519", key(i)) is None
    with pytest.raises(Exception, match="CHANGED"):
        store.check("node5", "ssh-ed25519", key(6))
    # node7 has a literal line and a wildcard one: the literal comes first in the file.
    assert store.known_types("node7") == ["ssh-ed25519", "ecdsa-sha2-nistp256"]
    assert store.known_types("node77") == ["ssh-ed25519"]
    assert store.known_types("node70000") == ["ecdsa-sha2-nistp256"]
    assert store.known_types("fresh") == []
    note = store.check("fresh", "ssh-ed25519", key(5000))
    assert note and "recorded" in note
    assert store.known_types("fresh") == ["ssh-ed25519"]
    assert store.check("fresh", "ssh-ed25519", key(5000)) is None
    assert kh.read_text().endswith(f"fresh ssh-ed25519 {b64(5000)}\n")

@pytest.fixture
def user_password(ssh_env):  # type: ignore[no-untyped-def]
    """Give the test user a password for this test only."""
    secret = "kaudit-Pw-" + os.urandom(6).hex()
    subprocess.run(["chpasswd"], input=f"{ssh_env.user}:{secret}", text=True, check=True)
    try:
        yield secret
    finally:
        subprocess.run(["usermod", "-p", "*", ssh_env.user], check=True)


@pytest.mark.sshd
def test_password_from_inventory_secrets(ssh_env, sshd_factory, tmp_path, user_password):
    server = sshd_factory("127.0.0.2", authorized=[], extra="PasswordAuthentication yes\n")
    trust(tmp_path, server)
    opts = opts_for(ssh_env, tmp_path, identity=[])
    host = Host(name="h", address=server.address, port=server.port,
                secrets={"ansible_password": user_password})
    assert probe(host, opts).exit_status == 0
    bad = Host(name="h", address=server.address, port=server.port,
               secrets={"ansible_password": user_password + "x"})
    with pytest.raises(CollectError) as err:
        probe(bad, opts)
    assert err.value.status == "auth_failed"
    assert user_password not in err.value.message and "password" in err.value.message


@pytest.fixture
def agent_sock(ssh_env, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A private ssh-agent holding the good key; stopped by pid afterwards."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        env = dict(os.environ, SSH_AUTH_SOCK=str(sock))
        subprocess.run(["ssh-add", "-q", str(ssh_env.key)], env=env, check=True,
                       capture_output=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield sock
    finally:
        proc.terminate()
        proc.wait(5)


@pytest.mark.sshd
def test_ssh_agent_keys_are_used(ssh_env, sshd_factory, tmp_path, agent_sock):
    server = sshd_factory("127.0.0.2")
    trust(tmp_path, server)
    opts = SshOptions(user=ssh_env.user, ssh_config=str(_empty(tmp_path)),
                      known_hosts=str(tmp_path / "known_hosts"), use_agent=True)
    assert probe(host_for(server), opts).exit_status == 0
    # Without the agent the same options have no key to offer.
    with pytest.raises(CollectError) as err:
        probe(host_for(server), SshOptions(user=ssh_env.user, ssh_config=opts.ssh_config,
                                           known_hosts=opts.known_hosts, use_agent=False))
    assert err.value.status == "auth_failed"


@pytest.mark.sshd
def test_stale_agent_socket_is_skipped(ssh_env, sshd_factory, tmp_path, monkeypatch):
    server = sshd_factory("127.0.0.2")
    trust(tmp_path, server)
    monkeypatch.setenv("SSH_AUTH_SOCK", str(tmp_path / "no-agent.sock"))
    # The wrong key fails, the dead agent is skipped: a plain auth failure, not a crash.
    with pytest.raises(CollectError) as err:
        probe(host_for(server), opts_for(ssh_env, tmp_path, use_agent=True,
                                         identity=[str(ssh_env.wrong_key)]))
    assert err.value.status == "auth_failed"


# -- the shared deadline watchdog ------------------------------------------------

def test_watchdog_runs_due_actions_in_order_on_one_thread_and_then_exits() -> None:
    from kaudit.collect.session import _Watchdog

    dog = _Watchdog()
    fired: list[tuple[str, str]] = []
    done = threading.Event()

    def action(name: str) -> None:
        fired.append((name, threading.current_thread().name))
        if name == "last":
            done.set()

    now = time.monotonic()
    dog.schedule(now + 0.30, lambda: action("last"))
    dog.schedule(now + 0.10, lambda: action("first"))     # earlier: wakes the thread
    cancelled = dog.schedule(now + 0.05, lambda: action("cancelled"))
    dog.schedule(now + 0.20, lambda: action("second"))
    dog.cancel(cancelled)
    assert done.wait(5)
    assert [f[0] for f in fired] == ["first", "second", "last"]
    assert {f[1] for f in fired} == {"kaudit-watchdog"}
    for _ in range(100):          # nothing scheduled: the thread ends by itself
        if dog._thread is None:
            break
        time.sleep(0.02)
    assert dog._thread is None


def test_watchdog_thread_ends_when_everything_is_cancelled() -> None:
    from kaudit.collect.session import _Watchdog

    dog = _Watchdog()
    fired: list[int] = []
    tokens = [dog.schedule(time.monotonic() + 60, lambda i=i: fired.append(i))
              for i in range(50)]
    thread = dog._thread
    assert thread is not None and thread.is_alive()
    for t in tokens:
        dog.cancel(t)
    thread.join(5)
    assert not thread.is_alive(), "a cancelled 60 s deadline kept the thread alive"
    assert fired == []
    # Scheduling again starts a fresh thread.
    ev = threading.Event()
    dog.schedule(time.monotonic(), ev.set)
    assert ev.wait(5)


# -- paramiko without invoke ------------------------------------------------------

def _fresh_python(code: str) -> str:
    import sys
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_paramiko_is_imported_without_invoke(tmp_path: Path) -> None:
    """invoke costs ~45 ms per run and only serves `Match exec`; it stays out,
    yet remains importable for anyone else."""
    cfg = tmp_path / "config"
    cfg.write_text("Host *\n  Port 2200\n")
    out = _fresh_python(
        "import sys\n"
        "from kaudit.collect.sshconfig import SshConfig\n"
        f"c = SshConfig({str(cfg)!r})\n"
        "print(c.lookup('h').get('port'), 'invoke' in sys.modules)\n"
        "import invoke\n"
        "print('importable', invoke.__name__)\n")
    assert out.split() == ["2200", "False", "importable", "invoke"]


def test_match_exec_in_ssh_config_still_runs_its_command(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    cfg = tmp_path / "config"
    cfg.write_text(f'Match exec "touch {marker}; true"\n  User via-exec\n'
                   'Match exec "false"\n  Port 2299\n'
                   "Host *\n  Port 2200\n")
    out = _fresh_python(
        "from kaudit.collect.sshconfig import SshConfig\n"
        f"c = SshConfig({str(cfg)!r}).lookup('h')\n"
        "print(c.get('user'), c.get('port'))\n")
    assert out.split() == ["via-exec", "2200"]
    assert marker.exists()


@pytest.mark.sshd
def test_jump_host_teardown_raises_in_no_thread(ssh_env, sshd_factory, tmp_path):
    """Closing a jump chain closes the inner transport (whose socket is a channel
    of the outer one) while the outer one still runs: closed the other way round,
    the inner transport's thread died on EOFError sending its channel close."""
    jump = sshd_factory("127.0.0.2")
    target = sshd_factory("127.0.0.3")
    trust(tmp_path, jump, target)
    opts = opts_for(ssh_env, tmp_path, jump=f"{ssh_env.user}@127.0.0.2:{jump.port}")
    errors: list[str] = []
    old_hook = threading.excepthook
    threading.excepthook = lambda a: errors.append(f"{a.exc_type.__name__} in {a.thread}")
    try:
        before = set(threading.enumerate())
        for _ in range(12):
            run = probe(host_for(target), opts)
            assert run.exit_status == 0
        for t in set(threading.enumerate()) - before:
            t.join(10)
    finally:
        threading.excepthook = old_hook
    assert errors == []
