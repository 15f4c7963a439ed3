"""JUnit XML report (SPEC §5): one <testsuite> per host plus one for the
cluster scope, one <testcase> per result, passing cases included."""

from __future__ import annotations

from junit_xml import TestCase, TestSuite, to_xml_report_string

from kaudit.model import Report, Result
from kaudit.report.text import clean, shorten, show, waiver_reason, xml_safe

CLUSTER_SUITE = "cluster"
# Long fact values stay readable in CI web UIs; the JSON report keeps them whole.
VALUE_LIMIT = 4000


def _s(text: object, *, line: bool = False) -> str:
    """Host-derived text made safe for an XML attribute (line) or element body."""
    return xml_safe(clean(str(text), keep_newlines=not line))


def _details(result: Result) -> str:
    parts = [f"observed: {shorten(show(result.observed), VALUE_LIMIT)}",
             f"expected: {shorten(show(result.expected), VALUE_LIMIT)}"]
    if result.host is not None:
        parts.insert(0, f"host: {result.host}")
    if result.remediation:
        parts.append(f"remediation:\n{result.remediation.rstrip()}")
    if result.waiver and result.status != "waived":
        # A waiver attached to a non-waived result is one that expired.
        parts.append(f"waiver no longer applies: {waiver_reason(result.waiver)}")
    return _s("\n".join(parts))


def _case(result: Result) -> TestCase:
    case = TestCase(name=_s(f"{result.rule} {result.title}", line=True),
                    classname=_s(result.pack, line=True))
    message = _s(shorten(result.message, VALUE_LIMIT), line=True)
    if result.status == "fail":
        case.add_failure_info(message=message or f"{result.rule} failed",
                              output=_details(result), failure_type=result.severity)
    elif result.status == "error":
        case.add_error_info(message=message or f"{result.rule} could not be evaluated",
                            output=_details(result), error_type="error")
    elif result.status == "waived":
        reason = waiver_reason(result.waiver or {})
        case.add_skipped_info(message=_s(reason, line=True), output=_details(result))
    elif result.status == "skip":
        case.add_skipped_info(message=message or "not applicable")
    return case


def to_junit(report: Report) -> str:
    """Render the report as a JUnit XML document (str, UTF-8 declared)."""
    # Keyed by host name; None is the cluster scope (a host may be called "cluster").
    suites: dict[str | None, TestSuite] = {}
    for hf in report.hosts:
        props = {"address": _s(hf.host.address, line=True),
                 "roles": ",".join(hf.host.roles), "status": hf.status}
        if hf.error:
            props["error"] = _s(shorten(hf.error, VALUE_LIMIT), line=True)
        suites[hf.host.name] = TestSuite(_s(hf.host.name, line=True),
                                         hostname=_s(hf.host.address, line=True),
                                         timestamp=report.started_at, properties=props)
    cluster_name = CLUSTER_SUITE if CLUSTER_SUITE not in suites else f"{CLUSTER_SUITE}-scope"
    suites[None] = TestSuite(cluster_name, timestamp=report.started_at)
    for result in report.results:
        if result.host not in suites:  # a result for a host the report does not list
            suites[result.host] = TestSuite(_s(str(result.host), line=True),
                                            timestamp=report.started_at)
        suites[result.host].test_cases.append(_case(result))
    # The cluster suite goes last, after every host in inventory order.
    ordered = [s for k, s in suites.items() if k is not None] + [suites[None]]
    xml = to_xml_report_string(ordered, prettyprint=True, encoding="utf-8")
    return xml.replace('<?xml version="1.0" encoding="utf-8"?>',
                       '<?xml version="1.0" encoding="UTF-8"?>', 1)
