"""Run the probe on one host: over SSH (paramiko, behaving like OpenSSH) or, for
local hosts, as a subprocess; `run_probe` is the entry point."""

from __future__ import annotations

import time

from kaudit.collect.hostkeys import HostKeyStore
from kaudit.collect.local import _run_local
from kaudit.collect.options import CollectError, ProbeRun, SshOptions
from kaudit.collect.session import _run_ssh
from kaudit.core.model import Host
from kaudit.core.sanitize import one_line as clean

__all__ = ["CollectError", "HostKeyStore", "ProbeRun", "SshOptions", "run_probe"]

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


