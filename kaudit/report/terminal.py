"""Terminal report (SPEC §5): header, drift, host × pack summary table, failed
findings grouped by rule (one line per host group), errors, unreachable hosts,
totals and coverage last. Wrapped to the terminal width."""

from __future__ import annotations

import os
import re
import shutil
import textwrap
from collections import Counter, defaultdict
from collections.abc import Iterable

from tabulate import tabulate

from kaudit.core.model import Report, Result, severity_rank
from kaudit.report.hostnames import host_list
from kaudit.report.text import clean, shorten, show, waiver_reason

CLUSTER = "cluster"
VALUE_LIMIT = 200       # one observed/expected value
MAX_NAMES = 20          # host-list parts shown before "(+N more)"
MAX_GROUPS = 5          # distinct findings shown per rule
TABLE_ROWS = 30         # above this many hosts the table lists only hosts with problems
DEFAULT_WIDTH = 100

RED, YELLOW, GREEN, DIM, BOLD, RESET = "31", "33", "32", "2", "1", "0"
SEVERITY_COLOR = {"critical": f"{BOLD};{RED}", "high": RED, "medium": YELLOW,
                  "low": "", "info": DIM}


def terminal_width() -> int:
    """COLUMNS when it is a sane number, else the terminal's size, else 100."""
    try:
        cols = int(os.environ.get("COLUMNS", ""))
        if 20 <= cols <= 1000:
            return cols
    except ValueError:
        pass
    return max(40, shutil.get_terminal_size((DEFAULT_WIDTH, 24)).columns)


class _Painter:
    """Wraps text in ANSI codes only when color is on."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        if not self.color or not code:
            return text
        return f"\x1b[{code}m{text}\x1b[{RESET}m"


def _line(text: object, limit: int = VALUE_LIMIT) -> str:
    """Host-derived text, cleaned and squeezed onto one line."""
    return shorten(clean(str(text), keep_newlines=False).strip(), limit)


def _value_line(value: object) -> str:
    return _line(value) if isinstance(value, str) else _line(show(value))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _names(hosts: Iterable[str | None]) -> str:
    return host_list([_line(h if h is not None else CLUSTER, 80) for h in hosts], MAX_NAMES)


class _Wrap:
    """Plain-text wrapping to the width; colour is applied after wrapping."""

    def __init__(self, width: int) -> None:
        self.width = width

    def __call__(self, text: str, indent: str = "  ", more: str = "      ") -> list[str]:
        if len(text) + len(indent) <= self.width:
            return [indent + text]
        return textwrap.wrap(text, self.width, initial_indent=indent, subsequent_indent=more,
                             break_on_hyphens=False) or [indent]


def _by_rule(results: Iterable[Result]) -> list[list[Result]]:
    """Results grouped by rule, most severe rule first, then by id."""
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        groups[r.rule].append(r)
    return sorted(groups.values(), key=lambda g: (-severity_rank(g[0].severity), g[0].rule))


def _heading(group: list[Result], paint: _Painter, wrap: _Wrap) -> list[str]:
    first = group[0]
    tag, rule = f"[{first.severity}]", _line(first.rule, 120)
    lines = wrap(f"{tag} {rule} — {_line(first.title)}", indent="", more="    ")
    lines[0] = lines[0].replace(tag, paint(tag, SEVERITY_COLOR.get(first.severity, "")), 1)
    lines[0] = lines[0].replace(f" {rule}", " " + paint(rule, BOLD), 1)
    return lines


def _header(report: Report, paint: _Painter, wrap: _Wrap) -> list[str]:
    ok = sum(1 for hf in report.hosts if hf.status == "ok")
    total = len(report.hosts)
    hosts = f"hosts {ok}/{total} ok"
    when = f"started {_line(report.started_at)}"
    if report.collected_at and report.collected_at != report.started_at:
        when += f"; facts collected {_line(report.collected_at)}"
    text = (f"kaudit {_line(report.kaudit_version)} — profile {_line(report.profile)}, "
            f"phase {_line(report.phase)} — {hosts} — {report.duration_s:.1f}s ({when})")
    lines = wrap(text, indent="", more="  ")
    if ok < total:
        lines = [ln.replace(hosts, paint(hosts, YELLOW), 1) for ln in lines]
    return lines


def _cell(counts: Counter[str], paint: _Painter) -> str:
    bad = []
    if counts["fail"]:
        bad.append(paint(f"FAIL {counts['fail']}", RED))
    if counts["error"]:
        bad.append(paint(f"ERR {counts['error']}", YELLOW))
    if bad:
        return " ".join(bad)
    if counts["pass"] or counts["waived"]:
        waived = f" ({counts['waived']} waived)" if counts["waived"] else ""
        return paint("ok", GREEN) + waived
    return paint("-", DIM)


def _table(report: Report, paint: _Painter, width: int) -> list[str]:
    packs: list[str] = list(dict.fromkeys(r.pack for r in report.results))
    counts: dict[tuple[str | None, str], Counter[str]] = defaultdict(Counter)
    for r in report.results:
        counts[(r.host, r.pack)][r.status] += 1
    rows_for: list[tuple[str | None, str]] = []
    for hf in report.hosts:
        label = _line(hf.host.name, 60)
        if hf.status != "ok":
            label += " " + paint(f"({hf.status})", YELLOW)
        rows_for.append((hf.host.name, label))
    listed = {hf.host.name for hf in report.hosts}
    for name in dict.fromkeys(r.host for r in report.results if r.host is not None):
        if name not in listed:
            rows_for.append((name, _line(name, 60)))
    rows_for.append((None, CLUSTER))
    rows, hidden = [], 0
    large = len(rows_for) > TABLE_ROWS
    for host, label in rows_for:
        total: Counter[str] = Counter()
        for pack in packs:
            total.update(counts.get((host, pack), Counter()))
        if host is None and not total:
            continue  # no cluster-scope rules ran: no empty row
        if large and not (total["fail"] or total["error"]) and host is not None:
            hidden += 1
            continue
        applicable = total["pass"] + total["fail"] + total["error"] + total["waived"]
        passed = f"{total['pass'] + total['waived']}/{applicable}"
        rows.append((label, [_cell(counts.get((host, p), Counter()), paint) for p in packs],
                     passed, total))
    if large and len(rows) > MAX_NAMES:
        hidden_problem = len(rows) - MAX_NAMES
        rows = rows[:MAX_NAMES]
    else:
        hidden_problem = 0
    if not rows:
        return [f"all {hidden} hosts passed every applicable rule"] if hidden else []
    # Only the host column can hold a number ("FAIL 2", "ok", "3/4" never parse as one).
    text = tabulate([[label, *cells, passed] for label, cells, passed, _ in rows],
                    headers=["host", *packs, "passed"], tablefmt="simple",
                    disable_numparse=list(range(1, len(packs) + 2))).splitlines()
    if max(len(_plain(t)) for t in text) > width:
        # Too wide for this terminal: failing and erroring counts per host only.
        text = tabulate([[label, paint(str(t["fail"]), RED) if t["fail"] else "0",
                          paint(str(t["error"]), YELLOW) if t["error"] else "0", passed]
                         for label, _, passed, t in rows],
                        headers=["host", "fail", "error", "passed"], tablefmt="simple",
                        disable_numparse=[1, 2, 3]).splitlines()
    if hidden_problem:
        text.append(f"(+{hidden_problem} more hosts with failures or errors, listed below)")
    if hidden:
        text.append(f"(+{hidden} hosts that passed every applicable rule)")
    return text


def _plain(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def _finding_text(r: Result) -> str:
    """The finding without the host (the line names the hosts) and without
    restating observed and expected when the message already says them."""
    message = _line(r.message) if r.message.strip() else ""
    if r.host and message.startswith(f"{r.host}: "):
        message = message[len(r.host) + 2:]
    if message:
        return message
    return f"observed {_value_line(r.observed)}; expected {_value_line(r.expected)}"


def _finding_lines(group: list[Result], wrap: _Wrap) -> list[str]:
    """One line per distinct finding: the hosts that share it, then what it is."""
    by_text: dict[str, list[Result]] = defaultdict(list)
    for r in group:
        by_text[_finding_text(r)].append(r)
    out: list[str] = []
    for i, (text, members) in enumerate(by_text.items()):
        if i == MAX_GROUPS:
            rest = sum(len(m) for m in list(by_text.values())[MAX_GROUPS:])
            out += wrap(f"(+{len(by_text) - MAX_GROUPS} more findings on {rest} hosts; "
                        "see the JSON report)")
            break
        out += wrap(f"{_names(r.host for r in members)}: {text}")
    expired = [r for r in group if r.waiver]
    for r in expired[:MAX_GROUPS]:
        out += wrap(f"waiver no longer applies on {_names([r.host])}: "
                    f"{_line(waiver_reason(r.waiver or {}))}")
    return out


def _shell_wrap(line: str, width: int) -> list[str]:
    """A long shell command split at spaces with backslash-newline continuations
    (pasted, it is the same command). A line with quotes, a backslash or a
    comment stays whole: a continuation inside quotes would change the string."""
    if len(line) <= width or any(c in line for c in "'\"\\#"):
        return [line]
    parts = textwrap.wrap(line, width - 2, break_long_words=False, break_on_hyphens=False)
    return [p + " \\" for p in parts[:-1]] + ["  " + parts[-1] if len(parts) > 1 else parts[-1]]


def _remediation(group: list[Result], width: int) -> list[str]:
    text = clean(group[0].remediation).strip()
    if not text:
        return []
    out = ["  remediation:"]
    heredoc: str | None = None
    for line in text.splitlines():
        if heredoc is not None:
            out.append(f"    {line}")
            if line.strip() == heredoc:
                heredoc = None
            continue
        if "<<" in line:
            marker = line.split("<<", 1)[1].strip().split()[0:1]
            heredoc = marker[0].strip("'\"-") if marker else None
            out.append(f"    {line}")
            continue
        out += [f"    {part}" for part in _shell_wrap(line, width - 4)]
    return out


def _drift(report: Report, paint: _Painter, wrap: _Wrap) -> list[str]:
    new = [r for r in report.results if r.drift == "new"]
    resolved = [r for r in report.results if r.drift == "resolved"]
    out = []
    for title, items, code in ((f"New since baseline ({len(new)})", new, f"{BOLD};{RED}"),
                               (f"Resolved since baseline ({len(resolved)})", resolved, GREEN)):
        if not items:
            continue
        out += ["", paint(title, code)]
        for g in _by_rule(items):
            head = _heading(g, paint, _Wrap(10**6))[0]
            out += [f"  {head}: {_names(r.host for r in g)}"]
    return out


def _totals(report: Report, paint: _Painter) -> list[str]:
    s = report.summary
    totals = [("pass", GREEN), ("fail", RED), ("error", YELLOW), ("skip", DIM),
              ("waived", DIM)]
    line = "  ".join(paint(f"{k} {s[k]}", c if s[k] else "") for k, c in totals)
    cov = report.coverage
    if cov["selected"]:
        pct = 100.0 * cov["evaluated"] / cov["selected"]
        text = f"coverage {cov['evaluated']}/{cov['selected']} evaluated ({pct:.0f}%)"
        if cov["evaluated"] < cov["selected"]:
            text = paint(text + ": incomplete", YELLOW)
    else:
        text = paint("coverage 0/0: nothing was checked", YELLOW)
    return [line, text]


def render_terminal(report: Report, *, color: bool, width: int | None = None) -> str:
    """The human report; no escape codes at all unless `color`."""
    paint = _Painter(color)
    width = width or terminal_width()
    wrap = _Wrap(width)
    down = {hf.host.name for hf in report.hosts if hf.status != "ok"}
    lines = _header(report, paint, wrap)
    lines += _drift(report, paint, wrap)
    table = _table(report, paint, width)
    if table:
        lines += ["", *table]

    failed = [r for r in report.results if r.status == "fail"]
    if failed:
        groups = _by_rule(failed)
        lines += ["", paint(f"Failed: {_plural(len(failed), 'finding')} in "
                             f"{_plural(len(groups), 'rule')}", BOLD)]
        for group in groups:
            lines += ["", *_heading(group, paint, wrap), *_finding_lines(group, wrap),
                      *_remediation(group, width)]

    # Every rule errors on a host that could not be scanned; that host is
    # reported once below instead of once per rule.
    errors = [r for r in report.results if r.status == "error" and r.host not in down]
    if errors:
        lines += ["", paint(f"Errors: {_plural(len(errors), 'result')} not evaluated", BOLD)]
        for group in _by_rule(errors):
            lines += _heading(group, paint, wrap)
            by_text: dict[str, list[Result]] = defaultdict(list)
            for r in group:
                by_text[_line(r.message or show(r.observed))].append(r)
            for text, members in list(by_text.items())[:MAX_GROUPS]:
                lines += wrap(f"{_names(r.host for r in members)}: {text}")
            if len(by_text) > MAX_GROUPS:
                lines += wrap(f"(+{len(by_text) - MAX_GROUPS} more; see the JSON report)")

    if down:
        lines += ["", paint(f"Hosts not scanned: {len(down)}", f"{BOLD};{YELLOW}")]
        not_evaluated = Counter(r.host for r in report.results
                                if r.host in down and r.status == "error")
        bad = [hf for hf in report.hosts if hf.status != "ok"]
        for hf in bad[:MAX_NAMES]:
            missed = not_evaluated[hf.host.name]
            lines += wrap(f"{_line(hf.host.name, 60)} ({_line(hf.host.address, 60)}): "
                          f"{hf.status} — {_line(hf.error or 'no detail')}; "
                          f"{_plural(missed, 'rule')} not evaluated")
        if len(bad) > MAX_NAMES:
            lines += wrap(f"(+{len(bad) - MAX_NAMES} more: "
                          f"{_names(hf.host.name for hf in bad[MAX_NAMES:])})")

    waived = [r for r in report.results if r.status == "waived"]
    if waived:
        lines += ["", paint(f"Waived: {len(waived)}", DIM)]
        for r in waived[:MAX_NAMES]:
            lines += wrap(f"{_line(r.rule, 120)} on {_names([r.host])}: "
                          f"{_line(waiver_reason(r.waiver or {}))}")
        if len(waived) > MAX_NAMES:
            lines.append(f"  (+{len(waived) - MAX_NAMES} more)")

    if report.notes:
        lines.append("")
        for note in report.notes:
            lines += wrap(f"note: {_line(note, 500)}", indent="", more="  ")

    lines += ["", *_totals(report, paint)]
    return "\n".join(lines) + "\n"
