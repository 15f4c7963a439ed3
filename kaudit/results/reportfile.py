"""Reading JSON reports back (`--baseline`, `kaudit diff`): the format version,
validation against kaudit/schema/report.schema.json, and the Report they
describe. The writer is kaudit/report/json_report.py."""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any

from kaudit.core.errors import FactFileError
from kaudit.core.model import Host, HostFacts, Report, Result

FORMAT_VERSION = 1


def jsonable(value: Any) -> Any:
    """Keep JSON types as they are (recursively); anything else becomes str()."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def report_schema() -> dict[str, Any]:
    """The JSON Schema of a report, shipped in kaudit/schema/."""
    from kaudit.catalog.validate import load_schema

    return load_schema("report")


def validate_report(doc: Any, name: str) -> dict[str, Any]:
    """Check that a parsed document is a kaudit report of this format version."""
    if not isinstance(doc, dict):
        raise FactFileError("not a kaudit report (expected a JSON object)", path=name)
    if "format_version" not in doc:
        if "kaudit_fact_file" in doc:
            raise FactFileError("this is a kaudit fact file, not a report", path=name)
        raise FactFileError("not a kaudit report (no 'format_version' key)", path=name)
    if doc["format_version"] != FORMAT_VERSION:
        raise FactFileError(
            f"report format_version {doc['format_version']!r} is not supported "
            f"(this kaudit reads {FORMAT_VERSION}); write the report again", path=name)
    import jsonschema  # only reading a report needs it: not imported otherwise

    from kaudit.catalog.validate import describe_error, json_path

    validator = jsonschema.Draft202012Validator(report_schema())
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        shown = "; ".join(f"{json_path(e.absolute_path)}: {describe_error(e)}"
                          for e in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise FactFileError(f"not a valid kaudit report: {shown}{more}", path=name)
    return doc


def load_report(path: str | Path) -> dict[str, Any]:
    """Read and validate a JSON report written by to_json()."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FactFileError(f"cannot read report: {reason}", path=name) from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FactFileError(f"not valid JSON: {exc.msg}", path=name, line=exc.lineno,
                            column=exc.colno) from None
    return validate_report(doc, name)


def report_from_dict(doc: dict[str, Any]) -> Report:
    """Rebuild a Report from a validated report dict (for --baseline and diff)."""
    hosts = [HostFacts(host=Host(name=h["name"], address=h["address"], roles=tuple(h["roles"])),
                       status=h["status"], error=h["error"]) for h in doc["hosts"]]
    results = [Result(rule=r["rule"], title=r["title"], severity=r["severity"], scope=r["scope"],
                      pack=r.get("pack") or r["rule"].partition(".")[0], host=r["host"],
                      status=r["status"], observed=r["observed"], expected=r["expected"],
                      message=r["message"], remediation=r["remediation"],
                      waiver=r.get("waiver"), drift=r.get("drift"))
               for r in doc["results"]]
    return Report(kaudit_version=doc["kaudit_version"], profile=doc["profile"],
                  phase=doc["phase"], started_at=doc["started_at"],
                  duration_s=float(doc["duration_s"]), hosts=hosts, results=results,
                  notes=list(doc.get("notes", [])), collected_at=doc.get("collected_at"),
                  fail_on=doc.get("fail_on", "low"))
