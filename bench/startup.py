#!/usr/bin/env python3
"""Start-up benchmark: wall time of `kaudit --help` and `kaudit rules list`, and
a check (`python -X importtime`) that paramiko is not imported on paths that do
not connect. Exit status 1 when it is. See bench/README.md."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = (["--help"], ["rules", "list"])


def imported_modules(args: list[str]) -> set[str]:
    """Top-level modules imported by `python -m kaudit ARGS` (from -X importtime)."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "kaudit", *args],
                       capture_output=True, text=True)
    mods = set()
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            mods.add(name.split(".")[0])
    return mods


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--kaudit", help="kaudit console script (default: beside this Python)")
    ap.add_argument("--json", help="write the figures to this file")
    a = ap.parse_args(argv)
    kaudit = a.kaudit or str(Path(sys.executable).parent / "kaudit")
    figures: dict[str, dict[str, object]] = {}
    bad = False
    for args in COMMANDS:
        label = "kaudit " + " ".join(args)
        times = []
        for _ in range(a.runs):
            t0 = time.monotonic()
            r = subprocess.run([kaudit, *args], capture_output=True)
            times.append(time.monotonic() - t0)
            if r.returncode != 0:
                print(f"startup: `{label}` failed with exit status {r.returncode}")
                return 1
        heavy = sorted(imported_modules(args) & {"paramiko", "cryptography", "nacl"})
        bad = bad or bool(heavy)
        figures[label] = {"median_s": round(statistics.median(times), 3),
                          "min_s": round(min(times), 3), "ssh_imports": heavy}
        print(f"{label:22s} median {statistics.median(times):.3f}s  min {min(times):.3f}s  "
              f"SSH libraries imported: {', '.join(heavy) or 'none'}")
    if a.json:
        Path(a.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
