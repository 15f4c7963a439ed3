"""JSON report (SPEC §5): stable keys, plus a format version for readers
such as --baseline and `kaudit diff` (kaudit/results/reportfile.py reads it)."""

from __future__ import annotations

import json
import re
from typing import Any

from kaudit.core.model import Report, Result
from kaudit.results.reportfile import FORMAT_VERSION, jsonable

# json.dumps(ensure_ascii=False) leaves DEL/C1 controls raw (a terminal may act
# on them when the report goes to stdout) and lone surrogates (not encodable as
# UTF-8). Outside strings JSON text is plain ASCII, so escaping these is safe.
_UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _result_dict(result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule": result.rule, "title": result.title, "severity": result.severity,
        "scope": result.scope, "host": result.host, "status": result.status,
        "observed": jsonable(result.observed), "expected": jsonable(result.expected),
        "message": result.message, "remediation": result.remediation,
    }
    if result.waiver is not None:
        out["waiver"] = jsonable(result.waiver)
    if result.drift is not None:
        out["drift"] = result.drift
    return out


def to_dict(report: Report) -> dict[str, Any]:
    """The report as the plain dict that to_json() serialises."""
    return {
        "format_version": FORMAT_VERSION,
        "kaudit_version": report.kaudit_version,
        "profile": report.profile,
        "phase": report.phase,
        "started_at": report.started_at,
        "duration_s": round(report.duration_s, 3),
        "hosts": [
            {"name": hf.host.name, "address": hf.host.address, "roles": list(hf.host.roles),
             "status": hf.status, "error": hf.error}
            for hf in report.hosts
        ],
        "results": [_result_dict(r) for r in report.results],
        "summary": report.summary,
        "notes": list(report.notes),
        "collected_at": report.collected_at,
        "coverage": report.coverage,
        "fail_on": report.fail_on,
    }


def to_json(report: Report) -> str:
    """Serialise the report: indent 2, keys in contract order, trailing newline."""
    text = json.dumps(to_dict(report), indent=2, ensure_ascii=False)
    return _escape_unsafe(text) + "\n"


def _escape_unsafe(text: str) -> str:
    if text.isascii() and "\x7f" not in text:
        return text
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


