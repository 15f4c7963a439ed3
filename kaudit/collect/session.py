"""One SSH session to one host: the TCP connection (through jump hosts), one
watchdog thread for every host's deadline, and the probe run over it."""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from kaudit.collect import sshlib
from kaudit.collect.handshake import (
    _authenticate,
    _exec,
    _handshake,
    _prefer_fast_algorithms,
    _prefer_known_key_types,
)
from kaudit.collect.hostkeys import HostKeyRejected, HostKeyStore
from kaudit.collect.options import _TRANSPORT_POLL_S, CollectError, ProbeRun, SshOptions, _remaining
from kaudit.collect.sshconfig import (
    Endpoint,
)
from kaudit.core.model import Host
from kaudit.core.sanitize import one_line as clean

# paramiko logs transport failures (with tracebacks) at ERROR; without a handler
# Python's last-resort handler would print them on the user's terminal.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

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
