"""The health sections of the probe output, parsed: certificates (PEM files and
kubeconfig fields), etcd's metrics (a recording of the lab's real etcd 3.4.23),
health endpoints and df. Probe output is written in the probe's own framing."""

from __future__ import annotations

import base64
import math
from pathlib import Path

import pytest
from lab import pki

from kaudit.facts.parse import parse_probe_output
from kaudit.facts.parsers.health import quantile

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "probe" / "health"
EPOCH = 1_795_000_000          # 2026-11-18


def probe(*sections: tuple[str, list[str]]) -> str:
    lines = [f"KAUDIT-PROBE 1 {EPOCH}"]
    for name, body in sections:
        lines += [f"@@kaudit:section {name}", *body]
    return "\n".join([*lines, "@@kaudit:end 0"]) + "\n"


def facts_of(*sections: tuple[str, list[str]]) -> dict:
    facts, _notes = parse_probe_output(probe(*sections))
    return facts


def test_certificates_from_pem_files_and_kubeconfig_fields() -> None:
    ca, ca_key = pki.make_ca()
    leaf = pki.apiserver(ca, ca_key, "m01", "10.0.0.11", "10.0.0.199")
    admin = pki.issue(ca, ca_key, "kubernetes-admin", org="kubeadm:cluster-admins", days=200)
    b64 = base64.b64encode
    facts = facts_of(("certs", [
        "@@kaudit:file /etc/kubernetes/pki/apiserver.crt", *leaf.cert_pem.decode().splitlines(),
        "", "@@kaudit:file /etc/kubernetes/pki/ca.crt", *ca.cert_pem.decode().splitlines(), "",
        "@@kaudit:file /etc/kubernetes/admin.conf",
        f"    certificate-authority-data: {b64(ca.cert_pem).decode()}",
        f"    client-certificate-data: {b64(admin.cert_pem).decode()}", ""]))
    certs = facts["certs"]
    assert len(certs["items"]) == 4
    api = certs["by_name"]["apiserver.crt"]
    assert api["subject"] == "CN=kube-apiserver" and api["issuer"] == "CN=kubernetes"
    assert {"10.0.0.199", "10.0.0.11", "kubernetes.default.svc.cluster.local"} <= set(
        certs["apiserver_sans"])
    assert certs["ca_fingerprint"] == certs["by_name"]["ca.crt"]["fingerprint_sha256"]
    assert {k: c["subject"] for k, c in certs["cas"].items()} == {
        "/etc/kubernetes/pki/ca.crt": "CN=kubernetes",
        "/etc/kubernetes/admin.conf#certificate-authority-data": "CN=kubernetes"}
    client = certs["by_name"]["admin.conf:client-certificate-data"]
    assert client["subject"] == "CN=kubernetes-admin,O=kubeadm:cluster-admins"
    assert client["path"] == "/etc/kubernetes/admin.conf"
    # days_left is measured from the probe's clock, not the scanner's.
    assert not math.isclose(client["days_left"], 200, abs_tol=1)


def test_a_broken_certificate_is_a_note_not_a_crash() -> None:
    facts, notes = parse_probe_output(probe(("certs", [
        "@@kaudit:file /etc/kubernetes/pki/ca.crt", "-----BEGIN CERTIFICATE-----",
        "bm90IGEgY2VydA==", "-----END CERTIFICATE-----", ""])))
    assert facts["certs"]["items"] == {}
    assert any("does not parse" in n for n in notes)


def test_etcd_metrics_recorded_from_the_labs_etcd() -> None:
    text = (FIXTURES / "etcd-3.4.23-metrics.txt").read_text().splitlines()
    facts = facts_of(("etcd-metrics", ["url=http://127.0.0.1:2381",
                                       "@@kaudit:cmd metrics rc=0", *text, ""]))
    etcd = facts["etcd_metrics"]
    assert etcd["quota_bytes"] == 2147483648 and etcd["db_size_bytes"] == 36864
    assert etcd["db_in_use_percent"] == pytest.approx(100 * 16384 / 36864, abs=0.01)
    assert etcd["has_leader"] is True and etcd["leader_changes"] == 1
    assert etcd["wal_fsync_samples"] == 8 and 0 < etcd["wal_fsync_p99_seconds"] <= 0.001


def test_etcd_metrics_unreachable_and_not_configured() -> None:
    down = facts_of(("etcd-metrics", ["url=http://127.0.0.1:2381", "@@kaudit:cmd metrics rc=1",
                                      "curl: (7) Failed to connect to 127.0.0.1 port 2381", ""]))
    assert "Failed to connect" in down["etcd_metrics"]["error"]
    assert "has_leader" not in down["etcd_metrics"]
    assert facts_of(("etcd-metrics", ["url="]))["etcd_metrics"] == {"configured": False}


@pytest.mark.parametrize(("buckets", "p99"), [
    ([(0.001, 0), (0.002, 50), (0.004, 100), (math.inf, 100)], 0.00396),
    ([(0.001, 990), (0.002, 1000), (math.inf, 1000)], 0.001),
    ([(0.008, 10), (math.inf, 1000)], 0.008),     # past the largest bucket: its bound
    ([], None),
])
def test_p99_as_prometheus_histogram_quantile(buckets: list, p99: float | None) -> None:
    got = quantile(0.99, buckets)
    assert got == pytest.approx(p99) if p99 is not None else got is None


def test_health_endpoints() -> None:
    facts = facts_of(("health", [
        "apiserver_port=6443", "kubelet=1",
        "@@kaudit:cmd apiserver-livez rc=0", "ok", "http_code=200", "",
        "@@kaudit:cmd kubelet-healthz rc=7", "", "http_code=000", ""]))
    health = facts["health"]
    assert health["apiserver_livez"]["ok"] is True
    assert health["kubelet_healthz"] == {"checked": True, "ok": False, "http_code": 0,
                                         "body": "", "error": "curl exit 7"}
    assert facts_of(("health", []))["health"] == {}


DF = ["Filesystem     1024-blocks     Used Available Capacity Mounted on",
      "/dev/sda1         10000000  9200000    800000      92% /"]
DFI = ["Filesystem      Inodes  IUsed   IFree IUse% Mounted on",
       "/dev/sda1      1000000 980000   20000     98% /"]


def test_disk_headroom_against_the_kubelets_own_eviction_settings() -> None:
    disks = ["@@kaudit:cmd df / rc=0", *DF, "", "@@kaudit:cmd dfi / rc=0", *DFI, ""]
    default = facts_of(("disks", disks))["disks"]["by_path"]["/"]
    # 8% free against the kubelet's default nodefs.available 10%: 2 points past it.
    assert default["space_headroom_percent"] == pytest.approx(-2.0)
    assert default["inodes_headroom_percent"] == pytest.approx(2.0 - 5.0)
    assert default["eviction_signals"] == "nodefs (kubelet defaults)"
    config = ["@@kaudit:file /var/lib/kubelet/config.yaml",
              "apiVersion: kubelet.config.k8s.io/v1beta1", "kind: KubeletConfiguration",
              "evictionHard:", "  nodefs.available: 500Mi", "  nodefs.inodesFree: 1%", ""]
    own = facts_of(("kubernetes", config), ("kubelet", []), ("disks", disks))
    root = own["disks"]["by_path"]["/"]
    assert root["eviction_available_bytes"] == 500 * 2**20
    assert root["inodes_headroom_percent"] == pytest.approx(1.0)
    assert root["eviction_signals"] == "nodefs (kubelet evictionHard)"
