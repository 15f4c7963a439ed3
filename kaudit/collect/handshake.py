"""The SSH handshake as OpenSSH does it: algorithm preferences, host-key
check, authentication (agent, keys, sudo), and the exec channel."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

from kaudit.collect import sshlib
from kaudit.collect.options import (
    _DRAIN_INTERVAL_S,
    _READ_CHUNK,
    CollectError,
    ProbeRun,
    SshOptions,
    _Output,
    _remaining,
)
from kaudit.collect.sshconfig import (
    DEFAULT_KEYS,
    Endpoint,
)
from kaudit.core.sanitize import one_line as clean

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
