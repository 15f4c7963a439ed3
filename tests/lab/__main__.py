"""By hand, as root from the repository top:

    python -m tests.lab up prod-ha-preflight-broken   # prints how to scan it
    python -m tests.lab down [FLEET] [--prefix kaudit-lab-1234-]
    python -m tests.lab exec m01 -- systemctl is-active keepalived
    python -m tests.lab rootfs                        # build the booted hosts' root
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from . import PREFIX, Lab, LabError, down_all, load_fleet, rootfs, unmet
from .core import STATE, ssh_argv
from .run import run


def _labs() -> list[tuple[Path, dict]]:
    out = []
    for state in sorted(Path(tempfile.gettempdir()).glob(f"{PREFIX}*/{STATE}")):
        try:
            out.append((state.parent, json.loads(state.read_text())))
        except (OSError, ValueError):
            continue
    return out


def exec_on(host: str, cmd: list[str]) -> int:
    """Run CMD on a lab host of a running lab, over its sshd, from the lab's seat."""
    for workdir, state in _labs():
        fleet = load_fleet(state["fleet"])
        if not any(h.name == host for h in fleet.hosts):
            continue
        argv = ssh_argv(f"{state['prefix']}lab", workdir / "id_lab", workdir / "known_hosts",
                        fleet.host(host).address, "--", *cmd)
        cp = run(argv, check=False, timeout=300)
        sys.stdout.write(cp.stdout)
        sys.stderr.write(cp.stderr)
        return cp.returncode
    print(f"lab: no running lab has a host {host!r}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="build the lab for a fleet and leave it running")
    up.add_argument("fleet", help="fleet name (fixtures/fleets/NAME.yaml) or path")
    down = sub.add_parser("down", help="remove labs (all kaudit-lab-* by default)")
    down.add_argument("fleet", nargs="?", help="only the labs of this fleet")
    down.add_argument("--prefix", default=PREFIX)
    ex = sub.add_parser("exec", help="run a command on a lab host")
    ex.add_argument("host")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("rootfs", help="build (or reuse) the booted hosts' root and print its path")
    args = ap.parse_args(argv)
    reason = unmet()
    if reason:
        print(f"lab: {reason}", file=sys.stderr)
        return 2
    if args.cmd == "exec":
        cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not cmd:
            print("lab: exec HOST -- COMMAND", file=sys.stderr)
            return 2
        return exec_on(args.host, cmd)
    if args.cmd == "rootfs":
        print(rootfs.ensure())
        return 0
    if args.cmd == "down":
        if not args.prefix.startswith(PREFIX):
            print(f"lab: --prefix must start with {PREFIX}", file=sys.stderr)
            return 2
        prefixes = [args.prefix]
        if args.fleet:
            want = load_fleet(args.fleet).path.resolve()
            prefixes = [st["prefix"] for _, st in _labs()
                        if st["prefix"].startswith(args.prefix)
                        and Path(st["fleet"]).resolve() == want]
        for prefix in prefixes:
            for p in down_all(prefix):
                print(f"removed {p}")
        return 0
    lab = Lab(load_fleet(args.fleet))
    try:
        lab.up()
    except (LabError, OSError, ValueError) as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    inv = lab.workdir / "hosts.txt"
    inv.write_text(lab.fleet.inventory_text())
    print(f"lab {lab.prefix} is up; work dir {lab.workdir}")
    print(f"  ip netns exec {lab.lab_ns} kaudit scan -p prod-ha {inv} "
          f"-i {lab.client_key} --known-hosts {lab.known_hosts}")
    print(f"  python -m tests.lab down --prefix {lab.prefix}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
