"""Parallel collection against several real sshd servers on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from test_ssh import COMMAND, STANDIN, SilentListener

from kaudit.collect.fanout import collect_probe
from kaudit.collect.ssh import SshOptions
from kaudit.core.errors import InputError
from kaudit.core.model import Host
from kaudit.scan import collect_facts as collect


def simple_parse(raw: bytes) -> tuple[dict, list[str]]:
    """Stand-in parser: key=value lines of the stand-in probe (it gets the bytes)."""
    text = raw.decode()
    facts = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return facts, []


def options(env, tmp_path: Path, **kw) -> SshOptions:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "ssh_config"
    cfg.write_text("")
    kw.setdefault("timeout", 15.0)
    return SshOptions(user=env.user, identity=[str(env.key)], ssh_config=str(cfg),
                      known_hosts=str(tmp_path / "known_hosts"), use_agent=False, **kw)


def trust(tmp_path: Path, *servers) -> None:  # type: ignore[no-untyped-def]
    with open(tmp_path / "known_hosts", "a") as f:
        f.writelines(s.known_hosts_line() for s in servers)


@pytest.fixture
def four(ssh_env, sshd_factory, tmp_path):  # type: ignore[no-untyped-def]
    servers = [sshd_factory(f"127.0.0.{i}") for i in (2, 3, 4, 5)]
    trust(tmp_path, *servers)
    return servers


@pytest.mark.sshd
def test_four_hosts_in_parallel_keep_input_order(ssh_env, four, tmp_path):
    # Input order differs from address order on purpose.
    order = [2, 0, 3, 1]
    hosts = [Host(name=f"n{i}", address=four[i].address, port=four[i].port) for i in order]
    calls: list[tuple[int, int, int]] = []
    lock = threading.Lock()

    def progress(done: int, total: int, failed: int) -> None:
        with lock:
            calls.append((done, total, failed))

    results = collect_probe(hosts, STANDIN, COMMAND, options(ssh_env, tmp_path), simple_parse,
                            parallel=4, progress=progress)
    assert [r.host.name for r in results] == [f"n{i}" for i in order]
    for r in results:
        assert r.status == "ok", r.error
        assert r.raw is not None and r.raw.startswith("KAUDIT-PROBE 1 ")
        assert r.raw.rstrip().endswith("@@kaudit:end 0")
        assert r.facts["args"] == "--vip 127.0.0.1 --lb-port 16443"
        assert abs(r.facts["clock"]["offset_s"]) < 0.5
        assert r.facts["clock"]["uncertainty_s"] >= 0
        assert r.duration_s is not None and r.duration_s < 10
    assert calls == [(1, 4, 0), (2, 4, 0), (3, 4, 0), (4, 4, 0)]


@pytest.mark.sshd
def test_real_probe_facts_match_this_machine(ssh_env, four, tmp_path):
    hosts = [Host(name=f"n{i}", address=s.address, port=s.port) for i, s in enumerate(four)]
    results = collect(hosts, {"vip": "127.0.0.1", "lb_port": 16443},
                      options(ssh_env, tmp_path, timeout=60))
    uid = int(subprocess.run(["id", "-u", ssh_env.user], capture_output=True, text=True,
                             check=True).stdout)
    for r in results:
        assert r.status == "ok", r.error
        assert r.facts["hostname"] == socket.gethostname()
        assert r.facts["kernel"]["release"] == os.uname().release
        assert r.facts["probe"]["uid"] == uid
        assert r.facts["cpu"]["count"] == os.cpu_count()
        assert abs(r.facts["clock"]["offset_s"]) < 0.5


@pytest.mark.sshd
def test_real_probe_script_runs_over_ssh(ssh_env, four, tmp_path):
    """The shipped probe, sent by the collector, reaches its end marker."""
    from kaudit.collect.probe import probe_args, probe_command, probe_script

    command = probe_command(probe_args({"vip": "127.0.0.1", "lb_port": 16443}), False)
    hosts = [Host(name="n0", address=four[0].address, port=four[0].port)]
    [r] = collect_probe(hosts, probe_script(), command, options(ssh_env, tmp_path, timeout=60),
                        lambda raw: ({}, []))
    assert r.status == "ok", r.error
    assert r.raw is not None and r.raw.startswith("KAUDIT-PROBE 1 ")
    assert r.raw.rstrip().splitlines()[-1].startswith("@@kaudit:end ")
    assert abs(r.facts["clock"]["offset_s"]) < 0.5


@pytest.mark.sshd
def test_hung_host_times_out_while_others_finish_fast(ssh_env, four, tmp_path):
    listener = SilentListener("127.0.0.6")
    try:
        hosts = [Host(name="a", address=four[0].address, port=four[0].port),
                 Host(name="hung", address="127.0.0.6", port=listener.port),
                 Host(name="b", address=four[1].address, port=four[1].port)]
        start = time.monotonic()
        results = collect_probe(hosts, STANDIN, COMMAND,
                                options(ssh_env, tmp_path, timeout=3.0), simple_parse)
        took = time.monotonic() - start
    finally:
        listener.close()
    a, hung, b = results
    assert hung.status == "timeout" and hung.duration_s is not None
    assert 2.9 <= hung.duration_s < 4.5
    assert a.status == b.status == "ok"
    assert a.duration_s is not None and b.duration_s is not None
    assert a.duration_s < 2 and b.duration_s < 2
    assert took < 5


@pytest.mark.sshd
def test_failures_stay_per_host(ssh_env, four, tmp_path):
    from sshd import free_port

    wrong = Host(name="wrongkey", address=four[1].address, port=four[1].port,
                 identity=str(ssh_env.wrong_key))
    hosts = [Host(name="ok", address=four[0].address, port=four[0].port),
             Host(name="closed", address="127.0.0.7", port=free_port("127.0.0.7")),
             wrong,
             Host(name="unknownkey", address="127.0.0.5", port=four[3].port),
             Host(name="ok2", address=four[2].address, port=four[2].port)]
    (tmp_path / "known_hosts").write_text(
        "".join(s.known_hosts_line() for s in four[:3]))
    failed_seen: list[int] = []
    results = collect_probe(hosts, STANDIN, COMMAND, options(ssh_env, tmp_path), simple_parse,
                            progress=lambda d, t, f: failed_seen.append(f))
    assert [r.status for r in results] == ["ok", "unreachable", "auth_failed",
                                           "hostkey_rejected", "ok"]
    assert all(r.error for r in results if r.status != "ok")
    assert failed_seen[-1] == 3


@pytest.mark.sshd
def test_probe_that_does_not_start_is_an_error(ssh_env, four, tmp_path):
    hosts = [Host(name="n", address=four[0].address, port=four[0].port)]
    [r] = collect_probe(hosts, b"echo 'no such thing\x07' >&2; exit 3\n", COMMAND,
                        options(ssh_env, tmp_path), simple_parse)
    assert r.status == "error"
    assert r.error is not None and "exit status 3" in r.error and "no such thing" in r.error
    assert "\x07" not in r.error


@pytest.mark.sshd
def test_truncated_output_is_an_error_with_raw_kept(ssh_env, four, tmp_path):
    hosts = [Host(name="n", address=four[0].address, port=four[0].port)]
    [r] = collect_probe(hosts, b'echo "KAUDIT-PROBE 1 $(date +%s)"\nexec yes\n', COMMAND,
                        options(ssh_env, tmp_path, max_output=100_000), simple_parse)
    assert r.status == "error" and r.error is not None and "truncated" in r.error
    assert r.raw is not None and len(r.raw) == 100_000
    assert any("truncated" in n for n in r.notes)


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def _settled(before_threads: int) -> int:
    # paramiko transport threads exit just after close(); give them a moment.
    for _ in range(50):
        if threading.active_count() <= before_threads:
            break
        time.sleep(0.05)
    return threading.active_count()


@pytest.mark.sshd
def test_no_leaked_threads_or_fds(ssh_env, four, tmp_path):
    from sshd import free_port

    hosts = [Host(name=f"n{i}", address=s.address, port=s.port) for i, s in enumerate(four)]
    hosts.append(Host(name="closed", address="127.0.0.7", port=free_port("127.0.0.7")))
    hosts.append(Host(name="badkey", address=four[0].address, port=four[0].port,
                      identity=str(ssh_env.wrong_key)))
    opts = options(ssh_env, tmp_path)
    threads = threading.active_count()
    collect_probe(hosts[:1], STANDIN, COMMAND, opts, simple_parse)  # warm imports and caches
    assert _settled(threads) == threads
    fds = _fds()
    for _ in range(3):
        results = collect_probe(hosts, STANDIN, COMMAND, opts, simple_parse)
        assert [r.status for r in results].count("ok") == 4
    assert _settled(threads) == threads
    assert _fds() - fds == set()


def test_local_hosts_and_bad_ssh_config(tmp_path):
    opts = SshOptions(ssh_config=str(tmp_path / "missing"), known_hosts=str(tmp_path / "kh"))
    local = [Host(name=f"l{i}", address="localhost", connection="local") for i in range(3)]
    results = collect_probe(local, STANDIN, COMMAND, opts, simple_parse)
    assert [r.status for r in results] == ["ok"] * 3
    assert all(r.facts["uid"] == str(os.geteuid()) for r in results)
    remote = [Host(name="r", address="127.0.0.2", port=1)]
    with pytest.raises(InputError, match="ssh config file not found"):
        collect_probe(remote, STANDIN, COMMAND, opts, simple_parse)


def test_empty_inventory_collects_nothing(tmp_path):
    assert collect_probe([], STANDIN, COMMAND, SshOptions(), simple_parse) == []


def test_bad_cluster_vars_are_an_input_error_before_connecting(tmp_path):
    hosts = [Host(name="r", address="127.0.0.2", port=1)]
    opts = SshOptions(ssh_config=str(tmp_path / "missing"))
    with pytest.raises(InputError, match="cluster vars"):
        collect(hosts, {"vip": "1.2.3.4; rm -rf /"}, opts)
