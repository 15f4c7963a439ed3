"""300 hosts in one scan, 5% failing in different ways, three times: the same
results every time and nothing leaked (threads, sockets, file descriptors)."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
import sshd as sshd_harness

from kaudit.collect.ssh import SshOptions
from kaudit.core.model import Host
from kaudit.evaluate.engine import evaluate
from kaudit.scan import collect_facts as collect

from .conftest import Listener, replay, start_sshd

pytestmark = [pytest.mark.sshd, pytest.mark.slow]

N = 300


def _addr(i: int) -> str:
    return f"127.0.{1 + i // 250}.{1 + i % 250}"


def _fds() -> set[str]:
    """Open fds, minus the one listdir itself used (gone by the time we look)."""
    return {fd for fd in os.listdir("/proc/self/fd") if _target(fd) != "?"}


def _target(fd: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "?"


def _settled(limit: int) -> int:
    for _ in range(100):   # paramiko's transport threads exit just after close()
        if threading.active_count() <= limit:
            break
        time.sleep(0.05)
    return threading.active_count()


def _stable(results: list[Any]) -> list[tuple[Any, ...]]:
    """What must not change between runs: no clock facts, durations or timestamps."""
    out = []
    for r in results:
        facts = {k: v for k, v in r.facts.items() if k not in ("clock", "time")}
        out.append((r.host.name, r.status, r.error, repr(sorted(facts.items())),
                    tuple(r.notes)))
    return out


def test_300_hosts_5_percent_failing_three_times(ssh_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    good = list(range(N))
    closed = good[7::75][:4]          # 4 closed ports
    silent = good[19::75][:4]         # 4 listeners that never say anything
    wrong_key = good[33::75][:4]      # 4 hosts whose key is not the one known
    bad_auth = good[51::100][:3]      # 3 hosts where our key is refused
    failing = set(closed) | set(silent) | set(wrong_key) | set(bad_auth)
    assert len(failing) == 15 == N * 5 // 100
    served = [i for i in range(N) if i not in set(closed) | set(silent)]
    force, files = replay()
    # sshd listens on at most 16 sockets (MAX_LISTEN_SOCKS): 18 servers, one host key.
    key = sshd_harness.keygen(tmp_path / "host_key", "host")
    servers = []
    listeners = []
    try:
        port = sshd_harness.free_port(_addr(served[0]))
        for chunk in (served[g:g + 16] for g in range(0, len(served), 16)):
            servers.append(start_sshd([_addr(i) for i in chunk], [ssh_env.key], force=force,
                                      files=files, host_key=key, port=port))
        server = servers[0]
        listeners = [Listener(_addr(i)) for i in silent]
        other = sshd_harness.keygen(tmp_path / "other_host_key", "other")
        other_pub = " ".join(other.with_suffix(".pub").read_text().split()[:2])
        with open(tmp_path / "known_hosts", "w") as f:
            for i in served:
                pub = other_pub if i in wrong_key else server.host_pub
                f.write(f"[{_addr(i)}]:{server.port} {pub}\n")
        (tmp_path / "ssh_config").write_text("")
        hosts = []
        for i in range(N):
            if i in silent:
                port = listeners[silent.index(i)].port
            elif i in closed:
                port = sshd_harness.free_port(_addr(i))
            else:
                port = server.port
            hosts.append(Host(name=f"h{i:03d}", address=_addr(i), port=port,
                              identity=str(ssh_env.wrong_key) if i in bad_auth else None))
        threads = threading.active_count()
        fds = _fds()
        runs = []
        for _ in range(3):
            opts = SshOptions(user=ssh_env.user, identity=[str(ssh_env.key)],
                              ssh_config=str(tmp_path / "ssh_config"),
                              known_hosts=str(tmp_path / "known_hosts"), use_agent=False,
                              timeout=8.0)
            start = time.monotonic()
            results = collect(hosts, {"vip": "127.0.0.1", "lb_port": 16443}, opts, parallel=50)
            took = time.monotonic() - start
            assert took < 25, took
            runs.append(results)
        for listener in listeners:
            listener.drop()
        assert _settled(threads) <= threads
        leaked = {fd: _target(fd) for fd in _fds() - fds}
        assert leaked == {}
    finally:
        for listener in listeners:
            listener.close()
        for srv in servers:
            srv.cleanup()

    first = runs[0]
    status = {r.host.name: r.status for r in first}
    assert [status[f"h{i:03d}"] for i in closed] == ["unreachable"] * 4
    assert [status[f"h{i:03d}"] for i in silent] == ["timeout"] * 4
    assert [status[f"h{i:03d}"] for i in wrong_key] == ["hostkey_rejected"] * 4
    assert [status[f"h{i:03d}"] for i in bad_auth] == ["auth_failed"] * 3
    assert sum(s == "ok" for s in status.values()) == N - 15
    assert _stable(runs[1]) == _stable(first)
    assert _stable(runs[2]) == _stable(first)
    # And so do the JSON reports built from each run (baseline profile).
    reports = [_report_json(run) for run in runs]
    assert reports[0]["summary"]["error"] > 0 and reports[0]["summary"]["pass"] > 0
    assert reports[0] == reports[1] == reports[2]


VOLATILE = {"started_at", "duration_s", "clock"}


def _scrub(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _scrub(v) for k, v in node.items() if k not in VOLATILE}
    if isinstance(node, list):
        return [_scrub(v) for v in node]
    return node


def _report_json(hosts: list[Any]) -> dict[str, Any]:
    from kaudit.core.model import Report
    from kaudit.report.json_report import to_dict
    from kaudit.scan import plan_rules

    plan = plan_rules("baseline", [], [], [])
    results = evaluate(plan.rules, hosts, cluster_vars={}, params=plan.params,
                       phase="preflight", deselected=plan.deselected)
    # time.skew compares clock offsets measured live: volatile by nature.
    results = [r for r in results if r.rule != "time.skew"]
    report = Report(kaudit_version="x", profile=plan.profile, phase="preflight",
                    started_at="", duration_s=0.0, hosts=hosts, results=results, notes=[])
    return _scrub(to_dict(report))
