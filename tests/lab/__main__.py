"""By hand, as root from the repository top:

    python -m tests.lab up prod-ha-preflight-broken   # prints how to scan it
    python -m tests.lab down [--prefix kaudit-lab-1234-]
"""

from __future__ import annotations

import argparse
import sys

from . import PREFIX, Lab, LabError, down_all, load_fleet, unmet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.lab")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="build the lab for a fleet and leave it running")
    up.add_argument("fleet", help="fleet name (fixtures/fleets/NAME.yaml) or path")
    down = sub.add_parser("down", help="remove labs (all kaudit-lab-* by default)")
    down.add_argument("--prefix", default=PREFIX)
    args = ap.parse_args(argv)
    reason = unmet()
    if reason:
        print(f"lab: {reason}", file=sys.stderr)
        return 2
    if args.cmd == "down":
        if not args.prefix.startswith(PREFIX):
            print(f"lab: --prefix must start with {PREFIX}", file=sys.stderr)
            return 2
        for p in down_all(args.prefix):
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
