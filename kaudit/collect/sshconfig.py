"""OpenSSH client files: resolving where and as whom to connect (ssh_config,
jump specs).

Precedence for each connection setting, first one set wins:
inventory host vars > command-line options (-u/-i/--port/--jump) > ssh_config
> defaults (local user, port 22, ~/.ssh/id_ed25519, id_ecdsa, id_rsa). This
differs from OpenSSH (where the command line beats the config) on purpose: an
inventory names one host, so it is the most specific source."""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from typing import Any, Protocol

from kaudit.collect import sshlib
from kaudit.core.errors import InputError
from kaudit.core.model import Host
from kaudit.core.ports import as_port
from kaudit.core.sanitize import one_line as clean

DEFAULT_CONFIG = "~/.ssh/config"
DEFAULT_KEYS = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
MAX_JUMPS = 8  # OpenSSH has no limit; a loop in ProxyJump must not recurse forever

@dataclass(frozen=True)
class Endpoint:
    """One resolved SSH hop: where to connect, as whom, with which keys."""

    alias: str                    # the name the user gave (inventory address / jump host)
    hostname: str                 # after ssh_config HostName
    port: int
    user: str
    identities: tuple[str, ...]   # explicit key files, in order
    default_identities: bool      # no explicit file given: try ~/.ssh/id_* too
    jump: Endpoint | None = None

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH records in known_hosts for this endpoint."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    def describe(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


def parse_jump(spec: str) -> tuple[str | None, str, int | None]:
    """`[user@]host[:port]` (also `ssh://` URIs and `[v6]:port`) -> (user, host, port)."""
    s = spec.strip()
    if s.startswith("ssh://"):
        s = s[len("ssh://"):].rstrip("/")
    user: str | None = None
    if "@" in s:
        user, s = s.rsplit("@", 1)
    port: int | None = None
    if s.startswith("["):
        host, sep, rest = s[1:].partition("]")
        if not sep:
            raise ValueError(f"bad jump host {spec!r}: missing ']'")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad jump host {spec!r}")
            port = _port(rest[1:], spec)
    elif s.count(":") == 1:
        host, p = s.split(":")
        port = _port(p, spec)
    else:
        host = s
    if not host or (user is not None and not user):
        raise ValueError(f"bad jump host {spec!r}: expected [USER@]HOST[:PORT]")
    return user, host, port


def _port(text: str, spec: str) -> int:
    port = as_port(text) if text == text.strip() else None
    if port is None:
        raise ValueError(f"bad port in {spec!r}")
    return port


class SshConfig:
    """A parsed ssh_config file (or none), looked up per host name."""

    def __init__(self, path: str | None) -> None:
        paramiko = sshlib.paramiko()
        self.path = path
        self._config = paramiko.SSHConfig()
        if path is None:
            return
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
            if sshlib.needs_match_exec(text):
                sshlib.enable_match_exec()
            self._config = paramiko.SSHConfig.from_text(text)
        except FileNotFoundError as e:
            raise InputError("ssh config file not found", path=path) from e
        except OSError as e:
            raise InputError(f"cannot read ssh config: {e.strerror}", path=path) from e
        except Exception as e:  # paramiko raises several types for bad syntax
            raise InputError(f"invalid ssh config: {clean(e)}", path=path) from e

    def lookup(self, name: str) -> dict[str, Any]:
        try:
            return dict(self._config.lookup(name))
        except Exception as e:
            raise InputError(f"ssh config lookup for {name!r} failed: {clean(e)}",
                             path=self.path) from e

    @classmethod
    def load(cls, path: str | None) -> SshConfig:
        """--ssh-config FILE (must exist), else ~/.ssh/config when present."""
        if path is not None:
            return cls(os.path.expanduser(path))
        default = os.path.expanduser(DEFAULT_CONFIG)
        return cls(default if os.path.isfile(default) else None)


class ConnectSettings(Protocol):
    """The command-line side of connection settings; SshOptions is one."""

    user: str | None
    identity: list[str]
    port: int | None
    jump: str | None


def resolve(host: Host, cli: ConnectSettings, config: SshConfig) -> Endpoint:
    """Where and as whom to reach `host`, jump hosts included."""
    conf = config.lookup(host.address)
    hostname = conf.get("hostname") or host.address
    port = host.port or cli.port or _conf_port(conf, config) or 22
    user = host.user or cli.user or conf.get("user") or getpass.getuser()
    if host.identity:
        idents: list[str] = [host.identity]
    elif cli.identity:
        idents = list(cli.identity)
    else:
        idents = list(conf.get("identityfile") or [])
    jump_spec = cli.jump if cli.jump is not None else conf.get("proxyjump")
    jump = _resolve_jump(jump_spec, cli, config, depth=0)
    return Endpoint(alias=host.address, hostname=hostname, port=port, user=user,
                    identities=tuple(os.path.expanduser(p) for p in idents),
                    default_identities=not idents, jump=jump)


def _resolve_jump(spec: str | None, cli: ConnectSettings, config: SshConfig,
                  depth: int) -> Endpoint | None:
    """A ProxyJump chain `a,b,c` connects through a, then b, then c."""
    if not spec or spec.strip().lower() == "none":
        return None
    if depth > MAX_JUMPS:
        raise InputError(f"ProxyJump chain longer than {MAX_JUMPS} hops (a loop?)",
                         path=config.path)
    prev: Endpoint | None = None
    for part in spec.split(","):
        try:
            user, name, port = parse_jump(part)
        except ValueError as e:
            raise InputError(str(e), path=config.path) from None
        conf = config.lookup(name)
        # A jump host's own ProxyJump applies only to the first hop (as in OpenSSH).
        inner = prev
        if prev is None and conf.get("proxyjump"):
            inner = _resolve_jump(conf["proxyjump"], cli, config, depth + 1)
        idents = list(conf.get("identityfile") or []) or list(cli.identity)
        prev = Endpoint(
            alias=name, hostname=conf.get("hostname") or name,
            port=port or _conf_port(conf, config) or 22,
            user=user or conf.get("user") or cli.user or getpass.getuser(),
            identities=tuple(os.path.expanduser(p) for p in idents),
            default_identities=not idents, jump=inner)
    return prev


def _conf_port(conf: dict[str, Any], config: SshConfig) -> int | None:
    value = conf.get("port")
    if value is None:
        return None
    try:
        return _port(str(value), str(value))
    except ValueError:
        raise InputError(f"bad Port {value!r} in ssh config", path=config.path) from None


