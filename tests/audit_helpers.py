"""Helpers for the drift, waiver, diff and report-format tests: scans of the
recorded lab fleets with the demonstration pack (stable rules, known faults)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from common import ROOT

from kaudit.cli import cli

FACTS = ROOT / "fixtures" / "facts"
HEALTHY = FACTS / "lab-healthy.json"
FAULTY = FACTS / "lab-faulty.json"
DEMO = ["-p", str(ROOT / "tests" / "data" / "demo-complete.yaml"),
        "--rules", str(ROOT / "tests" / "data" / "demo-rules")]
HOSTS = ["m01", "m02", "m03", "n01", "n02", "n03"]

# The failures the demonstration pack finds in lab-faulty.json (none in lab-healthy.json).
FAULTY_FAILS = {
    ("demo.swap-off", "n02"), ("demo.selinux", "m02"), ("demo.firewalld", "n01"),
    ("demo.ip-forward", "m03"), ("demo.modules", "n03"), ("demo.timezone", "m01"),
    ("demo.nofile", "n01"), ("demo.skew", None), ("demo.cidrs", None),
}


def kaudit(*args: str) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def scan(facts: Path, *extra: str | Path, json_out: Path | None = None
         ) -> tuple[int, dict[str, Any] | None, str, str]:
    """`kaudit scan` of a fact file with the demo pack; the JSON report if asked."""
    args = ["scan", *DEMO, "--facts", str(facts), *map(str, extra)]
    if json_out is not None:
        args += ["-r", f"json:{json_out}", "-r", "terminal"]
    code, out, err = kaudit(*args)
    doc = json.loads(json_out.read_text()) if json_out is not None and json_out.exists() \
        else None
    return code, doc, out, err


def by_key(doc: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    return {(r["rule"], r["host"]): r for r in doc["results"]}


def with_status(doc: dict[str, Any], status: str) -> set[tuple[str, str | None]]:
    return {(r["rule"], r["host"]) for r in doc["results"] if r["status"] == status}
