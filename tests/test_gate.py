"""The CI gate never passes unchecked work: uncollected facts are errors, an
incomplete audit exits 3, coverage is reported; NO_COLOR and COLUMNS as the
conventions say."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from audit_helpers import FAULTY, kaudit

from kaudit.cli.commands import _color
from kaudit.report.terminal import render_terminal, terminal_width


def _empty_facts(tmp_path: Path) -> Path:
    """The faulty fleet's first host with nothing collected (an empty probe)."""
    doc = json.loads(FAULTY.read_text())
    doc["hosts"] = doc["hosts"][:1]
    doc["hosts"][0]["facts"] = {}
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(doc))
    return path


def test_unchecked_work_never_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code, _, err = kaudit("scan", "-p", "baseline", "--facts", _empty_facts(tmp_path),
                          "--only", "kernel", "-r", f"json:{out}")
    doc = json.loads(out.read_text())
    s = doc["summary"]
    assert s["error"] > 0 and s["fail"] == 0
    assert code == 3, err
    assert doc["coverage"]["evaluated"] < doc["coverage"]["selected"]


@pytest.mark.parametrize("rule", ["os.nofile-limit", "os.nproc-limit", "os.memlock-limit",
                                  "storage.mounts-persistent"])
def test_uncollected_section_is_error_not_absent(tmp_path: Path, rule: str) -> None:
    out = tmp_path / "r.json"
    kaudit("scan", "-p", "prod-ha", "--facts", _empty_facts(tmp_path), "--only", rule,
           "-r", f"json:{out}")
    (result,) = [r for r in json.loads(out.read_text())["results"] if r["rule"] == rule]
    assert result["status"] == "error", result
    assert "facts were collected" in result["message"]
    assert result["observed"] != "absent"


def test_collected_but_absent_still_fails(tmp_path: Path) -> None:
    """'Absent' keeps its meaning: the limits section was read and has no nofile line."""
    doc = json.loads(FAULTY.read_text())
    doc["hosts"] = doc["hosts"][:1]
    doc["hosts"][0]["facts"]["limits"] = {}
    path = tmp_path / "f.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "r.json"
    kaudit("scan", "-p", "prod-ha", "--facts", path, "--only", "os.nofile-limit",
           "-r", f"json:{out}")
    (result,) = [r for r in json.loads(out.read_text())["results"]
                 if r["rule"] == "os.nofile-limit"]
    assert (result["status"], result["observed"]) == ("fail", "absent")


def test_nothing_checked_exits_3(tmp_path: Path) -> None:
    # Installed-phase rules on a preflight fleet: every selected rule is skipped.
    code, out, _ = kaudit("scan", "-p", "prod-ha", "--facts", FAULTY, "--only",
                          "cp.apiserver-inflight", "--phase", "preflight")
    assert code == 3
    assert "coverage 0/0: nothing was checked" in out


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("value", "color"), [(None, True), ("", True), ("1", False),
                                              ("0", False)])
def test_no_color_only_when_non_empty(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                      color: bool) -> None:
    if value is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", value)
    assert _color(_Tty()) is color
    assert _color(io.StringIO()) is False       # never on a pipe


def test_columns_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    assert terminal_width() == 80
    from kaudit.results.reportfile import report_from_dict

    out = tmp_path / "r.json"
    kaudit("scan", "-p", "prod-ha", "--facts", FAULTY, "-r", f"json:{out}")
    report = report_from_dict(json.loads(out.read_text()))
    text = render_terminal(report, color=False)
    long = [ln for ln in text.splitlines() if len(ln) > 80]
    # Only remediation lines that cannot be split safely (quotes) may run over.
    assert all(("'" in ln or '"' in ln) and ln.startswith("    ") for ln in long), long
    wide = render_terminal(report, color=False, width=200)
    assert max(len(ln) for ln in wide.splitlines()) > 80
    monkeypatch.setenv("COLUMNS", "junk")
    assert terminal_width() >= 40
