"""End to end: the installed kaudit scans real six-host fleets built in network
namespaces (tests/lab) from inside the lab namespace, over real SSH.

Expectations come from the fleet files (fixtures/fleets): every (rule, host)
pair a seeded fault lists must fail, and nothing else may fail except the
fleet's commented `known_env_failures` (things one shared kernel cannot fake)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lab as labmod  # tests/lab; pytest puts tests/ on sys.path
import pytest

pytestmark = [pytest.mark.netns, pytest.mark.slow]

KAUDIT = Path(sys.executable).parent / "kaudit"
FLEETS = ["prod-ha-preflight-healthy", "prod-ha-preflight-broken", "prod-ha-installed"]
Pair = tuple[str, "str | None"]


@dataclass
class Scan:
    rc: int
    report: dict[str, Any]
    junit: ET.Element
    terminal: str
    stderr: str
    facts: Path


def _need_lab() -> None:
    """A lab that cannot be built fails the test, naming what is missing."""
    reason = labmod.unmet()
    if reason:
        pytest.fail(reason, pytrace=False)


@pytest.fixture(scope="module", params=FLEETS)
def fleet_lab(request: pytest.FixtureRequest) -> Iterator[labmod.Lab]:
    """One running lab per fleet; torn down even when a test or the build fails."""
    _need_lab()
    lab = labmod.Lab(labmod.load_fleet(request.param))
    request.addfinalizer(lab.down)
    lab.up()
    yield lab


def run_scan(lab: labmod.Lab, out: Path) -> Scan:
    """`kaudit scan -p prod-ha` from inside the lab namespace, all three reports."""
    assert KAUDIT.exists(), f"kaudit is not installed beside {sys.executable}"
    out.mkdir(parents=True, exist_ok=True)
    inv = out / "hosts.txt"
    inv.write_text(lab.fleet.inventory_text(user="root"))
    cp = subprocess.run(
        lab.in_lab(str(KAUDIT), "scan", "-p", "prod-ha", str(inv), "-i", str(lab.client_key),
                   "--known-hosts", str(lab.known_hosts), "--no-progress", "--timeout", "20",
                   "-r", f"terminal:{out}/report.txt", "-r", f"json:{out}/report.json",
                   "-r", f"junit:{out}/report.xml", "--save-facts", str(out / "facts.json")),
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert cp.returncode in (0, 1, 3), f"scan failed rc={cp.returncode}: {cp.stderr}"
    return Scan(cp.returncode, json.loads((out / "report.json").read_text()),
                ET.parse(out / "report.xml").getroot(), (out / "report.txt").read_text(),
                cp.stderr, out / "facts.json")


@pytest.fixture(scope="module")
def scanned(fleet_lab: labmod.Lab, tmp_path_factory: pytest.TempPathFactory) -> Scan:
    return run_scan(fleet_lab, tmp_path_factory.mktemp(fleet_lab.fleet.name))


def failing(report: dict[str, Any]) -> set[Pair]:
    return {(r["rule"], r["host"]) for r in report["results"] if r["status"] == "fail"}


def expectations(lab: labmod.Lab) -> tuple[set[Pair], set[Pair], set[Pair]]:
    """(must fail, must fail or error, may also fail) for this fleet, adjusted to
    the disks' sysfs truth."""
    fleet = lab.fleet
    must: set[Pair] = set()
    undecided: set[Pair] = set()
    for fault in fleet.faults:
        need = fault.get("requires_rotational")
        if need and not lab.disks[need["host"]][need["mount"]].rotational:
            continue    # this kernel would not make the loop device rotational
        must |= set(fault["expect_fail"])
        undecided |= set(fault["expect_undecided"])
    names = [n for n, _, _ in fleet.inventory_hosts()] + [None]
    may: set[Pair] = set(undecided)
    for rule, host in fleet.known_env_failures:
        may |= {(rule, h) for h in names} if host == "*" else {(rule, host)}
    for host, disks in lab.disks.items():
        d = disks.get("/var/lib/etcd")
        if d is not None and d.rotational:
            may.add(("storage.etcd-ssd", host))   # the machine's truth, whatever was asked
    return must, undecided, may


def test_failures_match_the_fleet(fleet_lab: labmod.Lab, scanned: Scan) -> None:
    must, undecided, may = expectations(fleet_lab)
    got = failing(scanned.report)
    assert must - got == set(), f"seeded faults not reported: {sorted(must - got, key=str)}"
    status = {(r["rule"], r["host"]): r["status"] for r in scanned.report["results"]}
    for pair in undecided:
        assert status.get(pair) in ("fail", "error"), (pair, status.get(pair))
    extra = got - must - may
    assert extra == set(), f"failures the fleet does not explain: {sorted(extra, key=str)}"
    if not fleet_lab.fleet.faults:
        assert got <= may


def test_host_statuses_and_exit_code(fleet_lab: labmod.Lab, scanned: Scan) -> None:
    fleet = fleet_lab.fleet
    want = {n: "ok" for n, _, _ in fleet.inventory_hosts()}
    want.update({h.name: "unreachable" for h in fleet.hosts if not h.sshd})
    got = {h["name"]: h["status"] for h in scanned.report["hosts"]}
    assert got == want
    down = {n for n, s in want.items() if s != "ok"}
    for r in scanned.report["results"]:
        if r["host"] in down:
            assert r["status"] in ("error", "skip"), r   # never a silent pass
    gating = [r for r in scanned.report["results"]
              if r["status"] == "fail" and r["severity"] != "info"]
    errors = [r for r in scanned.report["results"] if r["status"] == "error"]
    assert scanned.rc == (3 if down or errors else 1 if gating else 0), scanned.stderr
    assert scanned.report["phase"] == fleet.expect_phase


def _junit_failing(root: ET.Element, hosts: set[str]) -> set[Pair]:
    """Failures in the JUnit file (classname is the host), info findings included:
    they are passing cases whose system-out says they are below --fail-on."""
    out: set[Pair] = set()
    for case in root.iter("testcase"):
        name = case.get("classname")
        host = name if name in hosts else None
        out_el = case.find("system-out")
        below = out_el is not None and "below --fail-on" in (out_el.text or "")
        if case.find("failure") is not None or below:
            out.add((str(case.get("name")).split()[0], host))
    return out


def _terminal_failing(text: str, hosts: list[str]) -> set[Pair]:
    """Failed findings from the terminal report: `[sev] rule — title`, then one
    `  HOSTS: finding` line per host group (names condensed as n[01:03])."""
    from kaudit.report.hostnames import condense

    out: set[Pair] = set()
    rule = None
    forms = {part: [h] for h in hosts for part in [h]}
    for n in range(2, len(hosts) + 1):      # every run the report may have condensed
        for i in range(len(hosts) - n + 1):
            run = hosts[i:i + n]
            parts = condense(run)
            if len(parts) == 1:
                forms[parts[0]] = run
    for line in text.split("\nErrors:")[0].splitlines():
        m = re.match(r"\[(\w+)\] (\S+) ", line)
        if m:
            rule = m.group(2)
            continue
        name = r"[\w.-]+(?:\[\d+:\d+\])?"
        m = re.match(rf"  (?:\d+ hosts )?({name}(?:, {name})*): ", line)
        if m and rule:
            names = [p.strip() for p in m.group(1).split(",")]
            if names == ["cluster"]:
                out.add((rule, None))
            else:
                out |= {(rule, h) for p in names for h in forms.get(p, [])}
    return out


def test_reports_agree(fleet_lab: labmod.Lab, scanned: Scan) -> None:
    report = scanned.report
    hosts = [h["name"] for h in report["hosts"]]
    got = failing(report)
    assert _junit_failing(scanned.junit, set(hosts)) == got
    assert _terminal_failing(scanned.terminal, hosts) == got
    s = report["summary"]
    assert f"pass {s['pass']}  fail {s['fail']}  error {s['error']}" in scanned.terminal
    assert s["fail"] == len([r for r in report["results"] if r["status"] == "fail"])
    junit_failures = sum(int(t.get("failures", 0)) for t in scanned.junit.iter("testsuite"))
    assert junit_failures == len([r for r in report["results"] if r["status"] == "fail"
                                  and r["severity"] != "info"])     # --fail-on low


def test_saved_facts_give_the_same_results_without_ssh(
        fleet_lab: labmod.Lab, scanned: Scan, tmp_path: Path) -> None:
    # Run outside the lab namespace: the lab's addresses do not even exist here.
    cp = subprocess.run([str(KAUDIT), "scan", "-p", "prod-ha", "--facts", str(scanned.facts),
                         "--no-progress", "-r", f"json:{tmp_path}/again.json"],
                        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    again = json.loads((tmp_path / "again.json").read_text())
    assert cp.returncode == scanned.rc, cp.stderr

    def key(rep: dict[str, Any]) -> set[tuple[str, str | None, str]]:
        return {(r["rule"], r["host"], r["status"]) for r in rep["results"]}

    assert key(again) == key(scanned.report)
    assert [(h["name"], h["status"]) for h in again["hosts"]] == \
        [(h["name"], h["status"]) for h in scanned.report["hosts"]]


def test_seeded_facts_are_what_the_probe_saw(fleet_lab: labmod.Lab, scanned: Scan) -> None:
    """Faults whose rule cannot decide (e.g. a cluster aggregate while a host is
    down) still show in the saved facts: `expect_facts: [[host, [path...], value]]`."""
    saved = json.loads(scanned.facts.read_text())
    facts = {h["inventory"]["name"]: h["facts"] for h in saved["hosts"]}
    checked = 0
    for fault in fleet_lab.fleet.faults:
        for host, path, value in fault.get("expect_facts") or []:
            node: Any = facts[host]
            for key in path:
                node = node[key]
            assert node == value, (fault["id"], host, path)
            checked += 1
    for h in fleet_lab.fleet.hosts:     # the per-host file views reached the probe
        if h.sshd:
            assert facts[h.name]["hostname"] == h.name
            assert facts[h.name]["os"]["id"] == "rocky"
            for mp, disk in fleet_lab.disks.get(h.name, {}).items():
                assert facts[h.name]["mounts"][mp]["rotational"] is disk.rotational
    assert checked == sum(len(f.get("expect_facts") or []) for f in fleet_lab.fleet.faults)


def test_lab_has_no_way_out(fleet_lab: labmod.Lab) -> None:
    """No default route anywhere in the lab, and no link from the root namespace into it."""
    for ns in fleet_lab.namespaces:
        routes = labmod.run(["ip", "-n", ns, "route", "show", "default"]).stdout
        assert routes.strip() == "", (ns, routes)
    root_links = labmod.run(["ip", "-o", "link", "show"]).stdout
    assert fleet_lab.prefix not in root_links


def _ns_pid(pid: int) -> int:
    """The pid inside the process's own pid namespace (1: a container's init)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return int(line.split()[-1])
    return pid


def test_by_hand_up_then_down_leaves_nothing() -> None:
    """`python -m tests.lab up FLEET` leaves a lab running, `exec HOST -- CMD` runs a
    command on one of its hosts; `down --prefix` removes its namespaces, processes,
    loop devices and work dir."""
    _need_lab()
    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "tests.lab"]
    up = subprocess.run([*cmd, "up", "prod-ha-preflight-healthy"], cwd=repo, capture_output=True,
                        text=True, timeout=120, stdin=subprocess.DEVNULL)
    m = re.search(r"lab (kaudit-lab-\d+-) is up; work dir (\S+)", up.stdout)
    assert up.returncode == 0 and m, up.stdout + up.stderr
    prefix, workdir = m.group(1), Path(m.group(2))
    try:
        state = json.loads((workdir / "lab-state.json").read_text())
        assert len(state["namespaces"]) == 7 and len(state["loops"]) == 9
        pids = [int(p) for ns in state["namespaces"]
                for p in labmod.run(["ip", "netns", "pids", ns]).stdout.split()]
        # Six booted hosts: a systemd as PID 1 of each, its services and sshd.
        inits = [p for p in pids if Path(f"/proc/{p}/comm").read_text().strip() == "systemd"
                 and _ns_pid(p) == 1]
        assert len(inits) == 6 and len(pids) > 6
        up_cmd = subprocess.run([*cmd, "exec", "m02", "--", "systemctl", "is-active", "chronyd"],
                                cwd=repo, capture_output=True, text=True, timeout=60)
        assert up_cmd.returncode == 0 and up_cmd.stdout.strip() == "active", up_cmd.stderr
    finally:
        down = subprocess.run([*cmd, "down", "--prefix", prefix], cwd=repo, capture_output=True,
                              text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert down.returncode == 0, down.stderr
    assert prefix not in labmod.run(["ip", "netns", "list"]).stdout
    assert not workdir.exists()
    assert str(workdir) not in labmod.run(["losetup", "-a"]).stdout
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or \
            Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
