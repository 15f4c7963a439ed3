"""Terminal report (SPEC §5): header, host × pack summary table, failed
findings grouped by rule, errors, unreachable hosts, totals last."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from tabulate import tabulate

from kaudit.model import Report, Result, severity_rank
from kaudit.report.text import clean, shorten, show, waiver_reason

CLUSTER = "cluster"
VALUE_LIMIT = 200       # one observed/expected value, on one line
MAX_NAMES = 20          # host names listed before "(+N more)"
MAX_MESSAGES = 3        # distinct messages shown per rule

RED, YELLOW, GREEN, DIM, BOLD, RESET = "31", "33", "32", "2", "1", "0"
SEVERITY_COLOR = {"critical": f"{BOLD};{RED}", "high": RED, "medium": YELLOW,
                  "low": "", "info": DIM}


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
    """_line(show(value)): a string is cleaned once, not twice (clean() is idempotent)."""
    return _line(value) if isinstance(value, str) else _line(show(value))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _names(hosts: Iterable[str | None]) -> str:
    names = [_line(h if h is not None else CLUSTER, 80) for h in hosts]
    extra = len(names) - MAX_NAMES
    return ", ".join(names[:MAX_NAMES]) + (f" (+{extra} more)" if extra > 0 else "")


def _by_rule(results: Iterable[Result]) -> list[list[Result]]:
    """Results grouped by rule, most severe rule first, then by id."""
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        groups[r.rule].append(r)
    return sorted(groups.values(), key=lambda g: (-severity_rank(g[0].severity), g[0].rule))


def _heading(group: list[Result], paint: _Painter) -> str:
    first = group[0]
    tag = paint(f"[{first.severity}]", SEVERITY_COLOR.get(first.severity, ""))
    return f"{tag} {paint(_line(first.rule, 120), BOLD)} — {_line(first.title)}"


def _header(report: Report, paint: _Painter) -> list[str]:
    ok = sum(1 for hf in report.hosts if hf.status == "ok")
    total = len(report.hosts)
    hosts = f"hosts {ok}/{total} ok"
    if ok < total:
        hosts = paint(hosts, YELLOW)
    return [f"kaudit {_line(report.kaudit_version)} — profile {_line(report.profile)}, "
            f"phase {_line(report.phase)} — {hosts} — {report.duration_s:.1f}s "
            f"(started {_line(report.started_at)})"]


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


def _table(report: Report, paint: _Painter) -> list[str]:
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
    rows = []
    for host, label in rows_for:
        total: Counter[str] = Counter()
        for pack in packs:
            total.update(counts.get((host, pack), Counter()))
        if host is None and not total:
            continue  # no cluster-scope rules ran: no empty row
        applicable = total["pass"] + total["fail"] + total["error"] + total["waived"]
        passed = f"{total['pass'] + total['waived']}/{applicable}"
        rows.append([label] + [_cell(counts.get((host, p), Counter()), paint) for p in packs]
                    + [passed])
    if not rows:
        return []
    # Only the host column can hold a number ("FAIL 2", "ok", "3/4" never parse as one):
    # tabulate's number sniffing is skipped for the others (half its time at 1000 rows).
    return tabulate(rows, headers=["host", *packs, "passed"], tablefmt="simple",
                    disable_numparse=list(range(1, len(packs) + 2))).splitlines()


def _finding_lines(group: list[Result]) -> list[str]:
    """Hosts, observed vs expected (shared or per host), messages."""
    by_value: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in group:
        by_value[(_value_line(r.observed), _value_line(r.expected))].append(r)
    out = []
    if len(by_value) == 1:
        (observed, expected), members = next(iter(by_value.items()))
        if all(r.host is None for r in members):
            out.append(f"  scope: {CLUSTER}")
        else:
            out.append(f"  hosts: {_names(r.host for r in members)}")
        out.append(f"  observed: {observed}")
        out.append(f"  expected: {expected}")
    else:
        out.append(f"  hosts: {_names(r.host for r in group)}")
        for (observed, expected), members in by_value.items():
            out.append(f"  {_names(r.host for r in members)}: observed {observed}; "
                       f"expected {expected}")
    messages = list(dict.fromkeys(_line(r.message) for r in group if r.message.strip()))
    for message in messages[:MAX_MESSAGES]:
        out.append(f"  {message}")
    if len(messages) > MAX_MESSAGES:
        out.append(f"  (+{len(messages) - MAX_MESSAGES} more messages, see the JSON report)")
    expired = [r for r in group if r.waiver]
    for r in expired[:MAX_MESSAGES]:
        out.append(f"  waiver no longer applies on {_names([r.host])}: "
                   f"{_line(waiver_reason(r.waiver or {}))}")
    return out


def _remediation(group: list[Result]) -> list[str]:
    text = clean(group[0].remediation).strip()
    if not text:
        return []
    return ["  remediation:"] + [f"    {line}" for line in text.splitlines()]


def _drift(report: Report, paint: _Painter) -> list[str]:
    new = [r for r in report.results if r.drift == "new"]
    resolved = [r for r in report.results if r.drift == "resolved"]
    out = []
    if new:
        out += ["", paint(f"New since baseline ({len(new)})", f"{BOLD};{RED}")]
        out += [f"  {_heading(g, paint)}: {_names(r.host for r in g)}" for g in _by_rule(new)]
    if resolved:
        out += ["", paint(f"Resolved since baseline ({len(resolved)})", GREEN)]
        out += [f"  {_heading(g, paint)}: {_names(r.host for r in g)}"
                for g in _by_rule(resolved)]
    return out


def render_terminal(report: Report, *, color: bool) -> str:
    """The human report; no escape codes at all unless `color`."""
    paint = _Painter(color)
    down = {hf.host.name for hf in report.hosts if hf.status != "ok"}
    lines = _header(report, paint)
    lines += _drift(report, paint)
    table = _table(report, paint)
    if table:
        lines += ["", *table]

    failed = [r for r in report.results if r.status == "fail"]
    if failed:
        groups = _by_rule(failed)
        lines += ["", paint(f"Failed: {_plural(len(failed), 'finding')} in "
                             f"{_plural(len(groups), 'rule')}", BOLD)]
        for group in groups:
            lines += ["", _heading(group, paint), *_finding_lines(group), *_remediation(group)]

    # Every rule errors on a host that could not be scanned; that host is
    # reported once below instead of once per rule.
    errors = [r for r in report.results if r.status == "error" and r.host not in down]
    if errors:
        lines += ["", paint(f"Errors: {_plural(len(errors), 'result')} not evaluated", BOLD)]
        for group in _by_rule(errors):
            lines.append(_heading(group, paint))
            details = dict.fromkeys(f"{_names([r.host])}: {_line(r.message or show(r.observed))}"
                                    for r in group)
            lines += [f"  {d}" for d in list(details)[:MAX_NAMES]]

    if down:
        lines += ["", paint(f"Hosts not scanned: {len(down)}", f"{BOLD};{YELLOW}")]
        not_evaluated = Counter(r.host for r in report.results
                                if r.host in down and r.status == "error")
        for hf in report.hosts:
            if hf.status != "ok":
                missed = not_evaluated[hf.host.name]
                lines.append(f"  {_line(hf.host.name, 60)} ({_line(hf.host.address, 60)}): "
                             f"{hf.status} — {_line(hf.error or 'no detail')}; "
                             f"{_plural(missed, 'rule')} not evaluated")

    waived = [r for r in report.results if r.status == "waived"]
    if waived:
        lines += ["", paint(f"Waived: {len(waived)}", DIM)]
        lines += [f"  {_line(r.rule, 120)} on {_names([r.host])}: "
                  f"{_line(waiver_reason(r.waiver or {}))}" for r in waived[:MAX_NAMES]]
        if len(waived) > MAX_NAMES:
            lines.append(f"  (+{len(waived) - MAX_NAMES} more)")

    if report.notes:
        lines.append("")
        lines += [f"note: {_line(note, 500)}" for note in report.notes]

    s = report.summary
    totals = [("pass", GREEN), ("fail", RED), ("error", YELLOW), ("skip", DIM),
              ("waived", DIM)]
    lines += ["", "  ".join(paint(f"{k} {s[k]}", c if s[k] else "") for k, c in totals)]
    return "\n".join(lines) + "\n"
