"""`kaudit diff`: reports compared finding by finding, fact files fact by fact
(volatile facts ignored), host changes, exit codes, table and JSON output."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from audit_helpers import DEMO, FAULTY, FAULTY_FAILS, HEALTHY, kaudit, scan

from kaudit.results.diff import diff_files, flatten, ignored


def _facts(path: Path = HEALTHY) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


def _host(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(h for h in doc["hosts"] if h["inventory"]["name"] == name)


def _save(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_flatten_and_ignore_list() -> None:
    tree = {"a": {"b": 1, "c": [1, 2], "d": {}}, "sysctl": {"net.ipv4.ip_forward": "1"}}
    assert dict(flatten(tree)) == {"a.b": 1, "a.c": [1, 2], "a.d": {},
                                   "sysctl.net.ipv4.ip_forward": "1"}
    for path in ("time.epoch", "clock.offset_s", "clock.uncertainty_s", "probe.duration_s",
                 "memory.available_bytes"):
        assert ignored(path), path
    for path in ("time.timezone", "memory.total_bytes", "kernel.release", "swap.active"):
        assert not ignored(path), path


def test_fact_files_healthy_to_faulty() -> None:
    d = diff_files(HEALTHY, FAULTY)
    assert d.kind == "facts"
    changed = {(c.host, c.path): (c.old, c.new) for c in d.facts}
    assert changed[("m02", "selinux.mode")] == ("disabled", "enforcing")
    assert changed[("m03", "sysctl.net.ipv4.ip_forward")] == ("1", "0")
    assert changed[("n01", "services.firewalld.active")] == ("inactive", "active")
    assert changed[("n02", "swap.active")][0] == []
    assert changed[("n02", "swap.active")][1][0]["device"] == "/dev/dm-1"
    assert {c.host for c in d.facts} == {"m01", "m02", "m03", "n01", "n02", "n03"}
    assert not any(ignored(c.path) for c in d.facts)
    assert not d.worse          # facts changed, but no host was lost
    assert d.new_failures == [] and d.resolved == []


def test_volatile_facts_are_ignored_and_real_changes_are_not(tmp_path: Path) -> None:
    old = _facts()
    new = copy.deepcopy(old)
    m01 = _host(new, "m01")["facts"]
    m01["time"]["epoch"] += 86400
    m01["clock"]["offset_s"] = 0.3
    m01["probe"]["duration_s"] = 9.9
    m01["memory"]["available_bytes"] -= 12345
    a, b = _save(tmp_path, "a.json", old), _save(tmp_path, "b.json", new)
    assert diff_files(a, b).empty
    code, out, _ = kaudit("diff", a, b)
    assert code == 0 and "no changes" in out

    m01["kernel"]["release"] = "5.14.0-503.el9.x86_64"                  # kernel upgraded
    m01["swap"]["active"] = [{"device": "/dev/zram0", "type": "partition",
                              "size_bytes": 1, "zram": True}]           # swap turned on
    del m01["mounts"]["/data"]                                          # a mount gone
    m01["modules"]["loaded"].append("zram")
    b = _save(tmp_path, "b.json", new)
    d = diff_files(a, b)
    got = {(c.host, c.path, c.change) for c in d.facts}
    assert ("m01", "kernel.release", "changed") in got
    assert ("m01", "swap.active", "changed") in got
    assert ("m01", "mounts./data.own_mount", "removed") in got
    assert ("m01", "modules.loaded", "changed") in got
    assert {c.host for c in d.facts} == {"m01"}
    code, out, _ = kaudit("diff", a, b)
    assert code == 0
    assert "kernel.release" in out and "5.14.0-503.el9.x86_64" in out
    assert "+zram" in out                     # a list change shows what was added


def test_apiserver_flag_edit(tmp_path: Path) -> None:
    old = _facts()
    _host(old, "m01")["facts"].setdefault("kubernetes", {})["manifests"] = {
        "kube-apiserver": {"args": {"max-requests-inflight": "400"}}}
    new = copy.deepcopy(old)
    _host(new, "m01")["facts"]["kubernetes"]["manifests"]["kube-apiserver"]["args"][
        "max-requests-inflight"] = "1600"
    d = diff_files(_save(tmp_path, "a.json", old), _save(tmp_path, "b.json", new))
    assert [(c.path, c.old, c.new) for c in d.facts] == [
        ("kubernetes.manifests.kube-apiserver.args.max-requests-inflight", "400", "1600")]


def test_hosts_added_removed_unreachable(tmp_path: Path) -> None:
    old = _facts()
    new = copy.deepcopy(old)
    n03 = _host(new, "n03")
    n03.update(status="unreachable", error="connection refused", facts={})
    new["hosts"] = [h for h in new["hosts"] if h["inventory"]["name"] != "n02"]
    extra = copy.deepcopy(_host(old, "n01"))
    extra["inventory"]["name"] = "n04"
    new["hosts"].append(extra)
    a, b = _save(tmp_path, "a.json", old), _save(tmp_path, "b.json", new)
    d = diff_files(a, b)
    assert d.hosts_added == ["n04"] and d.hosts_removed == ["n02"]
    assert d.host_status == [("n03", "ok", "unreachable")]
    assert d.facts == []           # an unreachable host's facts are not compared
    assert d.worse
    code, out, _ = kaudit("diff", a, b)
    assert code == 1
    assert "ok -> unreachable" in out and "n04" in out
    # The other way round a host came back: better, not worse.
    code, _, _ = kaudit("diff", b, a)
    assert code == 0


def test_reports(tmp_path: Path) -> None:
    healthy, faulty = tmp_path / "h.json", tmp_path / "f.json"
    scan(HEALTHY, json_out=healthy)
    scan(FAULTY, json_out=faulty)
    d = diff_files(healthy, faulty)
    assert d.kind == "report"
    assert {(r.rule, r.host) for r in d.new_failures} == FAULTY_FAILS
    assert d.worse
    code, out, err = kaudit("diff", healthy, faulty)
    assert code == 1, err
    assert "New failures (9)" in out and "demo.swap-off" in out
    code, out, _ = kaudit("diff", faulty, healthy, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["worse"] is False and doc["kind"] == "report"
    assert {(f["rule"], f["host"]) for f in doc["findings"]["resolved"]} == FAULTY_FAILS
    assert {f["now"] for f in doc["findings"]["resolved"]} == {"pass"}
    assert doc["findings"]["new"] == []
    code, out, _ = kaudit("diff", faulty, faulty)
    assert code == 0 and "no changes" in out


def test_fact_diff_json(tmp_path: Path) -> None:
    code, out, _ = kaudit("diff", HEALTHY, FAULTY, "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["kind"] == "facts"
    assert {"host": "m02", "path": "selinux.mode", "change": "changed", "old": "disabled",
            "new": "enforcing"} in doc["facts"]
    assert doc["hosts"] == {"added": [], "removed": [], "status_changed": []}


@pytest.mark.parametrize(("content", "what"), [
    ("{", "not valid JSON"),
    ('{"hello": 1}', "neither a kaudit JSON report nor a fact file"),
    ('{"format_version": 1}', "not a valid kaudit report"),
    ('{"kaudit_fact_file": 99, "inventory": {}, "hosts": []}', "not supported"),
])
def test_bad_input_exits_2(tmp_path: Path, content: str, what: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, _, err = kaudit("diff", HEALTHY, bad)
    assert code == 2
    assert str(bad) in err and what in err and "Traceback" not in err


def test_mixing_a_report_and_a_fact_file_is_an_error(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    scan(HEALTHY, json_out=report)
    code, _, err = kaudit("diff", report, FAULTY)
    assert code == 2
    assert "cannot compare a report" in err and "fact file" in err


def test_fact_files_evaluated_with_a_profile_compare_findings(tmp_path: Path) -> None:
    """`diff -p`: two fact files are judged by the profile, so a new failure makes
    the diff worse (exit 1) and the way back is listed as resolved (exit 0)."""
    code, out, _ = kaudit("diff", *DEMO, "--format", "json", HEALTHY, FAULTY)
    doc = json.loads(out)
    assert code == 1
    assert doc["worse"] is True
    assert {(f["rule"], f["host"]) for f in doc["findings"]["new"]} == FAULTY_FAILS
    assert any(f["path"] == "selinux.mode" for f in doc["facts"])
    code, out, _ = kaudit("diff", *DEMO, "--format", "json", FAULTY, HEALTHY)
    doc = json.loads(out)
    assert code == 0
    assert {(f["rule"], f["host"]) for f in doc["findings"]["resolved"]} == FAULTY_FAILS
    # Without a profile a fact diff has no findings to judge.
    code, out, _ = kaudit("diff", "--format", "json", HEALTHY, FAULTY)
    assert code == 0
    assert json.loads(out)["findings"]["new"] == []


def test_profile_with_reports_is_an_error(tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    scan(HEALTHY, json_out=report)
    code, _, err = kaudit("diff", "-p", "prod-ha", report, report)
    assert code == 2
    assert "already carries its findings" in err


def test_fail_then_error_is_neither_resolved_nor_new_in_diff_and_drift() -> None:
    """drift and diff share one comparison: a failure that can no longer be
    evaluated is not resolved (it was listed as Resolved by diff before)."""
    from kaudit.core.model import Host, HostFacts, Report, Result
    from kaudit.results.compare import change
    from kaudit.results.diff import Side, diff_sides
    from kaudit.results.drift import apply_baseline

    def report(status: str) -> Report:
        return Report(kaudit_version="0", profile="p", phase="preflight",
                      started_at="2026-01-01T00:00:00Z", duration_s=0,
                      hosts=[HostFacts(Host("a", "10.0.0.1"))],
                      results=[Result("x.r", "t", "high", "host", "x", "a", status)])

    assert [change("fail", s) for s in ("fail", "pass", "error", "skip", None)] == [
        "unchanged", "resolved", "unverified", "unverified", "unverified"]
    old, new = report("fail"), report("error")
    d = diff_sides(Side("old.json", "report", old.hosts, old),
                   Side("new.json", "report", new.hosts, new))
    assert (d.new_failures, d.resolved) == ([], [])
    assert [(r.rule, now) for r, now in d.unverified] == [("x.r", "error")]
    assert not d.worse
    apply_baseline(new, old)
    assert new.results[0].drift == "unchanged"
