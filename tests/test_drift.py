"""Drift against a baseline report: new / resolved / unchanged per (rule, host),
findings gone since the baseline as notes, --fail-on-drift, bad baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_helpers import FAULTY, FAULTY_FAILS, HEALTHY, by_key, kaudit, scan

from kaudit.core.model import Host, HostFacts, Report, Result
from kaudit.results.drift import apply_baseline


def _report(profile: str, *results: tuple[str, str | None, str],
            hosts: tuple[str, ...] = ("a", "b")) -> Report:
    return Report(
        kaudit_version="0", profile=profile, phase="preflight", started_at="2026-01-01T00:00:00Z",
        duration_s=1.0, hosts=[HostFacts(Host(name=h, address=h)) for h in hosts],
        results=[Result(rule=rule, title=rule, severity="high",
                        scope="host" if host else "cluster", pack=rule.split(".")[0],
                        host=host, status=status)  # type: ignore[arg-type]
                 for rule, host, status in results])


def test_new_resolved_unchanged() -> None:
    baseline = _report("p", ("x.one", "a", "fail"), ("x.two", "a", "fail"),
                       ("x.three", "a", "pass"), ("x.gone", "b", "fail"),
                       ("x.four", None, "waived"), ("x.five", "b", "fail"))
    current = _report("p", ("x.one", "a", "fail"), ("x.two", "a", "pass"),
                      ("x.three", "a", "fail"), ("x.four", None, "fail"),
                      ("x.new", "b", "fail"), ("x.five", "b", "error"),
                      ("x.six", "b", "pass"))
    apply_baseline(current, baseline, baseline_path="last.json")
    drift = {(r.rule, r.host): r.drift for r in current.results}
    assert drift == {
        ("x.one", "a"): "unchanged",     # failing then and now
        ("x.two", "a"): "resolved",      # fixed
        ("x.three", "a"): "new",         # passed then
        ("x.four", None): "new",         # was waived, the waiver is gone
        ("x.new", "b"): "new",           # not evaluated then
        ("x.five", "b"): "unchanged",    # cannot be evaluated now: not claimed fixed
        ("x.six", "b"): "unchanged",
    }
    # Gone is not fixed: one comparison (kaudit/results/compare.py) for drift and diff.
    assert ("not known to be fixed: x.gone on b failed in the baseline and is no longer "
            "evaluated") in current.notes
    assert current.notes[-1] == ("drift against last.json (started 2026-01-01T00:00:00Z): "
                                 "3 new, 1 resolved, 1 no longer evaluated")
    assert not any("warning" in n for n in current.notes)


def test_profile_mismatch_and_vanished_host_are_noted() -> None:
    baseline = _report("lab", ("x.one", None, "fail"), hosts=("a", "old"))
    current = _report("prod-ha", ("x.one", None, "fail"), hosts=("a",))
    apply_baseline(current, baseline, baseline_path="b.json")
    assert current.results[0].drift == "unchanged"    # still compared
    assert any(n.startswith("warning: baseline b.json was scanned with profile 'lab'")
               for n in current.notes)
    assert "host old was in the baseline and is not in this scan" in current.notes


def test_scan_marks_drift_and_leads_with_new(tmp_path: Path) -> None:
    base = tmp_path / "healthy.json"
    code, _, _, err = scan(HEALTHY, json_out=base)
    assert code == 0, err
    code, doc, out, err = scan(FAULTY, "--baseline", base, json_out=tmp_path / "now.json")
    assert code == 1, err
    assert doc is not None
    assert {k for k, r in by_key(doc).items() if r["drift"] == "new"} == FAULTY_FAILS
    assert {r["drift"] for r in doc["results"] if r["status"] != "fail"} == {"unchanged"}
    # The terminal report leads with what is new, before the summary table.
    new_at = out.index("New since baseline (9)")
    assert new_at < out.index("host ") < out.index("Failed:")
    for rule, _host in FAULTY_FAILS:
        assert rule in out[new_at:out.index("host ")]
    assert any(n.startswith(f"drift against {base}") and "9 new, 0 resolved" in n
               for n in doc["notes"])


def test_resolved_findings(tmp_path: Path) -> None:
    base = tmp_path / "faulty.json"
    scan(FAULTY, json_out=base)
    code, doc, out, _ = scan(HEALTHY, "--baseline", base, json_out=tmp_path / "now.json")
    assert code == 0
    assert doc is not None
    assert {k for k, r in by_key(doc).items() if r["drift"] == "resolved"} == FAULTY_FAILS
    assert "Resolved since baseline (9)" in out


def test_fail_on_drift_fails_only_on_new_failures(tmp_path: Path) -> None:
    base = tmp_path / "faulty.json"
    scan(FAULTY, json_out=base)
    # Same failures as the baseline: nothing new, so the gate passes ...
    code, doc, _, err = scan(FAULTY, "--baseline", base, "--fail-on-drift",
                             json_out=tmp_path / "a.json")
    assert code == 0, err
    assert doc is not None and doc["summary"]["fail"] == 9
    assert {r["drift"] for r in doc["results"]} == {"unchanged"}
    # ... and without --fail-on-drift every failure still counts.
    code, *_ = scan(FAULTY, "--baseline", base)
    assert code == 1
    # A baseline that lacks one failure: that one is new and fails the gate.
    lacking = json.loads(base.read_text())
    for r in lacking["results"]:
        if (r["rule"], r["host"]) == ("demo.timezone", "m01"):
            r["status"] = "pass"
    base2 = tmp_path / "lacking.json"
    base2.write_text(json.dumps(lacking))
    code, doc, _, _ = scan(FAULTY, "--baseline", base2, "--fail-on-drift",
                           json_out=tmp_path / "b.json")
    assert code == 1
    assert doc is not None
    assert [k for k, r in by_key(doc).items() if r["drift"] == "new"] == [("demo.timezone",
                                                                          "m01")]
    # --fail-on still applies to the new failures: demo.timezone is low.
    code, *_ = scan(FAULTY, "--baseline", base2, "--fail-on-drift", "--fail-on", "medium")
    assert code == 0


def test_baseline_from_another_profile_is_compared_with_a_warning(tmp_path: Path) -> None:
    base = tmp_path / "b.json"
    scan(HEALTHY, json_out=base)
    doc = json.loads(base.read_text())
    doc["profile"] = "prod-ha"
    base.write_text(json.dumps(doc))
    code, now, out, _ = scan(FAULTY, "--baseline", base, json_out=tmp_path / "n.json")
    assert code == 1
    assert now is not None
    assert any(n.startswith(f"warning: baseline {base} was scanned with profile 'prod-ha'")
               for n in now["notes"])
    assert "note: warning: baseline" in out
    assert sum(r["drift"] == "new" for r in now["results"]) == 9


@pytest.mark.parametrize(("content", "what"), [
    ("{not json", "not valid JSON"),
    ('{"format_version": 1, "results": []}', "not a valid kaudit report"),
    ('[1, 2]', "not a kaudit report"),
    (None, "this is a kaudit fact file, not a report"),
])
def test_bad_baseline_exits_2_naming_the_file(tmp_path: Path, content: str | None,
                                              what: str) -> None:
    path = tmp_path / "base.json"
    if content is None:
        path.write_text(HEALTHY.read_text())
    else:
        path.write_text(content)
    report = tmp_path / "out.json"
    code, _, _, err = scan(FAULTY, "--baseline", path, json_out=report)
    assert code == 2
    assert str(path) in err and what in err
    assert "Traceback" not in err
    assert not report.exists()     # refused before anything was scanned


def test_missing_baseline_and_fail_on_drift_alone(tmp_path: Path) -> None:
    code, _, err = kaudit("scan", "-p", "lab", "--facts", HEALTHY,
                          "--baseline", tmp_path / "none.json")
    assert code == 2 and "none.json" in err
    code, _, err = kaudit("scan", "-p", "lab", "--facts", HEALTHY, "--fail-on-drift")
    assert code == 2 and "--fail-on-drift needs --baseline" in err
