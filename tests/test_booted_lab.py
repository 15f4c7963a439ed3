"""Booted lab hosts (fixtures/fleets/ha-booted.yaml): three masters with systemd as
PID 1 and real Debian services. keepalived elects the VIP holder over VRRP on
the lab bridge; the test stops keepalived on the holder, waits for the VIP to
move, scans again, and checks what kaudit says about both states."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lab as labmod  # tests/lab; pytest puts tests/ on sys.path
import pytest
from lab import pki

pytestmark = [pytest.mark.netns, pytest.mark.slow]

KAUDIT = Path(sys.executable).parent / "kaudit"
MASTERS = ("m01", "m02", "m03")


def ssh(lab: labmod.Lab, host: str, command: str, timeout: float = 30,
        data: str | None = None) -> str:
    """A command on a lab host over its own sshd; fails the test on a non-zero exit."""
    cp = subprocess.run(
        lab.ssh_argv(lab.fleet.host(host), command), capture_output=True, text=True,
        timeout=timeout, input=data, stdin=None if data is not None else subprocess.DEVNULL)
    assert cp.returncode == 0, f"{host}: {command}: rc={cp.returncode} {cp.stderr}"
    return cp.stdout


def holders(lab: labmod.Lab) -> list[str]:
    vip = lab.fleet.inventory_vars["vip"]
    return [h for h in MASTERS
            if f" {vip}/" in ssh(lab, h, "ip -o -4 addr show dev eth0")]


def wait_for(what: str, test: Any, timeout: float = 90) -> Any:
    end = time.monotonic() + timeout
    while True:
        value = test()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        time.sleep(1)


@pytest.fixture(scope="module")
def booted(request: pytest.FixtureRequest) -> Iterator[labmod.Lab]:
    reason = labmod.unmet()
    if reason:
        pytest.fail(reason, pytrace=False)
    lab = labmod.Lab(labmod.load_fleet("ha-booted"))
    request.addfinalizer(lab.down)
    lab.up()
    for h in MASTERS:
        wait_for(f"{h} to finish booting", lambda h=h: ssh(
            lab, h, "systemctl is-system-running --wait || true").strip() in
            ("running", "degraded"))
    wait_for("one VIP holder", lambda: len(holders(lab)) == 1)
    yield lab


def scan(lab: labmod.Lab, out: Path, *extra: str, profile: str = "prod-ha") -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    inv = out / "hosts.txt"
    inv.write_text(lab.fleet.inventory_text(user="root"))
    cp = subprocess.run(
        lab.in_lab(str(KAUDIT), "scan", "-p", profile, "--phase", "installed", str(inv),
                   "-i", str(lab.client_key), "--known-hosts", str(lab.known_hosts),
                   "--no-progress", "--timeout", "30", "-r", f"json:{out}/report.json",
                   "-r", f"terminal:{out}/report.txt", "--save-facts", str(out / "facts.json"),
                   *extra),
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert cp.returncode in (0, 1, 3), f"scan failed rc={cp.returncode}: {cp.stderr}"
    (out / "stderr.txt").write_text(cp.stderr)
    return json.loads((out / "report.json").read_text())


def result(report: dict[str, Any], rule: str, host: str | None = None) -> dict[str, Any]:
    (r,) = [r for r in report["results"] if r["rule"] == rule and r["host"] == host]
    return r


def status(report: dict[str, Any], rule: str, host: str | None = None) -> str:
    return str(result(report, rule, host)["status"])


def test_hosts_really_boot_systemd_with_real_services(booted: labmod.Lab) -> None:
    for h in MASTERS:
        state = ssh(booted, h, "systemctl is-system-running || true").strip()
        failed = ssh(booted, h, "systemctl --failed --no-legend --plain || true")
        why = ssh(booted, h, "for u in $(systemctl --failed --no-legend --plain | cut -d' ' -f1);"
                             " do journalctl -b -u $u --no-pager | tail -8; done")
        assert state == "running", f"{h}: {state}; failed units: {failed}\n{why}"
        assert ssh(booted, h, "cat /proc/1/comm").strip() == "systemd"
        for unit in ("keepalived", "haproxy", "etcd", "chrony", "containerd", "ssh"):
            assert ssh(booted, h, f"systemctl is-active {unit}").strip() == "active", (h, unit)
        assert ssh(booted, h, "systemctl is-enabled firewalld || true").strip() == "disabled"


def test_etcd_is_a_three_member_cluster_with_metrics(booted: labmod.Lab) -> None:
    members = ssh(booted, "m02", "ETCDCTL_API=3 etcdctl member list")
    assert sorted(line.split(", ")[2] for line in members.splitlines()) == list(MASTERS)
    metrics = ssh(booted, "m03", "curl -sf http://127.0.0.1:2381/metrics")
    assert "etcd_server_has_leader 1" in metrics


def test_haproxy_forwards_the_vip_to_a_tls_listener(booted: labmod.Lab) -> None:
    vip = booted.fleet.inventory_vars["vip"]
    out = ssh(booted, "m02", f"echo | openssl s_client -connect {vip}:16443 2>/dev/null | "
                             "openssl x509 -noout -subject")
    assert "kube-apiserver" in out


def test_the_vip_moves_when_keepalived_stops_and_kaudit_follows(
        booted: labmod.Lab, tmp_path: Path) -> None:
    (first,) = holders(booted)
    before = scan(booted, tmp_path / "before")
    assert status(before, "ha.vip-held") == "pass"
    ssh(booted, first, "systemctl stop keepalived")
    try:
        (second,) = wait_for("the VIP to move", lambda: [
            h for h in holders(booted) if h != first] if first not in holders(booted) else [],
            timeout=30)
        after = scan(booted, tmp_path / "after")
        assert status(after, "ha.vip-held") == "pass"
        cp = subprocess.run([str(KAUDIT), "diff", str(tmp_path / "before" / "facts.json"),
                             str(tmp_path / "after" / "facts.json")],
                            capture_output=True, text=True, timeout=60)
        assert cp.returncode in (0, 1), cp.stderr
        held = [ln for ln in cp.stdout.splitlines() if "vip.held" in ln]
        assert any(second in ln for ln in held), cp.stdout
        assert any(first in ln for ln in held), cp.stdout
    finally:
        ssh(booted, first, "systemctl start keepalived")
    wait_for("the VIP to return to the highest priority",
             lambda: holders(booted) == [first], timeout=30)


# ------------------------------------------------------------------------ health


HEALTH_PASS = ("health.cert-expired", "health.cert-expiry", "health.cert-expiry-warn",
               "health.cert-not-yet-valid", "health.ca-expiry", "health.apiserver-cert-sans",
               "health.etcd-leader", "health.etcd-quota", "health.etcd-wal-fsync",
               "health.etcd-backend-commit", "health.apiserver-livez",
               "health.kubelet-healthz", "health.disk-eviction", "health.conntrack")


def test_a_healthy_booted_cluster_passes_the_health_pack(booted: labmod.Lab,
                                                          tmp_path: Path) -> None:
    # Enough writes that etcd's latency histograms say something (every member fsyncs).
    # Backend commits are batched (100 ms): 500 puts give about 140 of them.
    ssh(booted, "m01", "for i in $(seq 500); do ETCDCTL_API=3 etcdctl put /kaudit/k$i v$i "
                       ">/dev/null || exit 1; done", timeout=120)
    report = scan(booted, tmp_path, "--only", "health")
    for h in MASTERS:
        for rule in HEALTH_PASS:
            assert status(report, rule, h) == "pass", (rule, h, result(report, rule, h))
    assert status(report, "health.ca-shared") == "pass"
    facts = json.loads((tmp_path / "facts.json").read_text())
    etcd = facts["hosts"][0]["facts"]["etcd_metrics"]
    assert etcd["quota_bytes"] == 2 * 1024**3 and etcd["has_leader"] is True
    assert 0 < etcd["wal_fsync_p99_seconds"] < 1


def _kubeconfig(ca: bytes, cert: bytes, key: bytes) -> str:
    b64 = base64.b64encode
    return (f"apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
            f"    certificate-authority-data: {b64(ca).decode()}\n"
            f"    server: https://192.168.50.199:16443\n  name: kubernetes\nusers:\n"
            f"- name: kubernetes-admin\n  user:\n"
            f"    client-certificate-data: {b64(cert).decode()}\n"
            f"    client-key-data: {b64(key).decode()}\n")


def test_certificate_faults_are_found_and_no_private_key_leaves_the_host(
        booted: labmod.Lab, tmp_path: Path) -> None:
    ca, ca_key = pki.make_ca("lab-fault-ca")
    expired = pki.issue(ca, ca_key, "front-proxy-client", days=-2, not_before_days=-400)
    soon = pki.issue(ca, ca_key, "apiserver-kubelet-client", days=3)
    future = pki.issue(ca, ca_key, "apiserver-etcd-client", days=400, not_before_days=2)
    admin = pki.issue(ca, ca_key, "kubernetes-admin", org="kubeadm:cluster-admins", days=200)
    kubelet = pki.issue(ca, ca_key, "system:node:m02", org="system:nodes", days=300)
    planted = {
        "/etc/kubernetes/pki/front-proxy-client.crt": expired.cert_pem.decode(),
        "/etc/kubernetes/pki/apiserver-kubelet-client.crt": soon.cert_pem.decode(),
        "/etc/kubernetes/pki/apiserver-etcd-client.crt": future.cert_pem.decode(),
        "/etc/kubernetes/admin.conf": _kubeconfig(ca.cert_pem, admin.cert_pem, admin.key_pem),
        # As the kubelet writes it: the certificate and its key in one file.
        "/var/lib/kubelet/pki/kubelet-client-current.pem":
            (kubelet.cert_pem + kubelet.key_pem).decode(),
    }
    for path, text in planted.items():
        ssh(booted, "m02", f"mkdir -p {path.rsplit('/', 1)[0]} && cat > {path}", data=text)
    try:
        report = scan(booted, tmp_path, "--only", "health")
    finally:
        ssh(booted, "m02", "rm -f " + " ".join(planted))
    expired_r = result(report, "health.cert-expired", "m02")
    assert expired_r["status"] == "fail" and "front-proxy-client.crt" in expired_r["message"]
    soon_r = result(report, "health.cert-expiry", "m02")
    assert soon_r["status"] == "fail" and "apiserver-kubelet-client.crt" in soon_r["message"]
    future_r = result(report, "health.cert-not-yet-valid", "m02")
    assert future_r["status"] == "fail" and "apiserver-etcd-client" in future_r["message"]
    assert status(report, "health.cert-expired", "m01") == "pass"
    facts = json.loads((tmp_path / "facts.json").read_text())
    m02 = next(h for h in facts["hosts"] if h["inventory"]["name"] == "m02")
    subjects = {c["subject"] for c in m02["facts"]["certs"]["items"].values()}
    assert "CN=kubernetes-admin,O=kubeadm:cluster-admins" in subjects     # from admin.conf
    assert "CN=system:node:m02,O=system:nodes" in subjects                # from the .pem
    # No key leaves the host: not its PEM body, not its base64 in a kubeconfig.
    secrets = []
    for issued in (admin, kubelet):
        body = "".join(issued.key_pem.decode().splitlines()[1:-1])
        secrets += [body[:40], base64.b64encode(issued.key_pem).decode()[:40]]
    outputs = {p.name: p.read_text() for p in tmp_path.iterdir() if p.is_file()}
    assert "facts.json" in outputs and "report.json" in outputs
    for name, text in outputs.items():
        assert "PRIVATE KEY" not in text, name
        for secret in secrets:
            assert secret not in text, name


def _etcd(lab: labmod.Lab, host: str, command: str) -> str:
    return ssh(lab, host, f"ETCDCTL_API=3 etcdctl {command}")


def test_etcd_without_quorum_has_no_leader_and_a_leader_change_is_counted(
        booted: labmod.Lab, tmp_path: Path) -> None:
    profile = tmp_path / "strict.yaml"
    profile.write_text("extends: prod-ha\nparams:\n  etcd_leader_changes_max: 0\n")
    before = scan(booted, tmp_path / "before", "--only", "health")
    assert status(before, "health.etcd-leader", "m03") == "pass"
    for h in ("m01", "m02"):
        ssh(booted, h, "systemctl stop etcd")
    try:
        wait_for("m03 to lose its leader", lambda: "etcd_server_has_leader 0" in ssh(
            booted, "m03", "curl -s http://127.0.0.1:2381/metrics"), timeout=30)
        lost = scan(booted, tmp_path / "lost", "--only", "health")
        assert status(lost, "health.etcd-leader", "m03") == "fail"
    finally:
        for h in ("m01", "m02"):
            ssh(booted, h, "systemctl start etcd")
    wait_for("a leader again", lambda: all("etcd_server_has_leader 1" in ssh(
        booted, h, "curl -s http://127.0.0.1:2381/metrics") for h in MASTERS), timeout=60)
    after = scan(booted, tmp_path / "after", "--only", "health", "--baseline-facts",
                 str(tmp_path / "before" / "facts.json"), profile=str(profile))
    # m03 saw the election that followed the quorum loss: its counter went up.
    changes = result(after, "health.etcd-leader-changes", "m03")
    assert changes["status"] == "fail", changes
    assert "leader changes since the baseline" in changes["message"]
    plain = scan(booted, tmp_path / "plain", "--only", "health")
    assert status(plain, "health.etcd-leader-changes", "m03") == "skip"    # no baseline
