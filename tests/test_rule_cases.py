"""Rule tests as data: tests/rules/<pack>.yaml holds, for every shipped rule, at
least one case that passes and one that fails: fact snippets (only what the
rule reads) on one or more hosts, cluster vars, the phase, and the expected
status. One helper (tests/common.py) runs them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from common import RULE_CASES, host, run_rule, shipped_rules
from ruamel.yaml import YAML

KEYS = {"rule", "expect", "source", "phase", "vars", "params", "hosts", "note"}


def _cases() -> list[tuple[str, dict[str, Any]]]:
    yaml = YAML(typ="safe")
    out = []
    for path in sorted(RULE_CASES.glob("*.yaml")):
        for i, case in enumerate(yaml.load(path.read_text(encoding="utf-8")) or []):
            out.append((f"{path.stem}[{i}]:{case.get('rule')}:{case.get('expect')}", case))
    return out


CASES = _cases()


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_case(case: dict[str, Any]) -> None:
    assert set(case) <= KEYS, sorted(set(case) - KEYS)
    rule = shipped_rules()[case["rule"]]
    hosts = [host(h["name"], h.get("facts") or {}, h.get("roles") or [], h.get("address"),
                  h.get("status", "ok")) for h in case["hosts"]]
    results = run_rule(rule.id, hosts, vars=case.get("vars"), params=case.get("params"),
                       phase=case.get("phase"))
    if rule.scope == "cluster":
        (result,) = results
    else:
        result = next(r for r in results if r.host == hosts[0].host.name)
    assert result.status == case["expect"], (result.message, result.observed, result.expected)


def test_every_shipped_rule_has_a_passing_and_a_failing_case() -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for _, case in CASES:
        seen[case["rule"]].add(case["expect"])
    missing = {rid: sorted({"pass", "fail"} - seen[rid]) for rid in shipped_rules()
               if not {"pass", "fail"} <= seen[rid]}
    assert not missing, f"add cases to tests/rules/<pack>.yaml: {missing}"
    unknown = set(seen) - set(shipped_rules())
    assert not unknown, f"cases for rules that do not exist: {sorted(unknown)}"
