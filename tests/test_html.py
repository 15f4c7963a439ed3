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

from kaudit.model import Host, HostFacts, Report, Result
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
    cells = [(a.get("title"), a["data-status"]) for t, a in checker.elements
             if t == "td" and "data-status" in a]
    assert len(cells) == len(doc["results"])
    for r in doc["results"]:
        title = f"{r['rule']} on {r['host'] or 'cluster'}: {r['status']}"
        assert (title, r["status"]) in cells
    findings = {a["id"]: a for t, a in checker.elements
                if t == "div" and "finding" in (a.get("class") or "")}
    failed = [a for a in findings.values() if a["data-status"] == "fail"]
    assert len(failed) == len(FAULTY_FAILS)
    body = " ".join(checker.text)
    swap = next(r for r in doc["results"]
                if r["rule"] == "demo.swap-off" and r["host"] == "n02")
    assert "/dev/dm-1" in body and swap["remediation"] in body
    assert "observed" in body and "expected" in body
    # every cell link points at a finding that exists
    for tag, attrs in checker.elements:
        if tag == "a":
            assert attrs["href"][1:] in findings
    # filters for every severity and status
    boxes = {(a["data-filter"], a["value"]) for t, a in checker.elements if t == "input"}
    assert ("sev", "critical") in boxes and ("status", "waived") in boxes
    assert len(boxes) == 10
    assert "addEventListener" in checker.script


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
    assert [a.get("title") for t, a in checker.elements if t == "td" and "data-status" in a] \
        == ['os.swap-off on h"><b>: fail']


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
