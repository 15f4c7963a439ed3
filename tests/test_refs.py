"""The `${...}` reference language is parsed in one place (kaudit/catalog/refs.py):
the pack loader rejects exactly what the evaluator could not walk."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaudit.catalog.refs import Ref, RefError, bodies, parse_ref, unclosed
from kaudit.catalog.rules import load_pack
from kaudit.core.errors import RuleError
from kaudit.core.model import Host, HostFacts, Rule
from kaudit.evaluate.engine import evaluate


@pytest.mark.parametrize(("body", "ref"), [
    ("params.nofile_soft", Ref("params", "nofile_soft")),
    (" vars.pod_cidr ", Ref("vars", "pod_cidr")),
    ("facts.inventory.name", Ref("facts", "inventory.name")),
    ("nth_ip(vars.service_cidr, 10)", Ref("nth_ip", of=Ref("vars", "service_cidr"), index=10)),
    ("nth_ip(10.96.0.0/12,-2)", Ref("nth_ip", cidr="10.96.0.0/12", index=-2)),
    ("count(master)", Ref("count", "master")),
    ("count( total )", Ref("count", "total")),
])
def test_forms(body: str, ref: Ref) -> None:
    assert parse_ref(body) == ref


@pytest.mark.parametrize(("body", "says"), [
    ("params.a.b", "plain name"),
    ("facts.", "dotted path"),
    ("count(Foo-1)", "count() takes one of master, worker, etcd, total, all"),
    ("nth_ip(facts.x, 1)", "nth_ip takes vars.NAME"),
    ("nth_ip(10.96.0.0/33, 1)", "is not a CIDR"),
    ("env.HOME", "expected ${params.NAME}"),
])
def test_rejects(body: str, says: str) -> None:
    with pytest.raises(RefError, match=None) as info:
        parse_ref(body)
    assert says in str(info.value)


def test_bodies_and_unclosed() -> None:
    assert bodies("a ${params.x} b ${ vars.y }") == ["params.x", "vars.y"]
    assert unclosed("${params.x") and not unclosed("${params.x}")


def _pack(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(f"""pack: p
rules:
  - id: p.one
    title: one
    severity: low
    scope: host
    rationale: r
    remediation: m
    check: {{fact: a, op: eq, value: "{value}"}}
""")
    return path


def test_the_loader_rejects_what_the_parser_rejects(tmp_path: Path) -> None:
    with pytest.raises(RuleError) as info:
        load_pack(_pack(tmp_path, "${count(Foo-1)}"))
    assert "p.yaml:" in str(info.value) and "count() takes one of" in str(info.value)


def test_a_literal_cidr_in_nth_ip_loads_and_evaluates(tmp_path: Path) -> None:
    rules, _ = load_pack(_pack(tmp_path, "${nth_ip(10.96.0.0/12, 10)}"))
    host = HostFacts(Host("h", "10.0.0.1"), facts={"a": "10.96.0.10"})
    (result,) = evaluate(rules, [host], cluster_vars={}, params={}, phase="preflight")
    assert result.status == "pass"
    other = Rule(id="p.two", title="t", severity="low", scope="host", pack="p",
                 check={"fact": "a", "op": "eq", "value": "${nth_ip(vars.service_cidr, 10)}"})
    (result,) = evaluate([other], [host], cluster_vars={"service_cidr": "10.96.0.0/16"},
                         params={}, phase="preflight")
    assert result.status == "pass"


@pytest.mark.parametrize(("body", "ref"), [
    ("max(facts.a.minor)", Ref("max", "a.minor")),
    ("first(facts.a.version, facts.versions.kubeadm, vars.k8s_version)",
     Ref("first", options=(Ref("facts", "a.version"), Ref("facts", "versions.kubeadm"),
                           Ref("vars", "k8s_version")))),
    ("first(max(facts.m), params.x)", Ref("first", options=(Ref("max", "m"), Ref("params", "x")))),
])
def test_fallback_and_extreme_forms(body: str, ref: Ref) -> None:
    assert parse_ref(body) == ref


@pytest.mark.parametrize(("body", "says"), [
    ("first(facts.a)", "two or more"),
    ("first(facts.a, count(master))", "first() takes params."),
    ("min(vars.x)", "min() takes facts.PATH"),
])
def test_fallback_rejects(body: str, says: str) -> None:
    with pytest.raises(RefError) as info:
        parse_ref(body)
    assert says in str(info.value)


def _eval_one(check: dict, hosts: list[HostFacts], cluster_vars: dict | None = None) -> list:
    rule = Rule(id="t.one", pack="t", title="t", severity="low", scope="host", rationale="r",
                remediation="m", check=check, message="{observed}; expected {expected}")
    return evaluate([rule], hosts, params={}, cluster_vars=cluster_vars or {}, phase="installed")


def _hf(name: str, facts: dict) -> HostFacts:
    return HostFacts(host=Host(name=name, address="127.0.0.1", roles=("master",)), facts=facts)


def test_first_falls_back_and_errors_naming_every_option() -> None:
    check = {"fact": "v", "op": "eq",
             "value": "${first(facts.own, facts.kubeadm, vars.k8s_version)}"}
    hosts = [_hf("a", {"v": "1.35", "own": "1.35"}), _hf("b", {"v": "1.35", "kubeadm": "1.35"}),
             _hf("c", {"v": "1.34"})]
    by_host = {r.host: r for r in _eval_one(check, hosts, {"k8s_version": "1.35"})}
    assert [by_host[h].status for h in "abc"] == ["pass", "pass", "fail"]
    (err,) = _eval_one(check, [_hf("c", {"v": "1.34"})])
    assert err.status == "error"
    assert "facts.own" in err.message and "facts.kubeadm" in err.message
    assert "vars.k8s_version" in err.message


def test_max_and_min_read_every_scanned_host() -> None:
    hosts = [_hf("a", {"m": 33, "v": 35}), _hf("b", {"m": 35, "v": 33}), _hf("c", {"v": 34})]
    hi = {r.host: r.status for r in _eval_one({"fact": "v", "op": "ge",
                                                "value": "${max(facts.m)}"}, hosts)}
    lo = {r.host: r.status for r in _eval_one({"fact": "v", "op": "le",
                                                "value": "${min(facts.m)}"}, hosts)}
    assert hi == {"a": "pass", "b": "fail", "c": "fail"}
    assert lo == {"a": "fail", "b": "pass", "c": "fail"}
