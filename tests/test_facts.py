"""Fact files: round trip, and one clear error for every wrong shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaudit.core.errors import FactFileError
from kaudit.core.model import Host, HostFacts
from kaudit.facts.factfile import FACT_FILE_VERSION, load_facts, save_facts


def _hosts() -> list[HostFacts]:
    m01 = Host(name="m01", address="192.168.40.190", roles=("master", "etcd"),
               secrets={"ansible_password": "hunter2-secret"})
    n01 = Host(name="n01", address="192.168.40.193", roles=("worker",))
    return [
        HostFacts(host=m01, facts={"swap": {"active": []}, "cpu": {"count": 4}},
                  raw="KAUDIT-PROBE 1 1.0\n", notes=["sysctl: truncated"], duration_s=0.4),
        HostFacts(host=n01, status="unreachable", error="connection refused"),
    ]


def test_round_trip_keeps_every_field_and_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    save_facts(path, _hosts(), {"vip": "192.168.40.199", "lb_port": 16443},
               inventory_path="hosts.txt", collected_at="2026-11-27T02:00:00Z")
    assert "hunter2-secret" not in path.read_text()
    hosts, cluster_vars, header = load_facts(path)
    assert [h.host.name for h in hosts] == ["m01", "n01"]
    assert hosts[0].host.roles == ("master", "etcd")
    assert hosts[0].facts == {"swap": {"active": []}, "cpu": {"count": 4}}
    assert hosts[0].notes == ["sysctl: truncated"]
    assert hosts[0].raw == "KAUDIT-PROBE 1 1.0\n"
    assert hosts[1].status == "unreachable"
    assert hosts[1].error == "connection refused"
    assert cluster_vars == {"vip": "192.168.40.199", "lb_port": 16443}
    assert header["kaudit_fact_file"] == FACT_FILE_VERSION
    assert header["inventory_path"] == "hosts.txt"


@pytest.mark.parametrize(("content", "needle"), [
    (b"", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[1, 2]", "expected a JSON object"),
    (b'{"hosts": []}', "no 'kaudit_fact_file' key"),
    (b'{"kaudit_fact_file": 99, "hosts": [], "inventory": {"vars": {}}}', "format 99"),
    (b'{"kaudit_fact_file": 1, "hosts": {}, "inventory": {"vars": {}}}', "'hosts' must be"),
    (b'{"kaudit_fact_file": 1, "hosts": [{"inventory": {"name": "a", "address": "b"},'
     b' "status": "sleeping"}], "inventory": {"vars": {}}}', "hosts[0].status"),
    (b'{"kaudit_fact_file": 1, "hosts": [{"inventory": {"name": "a"}, "status": "ok"}],'
     b' "inventory": {"vars": {}}}', "hosts[0].inventory"),
    (b'{"results": [], "summary": {}}', "JSON report, not a fact file"),
    (b'{"kaudit_fact_file": 1,\n "hosts": [,]}', ":2:"),
])
def test_bad_fact_files_give_one_clear_error(tmp_path: Path, content: bytes,
                                             needle: str) -> None:
    path = tmp_path / "f.json"
    path.write_bytes(content)
    with pytest.raises(FactFileError) as info:
        load_facts(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_missing_fact_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(FactFileError, match="cannot read fact file"):
        load_facts(tmp_path / "nope.json")


def test_duplicate_host_names_rejected(tmp_path: Path) -> None:
    entry = {"inventory": {"name": "m01", "address": "10.0.0.1"}, "status": "ok"}
    path = tmp_path / "f.json"
    path.write_text(json.dumps({"kaudit_fact_file": 1, "inventory": {"vars": {}},
                                "hosts": [entry, entry]}))
    with pytest.raises(FactFileError, match="duplicate host name 'm01'"):
        load_facts(path)
