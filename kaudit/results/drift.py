"""Drift against a baseline: compare a scan with an earlier JSON report.

Results are keyed by (rule, host). A result failing now that did not fail in
the baseline is `new`; one passing now that failed then is `resolved`; every
other result is `unchanged`. A finding that failed in the baseline and has no
result at all now (rule deselected, host gone) is listed in the report notes.
"""

from __future__ import annotations

from pathlib import Path

from kaudit.core.model import Report
from kaudit.results.compare import Key, change, key
from kaudit.results.reportfile import load_report, report_from_dict


def load_baseline(path: str | Path) -> Report:
    """An earlier JSON report; a missing, malformed or fact file raises FactFileError (exit 2)."""
    return report_from_dict(load_report(path))


_key = key


def _where(key: Key) -> str:
    return f"{key[0]} on {key[1] if key[1] is not None else 'the cluster'}"


def apply_baseline(report: Report, baseline: Report, *, baseline_path: str = "baseline"
                   ) -> None:
    """Set `drift` on every result of `report` and add notes about the baseline."""
    before = {_key(r): r.status for r in baseline.results}
    for result in report.results:
        moved = change(before.get(_key(result)), result.status)
        # A failure not evaluated now stays "unchanged" here: it is not known fixed.
        result.drift = "unchanged" if moved == "unverified" else moved

    notes: list[str] = []
    if baseline.profile != report.profile:
        notes.append(f"warning: baseline {baseline_path} was scanned with profile "
                     f"{baseline.profile!r}, this scan with {report.profile!r}; "
                     "compared anyway")
    if baseline.phase != report.phase:
        notes.append(f"warning: baseline {baseline_path} was scanned in phase "
                     f"{baseline.phase!r}, this scan in {report.phase!r}; compared anyway")
    now = {_key(r) for r in report.results}
    failed_before = {k for k, status in before.items() if status == "fail"}
    gone = sorted((k for k in failed_before - now), key=lambda k: (k[0], k[1] or ""))
    for k in gone:
        notes.append(f"not known to be fixed: {_where(k)} failed in the baseline and is no "
                     "longer evaluated")
    hosts_now = {hf.host.name for hf in report.hosts}
    for hf in baseline.hosts:
        if hf.host.name not in hosts_now:
            notes.append(f"host {hf.host.name} was in the baseline and is not in this scan")
    new = sum(1 for r in report.results if r.drift == "new")
    resolved = sum(1 for r in report.results if r.drift == "resolved")
    notes.append(f"drift against {baseline_path} (started {baseline.started_at}): "
                 f"{new} new, {resolved} resolved"
                 + (f", {len(gone)} no longer evaluated" if gone else ""))
    report.notes.extend(notes)
