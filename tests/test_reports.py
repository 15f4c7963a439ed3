"""Report writers: terminal, JSON, JUnit, the -r spec parser and atomic writes."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import cast

import click
import jsonschema
import pytest
import requires
from click.testing import CliRunner

from kaudit.core.atomic import atomic_write
from kaudit.core.errors import FactFileError, KauditError
from kaudit.core.model import Host, HostFacts, Report, Result, ResultStatus, Severity
from kaudit.report import (
    FORMATS,
    check_specs,
    parse_report_spec,
    render,
    write_reports,
)
from kaudit.report.json_report import to_dict, to_json
from kaudit.report.junit import to_junit
from kaudit.report.terminal import render_terminal
from kaudit.report.text import clean, xml_safe
from kaudit.results.reportfile import load_report, report_from_dict, report_schema

# --------------------------------------------------------------------------- fleet

MASTERS = ("m01", "m02", "m03")
WORKERS = ("n01", "n02", "n03")
UNREACHABLE = "n03"
WAIVER = {"rule": "os.firewalld-off", "host": "n01",
          "justification": "edge node firewall is managed by netops", "expires": "2027-01-31"}

HOST_RULES = [  # rule, title, severity, pack, roles
    ("os.swap-off", "Swap is disabled", "critical", "os", None),
    ("os.selinux-disabled", "SELinux is not enforcing", "high", "os", None),
    ("os.firewalld-off", "firewalld is inactive and disabled", "medium", "os", None),
    ("time.sync-active", "Time is synchronised", "high", "time", None),
    ("kernel.ip-forward", "IPv4 forwarding is on", "high", "kernel", None),
    ("storage.etcd-ssd", "etcd data is on an SSD", "high", "storage", "master"),
]
CLUSTER_RULES = [
    ("ha.master-count", "Three masters", "critical", "ha", "pass", 3, 3, ""),
    ("network.cidrs-disjoint", "CIDRs are pairwise disjoint", "high", "network", "pass",
     ["192.168.40.0/24", "172.16.0.0/16", "10.96.0.0/16"], "disjoint", ""),
    ("ha.vip-free", "Nothing answers at the VIP yet", "critical", "ha", "fail",
     "192.168.40.199 answered ARP from 52:54:00:aa:bb:cc", "no answer",
     "the VIP 192.168.40.199 is already in use"),
]


def _host_result(rule: str, host: str) -> Result:
    """The outcome of one host rule in the fleet story."""
    _, title, severity, pack, roles = next(r for r in HOST_RULES if r[0] == rule)
    base = Result(rule=rule, title=title, severity=cast(Severity, severity), scope="host",
                  pack=pack, host=host, status="pass", observed=None, expected=None,
                  remediation=f"fix {rule}\nthen re-run kaudit")
    if host == UNREACHABLE:
        return replace(base, status="error", message="host unreachable: connection refused")
    if roles == "master" and host not in MASTERS:
        return replace(base, status="skip", message="applies to master only")
    if rule == "os.swap-off":
        if host in ("n01", "n02"):
            return replace(base, status="fail", observed=["/dev/dm-1"], expected=[],
                           message=f"swap is active on {host}",
                           remediation="swapoff -a\nsed -ri '/^[^#]*swap/s@^@#@' /etc/fstab")
        return replace(base, observed=[], expected=[])
    if rule == "os.selinux-disabled":
        if host == "m02":
            return replace(base, status="fail", observed="enforcing",
                           expected=["disabled", "permissive"], message="SELinux enforces")
        if host == "n02":
            return replace(base, status="fail", observed="permissive (config: enforcing)",
                           expected=["disabled", "permissive"],
                           message="/etc/selinux/config disagrees")
        return replace(base, observed="disabled", expected=["disabled", "permissive"])
    if rule == "os.firewalld-off" and host == "n01":
        return replace(base, status="waived", observed="active", expected="inactive",
                       waiver=dict(WAIVER))
    if rule == "time.sync-active" and host == "m03":
        return replace(base, status="error", message="fact time.chrony.tracking is missing")
    if rule == "storage.etcd-ssd":
        if host == "m03":
            return replace(base, status="fail", observed={"device": "sdb", "rotational": 1},
                           expected={"rotational": 0}, message="/var/lib/etcd is on a disk")
        return replace(base, observed={"device": "nvme0n1", "rotational": 0},
                       expected={"rotational": 0})
    return replace(base, observed=True, expected=True)


def fleet() -> Report:
    """Six hosts (three masters, three workers), one unreachable."""
    hosts = []
    for i, name in enumerate(MASTERS + WORKERS):
        roles = ("master", "etcd") if name in MASTERS else ("worker",)
        host = Host(name=name, address=f"192.168.40.{190 + i}", roles=roles)
        if name == UNREACHABLE:
            hosts.append(HostFacts(host=host, status="unreachable",
                                   error="connect to 192.168.40.195:22: connection refused"))
        else:
            hosts.append(HostFacts(host=host, facts={"swap": {"active": []}}))
    results = [_host_result(rule[0], hf.host.name) for hf in hosts for rule in HOST_RULES]
    for rule, title, sev, pack, status, observed, expected, message in CLUSTER_RULES:
        results.append(Result(rule=rule, title=title, severity=cast(Severity, sev),
                              scope="cluster", pack=pack, host=None,
                              status=cast(ResultStatus, status), observed=observed,
                              expected=expected, message=message,
                              remediation="free the VIP" if status == "fail" else ""))
    return Report(kaudit_version="0.1.0", profile="prod-ha", phase="preflight",
                  started_at="2026-11-27T02:00:00Z", duration_s=4.213, hosts=hosts,
                  results=results, notes=["1 host could not be scanned"])


HOSTILE = "\x1b[31m\x07\x00]]></failure><x>&amp;\x9b2J\x1b]0;pwned\x07\ud800\r\x7f"
LONG = "A" * 100_000


def hostile() -> Report:
    """The fleet with host-controlled text full of escapes and XML breakers."""
    report = fleet()
    for r in report.results:
        if r.rule == "os.swap-off" and r.host == "n02":
            r.observed = [HOSTILE, LONG]
            r.message = f"swap active: {HOSTILE}"
        if r.rule == "os.selinux-disabled" and r.host == "m02":
            r.observed = HOSTILE + "\n" + LONG
        if r.rule == "time.sync-active" and r.host == "m03":
            r.message = f"fact missing {HOSTILE}"
    report.hosts[5].error = f"banner: {HOSTILE}"
    return report


# ------------------------------------------------------------------- helpers

def junit_triples(xml_text: str) -> Counter[tuple[str, str | None, str]]:
    """(rule, host, status) of every rule <testcase>, read back from the XML (an
    unscanned host's single "host scan" case is left out)."""
    root = ET.fromstring(xml_text.encode("utf-8"))
    triples: Counter[tuple[str, str | None, str]] = Counter()
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            if case.get("name") == "host scan":
                continue
            host = None if case.get("classname") == "cluster" else case.get("classname")
            status = "pass"
            if case.find("failure") is not None:
                status = "fail"
            elif case.find("error") is not None:
                status = "error"
            elif (skipped := case.find("skipped")) is not None:
                status = "waived" if skipped.get("message", "").startswith("waived:") else "skip"
            triples[(case.get("name", "").split(" ")[0], host, status)] += 1
    return triples


def no_controls(text: str) -> bool:
    """True when text holds no C0 (except \\n, \\t), DEL or C1 characters."""
    return re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", text) is None


# ---------------------------------------------------------------------- JSON

SPEC_TOP = {"kaudit_version", "profile", "phase", "started_at", "duration_s", "hosts",
            "results", "summary"}
SPEC_RESULT = ["rule", "title", "severity", "scope", "host", "status", "observed", "expected",
               "message", "remediation"]


def test_json_has_the_spec_keys_and_matches_the_schema() -> None:
    doc = json.loads(to_json(fleet()))
    jsonschema.Draft202012Validator(report_schema()).validate(doc)
    assert set(doc) == SPEC_TOP | {"format_version", "notes", "collected_at", "coverage",
                                   "fail_on"}
    assert list(doc["hosts"][0]) == ["name", "address", "roles", "status", "error"]
    assert doc["hosts"][5] == {"name": "n03", "address": "192.168.40.195", "roles": ["worker"],
                               "status": "unreachable",
                               "error": "connect to 192.168.40.195:22: connection refused"}
    for res in doc["results"]:
        extra = [k for k in ("waiver", "drift") if k in res]
        assert list(res) == SPEC_RESULT + extra
        assert (res["host"] is None) == (res["scope"] == "cluster")
    waived = [r for r in doc["results"] if r["status"] == "waived"]
    assert len(waived) == 1 and waived[0]["waiver"] == WAIVER
    assert "drift" not in json.dumps(doc)
    counts = Counter(r["status"] for r in doc["results"])
    assert doc["summary"] == {k: counts[k] for k in ("pass", "fail", "error", "skip", "waived")}
    assert doc["summary"]["fail"] == 6 and doc["summary"]["waived"] == 1
    s = doc["summary"]
    assert doc["coverage"] == {"evaluated": s["pass"] + s["fail"] + s["waived"],
                               "selected": s["pass"] + s["fail"] + s["waived"] + s["error"]}


def test_json_keeps_value_types_and_stringifies_the_rest() -> None:
    report = fleet()
    r = report.results[0]
    r.observed = {"n": 3, "ratio": 0.5, "on": True, "list": [1, "x", None], "path": Path("/x"),
                  "nan": float("nan")}
    r.expected = ("a", 1)
    r.drift = "new"
    doc = json.loads(to_json(report))
    assert doc["results"][0]["observed"] == {"n": 3, "ratio": 0.5, "on": True,
                                             "list": [1, "x", None], "path": "/x",
                                             "nan": "nan"}
    assert doc["results"][0]["expected"] == ["a", 1]
    assert doc["results"][0]["drift"] == "new"
    jsonschema.Draft202012Validator(report_schema()).validate(doc)


def test_json_round_trips_through_load_report(tmp_path: Path) -> None:
    out = tmp_path / "kaudit.json"
    write_reports(fleet(), [("json", str(out))], color=True, stdout=io.StringIO())
    assert load_report(out) == to_dict(fleet())


@pytest.mark.parametrize(("content", "expect", "line"), [
    ('{\n  "format_version": 1,\n  "hosts": [,]\n}', "not valid JSON", 3),
    ('{"format_version": 2, "results": []}', "format_version 2 is not supported", None),
    ('{"kaudit_fact_file": 1, "hosts": []}', "fact file, not a report", None),
    ('[1, 2]', "expected a JSON object", None),
    ('{"results": [], "summary": {}}', "no 'format_version'", None),
])
def test_load_report_refuses_other_shapes(tmp_path: Path, content: str, expect: str,
                                          line: int | None) -> None:
    path = tmp_path / "old.json"
    path.write_text(content)
    with pytest.raises(FactFileError) as info:
        load_report(path)
    assert expect in str(info.value)
    assert info.value.path == str(path)
    assert info.value.line == line


def test_load_report_names_the_bad_field(tmp_path: Path) -> None:
    doc = to_dict(fleet())
    doc["results"][2]["status"] = "passed"
    del doc["hosts"][1]["roles"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FactFileError) as info:
        load_report(path)
    text = str(info.value)
    assert text.startswith(f"{path}: not a valid kaudit report")
    assert "$.results[2].status: 'passed' is not one of: pass, fail" in text
    assert "$.hosts[1]: missing required key 'roles'" in text


def test_report_from_dict_rebuilds_the_report(tmp_path: Path) -> None:
    report = fleet()
    report.results[0].drift = "new"
    out = tmp_path / "k.json"
    write_reports(report, [("json", str(out))], color=False, stdout=io.StringIO())
    again = report_from_dict(load_report(out))
    assert to_dict(again) == to_dict(report)
    assert [r.pack for r in again.results] == [r.pack for r in report.results]
    assert render_terminal(again, color=False) == render_terminal(report, color=False)


def test_load_report_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FactFileError, match="cannot read report: No such file"):
        load_report(tmp_path / "absent.json")


def test_json_escapes_hostile_text_but_keeps_it_faithfully() -> None:
    text = to_json(hostile())
    assert no_controls(text)
    text.encode("utf-8")  # a lone surrogate would make this raise
    doc = json.loads(text)
    swap = next(r for r in doc["results"] if r["rule"] == "os.swap-off" and r["host"] == "n02")
    assert swap["observed"] == [HOSTILE, LONG]
    jsonschema.Draft202012Validator(report_schema()).validate(doc)


# --------------------------------------------------------------------- JUnit

def test_junit_one_suite_per_host_plus_cluster_with_correct_counts() -> None:
    report = fleet()
    root = ET.fromstring(to_junit(report).encode("utf-8"))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert list(suites) == [*MASTERS, *WORKERS, "cluster"]
    for name, suite in suites.items():
        if name == "n03":
            continue    # unreachable: one error case, below
        mine = [r for r in report.results if r.host == (None if name == "cluster" else name)]
        counts = Counter(r.status for r in mine)
        assert int(suite.get("tests", -1)) == len(mine) == len(suite.findall("testcase"))
        assert int(suite.get("failures", -1)) == counts["fail"]
        assert int(suite.get("errors", -1)) == counts["error"]
        assert int(suite.get("skipped", -1)) == counts["skip"] + counts["waived"]
    down = sum(1 for r in report.results if r.host == "n03")
    assert int(root.get("tests", -1)) == len(report.results) - down + 1
    n03 = suites["n03"]
    assert (n03.get("tests"), n03.get("errors")) == ("1", "1")
    (case,) = n03.findall("testcase")
    error = case.find("error")
    assert case.get("name") == "host scan" and error is not None
    assert error.get("type") == "unreachable"
    assert "connection refused" in (error.get("message") or "")
    assert f"{len(HOST_RULES)} rules not evaluated" in (error.text or "")


def test_junit_case_content() -> None:
    root = ET.fromstring(to_junit(fleet()).encode("utf-8"))
    cases = {(c.get("name"), c.get("classname")): c
             for s in root.iter("testsuite") for c in s.iter("testcase")}
    swap = cases[("os.swap-off — Swap is disabled", "n02")]
    failure = swap.find("failure")
    assert failure is not None and failure.get("message") == "swap is active on n02"
    assert failure.get("type") == "critical"
    assert 'observed: ["/dev/dm-1"]' in (failure.text or "")
    assert "swapoff -a" in (failure.text or "")
    passing = cases[("os.swap-off — Swap is disabled", "m01")]
    assert list(passing) == []  # a passing case is present and empty
    skipped = cases[("os.firewalld-off — firewalld is inactive and disabled", "n01")
                    ].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == ("waived: edge node firewall is managed by netops "
                                      "(until 2027-01-31)")
    vip = cases[("ha.vip-free — Nothing answers at the VIP yet", "cluster")]
    assert vip.find("failure") is not None
    role_skip = cases[("storage.etcd-ssd — etcd data is on an SSD", "n01")].find("skipped")
    assert role_skip is not None and role_skip.get("message") == "applies to master only"


def test_json_and_junit_agree() -> None:
    report = fleet()
    doc = json.loads(render(report, "json", color=False))
    down = {h["name"] for h in doc["hosts"] if h["status"] != "ok"}
    from_json = Counter((r["rule"], r["host"], r["status"]) for r in doc["results"]
                        if r["host"] not in down)
    assert junit_triples(render(report, "junit", color=False)) == from_json
    assert len(from_json) == len(report.results) - sum(r.host in down for r in report.results)


def test_junit_hostile_text_is_stripped_and_escaped() -> None:
    report = hostile()
    xml_text = to_junit(report)
    root = ET.fromstring(xml_text.encode("utf-8"))  # well-formed despite the payload
    assert root.find(".//x") is None
    assert no_controls(xml_text.replace("\r", ""))
    assert "\r" not in xml_text and "\ud800" not in xml_text
    case = next(c for s in root.iter("testsuite") if s.get("name") == "n02"
                for c in s.iter("testcase") if c.get("name", "").startswith("os.swap-off"))
    assert len(case.find("failure").get("message", "")) <= 200  # type: ignore[union-attr]
    failure = case.find("failure")
    assert failure is not None
    body = failure.text or ""
    assert 'observed: ["]]></failure><x>&amp;", "AAAA' in body  # survives as text
    assert "pwned" not in body                 # the OSC payload is gone
    assert len(body) < 10_000                  # 100k values are shortened
    assert "more characters]" in body
    assert failure.get("message", "").startswith("swap active: ]]></failure><x>")
    down = {hf.host.name for hf in report.hosts if hf.status != "ok"}
    assert junit_triples(xml_text) == Counter((r.rule, r.host, r.status) for r in report.results
                                              if r.host not in down)


# ------------------------------------------------------------------ terminal

def test_terminal_groups_failures_by_rule_and_ends_with_totals() -> None:
    report = fleet()
    out = render_terminal(report, color=False)
    assert "\x1b" not in out
    lines = out.splitlines()
    assert lines[0].startswith("kaudit 0.1.0 — profile prod-ha, phase preflight — hosts 5/6 ok")
    s = report.summary
    assert lines[-2] == (f"pass {s['pass']}  fail {s['fail']}  error {s['error']}  "
                         f"skip {s['skip']}  waived {s['waived']}")
    cov = report.coverage
    assert lines[-1] == (f"coverage {cov['evaluated']}/{cov['selected']} evaluated "
                         f"({100 * cov['evaluated'] / cov['selected']:.0f}%): incomplete")
    # Severity first, then id: the two critical rules, then the high ones.
    headings = [ln for ln in lines if ln.startswith("[")]
    assert headings == [
        "[critical] ha.vip-free — Nothing answers at the VIP yet",
        "[critical] os.swap-off — Swap is disabled",
        "[high] os.selinux-disabled — SELinux is not enforcing",
        "[high] storage.etcd-ssd — etcd data is on an SSD",
        "[high] time.sync-active — Time is synchronised",   # the errors section
    ]
    swap = out.split("[critical] os.swap-off")[1].split("\n\n")[0]
    # One line per finding per host group: hosts, then the message (no restatement).
    findings = [ln for ln in swap.splitlines()[1:] if not ln.startswith("    ")
                and ln != "  remediation:"]
    assert findings == ["  n01: swap is active on n01", "  n02: swap is active on n02"]
    assert "observed:" not in swap and "expected:" not in swap
    assert "    swapoff -a\n" in swap
    selinux = out.split("[high] os.selinux-disabled")[1].split("\n\n")[0]
    assert "  m02: " in selinux and "  n02: " in selinux
    assert "  cluster: " in out.split("[critical] ha.vip-free")[1]
    assert "Failed: 6 findings in 4 rules" in out


def test_terminal_table_errors_unreachable_and_waived() -> None:
    out = render_terminal(fleet(), color=False)
    table = out.split("\n\n")[1].splitlines()
    assert table[0].split() == ["host", "os", "time", "kernel", "storage", "ha", "network",
                                "passed"]
    rows = {ln.split()[0]: ln for ln in table[2:]}
    assert list(rows) == [*MASTERS, *WORKERS, "cluster"]
    assert "(unreachable)" in rows["n03"] and "ERR 3" in rows["n03"]
    assert rows["m01"].split()[1:] == ["ok", "ok", "ok", "ok", "-", "-", "6/6"]
    assert "FAIL 2" in rows["n02"]
    assert rows["n01"].split()[1:] == ["FAIL", "1", "ok", "ok", "-", "-", "-", "4/5"]
    assert "FAIL 1" in rows["cluster"] and rows["cluster"].endswith("2/3")
    errors = out.split("Errors:")[1].split("\n\n")[0]
    assert "m03: fact time.chrony.tracking is missing" in errors
    assert "n03" not in errors  # an unreachable host is reported once, not per rule
    assert ("n03 (192.168.40.195): unreachable — connect to 192.168.40.195:22: connection "
            "refused; 6 rules not evaluated") in " ".join(out.split())
    assert "os.firewalld-off on n01: waived: edge node firewall is managed by netops" in out


def test_terminal_color_only_when_asked() -> None:
    colored = render_terminal(fleet(), color=True)
    assert "\x1b[31m" in colored
    plain = re.sub(r"\x1b\[[0-9;]*m", "", colored)
    assert plain == render_terminal(fleet(), color=False)


def test_terminal_drift_section_comes_first() -> None:
    report = fleet()
    for r in report.results:
        r.drift = "unchanged"
        if r.rule == "os.swap-off" and r.host == "n02":
            r.drift = "new"
        if r.rule == "kernel.ip-forward" and r.host == "m01":
            r.drift = "resolved"
    out = render_terminal(report, color=False)
    new_at = out.index("New since baseline (1)")
    assert new_at < out.index("host ") < out.index("Failed:")
    new = out[new_at:].split("\n\n")[0]
    assert "[critical] os.swap-off — Swap is disabled: n02" in new
    assert "n01" not in new
    assert "Resolved since baseline (1)" in out
    assert "New since baseline" not in render_terminal(fleet(), color=False)


def test_terminal_hostile_text_cannot_reach_the_terminal() -> None:
    for color in (False, True):
        out = render_terminal(hostile(), color=color)
        if color:  # only our own SGR codes, nothing else
            out = re.sub(r"\x1b\[[0-9;]*m", "", out)
        assert no_controls(out), repr([c for c in out if not no_controls(c)][:5])
        assert "pwned" not in out
        assert "\t" not in out and "\ud800" not in out
        assert max(len(ln) for ln in out.splitlines()) < 600
    assert "]]></failure><x>" in out


# --------------------------------------------------------- specs and writing

@pytest.mark.parametrize(("spec", "parsed"), [
    ("junit:out.xml", ("junit", "out.xml")),
    ("json", ("json", None)),
    ("json:-", ("json", None)),
    ("TERMINAL", ("terminal", None)),
    ("json:reports/a:b.json", ("json", "reports/a:b.json")),
])
def test_parse_report_spec(spec: str, parsed: tuple[str, str | None]) -> None:
    assert parse_report_spec(spec) == parsed


@pytest.mark.parametrize(("spec", "message"), [
    ("pdf:out.pdf", "unknown report format 'pdf'"),
    ("xml", "unknown report format 'xml'"),
    ("junit:", "empty path"),
])
def test_parse_report_spec_refuses(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        parse_report_spec(spec)
    if "unknown" in message:
        assert all(fmt in str(info.value) for fmt in FORMATS)


def test_report_option_through_click_exits_2() -> None:
    @click.command()
    @click.option("-r", "--report", "reports", multiple=True, type=parse_report_spec)
    def cmd(reports: tuple[tuple[str, str | None], ...]) -> None:
        click.echo(repr(list(reports)))

    ok = CliRunner().invoke(cmd, ["-r", "junit:k.xml", "-r", "json"])
    assert ok.exit_code == 0 and "('junit', 'k.xml'), ('json', None)" in ok.output
    bad = CliRunner().invoke(cmd, ["-r", "yaml"])
    assert bad.exit_code == 2
    assert "unknown report format 'yaml'" in bad.output and "terminal, json, junit" in bad.output


def test_check_specs(tmp_path: Path) -> None:
    check_specs([("terminal", None), ("json", str(tmp_path / "a.json"))])
    with pytest.raises(ValueError, match="only one report can go to stdout"):
        check_specs([("terminal", None), ("json", None)])
    with pytest.raises(ValueError, match="both write to"):
        check_specs([("json", str(tmp_path / "a")), ("junit", str(tmp_path / "." / "a"))])
    with pytest.raises(ValueError, match="does not exist"):
        check_specs([("junit", str(tmp_path / "nope" / "k.xml"))])
    with pytest.raises(ValueError, match="is a directory"):
        check_specs([("junit", str(tmp_path))])


def test_write_reports_files_uncolored_stdout_colored(tmp_path: Path) -> None:
    stdout = io.StringIO()
    specs = [parse_report_spec(s) for s in
             ("terminal", f"json:{tmp_path}/k.json", f"junit:{tmp_path}/k.xml",
              f"terminal:{tmp_path}/k.txt")]
    check_specs(specs)
    write_reports(fleet(), specs, color=True, stdout=stdout)
    assert "\x1b[" in stdout.getvalue()
    assert (tmp_path / "k.txt").read_text() == render_terminal(fleet(), color=False)
    assert json.loads((tmp_path / "k.json").read_text()) == to_dict(fleet())
    ET.parse(tmp_path / "k.xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.json", "k.txt", "k.xml"]


def test_write_reports_to_non_utf8_stdout_degrades() -> None:
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="ascii")
    write_reports(fleet(), [("terminal", None)], color=False, stdout=stdout)
    assert b"os.swap-off ? Swap is disabled" in raw.getvalue()


def test_write_reports_unwritable_path_is_a_kaudit_error(tmp_path: Path) -> None:
    (tmp_path / "k.xml").mkdir()
    (tmp_path / "k.xml" / "keep").write_text("x")
    with pytest.raises(KauditError) as info:
        write_reports(fleet(), [("junit", str(tmp_path / "k.xml"))], color=False,
                      stdout=io.StringIO())
    assert info.value.path == str(tmp_path / "k.xml")
    assert str(info.value).startswith(f"{tmp_path / 'k.xml'}: cannot write junit report")


# -------------------------------------------------------------------- atomic

def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "r.xml"
    target.write_text("old")
    atomic_write(target, "néw\n")
    assert target.read_bytes() == "néw\n".encode()
    atomic_write(str(target), b"\x00bytes", mode=0o600)
    assert target.read_bytes() == b"\x00bytes"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["r.xml"]


def test_atomic_write_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    atomic_write("plain.json", "{}")
    assert (tmp_path / "plain.json").read_text() == "{}"


def test_atomic_write_failed_rename_removes_temp(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "inside").write_text("keep")
    with pytest.raises(OSError):
        atomic_write(target, "new report")
    assert (target / "inside").read_text() == "keep"
    assert [p.name for p in tmp_path.iterdir()] == ["busy"]


def test_atomic_write_unencodable_text_keeps_old_file(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        atomic_write(target, "half \ud800")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@contextlib.contextmanager
def tiny_tmpfs() -> Iterator[Path]:
    """A 64 KiB tmpfs, unmounted and removed afterwards whatever happens."""
    where = Path(tempfile.mkdtemp(prefix="kaudit-tmpfs-"))
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
                              capture_output=True, check=False)
        assert done.returncode == 0, f"cannot mount a tmpfs: {done.stderr.decode().strip()}"
        try:
            yield where
        finally:
            subprocess.run(["umount", str(where)], check=True)
    finally:
        where.rmdir()


def test_atomic_write_disk_full_keeps_old_file() -> None:
    requires.need("mount", "umount", root=True)
    with tiny_tmpfs() as where:
        target = where / "kaudit.xml"
        target.write_text("<old/>")
        with pytest.raises(OSError) as info:
            atomic_write(target, "x" * 1_000_000)
        assert info.value.errno == 28  # ENOSPC
        assert target.read_text() == "<old/>"
        assert [p.name for p in where.iterdir()] == ["kaudit.xml"]


# ---------------------------------------------------------------- sanitising

@pytest.mark.parametrize(("raw", "cleaned"), [
    ("plain\ttext\nline", "plain\ttext\nline"),
    ("\x1b[1;31mred\x1b[0m", "red"),
    ("bell\x07 nul\x00 del\x7f", "bell nul del"),
    ("\x1b]0;title\x07after", "after"),
    ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
    ("\x9b2Jc1 \x9d0;t\x9cosc", "c1 osc"),
    ("\x1b(Bcharset \x1bc reset", "charset  reset"),
    ("crlf\r\nover\rwrite", "crlf\noverwrite"),
    ("lone \x1b] unterminated", "lone  unterminated"),
    ("bidi \u202eevil\u202c", "bidi evil"),
    ("ünïcødé ✓ 中文", "ünïcødé ✓ 中文"),
])
def test_clean(raw: str, cleaned: str) -> None:
    assert clean(raw) == cleaned


def test_clean_single_line() -> None:
    assert clean("a\nb\tc\u2028d", keep_newlines=False) == "a b c d"


def test_xml_safe() -> None:
    assert xml_safe("a\x00b\x0c\x1fc\ud800d\ufffe\tok\n") == "abcd\tok\n"
    assert xml_safe("ünï ✓ 𝄞") == "ünï ✓ 𝄞"


def test_empty_report_renders_in_every_format() -> None:
    empty = Report(kaudit_version="0.1.0", profile="baseline", phase="preflight",
                   started_at="2026-11-27T02:00:00Z", duration_s=0.0, hosts=[], results=[])
    assert render_terminal(empty, color=False).splitlines()[-2:] == [
        "pass 0  fail 0  error 0  skip 0  waived 0", "coverage 0/0: nothing was checked"]
    jsonschema.Draft202012Validator(report_schema()).validate(json.loads(to_json(empty)))
    suites = ET.fromstring(to_junit(empty).encode()).findall("testsuite")
    assert [s.get("name") for s in suites] == ["cluster"]


def test_large_fleet_renders_every_format_with_capped_host_lists() -> None:
    base = fleet()
    hosts = [HostFacts(host=Host(name=f"n{i:03d}", address=f"10.0.{i // 250}.{i % 250 + 1}",
                                 roles=("worker",)),
                       status="ok" if i % 50 else "timeout", error=None if i % 50 else "timed out")
             for i in range(500)]
    results = [replace(r, host=h.host.name, status="fail" if (i + j) % 7 == 0 else r.status)
               for i, h in enumerate(hosts) for j, r in enumerate(base.results[:36])]
    big = replace(base, hosts=hosts, results=results)
    # Speed is bench/'s business; here: every format copes with 500 hosts.
    for fmt in FORMATS:
        text = render(big, fmt, color=True)
        assert "n499" in text or "n[000:499]" in text, fmt
    out = render_terminal(big, color=False, width=100)
    # Host lists are condensed and capped, not 500 names long; the table lists
    # only hosts with problems; no line runs past the width.
    assert "n[" in out
    assert max(len(line) for line in out.splitlines()) <= 100
    assert "hosts that passed every applicable rule" in out or "more hosts with" in out
    failed_at = next(i for i, ln in enumerate(out.splitlines()) if ln.startswith("Failed:"))
    assert failed_at < 40


def test_every_format_renders_the_fleet() -> None:
    for fmt in FORMATS:
        text = render(fleet(), fmt, color=False)
        assert "os.swap-off" in text and "\x1b" not in text
    with pytest.raises(ValueError):
        render(fleet(), "yaml", color=False)

