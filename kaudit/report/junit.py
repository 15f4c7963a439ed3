"""JUnit XML report (SPEC §5) for Jenkins, GitLab and GitHub test views.

One <testsuite> per host plus one for the cluster scope. Each case is
classname = host (or "cluster"), name = "rule — title", so (classname, name)
is unique in the file and the host shows in every consumer's table. A
finding below `--fail-on` is a passing case with the finding in its
<system-out>, so a consumer's own gate agrees with kaudit's exit code. A host
that could not be scanned is one <error> case, not one per rule.

Written with the standard library: junit-xml puts a `disabled` attribute on
every suite, which Jenkins xunit's junit-10.xsd rejects, and builds a minidom
tree that takes seconds at 1,000 hosts.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable

from kaudit.core.model import HostFacts, Report, Result, severity_rank
from kaudit.report.text import clean, shorten, show, waiver_reason, xml_safe

CLUSTER_SUITE = "cluster"
MESSAGE_LIMIT = 200      # a message attribute: one line in a CI table
VALUE_LIMIT = 4000       # one value in a body; the JSON report keeps it whole


def _attr(text: object) -> str:
    """Host-derived text made safe for an XML attribute: one line, no controls."""
    return xml_safe(clean(str(text), keep_newlines=False))


def _body(text: str) -> str:
    return xml_safe(clean(text))


def _message(text: str) -> str:
    one = " ".join(_attr(text).split())
    return one if len(one) <= MESSAGE_LIMIT else one[:MESSAGE_LIMIT - 1] + "…"


def _details(result: Result) -> str:
    parts = []
    if result.host is not None:
        parts.append(f"host: {result.host}")
    parts.append(f"rule: {result.rule} ({result.severity})")
    if result.message:
        parts.append(f"finding: {result.message}")
    parts += [f"observed: {shorten(show(result.observed), VALUE_LIMIT)}",
              f"expected: {shorten(show(result.expected), VALUE_LIMIT)}"]
    if result.remediation:
        parts.append(f"remediation:\n{result.remediation.rstrip()}")
    if result.waiver and result.status != "waived":
        # A waiver attached to a non-waived result is one that expired.
        parts.append(f"waiver no longer applies: {waiver_reason(result.waiver)}")
    return _body("\n".join(parts))


def _seconds(value: float | None) -> str:
    return f"{max(0.0, value or 0.0):.3f}"


class _Suite:
    def __init__(self, name: str, timestamp: str, hostname: str | None = None,
                 time: float | None = None) -> None:
        self.el = ET.Element("testsuite", {"name": _attr(name)})
        self.attrs = {"timestamp": timestamp, "time": _seconds(time)}
        if hostname:
            self.attrs["hostname"] = _attr(hostname)
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def case(self, classname: str, name: str, time: float | None = None) -> ET.Element:
        self.counts["tests"] += 1
        return ET.SubElement(self.el, "testcase", {"name": _attr(name),
                                                  "classname": _attr(classname),
                                                  "time": _seconds(time)})

    def outcome(self, case: ET.Element, kind: str, message: str, body: str,
                type_: str) -> None:
        self.counts[{"failure": "failures", "error": "errors", "skipped": "skipped"}[kind]] += 1
        child = ET.SubElement(case, kind, {"message": _message(message), "type": _attr(type_)})
        child.text = body

    def finish(self) -> ET.Element:
        self.el.attrib.update({k: str(v) for k, v in self.counts.items()})
        self.el.attrib.update(self.attrs)
        return self.el


def _result_case(suite: _Suite, classname: str, result: Result, floor: int) -> None:
    case = suite.case(classname, f"{result.rule} — {result.title}")
    status = result.status
    if status == "fail" and severity_rank(result.severity) >= floor:
        suite.outcome(case, "failure", result.message or f"{result.rule} failed",
                      _details(result), result.severity)
    elif status == "fail":
        out = ET.SubElement(case, "system-out")
        out.text = _body(f"finding below --fail-on (does not fail the gate)\n"
                         f"{_details(result)}")
    elif status == "error":
        suite.outcome(case, "error", result.message or f"{result.rule} could not be evaluated",
                      _details(result), "not-evaluated")
    elif status == "waived":
        suite.outcome(case, "skipped", waiver_reason(result.waiver or {}), _details(result),
                      "waived")
    elif status == "skip":
        suite.outcome(case, "skipped", result.message or "not applicable", "", "not-applicable")


def _unscanned_case(suite: _Suite, hf: HostFacts, missed: int) -> None:
    case = suite.case(hf.host.name, "host scan", hf.duration_s)
    detail = hf.error or "no detail"
    suite.outcome(case, "error", f"{hf.status}: {detail}",
                  _body(f"host: {hf.host.name} ({hf.host.address})\nstatus: {hf.status}\n"
                        f"error: {detail}\n{missed} rules not evaluated"), hf.status)


def _suites(report: Report) -> Iterable[ET.Element]:
    stamp = report.collected_at or report.started_at
    floor = severity_rank(report.fail_on)
    by_host: dict[str | None, list[Result]] = {}
    for r in report.results:
        by_host.setdefault(r.host, []).append(r)
    listed = set()
    for hf in report.hosts:
        listed.add(hf.host.name)
        suite = _Suite(hf.host.name, stamp, hf.host.address, hf.duration_s)
        results = by_host.get(hf.host.name, [])
        if hf.status != "ok":
            _unscanned_case(suite, hf, sum(r.status == "error" for r in results))
        else:
            for r in results:
                _result_case(suite, hf.host.name, r, floor)
        yield suite.finish()
    for host, results in by_host.items():   # results for a host the report does not list
        if host is not None and host not in listed:
            suite = _Suite(host, stamp)
            for r in results:
                _result_case(suite, host, r, floor)
            yield suite.finish()
    name = CLUSTER_SUITE if CLUSTER_SUITE not in listed else f"{CLUSTER_SUITE}-scope"
    suite = _Suite(name, stamp)
    for r in by_host.get(None, []):
        _result_case(suite, name, r, floor)
    yield suite.finish()


def to_junit(report: Report) -> str:
    """Render the report as a JUnit XML document (str, UTF-8 declared)."""
    root = ET.Element("testsuites", {"name": _attr(f"kaudit {report.profile}")})
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for suite in _suites(report):
        root.append(suite)
        for k in totals:
            totals[k] += int(suite.get(k, "0"))
    root.attrib.update({k: str(v) for k, v in totals.items()})
    root.set("time", _seconds(report.duration_s))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"
