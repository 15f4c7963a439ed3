"""Rule evaluation (docs/rules.md): compile each rule's check once per run, then run it
against every host's facts (host scope) or the synthetic cluster tree (cluster scope)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from kaudit.core.model import HostFacts, Result, Rule
from kaudit.evaluate.aggregate import _aggregate
from kaudit.evaluate.checks import _all, _any, _each, _leaf, _not
from kaudit.evaluate.context import _UNDECIDED, MissingFact, Node, UnsetReference, _Ctx, _Env, _Skip
from kaudit.evaluate.operators import (
    MISSING,
    OperatorError,
    as_bool,
    describe,
)
from kaudit.evaluate.references import _fill_text, render_message


def compile_check(spec: Any, env: _Env, roles: tuple[str, ...] = ()) -> Node:
    """Turn a check mapping (docs/rules.md "Checks") into a callable, once per rule."""
    if not isinstance(spec, dict):
        raise OperatorError(f"a check must be a mapping, got {describe(spec)}")
    if "all" in spec:
        return _all([compile_check(s, env, roles) for s in spec["all"]])
    if "any" in spec:
        return _any([compile_check(s, env, roles) for s in spec["any"]])
    if "not" in spec:
        return _not(compile_check(spec["not"], env, roles))
    if "each" in spec:
        return _each(spec, env, True, roles, compile_check)
    if "some" in spec:
        return _each(spec, env, False, roles, compile_check)
    if "hosts" in spec:
        return _aggregate(spec, env, roles, compile_check)
    if "fact" in spec:
        return _leaf(spec, env)
    raise OperatorError(f"unrecognised check with keys {', '.join(map(str, spec))}")


_NO_DESELECTION: Mapping[str, str] = MappingProxyType({})
_CIDR_VARS = ("node_cidr", "pod_cidr", "service_cidr")


def role_counts(hosts: Sequence[HostFacts]) -> dict[str, int]:
    """Hosts per role (master, worker and etcd always present), counted once per run."""
    count = {"master": 0, "worker": 0, "etcd": 0}
    for hf in hosts:
        for role in set(hf.host.roles):
            count[role] = count.get(role, 0) + 1
    return count


def cluster_tree(hosts: Sequence[HostFacts], cluster_vars: Mapping[str, Any],
                 counts: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The synthetic fact tree cluster-scope rules read (docs/rules.md "Cluster scope")."""
    count = dict(counts if counts is not None else role_counts(hosts))
    count["total"] = len(hosts)
    ok = [hf for hf in hosts if hf.status == "ok"]
    names: dict[str, list[str]] = {"master": [], "worker": [], "etcd": []}
    addresses: dict[str, list[str]] = {"master": [], "worker": [], "etcd": []}
    for hf in hosts:
        for role in dict.fromkeys(hf.host.roles):
            names.setdefault(role, []).append(hf.host.name)
            addresses.setdefault(role, []).append(hf.host.cluster_address)
    return {
        "inventory": {
            "vars": dict(cluster_vars),
            "count": count,
            "hosts_by_role": names,
            "addresses_by_role": addresses,
            "names": [hf.host.name for hf in hosts],
            "addresses": [hf.host.cluster_address for hf in hosts],
            "hostnames": [hf.facts["hostname"] for hf in ok if "hostname" in hf.facts],
            "cidrs": [cluster_vars[k] for k in _CIDR_VARS if cluster_vars.get(k)],
        },
        "hosts": {hf.host.name: hf.facts for hf in ok},
    }


def host_tree(hf: HostFacts, members: list[dict[str, str]]) -> dict[str, Any]:
    """A host's facts plus `inventory.*`: who the inventory says this host is, and every
    cluster member, so host rules can compare the host with the plan (hostname, /etc/hosts)."""
    own = {"name": hf.host.name, "address": hf.host.cluster_address, "roles": list(hf.host.roles),
           "hosts": members}
    return {**hf.facts, "inventory": own}


def detect_phase(hosts: Sequence[HostFacts]) -> str:
    """'installed' when any scanned host has Kubernetes installed, else 'preflight'."""
    for hf in hosts:
        k8s = hf.facts.get("kubernetes") if hf.status == "ok" else None
        if isinstance(k8s, dict) and as_bool(k8s.get("installed")):
            return "installed"
    return "preflight"


def _host_notes(hf: HostFacts) -> list[str]:
    notes = list(hf.notes)
    extra = hf.facts.get("_notes") if isinstance(hf.facts, dict) else None
    if isinstance(extra, list):
        notes.extend(str(n) for n in extra)
    return notes


_NOTE_TOKEN_RE = re.compile(r"[^\s:]+")


def _missing_text(exc: MissingFact, notes: Sequence[str]) -> str:
    """The missing-fact error, with the collector's notes about that part of the tree."""
    related = []
    for note in notes:
        m = _NOTE_TOKEN_RE.match(note)
        token = m.group(0) if m else ""
        if token and (exc.path == token or exc.path.startswith(token + ".")):
            related.append(note)
    return f"{exc} ({'; '.join(related)})" if related else str(exc)


def _unset_text(exc: UnsetReference) -> str:
    where = {"params": "set it in the profile", "vars": "set it in the inventory or with --var"}
    hint = where.get(exc.name.split(".", 1)[0], "")
    return f"${{{exc.name}}} is not set" + (f": {hint}" if hint else "")


@dataclass
class _Outcome:
    status: str
    message: str = ""
    observed: str | None = None
    expected: str | None = None


def _judge(rule: Rule, check: Node, applies: Node | None, ctx: _Ctx) -> _Outcome:
    """Run one compiled rule on one target; every undecidable case becomes error or skip."""
    try:
        if applies is not None:
            try:
                cond = applies(ctx, MISSING, "")
            except UnsetReference as exc:
                return _Outcome("skip", f"not applicable: {exc.name} is not set")
            if not cond.ok:
                return _Outcome("skip", f"not applicable: {cond.fact} is {cond.observed} "
                                        f"(rule applies when {cond.expected})")
        verdict = check(ctx, MISSING, "")
    except _Skip as exc:
        return _Outcome("skip", str(exc))
    except MissingFact as exc:
        return _Outcome("error", _missing_text(exc, ctx.notes))
    except UnsetReference as exc:
        return _Outcome("error", _unset_text(exc))
    except _UNDECIDED as exc:
        return _Outcome("error", str(exc))
    if verdict.ok:
        return _Outcome("pass")
    observed, expected = verdict.observed, verdict.expected
    template = rule.message or ("{fact}: observed {observed}, expected {expected}"
                                if verdict.fact else "observed {observed}, expected {expected}")
    message = render_message(template, observed=observed, expected=expected, host=ctx.host,
                             fact=verdict.fact, env=ctx.env, tree=ctx.tree)
    return _Outcome("fail", message, observed, expected)


def _compile_rule(rule: Rule, env: _Env) -> tuple[Node, Node | None]:
    check = compile_check(rule.check, env, rule.roles)
    applies = compile_check(rule.applies, env, rule.roles) if rule.applies else None
    return check, applies


def _run_rule(rule: Rule, env: _Env, targets: Sequence[tuple[HostFacts | None, _Ctx]],
              phase: str, deselected: Mapping[str, str]) -> list[Result]:
    results: list[Result] = []
    rule_roles = frozenset(rule.roles)
    compiled: tuple[Node, Node | None] | None = None
    compile_error: str | None = None

    def make(host: str | None, outcome: _Outcome, ctx: _Ctx | None) -> Result:
        remediation = rule.remediation
        if ctx is not None and "${" in remediation:
            remediation = _fill_text(remediation, env, ctx.tree)
        return Result(rule=rule.id, title=rule.title, severity=rule.severity, scope=rule.scope,
                      pack=rule.pack, host=host, status=outcome.status,  # type: ignore[arg-type]
                      observed=outcome.observed, expected=outcome.expected,
                      message=outcome.message, remediation=remediation)

    for hf, ctx in targets:
        name = hf.host.name if hf is not None else None
        if hf is not None and rule_roles and rule_roles.isdisjoint(hf.host.roles):
            held = ", ".join(hf.host.roles) or "none"
            results.append(make(name, _Outcome("skip", f"not applicable: role {held}"), None))
            continue
        if phase not in rule.phase:
            results.append(make(name, _Outcome("skip", f"not applicable in {phase} phase"), None))
            continue
        if rule.id in deselected:
            results.append(make(name, _Outcome("skip", deselected[rule.id]), None))
            continue
        if hf is not None and hf.status != "ok":
            why = f"{hf.status}: {hf.error}" if hf.error else hf.status
            results.append(make(name, _Outcome("error", f"host not scanned: {why}"), None))
            continue
        if compiled is None and compile_error is None:
            try:
                compiled = _compile_rule(rule, env)
            except Exception as exc:  # a broken rule is an error on every target, not a crash
                compile_error = f"rule cannot be evaluated: {_reason(exc)}"
        if compiled is None:
            results.append(make(name, _Outcome("error", compile_error or ""), None))
            continue
        try:
            outcome = _judge(rule, compiled[0], compiled[1], ctx)
        except Exception as exc:  # a crashed check is never a pass
            outcome = _Outcome("error", f"check crashed: {_reason(exc)}")
        results.append(make(name, outcome, ctx))
    return results


def _reason(exc: BaseException) -> str:
    if isinstance(exc, _UNDECIDED):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def evaluate(rules: Sequence[Rule], hosts: Sequence[HostFacts], *,
             cluster_vars: Mapping[str, Any], params: Mapping[str, Any], phase: str,
             deselected: Mapping[str, str] = _NO_DESELECTION) -> list[Result]:
    """One Result per host-scope rule and host, one per cluster rule (host=None), in order."""
    return _evaluate(rules, hosts, cluster_vars=cluster_vars, params=params, phase=phase,
                     deselected=deselected)


def _evaluate(rules: Sequence[Rule], hosts: Sequence[HostFacts], *,
              cluster_vars: Mapping[str, Any], params: Mapping[str, Any], phase: str,
              deselected: Mapping[str, str]) -> list[Result]:
    counts = role_counts(hosts)
    env = _Env(params=params, vars=cluster_vars, hosts=hosts, role_counts=counts)
    env.cluster = cluster_tree(hosts, cluster_vars, counts)
    members = [{"name": hf.host.name, "address": hf.host.cluster_address} for hf in hosts]
    env.host_ctx = [_Ctx(host_tree(hf, members) if hf.status == "ok" else {}, hf.host.name,
                         _host_notes(hf), env) for hf in hosts]
    host_targets: list[tuple[HostFacts | None, _Ctx]] = list(
        zip(hosts, env.host_ctx, strict=True))
    cluster_target: list[tuple[HostFacts | None, _Ctx]] | None = None
    results: list[Result] = []
    for rule in rules:
        if rule.scope == "cluster":
            if cluster_target is None:
                notes = [f"hosts.{hf.host.name}: host not scanned ({hf.status})"
                         for hf in hosts if hf.status != "ok"]
                cluster_target = [(None, _Ctx(env.cluster, None, notes, env))]
            targets = cluster_target
        else:
            targets = host_targets
        try:
            results.extend(_run_rule(rule, env, targets, phase, deselected))
        except Exception as exc:  # last line of defence: one rule never sinks the run
            results.extend(
                Result(rule=rule.id, title=rule.title, severity=rule.severity,
                       scope=rule.scope, pack=rule.pack,
                       host=hf.host.name if hf is not None else None, status="error",
                       message=f"check crashed: {_reason(exc)}", remediation=rule.remediation)
                for hf, _ in targets)
    return results
