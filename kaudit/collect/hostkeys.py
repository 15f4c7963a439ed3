"""Host keys checked as OpenSSH does: known_hosts (hashed and plain entries,
wildcards, [host]:port), the global file, and trust on first use with
--accept-new-host-keys (recorded under a lock)."""

from __future__ import annotations

import base64
import binascii
import fcntl
import functools
import hashlib
import hmac
import os
import re
import threading
from dataclasses import dataclass

from kaudit.core.errors import InputError

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"


@dataclass(frozen=True)
class _KnownKey:
    patterns: tuple[str, ...]
    keytype: str
    blob: bytes
    revoked: bool


def _fingerprint(blob: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _name_matches(name: str, patterns: tuple[str, ...]) -> bool:
    """OpenSSH host matching: hashed entries, wildcards, `!` negation."""
    matched = False
    for pat in patterns:
        if pat.startswith("|1|"):
            try:
                _, _, salt64, hash64 = pat.split("|")
                salt = base64.b64decode(salt64)
                want = base64.b64decode(hash64)
            except (ValueError, binascii.Error):
                continue
            if hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), want):
                matched = True
            continue
        negate = pat.startswith("!")
        pat = pat[1:] if negate else pat
        if _glob(pat).fullmatch(name.lower()):
            if negate:
                return False
            matched = True
    return matched


@functools.lru_cache(maxsize=4096)
def _glob(pattern: str) -> re.Pattern[str]:
    """OpenSSH patterns know only `*` and `?` (`[` is literal, as in `[host]:port`)."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())
    return re.compile("".join(parts))


def _is_literal(pattern: str) -> bool:
    return not pattern.startswith(("|", "!")) and "*" not in pattern and "?" not in pattern


class _KeyIndex:
    """known_hosts entries looked up by name: literal names through a dict (a fleet's
    known_hosts has one line per host, and scanning it for every host is quadratic),
    wildcard, negated and hashed entries by matching each one."""

    def __init__(self) -> None:
        self.count = 0
        self.literal: dict[str, list[tuple[int, _KnownKey]]] = {}
        self.other: list[tuple[int, _KnownKey]] = []
        self.revoked_blobs: set[bytes] = set()
        self._cache: dict[str, list[_KnownKey]] = {}

    def add(self, key: _KnownKey) -> None:
        item = (self.count, key)
        self.count += 1
        self._cache.clear()
        if key.revoked:
            self.revoked_blobs.add(key.blob)
            return
        if all(_is_literal(p) for p in key.patterns):
            for name in {p.lower() for p in key.patterns}:
                self.literal.setdefault(name, []).append(item)
        else:
            self.other.append(item)

    def matching(self, name: str) -> list[_KnownKey]:
        """Non-revoked entries for `name`, in file order (memoized per name)."""
        found = self._cache.get(name)
        if found is None:
            items = list(self.literal.get(name.lower(), ()))
            items += [it for it in self.other if _name_matches(name, it[1].patterns)]
            found = [k for _, k in sorted(items, key=lambda it: it[0])]
            self._cache[name] = found
        return found


class HostKeyRejected(Exception):
    """A host key that must not be trusted; the message is safe to show."""


class HostKeyStore:
    """known_hosts, read once per scan and shared by all worker threads.

    Unknown keys are refused unless `accept_new` (then appended to the file,
    as OpenSSH's StrictHostKeyChecking=accept-new does); a changed or revoked
    key is always refused.
    """

    def __init__(self, path: str | None = None, accept_new: bool = False,
                 global_path: str | None = GLOBAL_KNOWN_HOSTS) -> None:
        self.path = os.path.expanduser(path or DEFAULT_KNOWN_HOSTS)
        self.accept_new = accept_new
        self._lock = threading.Lock()
        self._index = _KeyIndex()
        for p in (global_path, self.path):
            if p and os.path.isfile(p):
                self._load(p)

    def _load(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.readlines()
        except OSError as e:
            raise InputError(f"cannot read known_hosts: {e.strerror}", path=path) from e
        for line in lines:
            key = self._parse_line(line)
            if key is not None:
                self._index.add(key)

    @staticmethod
    def _parse_line(line: str) -> _KnownKey | None:
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            return None
        revoked = False
        if fields[0].startswith("@"):
            if fields[0] != "@revoked":
                return None  # @cert-authority: certificates are not supported
            revoked = True
            fields = fields[1:]
        if len(fields) < 3:
            return None
        try:
            blob = base64.b64decode(fields[2], validate=True)
        except (ValueError, binascii.Error):
            return None
        return _KnownKey(tuple(fields[0].split(",")), fields[1], blob, revoked)

    def known_types(self, name: str) -> list[str]:
        """Key types recorded for `name` (to prefer them in negotiation)."""
        with self._lock:
            return [k.keytype for k in self._index.matching(name)]

    def check(self, name: str, keytype: str, blob: bytes) -> str | None:
        """Accept the key or raise HostKeyRejected; returns a note when a new key
        was recorded."""
        fp = _fingerprint(blob)
        with self._lock:
            if blob in self._index.revoked_blobs:
                raise HostKeyRejected(f"host key for {name} ({fp}) is marked @revoked")
            mine = self._index.matching(name)
            if any(k.keytype == keytype and k.blob == blob for k in mine):
                return None
            same_type = [k for k in mine if k.keytype == keytype]
            if same_type:
                raise HostKeyRejected(
                    f"HOST KEY CHANGED for {name}: known_hosts ({self.path}) has "
                    f"{_fingerprint(same_type[0].blob)}, the host offered {fp} "
                    f"({keytype}); possible man-in-the-middle. If the change is "
                    f"expected, remove the old entry (ssh-keygen -R '{name}')")
            if mine:
                raise HostKeyRejected(
                    f"host key for {name} is known as {mine[0].keytype} "
                    f"({_fingerprint(mine[0].blob)}), but the host offered {keytype} {fp}")
            if not self.accept_new:
                raise HostKeyRejected(
                    f"unknown host key for {name} ({keytype} {fp}); verify it and add it "
                    f"to {self.path}, or use --accept-new-host-keys")
            self._append(name, keytype, blob)
            self._index.add(_KnownKey((name,), keytype, blob, False))
        return f"new host key recorded in known_hosts: {keytype} {fp}"

    def _append(self, name: str, keytype: str, blob: bytes) -> None:
        line = f"{name} {keytype} {base64.b64encode(blob).decode()}\n"
        directory = os.path.dirname(self.path)
        if directory and not os.path.isdir(directory):
            os.makedirs(directory, mode=0o700, exist_ok=True)
        # O_APPEND plus flock: several kaudit runs may record keys at once.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size > 0:
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        line = "\n" + line
            os.write(fd, line.encode())
        except OSError as e:
            raise HostKeyRejected(f"cannot record host key for {name} in {self.path}: "
                                  f"{e.strerror}") from e
        finally:
            os.close(fd)
