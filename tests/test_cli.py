"""The command line: every command once through click's runner, errors as one
line with exit 2, and `@local` as a real scan of this machine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from common import ROOT

from kaudit import __version__
from kaudit.cli import cli

FAULTY = str(ROOT / "fixtures" / "facts" / "lab-faulty.json")
LAB_INV = str(ROOT / "fixtures" / "inventories" / "seed-lab.txt")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        result.exception
    return result.exit_code, result.stdout, result.stderr


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0
    assert __version__ in out


def test_rules_list_show_and_profile_filter() -> None:
    code, out, _ = run("rules", "list")
    assert code == 0
    assert "os.swap-off" in out
    assert "network.cidrs-disjoint" in out
    code, out_base, _ = run("rules", "list", "--profile", "baseline")
    assert code == 0
    assert "ha.master-count" in out and "ha.master-count" not in out_base
    code, out, _ = run("rules", "show", "os.swap-off")
    assert code == 0
    assert "remediation" in out and "swapoff" in out
    code, _, err = run("rules", "show", "os.no-such-rule")
    assert code == 2
    assert "no rule 'os.no-such-rule'" in err


def test_rules_validate_refuses_a_shipped_id(tmp_path: Path) -> None:
    pack = tmp_path / "mine.yaml"
    pack.write_text(
        "pack: os\nrules:\n  - id: os.swap-off\n    title: mine\n    severity: low\n"
        "    scope: host\n    rationale: r\n    remediation: r\n"
        "    check: {fact: swap.active, op: empty}\n")
    code, _, err = run("rules", "validate", str(pack))
    assert code == 2
    assert "os.swap-off" in err and "already defined" in err
    good = tmp_path / "site.yaml"
    good.write_text(
        "pack: site\nrules:\n  - id: site.ntp\n    title: mine\n    severity: low\n"
        "    scope: host\n    rationale: r\n    remediation: r\n"
        "    check: {fact: time.synchronized, op: 'true'}\n")
    code, out, _ = run("rules", "validate", str(good))
    assert code == 0, out
    assert "ok: 1 rules" in out


def test_profiles_list_and_show() -> None:
    code, out, _ = run("profiles", "list")
    assert code == 0
    for name in ("baseline", "lab", "prod-ha"):
        assert name in out
    code, out, _ = run("profiles", "show", "lab")
    assert code == 0
    assert "params:" in out and "prod-ha" in out
    code, _, err = run("profiles", "show", "no-such-profile")
    assert code == 2
    assert "no-such-profile" in err


def test_inventory_show_table_and_json() -> None:
    code, out, _ = run("inventory", "show", LAB_INV)
    assert code == 0
    assert "m01" in out and "192.168.40.190" in out and "master" in out
    code, out, _ = run("inventory", "show", LAB_INV, "--format", "json")
    doc = json.loads(out)
    assert [h["name"] for h in doc["hosts"]][:3] == ["m01", "m02", "m03"]
    assert doc["vars"]["vip"] == "192.168.40.199"
    code, out, _ = run("inventory", "show", LAB_INV, "--var", "vip=192.168.40.200",
                       "--format", "json")
    assert json.loads(out)["vars"]["vip"] == "192.168.40.200"


@pytest.mark.parametrize(("args", "needle"), [
    (["scan", "-p", "prod-ha"], "INVENTORY file or --facts"),
    (["scan", "-p", "prod-ha", LAB_INV, "--facts", FAULTY], "not both"),
    (["scan", "-p", "prod-ha", "--facts", FAULTY, "-r", "pdf"], "pdf"),
    (["scan", "-p", "prod-ha", "--facts", FAULTY, "-r", "json", "-r", "junit"], "stdout"),
    (["scan", "-p", "no-such", "--facts", FAULTY], "no-such"),
    (["scan", "-p", "prod-ha", "--facts", FAULTY, "--only", "os.nope"], "os.nope"),
    (["scan", "-p", "prod-ha", "--facts", FAULTY, "--var", "novalue"], "KEY=VALUE"),
    (["scan", "-p", "prod-ha", "--facts", FAULTY, "--var", "vip=not-an-ip"], "vip"),
    (["scan", "-p", "prod-ha", "--facts", "/nonexistent/facts.json"], "cannot read"),
    (["scan", "-p", "prod-ha", "/nonexistent/hosts.txt"], "cannot read"),
    (["scan", "-p", "prod-ha", "--facts", FAULTY, "--parallel", "0"], "greater than 0"),
    (["scan", "-p", "prod-ha", "--facts", FAULTY, "--bogus"], "--bogus"),
])
def test_bad_invocations_exit_2_with_one_message(args: list[str], needle: str) -> None:
    code, out, err = run(*args)
    assert code == 2, (out, err)
    assert needle in err
    assert "Traceback" not in err
    assert out == ""


def test_facts_scan_with_var_override_changes_results(tmp_path: Path) -> None:
    out_json = tmp_path / "r.json"
    code, _, _ = run("scan", "-p", "prod-ha", "--facts", FAULTY, "-r", f"json:{out_json}")
    before = json.loads(out_json.read_text())
    assert code == 1
    disjoint = [r for r in before["results"] if r["rule"] == "network.cidrs-disjoint"]
    assert disjoint[0]["status"] == "fail"
    code, _, _ = run("scan", "-p", "prod-ha", "--facts", FAULTY, "-r", f"json:{out_json}",
                     "--var", "pod_cidr=172.16.0.0/16")
    after = json.loads(out_json.read_text())
    disjoint = [r for r in after["results"] if r["rule"] == "network.cidrs-disjoint"]
    assert disjoint[0]["status"] == "pass"


def test_save_facts_then_facts_gives_the_same_results(tmp_path: Path) -> None:
    saved, first, second = tmp_path / "f.json", tmp_path / "a.json", tmp_path / "b.json"
    run("scan", "-p", "prod-ha", "--facts", FAULTY, "--save-facts", str(saved),
        "-r", f"json:{first}")
    run("scan", "-p", "prod-ha", "--facts", str(saved), "-r", f"json:{second}")
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert a["results"] == b["results"]
    assert a["hosts"] == b["hosts"]


def test_local_scan_is_real(tmp_path: Path) -> None:
    """`@local` runs the real probe on this machine (no SSH)."""
    out_json = tmp_path / "r.json"
    code, _, err = run("scan", "-p", "baseline", "@local", "-r", f"json:{out_json}",
                       "--no-progress")
    doc = json.loads(out_json.read_text())
    summary = doc["summary"]
    assert code == (3 if summary["error"] else 1 if summary["fail"] else 0), err
    assert doc["coverage"]["selected"] == summary["error"] + doc["coverage"]["evaluated"]
    # The machine under its own name, so its own hostname is no finding.
    assert doc["hosts"] == [{"name": socket.gethostname(), "address": "127.0.0.1",
                             "roles": [], "status": "ok", "error": None}]
    hostname = [r for r in doc["results"] if r["rule"] == "os.hostname-valid"]
    assert [r["status"] for r in hostname] == ["pass"]
    assert summary["pass"] > 0


def test_python_dash_m_and_no_traceback_on_bad_profile(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("extends: [baseline]\nparams: {a: 1}\nbogus: true\n")
    proc = subprocess.run([sys.executable, "-m", "kaudit", "scan", "-p", str(bad),
                           "--facts", FAULTY], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 2
    assert f"{bad}:3:1" in proc.stderr
    assert "bogus" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_ctrl_c_exits_130_and_writes_no_report(tmp_path: Path) -> None:
    """SIGINT while a host hangs in the SSH handshake: exit 130 ("interrupted",
    never 1 "findings failed"), promptly, and no report file of this run."""
    import signal
    import socket as sock
    import time

    listener = sock.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)          # accepts, never sends an SSH banner
    port = listener.getsockname()[1]
    inv = tmp_path / "hosts.txt"
    inv.write_text(f"h1 ansible_host=127.0.0.1 ansible_port={port}\n")
    report = tmp_path / "r.json"
    proc = subprocess.Popen([sys.executable, "-m", "kaudit", "scan", "-p", "baseline", str(inv),
                             "--timeout", "60", "--no-progress", "-r", f"json:{report}",
                             "--known-hosts", str(tmp_path / "kh")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        conn = None
        listener.settimeout(20)
        conn, _ = listener.accept()       # the scan is now waiting on the handshake
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        if conn is not None:
            conn.close()
        listener.close()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not report.exists()
    assert {p.name for p in tmp_path.iterdir()} <= {"hosts.txt", "kh"}   # no temp files
