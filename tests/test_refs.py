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
