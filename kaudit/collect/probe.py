"""The host probe: the shell script shipped with the package, its arguments
and the command line that runs it (the collector sends the script on stdin)."""

from __future__ import annotations

import functools
import ipaddress
import shlex
from collections.abc import Mapping
from importlib import resources
from typing import Any

from kaudit.core.ports import as_port

PROBE_VERSION = "1"

# The probe's output framing, shared by the collector (which checks that a run
# started and finished) and the parser (kaudit/facts/parsers/frame.py):
HEADER = "KAUDIT-PROBE"       # first line: HEADER VERSION EPOCH
MARK = "@@kaudit:"            # every framing line starts with it
END = MARK + "end"            # the last line: END STATUS

# cluster var -> probe option; the probe accepts nothing else.
_PORT_ARGS = (("lb_port", "--lb-port"), ("apiserver_port", "--apiserver-port"))


@functools.cache
def probe_script() -> bytes:
    """The probe script's bytes, as shipped in the package."""
    return resources.files("kaudit.collect").joinpath("probe.sh").read_bytes()


def _port(name: str, value: Any) -> int:
    port = as_port(value)
    if port is None:
        raise ValueError(f"{name}: expected a port number 1..65535, got {value!r}")
    return port


def probe_args(cluster_vars: Mapping[str, Any]) -> list[str]:
    """Probe arguments from cluster vars; ValueError on anything not an IP/port."""
    args: list[str] = []
    vip = cluster_vars.get("vip")
    if vip not in (None, ""):
        if not isinstance(vip, str):
            raise ValueError(f"vip: expected an IP address, got {vip!r}")
        if "%" in vip:      # a scoped IPv6 address names a local interface
            raise ValueError(f"vip: expected an IP address, got {vip!r}")
        try:
            addr = ipaddress.ip_address(vip.strip())
        except ValueError:
            raise ValueError(f"vip: expected an IP address, got {vip!r}") from None
        args += ["--vip", str(addr)]
    for var, option in _PORT_ARGS:
        value = cluster_vars.get(var)
        if value not in (None, ""):
            args += [option, str(_port(var, value))]
    return args


def probe_command(args: list[str], sudo: bool) -> str:
    """The remote command line; every argument is shell-quoted."""
    prefix = "sudo -n sh -s --" if sudo else "sh -s --"
    return " ".join([prefix, *(shlex.quote(a) for a in args)])
