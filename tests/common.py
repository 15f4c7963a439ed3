"""What many tests share: the repository's paths, and one-rule evaluation (as
yamllint's tests/common.py does for its rules): a shipped rule, with the
prod-ha profile's parameters, on hosts given as fact snippets."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from kaudit.catalog.profiles import apply_profile, load_profile
from kaudit.catalog.rules import load_rules
from kaudit.core.model import Host, HostFacts, Result, Rule
from kaudit.evaluate.engine import evaluate

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
RULE_CASES = Path(__file__).resolve().parent / "rules"


@cache
def shipped_rules() -> dict[str, Rule]:
    return {r.id: r for r in load_rules().rules}


@cache
def profile_params(profile: str = "prod-ha") -> dict[str, Any]:
    _, params = apply_profile(load_rules(), load_profile(profile))
    return params


def host(name: str, facts: dict[str, Any], roles: list[str] | tuple[str, ...] = ("master",),
         address: str | None = None, status: str = "ok") -> HostFacts:
    n = sum(map(ord, name)) % 200 + 10
    return HostFacts(Host(name=name, address=address or f"192.168.40.{n}", roles=tuple(roles)),
                     status=status, facts=facts)  # type: ignore[arg-type]


def run_rule(rule_id: str, hosts: list[HostFacts], *, vars: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None, phase: str | None = None,
             profile: str = "prod-ha") -> list[Result]:
    """One shipped rule on `hosts` with the profile's params (`params` on top)."""
    rule = shipped_rules()[rule_id]
    merged = {**profile_params(profile), **(params or {})}
    return evaluate([rule], hosts, cluster_vars=vars or {}, params=merged,
                    phase=phase or rule.phase[0])
