"""Prometheus report: parsed back with prometheus_client's own text parser."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path

from audit_helpers import FAULTY, FAULTY_FAILS, HEALTHY, scan
from prometheus_client.parser import text_string_to_metric_families

from kaudit.core.model import RESULT_STATUSES, SEVERITIES, Host, HostFacts, Report, Result
from kaudit.report.prometheus import to_prometheus

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def _families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        assert family.documentation, family.name
        out[family.name] = [(dict(s.labels), s.value) for s in family.samples]
    return out


def test_scan_report_parses_and_matches_the_results(tmp_path: Path) -> None:
    prom = tmp_path / "kaudit.prom"
    code, doc, _, err = scan(FAULTY, "-r", f"prometheus:{prom}", json_out=tmp_path / "r.json")
    assert code == 1, err
    assert doc is not None
    text = prom.read_text()
    fams = _families(text)
    for name in fams:
        assert NAME.match(name) and name.startswith("kaudit_")
        assert f"# HELP {name} " in text and f"# TYPE {name} gauge" in text

    status = fams["kaudit_result"]
    # Only failing or erroring results have a series, each with value 1.
    assert all(v == 1 for _, v in status)
    for labels, _ in status:
        assert set(labels) == {"rule", "host", "scope", "pack", "severity", "status"}
    bad = {(r["rule"], r["host"] or "", r["status"]) for r in doc["results"]
           if r["status"] in ("fail", "error")}
    assert {(lab["rule"], lab["host"], lab["status"]) for lab, _ in status} == bad
    assert len(status) == len(bad)
    failing = {(lab["rule"], lab["host"] or None) for lab, _ in status
               if lab["status"] == "fail"}
    assert failing == FAULTY_FAILS
    per_host = {lab["host"]: v for lab, v in fams["kaudit_host_failures"]}
    assert per_host == {h["name"]: float(sum(1 for r in doc["results"] if r["host"] == h["name"]
                                             and r["status"] == "fail"))
                        for h in doc["hosts"]}
    per_rule = {lab["rule"]: v for lab, v in fams["kaudit_rule_failures"]}
    assert per_rule["demo.swap-off"] == 1.0 and len(per_rule) == len(
        {r["rule"] for r in doc["results"]})
    assert fams["kaudit_checks_selected"] == [({}, float(doc["coverage"]["selected"]))]
    assert fams["kaudit_checks_evaluated"] == [({}, float(doc["coverage"]["evaluated"]))]
    collected = datetime.fromisoformat(doc["collected_at"].replace("Z", "+00:00")).timestamp()
    assert fams["kaudit_facts_collected_timestamp_seconds"] == [({}, collected)]
    assert collected < datetime.fromisoformat(
        doc["started_at"].replace("Z", "+00:00")).timestamp()   # offline: the facts' age
    swap = next(lab for lab, v in status if lab["rule"] == "demo.swap-off"
                and lab["host"] == "n02" and lab["status"] == "fail")
    assert swap == {"rule": "demo.swap-off", "host": "n02", "scope": "host", "pack": "demo",
                    "severity": "critical", "status": "fail"}

    assert fams["kaudit_hosts"] == [({"status": s}, 6.0 if s == "ok" else 0.0)
                                    for s in ("ok", "unreachable", "auth_failed",
                                              "hostkey_rejected", "timeout", "error")]
    assert all(v == 1 for _, v in fams["kaudit_host_up"])
    findings = {(lab["severity"], lab["status"]): v for lab, v in fams["kaudit_findings"]}
    assert len(findings) == len(SEVERITIES) * len(RESULT_STATUSES)
    expected = Counter((r["severity"], r["status"]) for r in doc["results"])
    assert findings == {k: float(expected[k]) for k in findings}
    assert sum(v for (_, st), v in findings.items() if st == "fail") == doc["summary"]["fail"]
    started = datetime.fromisoformat(doc["started_at"].replace("Z", "+00:00")).timestamp()
    assert fams["kaudit_scan_timestamp_seconds"] == [({}, started)]
    assert fams["kaudit_scan_duration_seconds"][0][1] >= 0
    assert "kaudit_drift_results" not in fams          # no baseline, no drift metric


def test_drift_metric_with_a_baseline(tmp_path: Path) -> None:
    base, prom = tmp_path / "b.json", tmp_path / "k.prom"
    scan(HEALTHY, json_out=base)
    scan(FAULTY, "--baseline", base, "-r", f"prometheus:{prom}")
    drift = {lab["drift"]: v for lab, v in _families(prom.read_text())["kaudit_drift_results"]}
    assert drift["new"] == len(FAULTY_FAILS)
    assert drift["resolved"] == 0
    assert drift["unchanged"] == 0     # failures only: passes are not "unchanged failures"
    scan(FAULTY, "--baseline", base, json_out=base)
    scan(FAULTY, "--baseline", base, "-r", f"prometheus:{prom}")
    drift = {lab["drift"]: v for lab, v in _families(prom.read_text())["kaudit_drift_results"]}
    assert (drift["new"], drift["unchanged"]) == (0, len(FAULTY_FAILS))


def test_label_values_are_escaped() -> None:
    hostile = 'we"ird\\host\nname'
    report = Report(
        kaudit_version="0.1.0", profile='p"q', phase="preflight",
        started_at="2026-11-27T02:00:00Z", duration_s=0.25,
        hosts=[HostFacts(Host(name=hostile, address="127.0.0.1"), status="unreachable",
                         error="refused")],
        results=[Result(rule="os.swap-off", title="t", severity="critical", scope="host",
                        pack="os", host=hostile, status="error"),
                 Result(rule="ha.master-count", title="t", severity="high", scope="cluster",
                        pack="ha", host=None, status="fail")])
    text = to_prometheus(report)
    assert 'host="we\\"ird\\\\host\\nname"' in text
    fams = _families(text)
    hosts = {lab["host"] for lab, _ in fams["kaudit_result"]}
    assert hosts == {hostile, ""}
    assert fams["kaudit_host_up"] == [({"host": hostile}, 0.0)]
    assert fams["kaudit_scan_info"][0][0]["profile"] == 'p"q'
    assert fams["kaudit_scan_timestamp_seconds"] == [({}, 1795744800.0)]
    assert fams["kaudit_scan_duration_seconds"] == [({}, 0.25)]
    cluster = [lab for lab, v in fams["kaudit_result"] if lab["host"] == "" and v == 1]
    assert cluster == [{"rule": "ha.master-count", "host": "", "scope": "cluster",
                        "pack": "ha", "severity": "high", "status": "fail"}]


def test_control_characters_never_reach_the_file() -> None:
    report = Report(kaudit_version="0", profile="p", phase="x", started_at="bad",
                    duration_s=0, hosts=[HostFacts(Host(name="h\x1b[31m\x07", address="a"))],
                    results=[])
    text = to_prometheus(report)
    assert "\x1b" not in text and "\x07" not in text
    fams = _families(text)
    assert fams["kaudit_scan_timestamp_seconds"] == [({}, 0.0)]
    assert fams["kaudit_host_up"][0][0]["host"] == "h"


def test_promtool_accepts_it_and_the_series_count_is_bounded(tmp_path: Path) -> None:
    """promtool (Prometheus' own checker) lints the file; the series count stays
    within the documented 45 + 3N + 2R + F, far below N x R x 5 at 1,000 hosts."""
    import subprocess
    from dataclasses import replace

    import requires

    requires.need("promtool")
    prom = tmp_path / "k.prom"
    scan(FAULTY, "-r", f"prometheus:{prom}", json_out=tmp_path / "r.json")
    proc = subprocess.run(["promtool", "check", "metrics"], input=prom.read_text(),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # A synthetic 1,000-host fleet with one failing rule per host.
    rules = [f"p.r{i}" for i in range(80)]
    hosts = [HostFacts(Host(name=f"n{i:04d}", address=f"10.1.{i // 250}.{i % 250 + 1}"))
             for i in range(1000)]
    base = Result(rule="", title="t", severity="high", scope="host", pack="p", host=None,
                  status="pass")
    results = [replace(base, rule=rule, host=h.host.name,
                       status="fail" if (j + i) % 80 == 0 else "pass")
               for i, h in enumerate(hosts) for j, rule in enumerate(rules)]
    report = Report(kaudit_version="0", profile="p", phase="preflight",
                    started_at="2026-11-27T02:00:00Z", duration_s=1.0, hosts=hosts,
                    results=results)
    text = to_prometheus(report)
    series = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    failing = sum(r.status == "fail" for r in results)
    assert failing == 1000
    assert len(series) <= 45 + 3 * len(hosts) + 2 * len(rules) + failing
    assert len(text) < 1_000_000
    proc = subprocess.run(["promtool", "check", "metrics"], input=text,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
