"""Run the probe on one host: over SSH (paramiko, behaving like OpenSSH) or,
for `ansible_connection=local` hosts, as a local subprocess.

Connection settings are resolved by `kaudit.collect.sshconfig` with this precedence:
inventory host vars > command-line options > ssh_config > defaults (local
user, port 22). Authentication tries, in order: the identity files (inventory,
else -i, else ssh_config IdentityFile), ssh-agent keys, the default keys
~/.ssh/id_ed25519, id_ecdsa, id_rsa (only when no identity file was named, as
OpenSSH does), then a password when the inventory holds `ansible_password`.
Key files are read once per scan and never asked for a passphrase.

Every failure becomes `CollectError(status, message)` with a status from
`kaudit.core.model.HOST_STATUSES`; messages never carry key material or passwords,
and text that came from the host is stripped of control characters.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import os
import re
import selectors
import shlex
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kaudit.collect import sshlib
from kaudit.collect.sshconfig import (
    DEFAULT_KEYS,
    ConnectSettings,
    Endpoint,
    HostKeyRejected,
    HostKeyStore,
    SshConfig,
    clean,
    resolve,
)
from kaudit.core.model import Host

__all__ = ["CollectError", "HostKeyStore", "ProbeRun", "SshOptions", "run_probe"]

# paramiko logs transport failures (with tracebacks) at ERROR; without a handler
# Python's last-resort handler would print them on the user's terminal.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_FIRST_LINE = re.compile(rb"^KAUDIT-PROBE (\S+) (-?\d+(?:\.\d+)?)\s*$")
_READ_CHUNK = 65536
_TRANSPORT_POLL_S = 5.0
_DRAIN_INTERVAL_S = 0.25


class CollectError(Exception):
    """Collection of one host failed; `status` is a HOST_STATUSES value."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _ScanCache:
    """Things read once per scan and shared by the worker threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config: SshConfig | None = None
        self.keys: dict[str, tuple[Any, str | None]] = {}


@dataclass
class SshOptions:
    """Connection options for one scan (see the module docstring for precedence)."""

    user: str | None = None
    identity: list[str] = field(default_factory=list)
    port: int | None = None
    ssh_config: str | None = None      # default: ~/.ssh/config when it exists
    jump: str | None = None            # [user@]host[:port][,...]
    sudo: bool = False
    known_hosts: str | None = None     # default: ~/.ssh/known_hosts
    accept_new_host_keys: bool = False
    timeout: float = 60.0              # per host: connect + probe
    connect_timeout: float = 10.0
    max_output: int = 16 * 1024 * 1024
    use_agent: bool = True
    _cache: _ScanCache = field(default_factory=_ScanCache, init=False, repr=False,
                               compare=False)

    def config(self) -> SshConfig:
        """The ssh_config, parsed on first use (raises InputError when unreadable)."""
        with self._cache.lock:
            if self._cache.config is None:
                self._cache.config = SshConfig.load(self.ssh_config)
            return self._cache.config

    def endpoint(self, host: Host) -> Endpoint:
        cli = ConnectSettings(user=self.user, identity=list(self.identity), port=self.port,
                              jump=self.jump)
        return resolve(host, cli, self.config())

    def load_key(self, path: str) -> tuple[Any, str | None]:
        """(key or None, note or None) for a private key file, cached by path."""
        with self._cache.lock:
            if path not in self._cache.keys:
                self._cache.keys[path] = _read_key(path)
            return self._cache.keys[path]


def _read_key(path: str) -> tuple[Any, str | None]:
    paramiko = sshlib.paramiko()

    if not os.path.exists(path):
        return None, f"identity file {path} not found"
    try:
        return paramiko.PKey.from_path(path), None
    except (paramiko.PasswordRequiredException, TypeError):
        # cryptography raises TypeError for an OpenSSH-format key without passphrase
        return None, f"identity file {path} is encrypted; skipped (use ssh-agent)"
    except (paramiko.SSHException, OSError, ValueError) as e:
        # Never include the exception text verbatim: it may quote the file.
        return None, f"identity file {path} could not be read ({type(e).__name__}); skipped"


@dataclass
class ProbeRun:
    """What one probe run produced."""

    stdout: bytes
    stderr: bytes
    exit_status: int | None
    clock_offset_s: float | None
    clock_uncertainty_s: float | None
    truncated: bool
    notes: list[str] = field(default_factory=list)


class _Output:
    """Collects stdout/stderr under a cap and times the probe's first line."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.out = bytearray()
        self.err = bytearray()
        self.truncated = False
        self.t0 = 0.0
        self.t1: float | None = None

    def feed(self, data: bytes, stderr: bool = False) -> None:
        buf = self.err if stderr else self.out
        room = self.cap - len(buf)
        if len(data) > room:
            data = data[:max(room, 0)]
            self.truncated = True
        if not stderr and self.t1 is None and b"\n" in data:
            self.t1 = time.time()
        buf += data

    def result(self, exit_status: int | None) -> ProbeRun:
        notes: list[str] = []
        offset = uncertainty = None
        first = bytes(self.out.split(b"\n", 1)[0]) if self.t1 is not None else b""
        m = _FIRST_LINE.match(first)
        if m and self.t1 is not None:
            remote = float(m.group(2))
            offset = remote - (self.t0 + self.t1) / 2
            uncertainty = (self.t1 - self.t0) / 2
        else:
            notes.append("probe output did not start with a KAUDIT-PROBE line; "
                         "clock offset unknown")
        if self.truncated:
            notes.append(f"probe output exceeded {self.cap} bytes and was truncated")
        return ProbeRun(bytes(self.out), bytes(self.err), exit_status, offset, uncertainty,
                        self.truncated, notes)


def run_probe(host: Host, script: bytes, command: str, opts: SshOptions,
              hostkeys: HostKeyStore) -> ProbeRun:
    """Send `script` on stdin to `command` on `host`; raise CollectError on failure."""
    deadline = time.monotonic() + opts.timeout
    if host.connection == "local":
        run = _run_local(script, command, opts, deadline)
    else:
        run = _run_ssh(host, script, command, opts, hostkeys, deadline)
    _check_sudo(run, opts, host)
    return run


def _check_sudo(run: ProbeRun, opts: SshOptions, host: Host) -> None:
    if not opts.sudo or run.exit_status in (0, None) or run.stdout:
        return
    err = run.stderr.decode("utf-8", "replace")
    if "password is required" in err or "a terminal is required" in err:
        raise CollectError("error", "sudo requires a password; configure NOPASSWD or "
                                    "drop --sudo")
    if run.exit_status == 127 and "sudo" in err:
        raise CollectError("error", f"sudo is not installed on {host.name}; install it or "
                                    "connect as root without --sudo")
    if "not in the sudoers" in err or "not allowed to execute" in err:
        raise CollectError("error", f"sudo refused: {clean(err, 200)}")


# -- local ------------------------------------------------------------------------

def _run_local(script: bytes, command: str, opts: SshOptions, deadline: float) -> ProbeRun:
    """Run the probe on this machine: argv from the (quoted) command, no shell."""
    argv = shlex.split(command)
    output = _Output(opts.max_output)
    output.t0 = time.time()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    except OSError as e:
        raise CollectError("error", f"cannot run {argv[0]}: {e.strerror}") from None
    assert proc.stdin and proc.stdout and proc.stderr
    pending = memoryview(script)
    sel = selectors.DefaultSelector()
    try:
        for f in (proc.stdin, proc.stdout, proc.stderr):
            os.set_blocking(f.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
        sel.register(proc.stdout, selectors.EVENT_READ)
        sel.register(proc.stderr, selectors.EVENT_READ)
        if not pending:
            sel.unregister(proc.stdin)
            proc.stdin.close()
        open_reads = 2
        while open_reads and not output.truncated:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CollectError("timeout", f"probe did not finish within {opts.timeout:g}s")
            for key, _ in sel.select(remaining):
                if key.fileobj is proc.stdin:
                    try:
                        n = os.write(proc.stdin.fileno(), pending[:_READ_CHUNK])
                    except BrokenPipeError:
                        n = len(pending)
                    pending = pending[n:]
                    if not pending:
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                data = os.read(key.fd, _READ_CHUNK)
                if not data:
                    sel.unregister(key.fileobj)
                    open_reads -= 1
                    continue
                output.feed(data, stderr=key.fileobj is proc.stderr)
        status: int | None = None
        if not output.truncated:
            try:
                status = proc.wait(max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                raise CollectError("timeout", f"probe did not exit within "
                                              f"{opts.timeout:g}s") from None
        return output.result(status)
    finally:
        sel.close()
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()
        proc.wait()


# -- ssh --------------------------------------------------------------------------

class _Session:
    """The sockets and transports of one host's connection, torn down together
    (also by the watchdog when the per-host deadline passes)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.closeables: list[Any] = []
        self.expired = False

    def add(self, obj: Any) -> None:
        with self.lock:
            self.closeables.append(obj)

    def close(self) -> None:
        """Innermost first: with a jump host, the target's transport (whose socket
        is a channel of the jump host's transport) closes while the jump host's
        transport still runs. Shutting the TCP socket down first made the inner
        transport's thread die on EOFError sending its channel close."""
        with self.lock:
            items, self.closeables = self.closeables[::-1], []
        for obj in items:
            # shutdown() wakes a transport thread blocked in recv() at once; close()
            # alone would leave it there until its socket timeout.
            sock = obj if isinstance(obj, socket.socket) else getattr(obj, "sock", None)
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(Exception):
                obj.close()

    def expire(self) -> None:
        self.expired = True
        self.close()


class _Watchdog:
    """One thread for every host's deadline: a threading.Timer per host cost a
    thread start and its wake-ups for every connection. The thread exits as soon
    as nothing is scheduled and starts again on demand."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._live: set[int] = set()
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, deadline: float, action: Callable[[], None]) -> int:
        """Run `action` at `deadline` (time.monotonic()) unless cancelled first."""
        with self._cond:
            token = next(self._tokens)
            heapq.heappush(self._heap, (deadline, token, action))
            self._live.add(token)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kaudit-watchdog",
                                                daemon=True)
                self._thread.start()
            elif self._heap[0][1] == token:
                self._cond.notify()       # an earlier deadline than the one waited for
            return token

    def cancel(self, token: int) -> None:
        with self._cond:
            self._live.discard(token)
            if not self._live:
                self._cond.notify()       # nothing left: let the thread exit now

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][1] not in self._live:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._thread = None
                        return
                    deadline, token, action = self._heap[0]
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        heapq.heappop(self._heap)
                        self._live.discard(token)
                        break
                    self._cond.wait(wait)
            with contextlib.suppress(Exception):
                action()


_WATCHDOG = _Watchdog()


def _run_ssh(host: Host, script: bytes, command: str, opts: SshOptions,
             hostkeys: HostKeyStore, deadline: float) -> ProbeRun:
    endpoint = opts.endpoint(host)
    session = _Session()
    notes: list[str] = []
    watchdog = _WATCHDOG.schedule(deadline, session.expire)
    # The watchdog and the per-step limits share one deadline and race; whichever
    # wins, a timeout at the deadline gets the same message (repeat scans agree).
    started = False

    def expired() -> CollectError:
        if started:
            return CollectError("timeout", f"probe on {endpoint.describe()} did not finish "
                                           f"within {opts.timeout:g}s")
        return CollectError("timeout", f"no SSH session with {endpoint.describe()} within "
                                       f"{opts.timeout:g}s (no banner, handshake or login)")

    try:
        transport = _connect(endpoint, opts, hostkeys, deadline, session, notes,
                             host.secrets.get("ansible_password")
                             or host.secrets.get("ansible_ssh_pass"))
        started = True
        run = _exec(transport, script, command, opts, deadline)
        if session.expired and not run.truncated:
            # The watchdog closed the connection under a running probe.
            raise expired()
        run.notes[:0] = notes
        return run
    except CollectError as e:
        if session.expired or (e.status == "timeout" and time.monotonic() > deadline - 0.5):
            raise expired() from None
        raise
    except Exception as e:
        if session.expired or time.monotonic() >= deadline:
            raise expired() from None
        raise CollectError("error", f"{type(e).__name__}: {clean(e)}") from None
    finally:
        _WATCHDOG.cancel(watchdog)
        session.close()


def _remaining(deadline: float, what: str, opts: SshOptions) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise CollectError("timeout", f"{what}: per-host timeout of {opts.timeout:g}s reached")
    return left


def _open_socket(ep: Endpoint, opts: SshOptions, deadline: float) -> socket.socket:
    """TCP connect with the connect timeout; DNS is resolved once, here."""
    where = f"{ep.hostname}:{ep.port}"
    try:
        infos = socket.getaddrinfo(ep.hostname, ep.port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise CollectError("unreachable", f"cannot resolve {ep.hostname}: "
                                          f"{clean(e.strerror)}") from None
    last: OSError | None = None
    for family, socktype, proto, _, addr in infos:
        limit = min(opts.connect_timeout, _remaining(deadline, f"connect to {where}", opts))
        sock = socket.socket(family, socktype, proto)
        try:
            sock.settimeout(limit)
            sock.connect(addr)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as e:
            sock.close()
            last = e
    if isinstance(last, TimeoutError):
        raise CollectError("timeout", f"connect to {where} timed out")
    if last is not None and last.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH,
                                           errno.ENETUNREACH, errno.EHOSTDOWN,
                                           errno.ECONNRESET, errno.EADDRNOTAVAIL):
        raise CollectError("unreachable", f"connect to {where}: {last.strerror}")
    reason = last.strerror if last is not None and last.strerror else "failed"
    raise CollectError("unreachable", f"connect to {where}: {reason}")


def _connect(ep: Endpoint, opts: SshOptions, hostkeys: HostKeyStore, deadline: float,
             session: _Session, notes: list[str], password: str | None) -> Any:
    """An authenticated transport to `ep`, through its jump hosts if any."""
    paramiko = sshlib.paramiko()

    if ep.jump is not None:
        # Jump hosts never get the target's password.
        outer = _connect(ep.jump, opts, hostkeys, deadline, session, notes, None)
        limit = _remaining(deadline, f"open tunnel to {ep.hostname}:{ep.port}", opts)
        try:
            sock: Any = outer.open_channel("direct-tcpip", (ep.hostname, ep.port),
                                           ("127.0.0.1", 0), timeout=limit)
        except paramiko.ChannelException as e:
            raise CollectError("unreachable", f"jump host {ep.jump.describe()} cannot reach "
                                              f"{ep.hostname}:{ep.port}: "
                                              f"{clean(e.text)}") from None
        except paramiko.SSHException as e:
            if session.expired:
                raise
            raise CollectError("error", f"jump host {ep.jump.describe()}: {clean(e)}") from None
    else:
        sock = _open_socket(ep, opts, deadline)
    session.add(sock)
    transport = paramiko.Transport(sock)
    session.add(transport)
    if isinstance(sock, socket.socket):
        # paramiko polls its socket every 0.1 s to notice close(); with dozens of
        # connections open for a whole probe run, those wake-ups cost more CPU than
        # the SSH work itself. _Session.close() shuts the socket down instead.
        sock.settimeout(_TRANSPORT_POLL_S)
    _prefer_fast_algorithms(transport)
    _prefer_known_key_types(transport, hostkeys.known_types(ep.known_hosts_name))
    _handshake(transport, ep, opts, deadline)
    key = transport.get_remote_server_key()
    try:
        note = hostkeys.check(ep.known_hosts_name, key.get_name(), key.asbytes())
    except HostKeyRejected as e:
        raise CollectError("hostkey_rejected", str(e)) from None
    if note:
        notes.append(f"{ep.known_hosts_name}: {note}")
    _authenticate(transport, ep, opts, deadline, notes, password)
    return transport


# Cheapest modern choices first: curve25519 is one X25519 operation in C, where
# paramiko's default first choice (mlkem768x25519, OpenSSH >= 9.9) costs more and
# the DH groups cost far more. AES-GCM is one C call per packet; with the CTR
# ciphers paramiko checks every packet's MAC byte by byte in Python, which was
# the largest client cost of a probe run. Everything else stays as a fallback.
_FAST_KEX = ("curve25519-sha256@libssh.org",)
_FAST_KEYS = ("ssh-ed25519",)
_FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def _prefer_fast_algorithms(transport: Any) -> None:
    """Put curve25519 key exchange, Ed25519 host keys and AES-GCM first."""
    opts = transport.get_security_options()
    opts.kex = _front(list(opts.kex), _FAST_KEX)
    opts.key_types = _front(list(opts.key_types), _FAST_KEYS)
    opts.ciphers = _front(list(opts.ciphers), _FAST_CIPHERS)


def _front(items: list[str], first: tuple[str, ...]) -> list[str]:
    return [x for x in first if x in items] + [x for x in items if x not in first]


def _prefer_known_key_types(transport: Any, known: list[str]) -> None:
    """Ask for a host key type we already know, as OpenSSH does."""
    if not known:
        return
    opts = transport.get_security_options()
    types = list(opts.key_types)
    wanted = [t for t in types if t in known or (t.startswith("rsa-sha2") and "ssh-rsa" in known)]
    if wanted:
        opts.key_types = wanted + [t for t in types if t not in wanted]


def _handshake(transport: Any, ep: Endpoint, opts: SshOptions, deadline: float) -> None:
    limit = _remaining(deadline, f"handshake with {ep.describe()}", opts)
    transport.banner_timeout = limit
    transport.handshake_timeout = limit
    done = threading.Event()
    transport.start_client(event=done)
    if not done.wait(limit):
        raise CollectError("timeout", f"{ep.hostname}:{ep.port} did not complete the SSH "
                                      f"handshake within {opts.timeout:g}s")
    if transport.is_active():
        return
    exc = transport.get_exception()
    text = clean(exc) if exc is not None else "negotiation failed"
    context = exc.__context__ if exc is not None else None
    if isinstance(context, (TimeoutError, socket.timeout)):
        raise CollectError("timeout", f"{ep.hostname}:{ep.port} sent no SSH banner within "
                                      f"the time limit")
    if "protocol banner" in text or "Indecipherable" in text or "Invalid SSH banner" in text:
        raise CollectError("error", f"{ep.hostname}:{ep.port} is not an SSH server "
                                    f"(no valid SSH protocol banner)")
    raise CollectError("error", f"SSH negotiation with {ep.hostname}:{ep.port} failed: {text}")


def _authenticate(transport: Any, ep: Endpoint, opts: SshOptions, deadline: float,
                  notes: list[str], password: str | None) -> None:
    paramiko = sshlib.paramiko()

    tried: list[str] = []
    allowed: list[str] | None = None

    def attempt(label: str, fn: Any, *args: Any) -> bool:
        nonlocal allowed
        transport.auth_timeout = _remaining(deadline, f"authenticate to {ep.describe()}", opts)
        tried.append(label)
        try:
            fn(ep.user, *args)
        except paramiko.BadAuthenticationType as e:
            allowed = list(e.allowed_types)
        except paramiko.AuthenticationException:
            pass
        return bool(transport.is_authenticated())

    for path in ep.identities:
        key, note = opts.load_key(path)
        if note:
            notes.append(note)
        if key is not None and attempt(f"key {path}", transport.auth_publickey, key):
            return
    if opts.use_agent and os.environ.get("SSH_AUTH_SOCK"):
        try:
            agent = paramiko.Agent()
        except Exception as e:  # a stale SSH_AUTH_SOCK must not fail the host
            notes.append(f"ssh-agent not usable ({type(e).__name__}); skipped")
            agent = None
        try:
            for i, key in enumerate(agent.get_keys() if agent else ()):
                if attempt(f"agent key {i + 1}", transport.auth_publickey, key):
                    return
        finally:
            if agent is not None:
                agent.close()
    if ep.default_identities:
        for path in DEFAULT_KEYS:
            full = os.path.expanduser(path)
            if not os.path.exists(full):
                continue
            key, note = opts.load_key(full)
            if note:
                notes.append(note)
            if key is not None and attempt(f"key {full}", transport.auth_publickey, key):
                return
    if password is not None:
        if attempt("password", transport.auth_password, password):
            return
        if allowed is not None and "keyboard-interactive" in allowed:
            def answer(_title: str, _instr: str, prompts: list[Any]) -> list[str]:
                return [password for _ in prompts]
            if attempt("keyboard-interactive", transport.auth_interactive, answer):
                return
    what = ", ".join(tried) if tried else "no key or password available"
    skipped = "".join(f"; {n}" for n in notes if n.startswith("identity file"))
    raise CollectError("auth_failed", f"authentication as {ep.user} to {ep.hostname}:{ep.port} "
                                      f"failed (tried: {what}{skipped})")


def _exec(transport: Any, script: bytes, command: str, opts: SshOptions,
          deadline: float) -> ProbeRun:
    """One exec channel: script on stdin, stdout/stderr read until EOF or the cap."""
    limit = _remaining(deadline, "open session", opts)
    chan = transport.open_session(timeout=limit)
    output = _Output(opts.max_output)
    try:
        chan.settimeout(limit)
        output.t0 = time.time()
        chan.exec_command(command)
        chan.sendall(script)
        chan.shutdown_write()
        # One event set by paramiko when either stream gets data or closes: no OS
        # pipe (chan.fileno()) and no polling while the probe runs for seconds.
        ready = threading.Event()
        chan.in_buffer.set_event(ready)
        chan.in_stderr_buffer.set_event(ready)
        while not output.truncated:
            got = False
            while chan.recv_ready() and not output.truncated:
                output.feed(chan.recv(_READ_CHUNK))
                got = True
            while chan.recv_stderr_ready() and not output.truncated:
                output.feed(chan.recv_stderr(_READ_CHUNK), stderr=True)
                got = True
            if output.truncated:
                break
            pending = chan.recv_ready() or chan.recv_stderr_ready()
            if (chan.eof_received or chan.closed) and not pending:
                break
            if pending:
                continue  # data came after a read cleared the event
            left = _remaining(deadline, "reading probe output", opts)
            if got and output.t1 is not None and not chan.status_event.is_set():
                # Output is arriving: drain it in batches, as waking for each small
                # packet of a probe that writes line by line costs more CPU than
                # reading them. The exit status ends the wait at once.
                chan.status_event.wait(min(left, _DRAIN_INTERVAL_S))
            else:
                # Nothing to batch (first line still to come, or a quiet probe):
                # sleep until data, EOF or close; the watchdog closes at the deadline.
                ready.wait(left)
        status: int | None = None
        if not output.truncated:
            left = max(deadline - time.monotonic(), 0.0)
            if chan.status_event.wait(left) and chan.exit_status >= 0:
                status = chan.exit_status
        return output.result(status)
    finally:
        chan.close()
