"""Booted lab hosts (fixtures/fleets/ha-booted.yaml): three masters with systemd as
PID 1 and real Debian services. keepalived elects the VIP holder over VRRP on
the lab bridge; the test stops keepalived on the holder, waits for the VIP to
move, scans again, and checks what kaudit says about both states."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lab as labmod  # tests/lab; pytest puts tests/ on sys.path
import pytest

pytestmark = [pytest.mark.netns, pytest.mark.slow]

KAUDIT = Path(sys.executable).parent / "kaudit"
MASTERS = ("m01", "m02", "m03")


def ssh(lab: labmod.Lab, host: str, command: str, timeout: float = 30) -> str:
    """A command on a lab host over its own sshd; fails the test on a non-zero exit."""
    address = lab.fleet.host(host).address
    cp = subprocess.run(
        lab.in_lab("ssh", "-q", "-i", str(lab.client_key), "-o",
                   f"UserKnownHostsFile={lab.known_hosts}", "-o", "StrictHostKeyChecking=yes",
                   "-o", "BatchMode=yes", f"root@{address}", command),
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
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


def scan(lab: labmod.Lab, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    inv = out / "hosts.txt"
    inv.write_text(lab.fleet.inventory_text(user="root"))
    cp = subprocess.run(
        lab.in_lab(str(KAUDIT), "scan", "-p", "prod-ha", "--phase", "installed", str(inv),
                   "-i", str(lab.client_key), "--known-hosts", str(lab.known_hosts),
                   "--no-progress", "--timeout", "30", "-r", f"json:{out}/report.json",
                   "--save-facts", str(out / "facts.json")),
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert cp.returncode in (0, 1, 3), f"scan failed rc={cp.returncode}: {cp.stderr}"
    return json.loads((out / "report.json").read_text())


def status(report: dict[str, Any], rule: str, host: str | None = None) -> str:
    (r,) = [r for r in report["results"] if r["rule"] == rule and r["host"] == host]
    return str(r["status"])


def test_hosts_really_boot_systemd_with_real_services(booted: labmod.Lab) -> None:
    for h in MASTERS:
        state = ssh(booted, h, "systemctl is-system-running || true").strip()
        failed = ssh(booted, h, "systemctl --failed --no-legend --plain || true")
        assert state == "running", f"{h}: {state}; failed units: {failed}"
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
