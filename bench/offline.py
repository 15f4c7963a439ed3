#!/usr/bin/env python3
"""Offline evaluation benchmark: a fact file of N hosts (cloned from the recorded
lab fleet with new names and addresses) evaluated by `kaudit scan -p PROFILE
--facts`, reports written. See bench/README.md."""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "fixtures" / "facts" / "lab-healthy.json"


def _replace(value: Any, subs: list[tuple[re.Pattern[str], str]]) -> Any:
    """Every string in a JSON tree with the old host identities swapped for new ones."""
    if isinstance(value, str):
        for pattern, new in subs:
            value = pattern.sub(new, value)
        return value
    if isinstance(value, list):
        return [_replace(v, subs) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, subs) for k, v in value.items()}
    return value


def _ident(text: str) -> re.Pattern[str]:
    # Whole tokens only: 192.168.40.19 must not match inside 192.168.40.190.
    return re.compile(r"(?<![\w.])" + re.escape(text) + r"(?![\w])")


def build(n: int, out: Path, fixture: Path = FIXTURE) -> None:
    """Write a fact file of `n` hosts cloned round-robin from `fixture`."""
    doc = json.loads(fixture.read_text())
    base = doc["hosts"]
    hosts = []
    for i in range(n):
        src = base[i % len(base)]
        old_name, old_addr = src["inventory"]["name"], src["inventory"]["address"]
        name, addr = f"{old_name}-{i:04d}", f"10.{40 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"
        subs = [(_ident(old_addr), addr), (_ident(old_name), name)]
        host = copy.deepcopy(src)
        host["inventory"]["name"], host["inventory"]["address"] = name, addr
        host["facts"] = _replace(host["facts"], subs)
        if isinstance(host.get("raw"), str):
            host["raw"] = _replace(host["raw"], subs)
        hosts.append(host)
    doc["hosts"] = hosts
    doc["inventory"]["vars"]["node_cidr"] = "10.0.0.0/8"
    out.write_text(json.dumps(doc, indent=1) + "\n")


# What is timed: the whole `kaudit scan --facts` command (start-up, loading the packs
# and the fact file, evaluation, one report). "terminal" is the default report on
# stdout (read from a pipe); "json" and "junit" write that report to a file (-q).
VARIANTS = ("terminal", "json", "junit", "html", "prometheus")


def _argv(kaudit: str, profile: str, facts: Path, work: Path, variant: str) -> list[str]:
    base = [kaudit, "scan", "-p", profile, "--facts", str(facts)]
    if variant == "terminal":
        return base
    return [*base, "-q", "-r", f"{variant}:{work / ('report.' + variant)}"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--profile", default="prod-ha")
    ap.add_argument("--only", default=",".join(VARIANTS),
                    help="reports to time, comma-separated: " + ", ".join(VARIANTS))
    ap.add_argument("--kaudit", help="kaudit console script (default: beside this Python)")
    ap.add_argument("--json", help="write the figures to this file")
    a = ap.parse_args(argv)
    variants = [v for v in VARIANTS if v in a.only.split(",")] or ["terminal"]
    kaudit = a.kaudit or str(Path(sys.executable).parent / "kaudit")
    work = Path(tempfile.mkdtemp(prefix="kaudit-offline-"))
    try:
        facts = work / "facts.json"
        build(a.hosts, facts)
        size_mb = facts.stat().st_size / 1e6
        times: dict[str, list[float]] = {v: [] for v in variants}
        codes = []
        for _ in range(a.runs):          # interleaved, so a busy moment hits every report
            for variant in variants:
                t0 = time.monotonic()
                r = subprocess.run(_argv(kaudit, a.profile, facts, work, variant),
                                   capture_output=True)
                times[variant].append(time.monotonic() - t0)
                codes.append(r.returncode)
                if r.returncode not in (0, 1, 3):   # findings or incomplete: fine here
                    sys.stderr.write(r.stderr.decode("utf-8", "replace")[-2000:])
                    print(f"offline: kaudit scan ({variant}) failed with exit status "
                          f"{r.returncode}")
                    return 1
        results = None
        if "json" in variants:
            report = json.loads((work / "report.json").read_text())
            results = len(report.get("results", []))
        medians = {v: statistics.median(t) for v, t in times.items()}
        print(f"offline: {a.hosts} hosts ({size_mb:.1f} MB fact file), profile {a.profile}, "
              f"median of {a.runs} runs, exit {codes[-1]}"
              + (f", {results} results" if results is not None else ""))
        for v, t in times.items():
            print(f"  {v:9s} {medians[v]:6.2f}s (min {min(t):.2f}s)")
        if a.json:
            Path(a.json).write_text(json.dumps({
                "hosts": a.hosts, "profile": a.profile, "fact_file_mb": round(size_mb, 1),
                "wall_s": round(medians[variants[0]], 3),
                "reports": {v: {"wall_s": round(medians[v], 3),
                                "runs_s": [round(x, 3) for x in t]} for v, t in times.items()},
                "results": results}, indent=2) + "\n")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
