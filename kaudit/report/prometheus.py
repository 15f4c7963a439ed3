"""Prometheus text exposition report (`-r prometheus:PATH`), for the
node_exporter textfile collector or a push to a Pushgateway.

Each result is a state set, like kube-state-metrics' `kube_pod_status_phase`:
one `kaudit_rule_status` series per (rule, host, status) with value 1 for the
result's status and 0 for the others, so an alert is simply
`kaudit_rule_status{status="fail"} == 1` and a series never vanishes when a
status changes. Cluster-scope results have `host=""` and `scope="cluster"`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from kaudit.model import HOST_STATUSES, RESULT_STATUSES, SEVERITIES, Report
from kaudit.report.text import clean

Labels = dict[str, str]


def escape_label(value: str) -> str:
    """A label value as the text format wants it: \\\\, \\" and \\n escaped."""
    text = clean(str(value), keep_newlines=True)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items()) + "}"


def _value(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _family(name: str, help_text: str, samples: Iterable[tuple[Labels, float]]) -> list[str]:
    lines = [f"# HELP {name} {escape_help(help_text)}", f"# TYPE {name} gauge"]
    lines += [f"{name}{_labels(labels)} {_value(v)}" for labels, v in samples]
    return lines


def _epoch(started_at: str) -> float:
    """RFC 3339 `...Z` -> seconds since the epoch (0 when unparseable)."""
    try:
        stamp = datetime.fromisoformat(started_at.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def to_prometheus(report: Report) -> str:
    """The report as Prometheus text format 0.0.4 (every family a gauge)."""
    out: list[str] = []
    out += _family("kaudit_scan_info", "The kaudit version, profile and phase of the scan.",
                   [({"version": report.kaudit_version, "profile": report.profile,
                      "phase": report.phase}, 1)])
    out += _family("kaudit_scan_timestamp_seconds",
                   "When the scan started, seconds since the Unix epoch.",
                   [({}, _epoch(report.started_at))])
    out += _family("kaudit_scan_duration_seconds", "How long the scan took.",
                   [({}, report.duration_s)])

    host_counts: Counter[str] = Counter(hf.status for hf in report.hosts)
    out += _family("kaudit_hosts", "Hosts in the scan by collection status.",
                   [({"status": s}, host_counts[s]) for s in HOST_STATUSES])
    out += _family("kaudit_host_up", "1 if the host was scanned, 0 if it could not be.",
                   [({"host": hf.host.name, "status": hf.status}, int(hf.status == "ok"))
                    for hf in report.hosts])

    findings: Counter[tuple[str, str]] = Counter((r.severity, r.status) for r in report.results)
    out += _family("kaudit_findings", "Results by rule severity and status.",
                   [({"severity": sev, "status": st}, findings[(sev, st)])
                    for sev in SEVERITIES for st in RESULT_STATUSES])
    if any(r.drift for r in report.results):
        drift = Counter(r.drift for r in report.results if r.status in ("fail", "pass"))
        out += _family("kaudit_drift_results",
                       "Failing (new, unchanged) and fixed (resolved) results against the "
                       "baseline.",
                       [({"drift": d}, drift[d]) for d in ("new", "resolved", "unchanged")])

    samples: list[tuple[Labels, float]] = []
    for r in report.results:
        base = {"rule": r.rule, "host": r.host or "", "scope": r.scope, "pack": r.pack,
                "severity": r.severity}
        samples += [({**base, "status": st}, int(r.status == st)) for st in RESULT_STATUSES]
    out += _family("kaudit_rule_status",
                   "1 for the status of each rule on each host (host=\"\" for cluster rules).",
                   samples)
    return "\n".join(out) + "\n"
