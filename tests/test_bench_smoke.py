"""The benchmark scripts in tiny modes, so they cannot rot. Nothing is timed here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requires
import sshd as sshd_harness

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _run(script: str, *args: str, timeout: float = 50) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.sshd
def test_fanout_kaudit_on_five_hosts(tmp_path):
    requires.need("sshd", "ssh-keygen", root=True)
    port = sshd_harness.free_port("127.77.0.1")
    out = tmp_path / "fanout.json"
    r = _run("fanout.py", "--hosts", "5", "--runs", "1", "--only", "kaudit",
             "--port", str(port), "--json", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(out.read_text())
    k = doc["summary"]["kaudit"]
    assert k["failures"] == 0
    assert k["wall_s"] > 0 and k["cpu_ms_per_host"] > 0 and k["peak_rss_mb"] > 0
    assert doc["command"].startswith("sh -s -- --vip 127.0.0.1")
    assert "kaudit" in r.stdout and "failures" in r.stdout
    # Every sshd it started is gone: nothing listens on the bench port any more.
    with pytest.raises(RuntimeError, match="did not come up"):
        sshd_harness.wait_banner("127.77.0.1", port, timeout=0.5)


def test_offline_builds_and_scans_a_cloned_fleet(tmp_path):
    out = tmp_path / "offline.json"
    r = _run("offline.py", "--hosts", "12", "--runs", "1", "--json", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(out.read_text())
    assert doc["hosts"] == 12 and doc["results"] > 12 and doc["wall_s"] > 0


def test_offline_clones_get_their_own_identity(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import offline
    finally:
        sys.path.remove(str(BENCH))
    facts = tmp_path / "f.json"
    offline.build(13, facts)
    doc = json.loads(facts.read_text())
    names = [h["inventory"]["name"] for h in doc["hosts"]]
    addrs = [h["inventory"]["address"] for h in doc["hosts"]]
    assert len(set(names)) == 13 and len(set(addrs)) == 13
    src = json.loads(offline.FIXTURE.read_text())["hosts"][0]
    old = src["inventory"]["address"]
    first = json.dumps(doc["hosts"][0]["facts"])
    assert old not in first and addrs[0] in first


def test_startup_paths_do_not_import_paramiko(tmp_path):
    out = tmp_path / "startup.json"
    r = _run("startup.py", "--runs", "1", "--json", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(out.read_text())
    assert set(doc) == {"kaudit --help", "kaudit rules list"}
    assert all(v["ssh_imports"] == [] for v in doc.values())


def test_html_render_runs_on_a_small_fleet():
    requires.need("chromium")
    r = _run("html_render.py", "--hosts", "12", "--runs", "1", timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "html: 12 hosts" in r.stdout and "render" in r.stdout
