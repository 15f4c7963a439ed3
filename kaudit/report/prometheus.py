"""Prometheus text exposition report (`-r prometheus:PATH`), for the
node_exporter textfile collector or a push to a Pushgateway.

The series count is bounded by what is wrong, not by rules × hosts. For N
hosts and R selected rules:

  kaudit_result{rule,host,...,status}   1 per failing or erroring (rule, host)
  kaudit_host_up / _failures / _errors  N each, label `host` only (stable)
  kaudit_rule_failures / _errors        R each
  fixed families                        at most 45 series

so a scan writes at most 45 + 3N + 2R + F series, F being the failing and
erroring results (F <= N x R, in practice a few per host). Alert on
`kaudit_result{status="fail"} == 1`, `kaudit_host_up == 0`, or a stale audit:
`time() - kaudit_facts_collected_timestamp_seconds > 2 * 86400`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from kaudit.core.model import HOST_STATUSES, RESULT_STATUSES, SEVERITIES, Report
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
                   "When the scan (the evaluation) started, seconds since the Unix epoch.",
                   [({}, _epoch(report.started_at))])
    out += _family("kaudit_facts_collected_timestamp_seconds",
                   "When the evaluated facts were collected from the hosts, seconds since "
                   "the Unix epoch (older than the scan when it re-evaluated a fact file).",
                   [({}, _epoch(report.collected_at or report.started_at))])
    out += _family("kaudit_scan_duration_seconds", "How long the scan took.",
                   [({}, report.duration_s)])
    cov = report.coverage
    out += _family("kaudit_checks_selected",
                   "Selected (rule, host) checks that applied: passed, failed, waived or "
                   "not evaluated.", [({}, cov["selected"])])
    out += _family("kaudit_checks_evaluated",
                   "Selected checks that were evaluated; fewer than selected means the "
                   "audit is incomplete.", [({}, cov["evaluated"])])

    host_counts: Counter[str] = Counter(hf.status for hf in report.hosts)
    out += _family("kaudit_hosts", "Hosts in the scan by collection status.",
                   [({"status": s}, host_counts[s]) for s in HOST_STATUSES])
    out += _family("kaudit_host_up", "1 if the host was scanned, 0 if it could not be "
                   "(its status is in kaudit_hosts and the JSON report).",
                   [({"host": hf.host.name}, int(hf.status == "ok")) for hf in report.hosts])
    per_host: dict[str, Counter[str]] = {hf.host.name: Counter() for hf in report.hosts}
    per_rule: dict[str, Counter[str]] = {}
    for r in report.results:
        per_rule.setdefault(r.rule, Counter())[r.status] += 1
        if r.host is not None:
            per_host.setdefault(r.host, Counter())[r.status] += 1
    out += _family("kaudit_host_failures", "Failed results on the host.",
                   [({"host": h}, c["fail"]) for h, c in per_host.items()])
    out += _family("kaudit_host_errors", "Results that could not be evaluated on the host.",
                   [({"host": h}, c["error"]) for h, c in per_host.items()])
    out += _family("kaudit_rule_failures", "Hosts (or the cluster) on which the rule failed.",
                   [({"rule": rule}, c["fail"]) for rule, c in per_rule.items()])
    out += _family("kaudit_rule_errors", "Hosts (or the cluster) on which the rule could not "
                   "be evaluated.", [({"rule": rule}, c["error"]) for rule, c in per_rule.items()])

    findings: Counter[tuple[str, str]] = Counter((r.severity, r.status) for r in report.results)
    out += _family("kaudit_findings", "Results by rule severity and status.",
                   [({"severity": sev, "status": st}, findings[(sev, st)])
                    for sev in SEVERITIES for st in RESULT_STATUSES])
    if any(r.drift for r in report.results):
        drift = Counter(r.drift for r in report.results
                        if r.drift == "resolved" or r.status == "fail")
        out += _family("kaudit_drift_results",
                       "Against the baseline: failures that are new, failures that are "
                       "unchanged, and failures that were resolved.",
                       [({"drift": d}, drift[d]) for d in ("new", "resolved", "unchanged")])

    out += _family("kaudit_result",
                   "1 for each failing or not-evaluated result (host=\"\" for cluster "
                   "rules); passing results have no series.",
                   [({"rule": r.rule, "host": r.host or "", "scope": r.scope, "pack": r.pack,
                      "severity": r.severity, "status": r.status}, 1)
                    for r in report.results if r.status in ("fail", "error")])
    return "\n".join(out) + "\n"
