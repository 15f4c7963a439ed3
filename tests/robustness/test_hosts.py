"""Hosts that fail in every way a fleet can: each row runs the real CLI against
two healthy hosts plus one bad one, and asserts the bad host's status and
message, exit code 3, and that the healthy hosts' results are complete."""

from __future__ import annotations

import re
import subprocess
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import sshd as sshd_harness

from .conftest import (
    RECORDING,
    Fleet,
    Listener,
    assert_good_hosts_intact,
    good_lines,
    load_json,
    need,
    replay,
    run_kaudit,
    start_sshd,
    trust_pair,
)

pytestmark = pytest.mark.sshd


def scan_with(fleet: Fleet, good_pair, bad_line: str, *extra: str | Path,  # type: ignore[no-untyped-def]
              timeout: float = 20, prefix: tuple[str, ...] = ()
              ) -> tuple[subprocess.CompletedProcess[bytes], dict, dict]:
    """Scan g1, g2 and `bad`; returns (process, JSON report, the bad host's entry)."""
    trust_pair(fleet, good_pair)
    inv = fleet.dir / "hosts.txt"
    inv.write_text("[masters]\n" + good_lines(good_pair) + bad_line + "\n")
    out = fleet.dir / "out.json"
    proc = run_kaudit(*fleet.args(inv, "-r", f"json:{out}", "-r",
                                  f"junit:{fleet.dir / 'out.xml'}", "-r", "terminal",
                                  *extra, timeout=timeout),
                      cwd=fleet.dir, prefix=prefix)
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err, err
    assert out.exists(), (proc.returncode, err)
    report = load_json(out)
    ET.parse(fleet.dir / "out.xml")  # well-formed even with a failed host
    bad = next(h for h in report["hosts"] if h["name"] == "bad")
    assert_good_hosts_intact(report)
    # The bad host's rules are errors, never a silent pass.
    assert {r["status"] for r in report["results"] if r["host"] == "bad"} == {"error"}
    assert "bad" in proc.stdout.decode()
    return proc, report, bad


def test_connection_refused(fleet, good_pair):  # type: ignore[no-untyped-def]
    port = sshd_harness.free_port("127.0.0.20")
    proc, _, bad = scan_with(fleet, good_pair, f"bad ansible_host=127.0.0.20 ansible_port={port}")
    assert proc.returncode == 3
    assert bad["status"] == "unreachable"
    assert bad["error"] == f"connect to 127.0.0.20:{port}: Connection refused"


def test_dns_failure(fleet, good_pair):  # type: ignore[no-untyped-def]
    # The lookup goes to a resolver on loopback where nothing listens (a private
    # /etc/resolv.conf in a mount namespace), so no query leaves this machine.
    need("unshare", "mount")
    resolv = fleet.dir / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
    wrapper = ("mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"")
    proc, _, bad = scan_with(fleet, good_pair, "bad ansible_host=no-such-host.invalid",
                             prefix=("unshare", "--mount", "sh", "-c", wrapper, str(resolv)))
    assert proc.returncode == 3
    assert bad["status"] == "unreachable"
    assert bad["error"].startswith("cannot resolve no-such-host.invalid: ")


def test_listener_that_never_sends_a_banner(fleet, good_pair):  # type: ignore[no-untyped-def]
    listener = Listener("127.0.0.21")
    try:
        proc, report, bad = scan_with(
            fleet, good_pair, f"bad ansible_host=127.0.0.21 ansible_port={listener.port}",
            timeout=2)
    finally:
        listener.close()
    assert proc.returncode == 3
    assert bad["status"] == "timeout"
    assert bad["error"] == (f"no SSH session with {fleet.user}@127.0.0.21:{listener.port} "
                            "within 2s (no banner, handshake or login)")
    assert report["duration_s"] < 10


def test_listener_with_a_non_ssh_banner(fleet, good_pair):  # type: ignore[no-untyped-def]
    listener = Listener("127.0.0.22", b"HTTP/1.0 400 Bad Request\r\n\x1b[31mgo away\r\n\r\n")
    try:
        proc, _, bad = scan_with(fleet, good_pair,
                                 f"bad ansible_host=127.0.0.22 ansible_port={listener.port}")
    finally:
        listener.close()
    assert proc.returncode == 3
    assert bad["status"] == "error"
    assert bad["error"] == (f"127.0.0.22:{listener.port} is not an SSH server "
                            "(no valid SSH protocol banner)")


def _bad_server(ssh_env, address: str, force: str | None, **kw):  # type: ignore[no-untyped-def]
    return start_sshd([address], [ssh_env.key], force=force, **kw)


def test_connection_dropped_mid_probe(fleet, good_pair, ssh_env):  # type: ignore[no-untyped-def]
    # A valid first line and a section, then the session's sshd is killed.
    server = _bad_server(ssh_env, "127.0.0.23",
                         "cat >/dev/null\nprintf 'KAUDIT-PROBE 1 %s\\n' \"$(date +%s)\"\n"
                         "echo '@@kaudit:section hostname'\necho 'proc=half'\nsleep 0.3\n"
                         "kill -9 $PPID\n")
    try:
        fleet.trust(server)
        proc, _, bad = scan_with(fleet, good_pair,
                                 f"bad ansible_host=127.0.0.23 ansible_port={server.port}")
    finally:
        server.cleanup()
    assert proc.returncode == 3
    assert bad["status"] == "error"
    assert "before the probe finished" in bad["error"]


def test_probe_running_past_the_timeout(fleet, good_pair, ssh_env):  # type: ignore[no-untyped-def]
    server = _bad_server(ssh_env, "127.0.0.24", "cat >/dev/null\nexec sleep 60\n")
    try:
        fleet.trust(server)
        proc, report, bad = scan_with(fleet, good_pair,
                                      f"bad ansible_host=127.0.0.24 ansible_port={server.port}",
                                      timeout=3)
    finally:
        server.cleanup()
    assert proc.returncode == 3
    assert bad["status"] == "timeout"
    assert bad["error"] == (f"probe on {fleet.user}@127.0.0.24:{server.port} did not "
                            "finish within 3s")
    assert report["duration_s"] < 10


def test_output_over_the_cap(fleet, good_pair, ssh_env):  # type: ignore[no-untyped-def]
    # 16 MiB is the per-host cap; this host sends 20 MB.
    server = _bad_server(ssh_env, "127.0.0.25",
                         "cat >/dev/null\nprintf 'KAUDIT-PROBE 1 %s\\n' \"$(date +%s)\"\n"
                         "head -c 20000000 /dev/zero | tr '\\0' 'x'\n")
    try:
        fleet.trust(server)
        proc, _, bad = scan_with(fleet, good_pair,
                                 f"bad ansible_host=127.0.0.25 ansible_port={server.port}",
                                 timeout=60)
    finally:
        server.cleanup()
    assert proc.returncode == 3
    assert bad["status"] == "error"
    assert bad["error"] == (f"probe output exceeded {16 * 1024 * 1024} bytes; truncated "
                            "(facts are incomplete)")


def test_host_presenting_another_hosts_key(fleet, good_pair, ssh_env):  # type: ignore[no-untyped-def]
    key_a = sshd_harness.keygen(fleet.dir / "key_a", "host-a")
    key_b = sshd_harness.keygen(fleet.dir / "key_b", "host-b")
    server = _bad_server(ssh_env, "127.0.0.26", None, host_key=key_b)
    try:
        pub_a = " ".join(Path(f"{key_a}.pub").read_text().split()[:2])
        with open(fleet.known_hosts, "a") as f:
            f.write(f"[127.0.0.26]:{server.port} {pub_a}\n")
        proc, _, bad = scan_with(fleet, good_pair,
                                 f"bad ansible_host=127.0.0.26 ansible_port={server.port}")
    finally:
        server.cleanup()
    assert proc.returncode == 3
    assert bad["status"] == "hostkey_rejected"
    assert f"[127.0.0.26]:{server.port}" in bad["error"]
    # known_hosts is left as it was: a changed key is never recorded.
    assert fleet.known_hosts.read_text().count("127.0.0.26") == 1


def test_auth_failure(fleet, good_pair, ssh_env):  # type: ignore[no-untyped-def]
    proc, _, bad = scan_with(
        fleet, good_pair,
        f"bad ansible_host=127.0.0.2 ansible_port={good_pair.port} "
        f"ansible_ssh_private_key_file={ssh_env.wrong_key}")
    assert proc.returncode == 3
    assert bad["status"] == "auth_failed"
    assert bad["error"].startswith(f"authentication as {ssh_env.user} to 127.0.0.2:")


def test_sudo_that_asks_for_a_password(fleet, good_pair, ssh_env):  # type: ignore[no-untyped-def]
    need("sudo")
    # The healthy hosts answer whatever command they get; the bad one is a plain
    # sshd where the test user has no sudo rights, so `sudo -n` wants a password.
    server = _bad_server(ssh_env, "127.0.0.27", None)
    try:
        fleet.trust(server)
        proc, _, bad = scan_with(fleet, good_pair,
                                 f"bad ansible_host=127.0.0.27 ansible_port={server.port}",
                                 "--sudo")
    finally:
        server.cleanup()
    assert proc.returncode == 3
    assert bad["status"] == "error"
    assert bad["error"] == "sudo requires a password; configure NOPASSWD or drop --sudo"


# -- hostile output -------------------------------------------------------------------

HOSTILE_NAME = "evil\x1b]0;pwned\x07\x1b[31mred\x00\x0b\x9b2J</failure><![CDATA[x]]>&\u202e"


def test_hostile_output(fleet, good_pair, ssh_env):  # type: ignore[no-untyped-def]
    d = fleet.dir
    text = RECORDING.read_text()
    text = re.sub(r"(?m)^proc=vm$", "proc=" + HOSTILE_NAME, text)
    text = re.sub(r"(?m)^release=.*$", "release=6.1\x1b[2J\x1b[H\x07\x08\x7f", text)
    force, files = replay(text.encode("utf-8"))
    server = start_sshd(["127.0.0.28"], [ssh_env.key], force=force, files=files)
    out = {f: d / f"r.{f}" for f in ("json", "xml", "html", "prom")}
    trust_pair(fleet, good_pair)
    inv = fleet.dir / "hosts.txt"
    inv.write_text("[masters]\n" + good_lines(good_pair)
                   + f"evil ansible_host=127.0.0.28 ansible_port={server.port}\n")
    try:
        fleet.trust(server)
        proc = run_kaudit(*fleet.args(inv, "-r", "terminal", "-r", f"json:{out['json']}",
                                      "-r", f"junit:{out['xml']}", "-r", f"html:{out['html']}",
                                      "-r", f"prometheus:{out['prom']}", "-vv"),
                          cwd=fleet.dir)
    finally:
        server.cleanup()
    # One rule fails on the hostile host (odd hostname): exit 1, everything ok.
    assert proc.returncode == 1, proc.stderr
    for stream in (proc.stdout, proc.stderr):
        assert not re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", stream.replace(b"\n", b"")), stream
        assert b"\xc2\x9b" not in stream and "\u202e".encode() not in stream
    assert b"evil]0;pwned" not in proc.stdout      # the OSC payload is gone, not just its ESC
    report = load_json(out["json"])
    assert_good_hosts_intact(report)
    evil = {r["rule"]: r for r in report["results"] if r["host"] == "evil"}
    assert evil["rb.hostname"]["status"] == "pass"
    assert evil["rb.hostname-plain"]["status"] == "fail"
    # JSON stays valid (load_json above) with no raw control characters in it.
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out["json"].read_text())
    junit = out["xml"].read_bytes()
    ET.fromstring(junit)
    assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", junit)
    assert b"</failure><![CDATA[x]]>" not in junit
    html = out["html"].read_text()
    assert "</failure><![CDATA" not in html and "\x1b" not in html
    prom = out["prom"].read_text()
    assert "\x1b" not in prom and "\x00" not in prom
    from prometheus_client.parser import text_string_to_metric_families

    list(text_string_to_metric_families(prom))


@pytest.mark.netns
def test_no_route_inside_a_fresh_network_namespace(tmp_path):  # type: ignore[no-untyped-def]
    """Inside a namespace with only lo, and lo down, 127.0.0.1 is unreachable."""
    need("ip")
    from .conftest import write_pack

    rules, profile = write_pack(tmp_path)
    ns = f"kaudit-rb-{uuid.uuid4().hex[:8]}"
    inv = tmp_path / "hosts.txt"
    inv.write_text("[masters]\nhere ansible_connection=local\nbad ansible_host=127.0.0.1\n")
    (tmp_path / "ssh_config").write_text("")
    subprocess.run(["ip", "netns", "add", ns], check=True, capture_output=True)
    try:
        proc = run_kaudit("scan", "-p", profile, "--rules", rules, inv, "-r",
                          f"json:{tmp_path / 'out.json'}", "--ssh-config",
                          tmp_path / "ssh_config", "--known-hosts", tmp_path / "kh",
                          "--no-progress", cwd=tmp_path, prefix=("ip", "netns", "exec", ns))
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=True, capture_output=True)
    assert proc.returncode == 3, proc.stderr
    assert b"Traceback" not in proc.stderr
    report = load_json(tmp_path / "out.json")
    hosts = {h["name"]: h for h in report["hosts"]}
    assert hosts["bad"]["status"] == "unreachable"
    assert hosts["bad"]["error"] == "connect to 127.0.0.1:22: Network is unreachable"
    assert hosts["here"]["status"] == "ok"
    here = {r["rule"]: r["status"] for r in report["results"] if r["host"] == "here"}
    assert here["rb.hostname"] == "pass" and here["rb.kernel"] == "pass"
