"""HTML report: one well-formed, self-contained file holding every result,
with host-provided text escaped; rendered in headless Chromium when present."""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import requires
from audit_helpers import FAULTY, FAULTY_FAILS, scan

from kaudit.core.model import Host, HostFacts, Report, Result
from kaudit.report.html import to_html

VOID = {"meta", "input", "br", "hr", "img", "link", "wbr", "col"}
CHROMIUM = "/usr/bin/chromium"


class Checker(HTMLParser):
    """Balanced tags, attributes and text collected for assertions."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.elements: list[tuple[str, dict[str, Any]]] = []
        self.text: list[str] = []
        self.script = ""
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
        self.in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()
        self.in_script = False

    def handle_data(self, data: str) -> None:
        if self.in_script:
            self.script += data
        else:
            self.text.append(data)


def _check(text: str) -> Checker:
    checker = Checker()
    checker.feed(text)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    assert text.startswith("<!DOCTYPE html>")
    for tag, attrs in checker.elements:   # nothing is loaded from anywhere
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        assert "src" not in attrs, tag
        href = attrs.get("href")
        assert href is None or href.startswith("#"), href
    return checker


def test_scan_html_holds_every_result(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    code, doc, _, err = scan(FAULTY, "-r", f"html:{page}", json_out=tmp_path / "r.json")
    assert code == 1, err
    assert doc is not None
    text = page.read_text(encoding="utf-8")
    checker = _check(text)
    # The matrix: one cell per result of every rule not skipped everywhere.
    statuses: dict[str, set[str]] = {}
    for r in doc["results"]:
        statuses.setdefault(r["rule"], set()).add(r["status"])
    shown = {rule for rule, st in statuses.items() if st != {"skip"}}
    cells = [a["class"] for t, a in checker.elements if t == "td" and a.get("class") in
             ("p", "f", "e", "s", "w")]
    assert len(cells) == sum(1 for r in doc["results"] if r["rule"] in shown)
    assert cells.count("f") == doc["summary"]["fail"]
    heads = [a for t, a in checker.elements if t == "th" and "rule" in (a.get("class") or "")]
    assert len(heads) == len(shown) < len(statuses)        # all-skip columns are hidden
    assert all("bad" in (a.get("class") or "") for a in heads[:len(FAULTY_FAILS)])
    # One card per failing rule, failing rules first in the rules table.
    cards = [a for t, a in checker.elements if t == "div" and "card" in (a.get("class") or "")]
    failing_rules = {rule for rule, _ in FAULTY_FAILS}
    assert len([a for a in cards if "k-fail" in a["class"]]) == len(failing_rules)
    ids = {a["id"] for a in cards if "id" in a}
    assert {f"r-{rule}" for rule in failing_rules} <= ids
    for tag, attrs in checker.elements:     # every link points at a card that exists
        if tag == "a":
            assert attrs["href"][1:] in ids
    body = " ".join(checker.text)
    swap = next(r for r in doc["results"]
                if r["rule"] == "demo.swap-off" and r["host"] == "n02")
    assert "/dev/dm-1" in body and swap["remediation"] in body
    assert "observed" in body and "expected" in body
    # Every header cell has a scope; severity filters are there.
    assert all(a.get("scope") in ("col", "row") for t, a in checker.elements if t == "th")
    boxes = {(a["data-filter"], a["value"]) for t, a in checker.elements if t == "input"}
    assert ("sev", "critical") in boxes and len(boxes) == 5
    assert "addEventListener" in checker.script
    assert "position:sticky" in text


def _luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = []
    for i in (0, 2, 4):
        c = int(h[i:i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def contrast(fg: str, bg: str) -> float:
    a, b = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def test_colours_meet_wcag_aa() -> None:
    """Every CSS rule that sets both a background and a text colour meets 4.5:1;
    text colours on the white page do too."""
    import re

    from kaudit.report.html import CSS

    assert round(contrast("#889", "#eef0f2"), 2) == 3.05   # the old skip cell: caught
    pairs = 0
    for selector, decls in re.findall(r"([^{}]+)\{([^}]*)\}", CSS):
        bg = re.search(r"background:(#[0-9a-fA-F]{3,6})\b", decls)
        fg = re.search(r"(?<![-\w])color:(#[0-9a-fA-F]{3,6})\b", decls)
        if fg:
            ratio = contrast(fg.group(1), bg.group(1) if bg else "#fff")
            assert ratio >= 4.5, (selector.strip(), ratio)
            pairs += 1
    assert pairs >= 10


def test_thousand_hosts_under_3_mb_failing_rules_on_the_first_screen(tmp_path: Path) -> None:
    """1,000 hosts (bench/offline.py's clone of the recorded fleet): under 3 MB, and
    in Chromium at 1400 px every failing rule's row is on the first screen."""
    import json
    import sys

    requires.need("chromium")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    import offline  # type: ignore[import-not-found]

    facts = tmp_path / "f.json"
    offline.build(1000, facts)
    page = tmp_path / "r.html"
    from audit_helpers import kaudit

    kaudit("scan", "-p", "prod-ha", "--facts", facts, "-r", f"html:{page}",
           "-r", f"json:{tmp_path / 'r.json'}")
    assert page.stat().st_size < 3_000_000
    doc = json.loads((tmp_path / "r.json").read_text())
    failing = sorted({r["rule"] for r in doc["results"] if r["status"] == "fail"})
    assert len(failing) > 10
    # A copy with a probe script that records which failing rules' rows are visible.
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", """<script>
window.addEventListener('load', function(){
  var seen=[];
  document.querySelectorAll('table.rules tbody th a').forEach(function(a){
    var r=a.getBoundingClientRect();
    if(r.right<=window.innerWidth && r.bottom<=window.innerHeight){seen.push(a.textContent);}
  });
  document.body.setAttribute('data-visible', seen.join(' '));
});
</script></body>"""), encoding="utf-8")
    profile = tmp_path / "chrome-profile"
    shot = tmp_path / "shot.png"
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-first-run", f"--user-data-dir={profile}", "--window-size=1400,1000"]
    try:
        dom = subprocess.run([*base, "--dump-dom", probe.as_uri()], capture_output=True,
                             text=True, timeout=120, check=False)
        shots = subprocess.run([*base, f"--screenshot={shot}", page.as_uri()],
                               capture_output=True, timeout=120, check=False)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    import re

    m = re.search(r'data-visible="([^"]*)"', dom.stdout)
    assert m, dom.stderr[-2000:]
    assert sorted(set(m.group(1).split()) & set(failing)) == failing
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shots.stderr


def test_hostile_text_is_escaped() -> None:
    evil = '<script>alert("x")</script>&amp;\x1b[31m'
    report = Report(
        kaudit_version="0", profile="<i>p</i>", phase="preflight",
        started_at="2026-11-27T02:00:00Z", duration_s=1,
        hosts=[HostFacts(Host(name='h"><b>', address="127.0.0.1"), error=evil)],
        results=[Result(rule="os.swap-off", title=evil, severity="critical", scope="host",
                        pack="os", host='h"><b>', status="fail", observed=evil,
                        expected=["<none>"], message=evil, remediation="swapoff -a && echo <x>",
                        waiver={"justification": evil, "expires": "2000-01-01",
                                "expired": True})])
    text = to_html(report)
    checker = _check(text)
    assert "<script>alert" not in text and "<b>" not in text and "<i>" not in text
    assert "\x1b" not in text
    body = "".join(checker.text)
    assert '<script>alert("x")</script>&amp;' in body       # shown as text, intact
    assert "swapoff -a && echo <x>" in body
    assert "waiver no longer applies" in body
    assert [a.get("class") for t, a in checker.elements if t == "td"
            and a.get("class") in ("p", "f", "e", "s", "w")] == ["f"]


def test_empty_report_is_well_formed() -> None:
    report = Report(kaudit_version="0", profile="p", phase="preflight", started_at="x",
                    duration_s=0, hosts=[], results=[])
    text = to_html(report)
    _check(text)
    assert "No failures." in text


def test_renders_in_headless_chromium(tmp_path: Path) -> None:
    requires.need("chromium")
    page = tmp_path / "report.html"
    scan(FAULTY, "-r", f"html:{page}")
    shot = tmp_path / "x.png"
    profile = tmp_path / "chrome-profile"
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", "--window-size=1400,1000",
         f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=120, check=False)
    try:
        assert shot.exists(), proc.stderr.decode(errors="replace")[-2000:]
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(data) > 10_000       # a blank page compresses to far less
    finally:
        shutil.rmtree(profile, ignore_errors=True)
