"""Prometheus report: parsed back with prometheus_client's own text parser."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path

from audit_helpers import FAULTY, FAULTY_FAILS, HEALTHY, scan
from prometheus_client.parser import text_string_to_metric_families

from kaudit.model import RESULT_STATUSES, SEVERITIES, Host, HostFacts, Report, Result
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

    status = fams["kaudit_rule_status"]
    per_result: dict[tuple[str, str], dict[str, float]] = {}
    for labels, value in status:
        assert set(labels) == {"rule", "host", "scope", "pack", "severity", "status"}
        per_result.setdefault((labels["rule"], labels["host"]), {})[labels["status"]] = value
    assert len(per_result) == len(doc["results"])
    for r in doc["results"]:
        states = per_result[(r["rule"], r["host"] or "")]
        assert set(states) == set(RESULT_STATUSES)           # a full state set ...
        assert [s for s, v in states.items() if v == 1] == [r["status"]]   # ... one of it 1
    failing = {(rule, host or None) for (rule, host), s in per_result.items() if s["fail"]}
    assert failing == FAULTY_FAILS
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
    hosts = {lab["host"] for lab, _ in fams["kaudit_rule_status"]}
    assert hosts == {hostile, ""}
    assert fams["kaudit_host_up"] == [({"host": hostile, "status": "unreachable"}, 0.0)]
    assert fams["kaudit_scan_info"][0][0]["profile"] == 'p"q'
    assert fams["kaudit_scan_timestamp_seconds"] == [({}, 1795744800.0)]
    assert fams["kaudit_scan_duration_seconds"] == [({}, 0.25)]
    cluster = [lab for lab, v in fams["kaudit_rule_status"] if lab["host"] == "" and v == 1]
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
