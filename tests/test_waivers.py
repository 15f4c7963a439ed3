"""Waivers: matching by rule and host glob, expiry at the start of the day
(UTC), unused and expired waivers reported, bad files refused with file:line."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest
from audit_helpers import FAULTY, FAULTY_FAILS, HEALTHY, by_key, kaudit, scan, with_status

from kaudit.core.errors import InputError
from kaudit.core.model import Result
from kaudit.results.waivers import Waiver, apply_waivers, load_waivers

KNOWN = {rule for rule, _ in FAULTY_FAILS} | {"demo.not-collected"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    return path


def _result(rule: str, host: str | None, status: str = "fail") -> Result:
    return Result(rule=rule, title="t", severity="high", scope="host" if host else "cluster",
                  pack=rule.split(".")[0], host=host, status=status)  # type: ignore[arg-type]


def test_load_documented_shape(tmp_path: Path) -> None:
    path = _write(tmp_path, """\
waivers:
  - rule: demo.swap-off          # rule id
    host: n02
    justification: swap kept until the RAM upgrade
    expires: 2027-03-31
    owner: platform-team
  - rule: demo.skew
    justification: "NTP appliance replaced next week"
    expires: "2027-01-15"
""")
    first, second = load_waivers(path, KNOWN)
    assert first == Waiver(rule="demo.swap-off", host="n02",
                           justification="swap kept until the RAM upgrade",
                           expires=date(2027, 3, 31), owner="platform-team",
                           source=f"{path}:2")
    assert second.host is None and second.owner is None
    assert second.expires == date(2027, 1, 15)
    assert second.source == f"{path}:7"


def test_host_glob_and_cluster_scope() -> None:
    results = [_result("demo.nofile", "n01"), _result("demo.nofile", "m01"),
               _result("demo.skew", None), _result("demo.skew", None, "pass")]
    waivers = [Waiver("demo.nofile", "j", date(2030, 1, 1), host="n0*", source="w:1"),
               Waiver("demo.skew", "j2", date(2030, 1, 1), source="w:2")]
    notes = apply_waivers(results, waivers, today=date(2026, 1, 1))
    assert [r.status for r in results] == ["waived", "fail", "waived", "pass"]
    assert results[0].waiver == {"rule": "demo.nofile", "host": "n0*", "justification": "j",
                                 "expires": "2030-01-01", "owner": None, "source": "w:1"}
    assert results[1].waiver is None
    assert results[3].waiver is None          # a pass is never touched
    assert notes == []


def test_host_waiver_does_not_cover_the_cluster_scope() -> None:
    results = [_result("demo.skew", None)]
    notes = apply_waivers(results, [Waiver("demo.skew", "j", date(2030, 1, 1), host="*",
                                           source="w:3")], today=date(2026, 1, 1))
    assert results[0].status == "fail"
    assert notes == ["unused waiver for demo.skew on * (w:3): matches no failing result"]


def test_expiry_starts_at_the_beginning_of_the_day() -> None:
    waiver = Waiver("demo.swap-off", "until the upgrade", date(2027, 3, 31), host="n02",
                    source="w:1")
    before = [_result("demo.swap-off", "n02")]
    assert apply_waivers(before, [waiver], today=date(2027, 3, 30)) == []
    assert before[0].status == "waived"

    on_the_day = [_result("demo.swap-off", "n02")]
    notes = apply_waivers(on_the_day, [waiver], today=date(2027, 3, 31))
    assert on_the_day[0].status == "fail"
    assert on_the_day[0].waiver is not None and on_the_day[0].waiver["expired"] is True
    assert notes == ["expired waiver for demo.swap-off on n02 (w:1): expired on 2027-03-31; "
                     "1 result(s) no longer waived"]


def test_errors_are_waivable_and_first_active_waiver_wins() -> None:
    results = [_result("demo.not-collected", "m01", "error")]
    waivers = [Waiver("demo.not-collected", "old", date(2020, 1, 1), source="w:1"),
               Waiver("demo.not-collected", "new", date(2030, 1, 1), source="w:2")]
    notes = apply_waivers(results, waivers, today=date(2026, 1, 1))
    assert results[0].status == "waived"
    assert results[0].waiver is not None and results[0].waiver["justification"] == "new"
    assert notes == ["expired waiver for demo.not-collected (w:1): expired on 2020-01-01; "
                     "it matches no failing result; remove it"]


@pytest.mark.parametrize(("text", "where", "what"), [
    ("waivers:\n  - rule: demo.nope\n    justification: x\n    expires: 2030-01-01\n",
     ":2:5", "unknown rule 'demo.nope'"),
    ("waivers:\n  - rule: demo.skew\n    expires: 2030-01-01\n",
     ":2:5", "missing required key 'justification'"),
    ("waivers:\n  - rule: demo.skew\n    justification: x\n    expires: next year\n",
     ":4:5", "expires must be an ISO date"),
    ("waivers:\n  - rule: demo.skew\n    justification: x\n    expires: '2030-02-30'\n",
     ":4:5", "is not a valid date"),
    ("waivers:\n  - rule: demo.skew\n    justification: x\n    expires: 2030-01-01\n"
     "    hosts: n01\n", ":5:5", "unknown key 'hosts'"),
    ("waivers:\n  - rule: demo.skew\n    justification: '  '\n    expires: 2030-01-01\n",
     ":3:5", "justification must not be empty"),
    ("- rule: demo.skew\n", ":1:1", "expected a mapping"),
])
def test_bad_files_name_file_line_col(tmp_path: Path, text: str, where: str, what: str
                                      ) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_waivers(path, KNOWN)
    assert f"{path}{where}" in str(info.value)
    assert what in str(info.value)


def test_scan_with_waivers_in_every_report(tmp_path: Path) -> None:
    waivers = _write(tmp_path, """\
waivers:
  - rule: demo.swap-off
    host: n02
    justification: swap kept until the RAM upgrade
    expires: 2099-12-31
    owner: platform-team
  - rule: demo.nofile
    host: "n*"
    justification: limits rolled out with the next image
    expires: 2000-01-01
  - rule: demo.masters
    justification: nothing fails here
    expires: 2099-12-31
""")
    xml = tmp_path / "r.xml"
    html = tmp_path / "r.html"
    code, doc, out, err = scan(FAULTY, "--waivers", waivers, "-r", f"junit:{xml}",
                               "-r", f"html:{html}", json_out=tmp_path / "r.json")
    assert code == 1, err
    assert doc is not None
    assert with_status(doc, "waived") == {("demo.swap-off", "n02")}
    assert with_status(doc, "fail") == FAULTY_FAILS - {("demo.swap-off", "n02")}
    results = by_key(doc)
    waived = results[("demo.swap-off", "n02")]
    assert waived["waiver"]["justification"] == "swap kept until the RAM upgrade"
    assert waived["waiver"]["owner"] == "platform-team"
    expired = results[("demo.nofile", "n01")]
    assert expired["status"] == "fail" and expired["waiver"]["expired"] is True
    assert results[("demo.swap-off", "n01")]["status"] == "pass"
    assert doc["summary"]["waived"] == 1
    notes = "\n".join(doc["notes"])
    assert "expired waiver for demo.nofile on n* " in notes
    assert "unused waiver for demo.masters" in notes
    # terminal: the waiver's reason, the expired one and the unused one
    assert "waived: swap kept until the RAM upgrade (until 2099-12-31)" in out
    assert "waiver no longer applies on n01" in out
    assert "note: unused waiver for demo.masters" in out
    # JUnit: the waived case is skipped with the justification
    root = ET.parse(xml).getroot()
    suite = next(s for s in root.iter("testsuite") if s.get("name") == "n02")
    case = next(c for c in suite.iter("testcase") if c.get("name", "").startswith("demo.swap-off"))
    skipped = case.find("skipped")
    assert skipped is not None and "swap kept until the RAM upgrade" in skipped.get("message", "")
    # HTML carries the justification too
    assert "swap kept until the RAM upgrade" in html.read_text()


def test_waiving_every_failure_passes_the_gate(tmp_path: Path) -> None:
    lines = ["waivers:"]
    for rule in sorted({rule for rule, _ in FAULTY_FAILS}):
        lines += [f"  - rule: {rule}", "    justification: accepted for the test",
                  "    expires: 2099-01-01"]
    path = _write(tmp_path, "\n".join(lines) + "\n")
    code, doc, _, err = scan(FAULTY, "--waivers", path, json_out=tmp_path / "r.json")
    assert code == 0, err
    assert doc is not None and doc["summary"]["fail"] == 0
    assert with_status(doc, "waived") == FAULTY_FAILS


def test_unknown_rule_exits_2_before_scanning(tmp_path: Path) -> None:
    path = _write(tmp_path, "waivers:\n  - rule: demo.swap-of\n    justification: typo\n"
                            "    expires: 2099-01-01\n")
    out_json = tmp_path / "r.json"
    code, _, _, err = scan(HEALTHY, "--waivers", path, json_out=out_json)
    assert code == 2
    assert f"{path}:2:5: waiver names unknown rule 'demo.swap-of'" in err
    assert "Traceback" not in err
    assert not out_json.exists()


def test_missing_waivers_file_exits_2(tmp_path: Path) -> None:
    code, _, err = kaudit("scan", "-p", "lab", "--facts", HEALTHY,
                          "--waivers", tmp_path / "nope.yaml")
    assert code == 2
    assert "nope.yaml" in err and "Traceback" not in err


def test_waiver_json_round_trips(tmp_path: Path) -> None:
    path = _write(tmp_path, "waivers:\n  - rule: demo.cidrs\n    justification: plan B\n"
                            "    expires: 2099-01-01\n")
    _, doc, _, _ = scan(FAULTY, "--waivers", path, json_out=tmp_path / "r.json")
    assert doc is not None
    cidrs = by_key(doc)[("demo.cidrs", None)]
    assert cidrs["status"] == "waived"
    assert json.loads(json.dumps(cidrs["waiver"]))["expires"] == "2099-01-01"
