"""Self-contained HTML report (`-r html:PATH`): one file, inline CSS and a
small inline script, no external assets. A hosts × rules matrix coloured by
status, severity and status filters, then every failure, error and waiver
with observed/expected and remediation.

Everything that came from a host goes through report.text.clean and then
html.escape; the script reads only the DOM, never report data, and a
Content-Security-Policy forbids loading anything from anywhere.
"""

from __future__ import annotations

import html
from collections import defaultdict

from kaudit.model import RESULT_STATUSES, SEVERITIES, Report, Result, severity_rank
from kaudit.report.text import clean, shorten, show, waiver_reason

VALUE_LIMIT = 20000
SYMBOL = {"pass": "✓", "fail": "✗", "error": "!", "skip": "–", "waived": "w"}
CLUSTER = "cluster"

CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d232a;background:#fff}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.4em 0 .5em}
.meta{color:#555}.counts span{margin-right:1em}
table{border-collapse:collapse}th,td{border:1px solid #d0d5da;padding:2px 6px}
.matrix th.rule{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:normal;
 font-size:12px;white-space:nowrap;vertical-align:bottom}
.matrix td{text-align:center;min-width:1.4em}
.matrix td a{color:inherit;text-decoration:none;display:block}
.s-pass{background:#d7f2dc}.s-fail{background:#f6c5c5;color:#8a1111;font-weight:bold}
.s-error{background:#fbe3b0}.s-skip{background:#eef0f2;color:#889}.s-waived{background:#dde4f5}
.host-bad{color:#a15c00}
.filters{display:flex;gap:2em;flex-wrap:wrap;margin:.6em 0}.filters label{margin-right:.7em}
.finding{border:1px solid #d0d5da;border-left:6px solid #999;margin:.6em 0;padding:.4em .8em}
.finding.s-fail{border-left-color:#c62828;background:#fff;color:inherit;font-weight:normal}
.finding.s-error{border-left-color:#e69c00;background:#fff}
.finding.s-waived{border-left-color:#5470b8;background:#fff}
.finding h3{font-size:1em;margin:.2em 0}.sev{font-size:.8em;padding:0 .4em;border-radius:3px;
 background:#eee;margin-right:.4em}.sev-critical{background:#8a1111;color:#fff}
.sev-high{background:#c62828;color:#fff}.sev-medium{background:#e69c00}
.drift{font-size:.8em;padding:0 .4em;border-radius:3px;background:#ffe08a;margin-left:.4em}
pre{white-space:pre-wrap;word-break:break-word;background:#f6f8fa;padding:.4em;margin:.2em 0}
dt{font-weight:bold;margin-top:.3em}dd{margin-left:1em}
.off-sev{display:none}.matrix td.off-status{opacity:.12}.finding.off-status{display:none}
"""

# Filters toggle classes on every element that carries data-sev / data-status.
SCRIPT = """
(function(){
  function checked(kind){
    var on={};
    document.querySelectorAll('input[data-filter="'+kind+'"]').forEach(function(b){
      on[b.value]=b.checked;});
    return on;}
  function apply(){
    var sev=checked('sev'), st=checked('status');
    document.querySelectorAll('[data-sev]').forEach(function(el){
      el.classList.toggle('off-sev', sev[el.getAttribute('data-sev')]===false);
      var s=el.getAttribute('data-status');
      if(s!==null){el.classList.toggle('off-status', st[s]===false);}
    });}
  document.querySelectorAll('input[data-filter]').forEach(function(b){
    b.addEventListener('change', apply);});
  apply();
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


def _header(report: Report) -> list[str]:
    s = report.summary
    ok = sum(1 for hf in report.hosts if hf.status == "ok")
    counts = "".join(f'<span class="s-{k}">{k} {s[k]}</span>' for k in RESULT_STATUSES)
    return [
        f"<h1>kaudit report — {esc(report.profile)}</h1>",
        f'<p class="meta">kaudit {esc(report.kaudit_version)}, phase {esc(report.phase)}, '
        f"started {esc(report.started_at)}, {report.duration_s:.1f}s, "
        f"hosts {ok}/{len(report.hosts)} scanned</p>",
        f'<p class="counts">{counts}</p>',
    ]


def _filters() -> list[str]:
    def boxes(kind: str, values: tuple[str, ...], unchecked: tuple[str, ...] = ()) -> str:
        return "".join(
            f'<label><input type="checkbox" data-filter="{kind}" value="{v}"'
            f'{"" if v in unchecked else " checked"}> {v}</label>' for v in values)
    return [
        '<div class="filters">',
        f"<div><strong>Severity</strong> {boxes('sev', SEVERITIES[::-1])}</div>",
        f"<div><strong>Status</strong> {boxes('status', RESULT_STATUSES)}</div>",
        "</div>",
    ]


def _matrix(report: Report, anchors: dict[int, str]) -> list[str]:
    rules: dict[str, Result] = {}
    for r in report.results:
        rules.setdefault(r.rule, r)
    ordered = sorted(rules.values(), key=lambda r: (-severity_rank(r.severity), r.rule))
    cells: dict[tuple[str | None, str], tuple[int, Result]] = {}
    for i, r in enumerate(report.results):
        cells[(r.host, r.rule)] = (i, r)
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

    out = ['<table class="matrix">', "<thead><tr><th>host</th>"]
    out += [f'<th class="rule" data-sev="{r.severity}" title="{esc(r.title)}">'
            f"{esc(r.rule)}</th>" for r in ordered]
    out.append("</tr></thead><tbody>")
    for host, label in rows:
        out.append(f"<tr><th>{label}</th>")
        for rule in ordered:
            hit = cells.get((host, rule.rule))
            if hit is None:
                out.append(f'<td data-sev="{rule.severity}"></td>')
                continue
            i, r = hit
            title = esc(f"{rule.rule} on {_host_label(host)}: {r.status}"
                        + (f" ({r.drift})" if r.drift else ""))
            symbol = SYMBOL.get(r.status, "?")
            inner = f'<a href="#{anchors[i]}">{symbol}</a>' if i in anchors else symbol
            out.append(f'<td class="s-{r.status}" data-sev="{r.severity}" '
                       f'data-status="{r.status}" title="{title}">{inner}</td>')
        out.append("</tr>")
    out.append("</tbody></table>")
    return out


def _finding(anchor: str, r: Result) -> list[str]:
    drift = f'<span class="drift">{esc(r.drift)}</span>' if r.drift else ""
    out = [f'<div class="finding s-{r.status}" id="{anchor}" data-sev="{r.severity}" '
           f'data-status="{r.status}">',
           f'<h3><span class="sev sev-{r.severity}">{r.severity}</span>{esc(r.rule)} on '
           f"{esc(_host_label(r.host))} — {r.status}{drift}</h3>",
           f"<p>{esc(r.title)}</p>", "<dl>"]
    if r.message.strip():
        out += ["<dt>message</dt>", f"<dd>{esc(r.message)}</dd>"]
    out += ["<dt>observed</dt>", f"<dd><pre>{_value(r.observed)}</pre></dd>",
            "<dt>expected</dt>", f"<dd><pre>{_value(r.expected)}</pre></dd>"]
    if r.waiver:
        label = "waiver" if r.status == "waived" else "waiver no longer applies"
        owner = f" — owner {esc(r.waiver['owner'])}" if r.waiver.get("owner") else ""
        out += [f"<dt>{label}</dt>", f"<dd>{esc(waiver_reason(r.waiver))}{owner}</dd>"]
    if r.remediation.strip():
        out += ["<dt>remediation</dt>", f"<dd><pre>{esc(r.remediation.strip())}</pre></dd>"]
    out += ["</dl>", "</div>"]
    return out


def _hosts(report: Report) -> list[str]:
    out = ["<table>", "<thead><tr><th>host</th><th>address</th><th>roles</th><th>status</th>"
           "<th>error</th></tr></thead><tbody>"]
    for hf in report.hosts:
        cls = "" if hf.status == "ok" else ' class="host-bad"'
        out.append(f"<tr{cls}><td>{esc(hf.host.name)}</td><td>{esc(hf.host.address)}</td>"
                   f"<td>{esc(', '.join(hf.host.roles))}</td><td>{esc(hf.status)}</td>"
                   f"<td>{esc(hf.error or '')}</td></tr>")
    out.append("</tbody></table>")
    return out


def to_html(report: Report) -> str:
    """The report as one HTML document."""
    shown = ("fail", "error", "waived")
    picked = [(i, r) for i, r in enumerate(report.results) if r.status in shown]
    picked.sort(key=lambda p: (shown.index(p[1].status), p[1].drift != "new",
                               -severity_rank(p[1].severity), p[1].rule,
                               _host_label(p[1].host)))
    anchors = {i: f"f-{i}" for i, _ in picked}
    body = [*_header(report), *_filters(), "<h2>Hosts × rules</h2>", *_matrix(report, anchors)]
    by_status: dict[str, int] = defaultdict(int)
    for _, r in picked:
        by_status[r.status] += 1
    body.append(f"<h2>Findings ({by_status['fail']} failed, {by_status['error']} errors, "
                f"{by_status['waived']} waived)</h2>")
    for i, r in picked:
        body += _finding(anchors[i], r)
    if not picked:
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
