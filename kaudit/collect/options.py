"""What a probe run takes and gives: SshOptions (connection settings as the user
gave them), ProbeRun (output, exit status, clock offset), CollectError (a host
that could not be scanned, with its status), and the bounded output buffer."""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kaudit.collect import sshlib
from kaudit.collect.probe import HEADER
from kaudit.collect.sshconfig import (
    Endpoint,
    SshConfig,
    resolve,
)
from kaudit.core.model import Host

_FIRST_LINE = re.compile(rb"^" + HEADER.encode() + rb" (\S+) (-?\d+(?:\.\d+)?)\s*$")
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
        return resolve(host, self, self.config())

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


def _remaining(deadline: float, what: str, opts: SshOptions) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise CollectError("timeout", f"{what}: per-host timeout of {opts.timeout:g}s reached")
    return left


