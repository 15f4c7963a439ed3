"""The recorded six-host lab fleets, evaluated end to end through the CLI with
the demonstration pack: exact results, exit codes, and reports that agree."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from common import ROOT

from kaudit.cli import cli
from kaudit.facts.factfile import load_facts
from kaudit.facts.parse import parse_probe_output

FACTS = ROOT / "fixtures" / "facts"
DEMO = ["-p", str(ROOT / "tests" / "data" / "demo-profile.yaml"),
        "--rules", str(ROOT / "tests" / "data" / "demo-rules")]
HOSTS = ["m01", "m02", "m03", "n01", "n02", "n03"]
MASTERS, WORKERS = HOSTS[:3], HOSTS[3:]

# What the demonstration pack must say about every fleet, besides `pass`.
COMMON = {
    *(("demo.etcd-own-mount", h, "skip") for h in WORKERS),      # role etcd only
    *(("demo.kubelet-installed", h, "skip") for h in HOSTS),     # installed phase only
    *(("demo.not-collected", h, "error") for h in MASTERS),      # missing fact: error
    *(("demo.not-collected", h, "skip") for h in WORKERS),       # role master only
}
FAULTY = COMMON | {
    ("demo.swap-off", "n02", "fail"),
    ("demo.selinux", "m02", "fail"),
    ("demo.firewalld", "n01", "fail"),
    ("demo.ip-forward", "m03", "fail"),
    ("demo.modules", "n03", "fail"),
    ("demo.timezone", "m01", "fail"),
    ("demo.nofile", "n01", "fail"),
    ("demo.skew", None, "fail"),
    ("demo.cidrs", None, "fail"),
}


def _scan(tmp_path: Path, fleet: str, *extra: str) -> tuple[int, dict, ET.Element, str]:
    jpath, xpath = tmp_path / "r.json", tmp_path / "r.xml"
    result = CliRunner().invoke(cli, ["scan", *DEMO, "--facts", str(FACTS / fleet),
                                      "-r", f"json:{jpath}", "-r", f"junit:{xpath}",
                                      "-r", "terminal", *extra])
    return (result.exit_code, json.loads(jpath.read_text()), ET.parse(xpath).getroot(),
            result.output)


def _non_pass(doc: dict) -> set[tuple[str, str | None, str]]:
    return {(r["rule"], r["host"], r["status"]) for r in doc["results"]
            if r["status"] != "pass"}


def _junit(root: ET.Element) -> set[tuple[str, str | None, str]]:
    out = set()
    for suite in root.iter("testsuite"):
        host = None if suite.get("name") == "cluster" else suite.get("name")
        for case in suite.iter("testcase"):
            rule = case.get("name", "").split()[0]
            if case.find("failure") is not None:
                status = "fail"
            elif case.find("error") is not None:
                status = "error"
            elif case.find("skipped") is not None:
                status = "skip"
            else:
                continue
            out.add((rule, host, status))
    return out


def test_healthy_fleet(tmp_path: Path) -> None:
    code, doc, junit, text = _scan(tmp_path, "lab-healthy.json")
    assert _non_pass(doc) == COMMON
    assert code == 3          # no failure, but demo.not-collected errors: incomplete
    code, *_ = _scan(tmp_path, "lab-healthy.json", "--skip", "demo.not-collected")
    assert code == 0          # every selected rule evaluated, nothing failed
    assert _junit(junit) == _non_pass(doc)
    assert [h["name"] for h in doc["hosts"]] == HOSTS
    assert all(h["status"] == "ok" for h in doc["hosts"])
    assert "fail 0" in text


def test_faulty_fleet(tmp_path: Path) -> None:
    code, doc, junit, text = _scan(tmp_path, "lab-faulty.json")
    assert _non_pass(doc) == FAULTY
    assert code == 3          # errors make the audit incomplete, whatever failed
    assert doc["coverage"] == {"evaluated": doc["summary"]["pass"] + 9, "selected":
                               doc["summary"]["pass"] + 12}
    code, *_ = _scan(tmp_path, "lab-faulty.json", "--skip", "demo.not-collected")
    assert code == 1
    assert _junit(junit) == _non_pass(doc)
    summary = doc["summary"]
    assert summary["fail"] == 9
    assert summary["error"] == 3
    assert sum(summary.values()) == len(doc["results"])
    swap = next(r for r in doc["results"] if r["rule"] == "demo.swap-off" and r["host"] == "n02")
    assert "/dev/dm-1" in str(swap["observed"])
    assert swap["remediation"] == "swapoff -a"
    skew = next(r for r in doc["results"] if r["rule"] == "demo.skew")
    assert "n03" in skew["message"] or "n03" in str(skew["observed"])
    for rule in ("demo.swap-off", "demo.selinux", "demo.cidrs"):
        assert rule in text


def test_fail_on_threshold(tmp_path: Path) -> None:
    # Every failure but demo.timezone (low) and demo.nofile (medium) is high or
    # critical; --fail-on critical keeps exit 1 because swap/ip-forward/cidrs are critical.
    code, *_ = _scan(tmp_path, "lab-faulty.json", "--fail-on", "critical",
                     "--skip", "demo.not-collected")
    assert code == 1
    code, *_ = _scan(tmp_path, "lab-faulty.json", "--only", "demo.timezone",
                     "--fail-on", "medium")
    assert code == 0


def test_only_and_skip(tmp_path: Path) -> None:
    code, doc, _, _ = _scan(tmp_path, "lab-faulty.json", "--only", "demo.swap-off")
    assert code == 1
    failing = {(r["rule"], r["host"]) for r in doc["results"] if r["status"] == "fail"}
    assert failing == {("demo.swap-off", "n02")}
    skipped = {r["rule"] for r in doc["results"] if r["status"] == "skip"}
    assert "demo.cidrs" in skipped
    code, doc, _, _ = _scan(tmp_path, "lab-faulty.json", "--skip", "demo.swap-off",
                            "--skip", "demo.not-collected")
    assert code == 1     # the other failures remain
    assert not any(r["rule"] == "demo.swap-off" and r["status"] == "fail"
                   for r in doc["results"])


@pytest.mark.parametrize("fleet", ["lab-healthy.json", "lab-faulty.json"])
def test_recorded_facts_match_the_parser(fleet: str) -> None:
    """The stored facts are what today's parser makes of the stored raw output
    (rerun fixtures/build_fleets.py after a parser change)."""
    hosts, _, _ = load_facts(FACTS / fleet)
    for hf in hosts:
        assert hf.raw
        facts, notes = parse_probe_output(hf.raw)
        facts["clock"] = hf.facts["clock"]
        assert facts == hf.facts, hf.host.name
        assert notes == hf.notes


def test_real_subprocess_scan_and_bad_input(tmp_path: Path) -> None:
    kaudit = [sys.executable, "-m", "kaudit"]
    ok = subprocess.run([*kaudit, "scan", *DEMO, "--facts", str(FACTS / "lab-faulty.json"),
                         "-r", "json", "--skip", "demo.not-collected"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 1
    assert json.loads(ok.stdout)["profile"] == "demo-profile"
    broken = tmp_path / "bad.yaml"
    broken.write_text("pack: bad\nrules:\n  - id: bad.x\n    title: x\n    severity: urgent\n")
    bad = subprocess.run([*kaudit, "rules", "validate", str(broken)], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2
    assert f"{broken}:5:" in bad.stderr
    assert "Traceback" not in bad.stderr
