"""Self-contained HTML report (`-r html:PATH`): one file, inline CSS and a
small inline script, no external assets.

Laid out for fleets of any size: a rules table with failing rules first, a
hosts × rules matrix (sticky header, columns of rules that were skipped
everywhere left out, failing rules leftmost; on large fleets only the hosts
with a problem), one card per rule with its hosts grouped by finding, then
the hosts. Everything that came from a host goes through report.text.clean
and then html.escape; the script reads only the DOM, never report data, and
a Content-Security-Policy forbids loading anything from anywhere.
"""

from __future__ import annotations

import html
from collections import Counter, defaultdict

from kaudit.core.model import RESULT_STATUSES, SEVERITIES, Report, Result, severity_rank
from kaudit.report.hostnames import host_list
from kaudit.report.text import clean, shorten, show, waiver_reason

VALUE_LIMIT = 20000
SYMBOL = {"pass": "✓", "fail": "✗", "error": "!", "skip": "–", "waived": "w"}
CELL = {"pass": "p", "fail": "f", "error": "e", "skip": "s", "waived": "w"}
CLUSTER = "cluster"
MATRIX_ALL_HOSTS = 100     # above this many hosts the matrix lists hosts with problems
GROUPS_PER_CARD = 50       # distinct findings shown per rule card
HOSTS_PER_ROW = 10         # host-list parts in a rules-table row

# Colours meet WCAG AA (4.5:1) for their text; tests/test_html.py computes it.
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d232a;background:#fff}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.4em 0 .5em}
.meta{color:#4a5058}.counts span{margin-right:1em;padding:0 .3em}
table{border-collapse:collapse}th,td{border:1px solid #d0d5da;padding:2px 6px}
th{text-align:left}
.rules td.n{text-align:right}caption{text-align:left;color:#4a5058;padding:.2em 0}
details{margin:.6em 0}summary{cursor:pointer}
.wrap{max-height:80vh;overflow:auto;border:1px solid #d0d5da}
.matrix thead th{position:sticky;top:0;background:#fff;z-index:2}
.matrix tbody th{position:sticky;left:0;background:#fff;z-index:1;white-space:nowrap}
.matrix th.rule{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;
 font-size:12px;white-space:nowrap;vertical-align:bottom}
.matrix th.rule.bad{font-weight:bold;color:#8a1111}
.matrix td{text-align:center;min-width:1.3em;padding:1px 3px}
.p,.s-pass{background:#d7f2dc;color:#1d4a27}
.f,.s-fail{background:#f6c5c5;color:#8a1111;font-weight:bold}
.e,.s-error{background:#fbe3b0;color:#5c3b00}
.s,.s-skip{background:#eef0f2;color:#4f555c}
.w,.s-waived{background:#dde4f5;color:#2b3f73}
.host-bad{color:#8f5200}
.filters{display:flex;gap:2em;flex-wrap:wrap;margin:.6em 0}.filters label{margin-right:.7em}
.card{border:1px solid #d0d5da;border-left:6px solid #999;margin:.6em 0;padding:.4em .8em}
.card.k-fail{border-left-color:#c62828}.card.k-error{border-left-color:#b87a00}
.card.k-waived{border-left-color:#5470b8}
.card h3{font-size:1em;margin:.2em 0}.sev{font-size:.8em;padding:0 .4em;border-radius:3px;
 background:#e4e6e9;color:#1d232a;margin-right:.4em}
.sev-critical{background:#8a1111;color:#fff}.sev-high{background:#b71c1c;color:#fff}
.sev-medium{background:#e69c00;color:#1d232a}
.drift{font-size:.8em;padding:0 .4em;border-radius:3px;background:#ffe08a;margin-left:.4em}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:.4em;margin:.2em 0}
dt{font-weight:bold;margin-top:.3em}dd{margin-left:1em}
.group{margin:.4em 0 .6em;padding-left:.6em;border-left:3px solid #e4e6e9}
.off-sev{display:none}
"""

# Severity filters hide rule rows, matrix columns and cards by data-sev.
SCRIPT = """
(function(){
  function apply(){
    var off={};
    document.querySelectorAll('input[data-filter="sev"]').forEach(function(b){
      off[b.value]=!b.checked;});
    document.querySelectorAll('[data-sev]').forEach(function(el){
      el.classList.toggle('off-sev', off[el.getAttribute('data-sev')]===true);});
    document.querySelectorAll('table.matrix').forEach(function(t){
      var heads=t.tHead.rows[0].cells, hide=[];
      for(var i=1;i<heads.length;i++){hide[i]=heads[i].classList.contains('off-sev');}
      Array.prototype.forEach.call(t.tBodies[0].rows,function(row){
        for(var i=1;i<row.cells.length;i++){row.cells[i].style.display=hide[i]?'none':'';}
      });});}
  document.querySelectorAll('input[data-filter]').forEach(function(b){
    b.addEventListener('change', apply);});
})();
"""

CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
       "img-src data:; base-uri 'none'; form-action 'none'")


def esc(value: object, limit: int = VALUE_LIMIT) -> str:
    """Host-provided text, cleaned of control characters, shortened and escaped."""
    return html.escape(shorten(clean(str(value)), limit), quote=True)


def _value(value: object) -> str:
    return html.escape(shorten(show(value), VALUE_LIMIT), quote=True)


def _host_label(host: str | None) -> str:
    return CLUSTER if host is None else str(host)


class _Rule:
    """One rule's results across the fleet."""

    def __init__(self, first: Result) -> None:
        self.first = first
        self.results: list[Result] = []
        self.counts: Counter[str] = Counter()

    def add(self, r: Result) -> None:
        self.results.append(r)
        self.counts[r.status] += 1

    @property
    def key(self) -> tuple[int, int, int, str]:
        """Failing rules first (most severe, most hosts), then erroring, then the rest."""
        c = self.counts
        return (0 if c["fail"] else 1 if c["error"] else 2,
                -severity_rank(self.first.severity), -(c["fail"] or c["error"]),
                self.first.rule)

    @property
    def all_skip(self) -> bool:
        return self.counts["skip"] == len(self.results)


def _rules(report: Report) -> list[_Rule]:
    by_id: dict[str, _Rule] = {}
    for r in report.results:
        by_id.setdefault(r.rule, _Rule(r)).add(r)
    return sorted(by_id.values(), key=lambda x: x.key)


def _header(report: Report) -> list[str]:
    s = report.summary
    ok = sum(1 for hf in report.hosts if hf.status == "ok")
    counts = "".join(f'<span class="s-{k}">{k} {s[k]}</span>' for k in RESULT_STATUSES)
    cov = report.coverage
    coverage = (f"coverage {cov['evaluated']}/{cov['selected']} evaluated"
                + ("" if cov["evaluated"] == cov["selected"] else " — incomplete")
                if cov["selected"] else "nothing was checked")
    collected = (f", facts collected {esc(report.collected_at)}"
                 if report.collected_at and report.collected_at != report.started_at else "")
    return [
        f"<h1>kaudit report — {esc(report.profile)}</h1>",
        f'<p class="meta">kaudit {esc(report.kaudit_version)}, phase {esc(report.phase)}, '
        f"started {esc(report.started_at)}{collected}, {report.duration_s:.1f}s, "
        f"hosts {ok}/{len(report.hosts)} scanned, {coverage}</p>",
        f'<p class="counts">{counts}</p>',
    ]


def _filters() -> list[str]:
    boxes = "".join(f'<label><input type="checkbox" data-filter="sev" value="{v}" checked> '
                    f"{v}</label>" for v in SEVERITIES[::-1])
    return ['<div class="filters">', f"<div><strong>Severity</strong> {boxes}</div>", "</div>"]


def _rules_table(rules: list[_Rule], caption: str) -> list[str]:
    out = ['<table class="rules">', f"<caption>{caption}</caption>", "<thead><tr>",
           *(f'<th scope="col">{h}</th>' for h in ("rule", "severity", "failed", "errors",
                                                    "passed", "skipped", "failing hosts")),
           "</tr></thead><tbody>"]
    for rule in rules:
        c, r = rule.counts, rule.first
        hosts = host_list((_host_label(x.host) for x in rule.results if x.status == "fail"),
                          HOSTS_PER_ROW)
        link = f'<a href="#r-{esc(r.rule)}">{esc(r.rule)}</a>' \
            if c["fail"] or c["error"] or c["waived"] else esc(r.rule)
        out.append(f'<tr data-sev="{r.severity}"><th scope="row">{link}</th>'
                   f'<td><span class="sev sev-{r.severity}">{r.severity}</span></td>'
                   f'<td class="n">{c["fail"]}</td><td class="n">{c["error"]}</td>'
                   f'<td class="n">{c["pass"] + c["waived"]}</td><td class="n">{c["skip"]}</td>'
                   f"<td>{esc(hosts)}</td></tr>")
    out.append("</tbody></table>")
    return out


def _matrix(report: Report, rules: list[_Rule]) -> list[str]:
    shown = [r for r in rules if not r.all_skip]
    if not shown:
        return ["<p>Every rule was skipped on every host.</p>"]
    cells: dict[tuple[str | None, str], str] = {}
    bad_hosts: set[str | None] = set()
    for r in report.results:
        cells[(r.host, r.rule)] = r.status
        if r.status in ("fail", "error"):
            bad_hosts.add(r.host)
    rows: list[tuple[str | None, str]] = []
    for hf in report.hosts:
        label = esc(hf.host.name)
        if hf.status != "ok":
            label += f' <span class="host-bad">({esc(hf.status)})</span>'
        rows.append((hf.host.name, label))
    listed = {hf.host.name for hf in report.hosts}
    rows += [(h, esc(h)) for h in dict.fromkeys(r.host for r in report.results)
             if h is not None and h not in listed]
    if any(r.host is None for r in report.results):
        rows.append((None, f"<em>{CLUSTER}</em>"))
    note = ""
    if len(rows) > MATRIX_ALL_HOSTS:
        kept = [row for row in rows if row[0] in bad_hosts]
        if len(kept) < len(rows):
            note = (f"<p>{len(rows) - len(kept)} of {len(rows)} rows passed every applicable "
                    "rule and are left out; the hosts table below lists every host.</p>")
        rows = kept
    hidden = len(rules) - len(shown)
    out = [f"<p>Rules skipped on every host are left out ({hidden}). "
           "✓ pass, ✗ fail, ! not evaluated, – not applicable, w waived.</p>", note,
           '<div class="wrap"><table class="matrix">',
           '<thead><tr><th scope="col">host</th>']
    out += [f'<th scope="col" class="rule{" bad" if r.counts["fail"] else ""}" '
            f'data-sev="{r.first.severity}" title="{esc(r.first.title)}">'
            f"{esc(r.first.rule)}</th>" for r in shown]
    out.append("</tr></thead><tbody>")
    for host, label in rows:
        line = [f'<tr><th scope="row">{label}</th>']
        for rule in shown:
            status = cells.get((host, rule.first.rule))
            line.append(f'<td class="{CELL[status]}">{SYMBOL[status]}</td>' if status
                        else "<td></td>")
        line.append("</tr>")
        out.append("".join(line))
    out.append("</tbody></table></div>")
    return out


def _finding_text(r: Result) -> str:
    message = clean(r.message).strip()
    if r.host and message.startswith(f"{r.host}: "):
        message = message[len(r.host) + 2:]
    return message


def _card(rule: _Rule, status: str) -> list[str]:
    mine = [r for r in rule.results if r.status == status]
    first = mine[0]
    kind = {"fail": "failed", "error": "not evaluated", "waived": "waived"}[status]
    drift = ""
    new = sum(r.drift == "new" for r in mine)
    if new:
        drift = f'<span class="drift">{new} new</span>'
    anchor = f' id="r-{esc(first.rule)}"' if status == _first_bad(rule) else ""
    out = [f'<div class="card k-{status}"{anchor} data-sev="{first.severity}">',
           f'<h3><span class="sev sev-{first.severity}">{first.severity}</span>'
           f"{esc(first.rule)} — {kind} on {len(mine)} "
           f'{"host" if len(mine) == 1 else "hosts"}{drift}</h3>',
           f"<p>{esc(first.title)}</p>"]
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in mine:
        groups[_finding_text(r)].append(r)
    for i, (text, members) in enumerate(groups.items()):
        if i == GROUPS_PER_CARD:
            out.append(f"<p>(+{len(groups) - GROUPS_PER_CARD} more findings; see the JSON "
                       "report)</p>")
            break
        head = members[0]
        out += ['<div class="group">',
                f"<p><strong>{esc(host_list(_host_label(r.host) for r in members))}</strong>"
                + (f": {esc(text)}" if text else "") + "</p>", "<dl>"]
        if status != "error":
            out += ["<dt>observed</dt>", f"<dd><pre>{_value(head.observed)}</pre></dd>",
                    "<dt>expected</dt>", f"<dd><pre>{_value(head.expected)}</pre></dd>"]
        if head.waiver:
            label = "waiver" if status == "waived" else "waiver no longer applies"
            owner = f" — owner {esc(head.waiver['owner'])}" if head.waiver.get("owner") else ""
            out += [f"<dt>{label}</dt>", f"<dd>{esc(waiver_reason(head.waiver))}{owner}</dd>"]
        out += ["</dl>", "</div>"]
    if status == "fail" and first.remediation.strip():
        out += ["<dl><dt>remediation</dt>",
                f"<dd><pre>{esc(first.remediation.strip())}</pre></dd></dl>"]
    out.append("</div>")
    return out


def _first_bad(rule: _Rule) -> str:
    return next(s for s in ("fail", "error", "waived") if rule.counts[s])


def _hosts(report: Report) -> list[str]:
    out = ["<table>", "<thead><tr>",
           *(f'<th scope="col">{h}</th>' for h in ("host", "address", "roles", "status",
                                                    "failed", "errors", "error")),
           "</tr></thead><tbody>"]
    per_host: dict[str, Counter[str]] = defaultdict(Counter)
    for r in report.results:
        if r.host is not None:
            per_host[r.host][r.status] += 1
    for hf in report.hosts:
        cls = "" if hf.status == "ok" else ' class="host-bad"'
        c = per_host[hf.host.name]
        out.append(f'<tr{cls}><th scope="row">{esc(hf.host.name)}</th>'
                   f"<td>{esc(hf.host.address)}</td><td>{esc(', '.join(hf.host.roles))}</td>"
                   f"<td>{esc(hf.status)}</td><td>{c['fail']}</td><td>{c['error']}</td>"
                   f"<td>{esc(hf.error or '')}</td></tr>")
    out.append("</tbody></table>")
    return out


def to_html(report: Report) -> str:
    """The report as one HTML document."""
    rules = _rules(report)
    body = [*_header(report), *_filters()]
    failing = [r for r in rules if r.counts["fail"]]
    erroring = [r for r in rules if r.counts["error"]]
    waived = [r for r in rules if r.counts["waived"]]
    bad = [r for r in rules if r.counts["fail"] or r.counts["error"]]
    fine = [r for r in rules if not (r.counts["fail"] or r.counts["error"])]
    body += [f"<h2>Rules ({len(failing)} failing, {len(erroring)} not evaluated somewhere)"
             "</h2>"]
    if bad:
        body += _rules_table(bad, "Failing or not evaluated, most severe first")
    if fine:
        body += [f"<details><summary>{len(fine)} rules passed, were waived or did not apply "
                 "everywhere</summary>", *_rules_table(fine, "No failure"), "</details>"]
    body += ["<h2>Hosts × rules</h2>", *_matrix(report, rules)]
    body.append(f"<h2>Findings ({sum(r.counts['fail'] for r in failing)} failed, "
                f"{sum(r.counts['error'] for r in erroring)} not evaluated, "
                f"{sum(r.counts['waived'] for r in waived)} waived)</h2>")
    for status, group in (("fail", failing), ("error", erroring), ("waived", waived)):
        for rule in group:
            body += _card(rule, status)
    if not (failing or erroring or waived):
        body.append("<p>No failures.</p>")
    body += ["<h2>Hosts</h2>", *_hosts(report)]
    if report.notes:
        body += ["<h2>Notes</h2>", "<ul>", *(f"<li>{esc(n)}</li>" for n in report.notes),
                 "</ul>"]
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>kaudit — {esc(report.profile)} — {esc(report.started_at)}</title>",
        f"<style>{CSS}</style>", "</head>", "<body>", *body,
        f"<script>{SCRIPT}</script>", "</body>", "</html>", "",
    ])
