"""Cluster aggregates (`hosts:` checks): one fact or check over the hosts a
selector picks, combined with all / any / none / count_true / consistent /
spread."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

from kaudit.core.model import HostFacts
from kaudit.evaluate.checks import _value_binder
from kaudit.evaluate.context import (
    _UNDECIDED,
    Compiler,
    EvalError,
    MissingFact,
    Node,
    Verdict,
    _Ctx,
    _Env,
    _fixed,
    _joined,
    _Skip,
    require_section,
    resolve,
)
from kaudit.evaluate.operators import (
    MISSING,
    OperatorError,
    as_bool,
    as_number,
    describe,
    format_seconds,
    parse_duration,
)
from kaudit.evaluate.operators.equality import canonical
from kaudit.evaluate.references import resolve_value

_AGG_OPS = ("all", "any", "none", "count_true", "consistent", "spread")


def _selector(spec: Mapping[str, Any], roles: tuple[str, ...]
              ) -> Callable[[_Env], tuple[list[tuple[HostFacts, _Ctx]], list[str]]]:
    sel = spec.get("hosts") or {}
    if not isinstance(sel, dict):
        raise OperatorError("hosts: the selector must be a mapping (roles, status)")
    sel_roles = frozenset(sel.get("roles") or ())
    rule_roles = frozenset(roles)
    raw_status = sel.get("status")
    statuses = None if raw_status is None else frozenset(
        raw_status if isinstance(raw_status, list) else [raw_status])
    wanted = " and ".join(f"roles {', '.join(sorted(r))}" for r in (sel_roles, rule_roles) if r)

    def select(env: _Env) -> tuple[list[tuple[HostFacts, _Ctx]], list[str]]:
        """(scanned hosts chosen, names of matching hosts that were not scanned)."""
        chosen, unscanned = [], []
        for hf, hctx in zip(env.hosts, env.host_ctx, strict=True):
            host_roles = hf.host.roles
            if sel_roles and sel_roles.isdisjoint(host_roles):
                continue
            if rule_roles and rule_roles.isdisjoint(host_roles):
                continue
            if statuses is None:
                # Default: scanned hosts only, and a host we could not scan makes the
                # aggregate undecidable rather than silently smaller.
                if hf.status != "ok":
                    unscanned.append(f"{hf.host.name} ({hf.status})")
                    continue
            elif "any" not in statuses and hf.status not in statuses:
                continue
            chosen.append((hf, hctx))
        if not chosen and not unscanned and spec.get("op") != "count_true":
            raise EvalError(f"no hosts selected{' (' + wanted + ')' if wanted else ''}")
        return chosen, unscanned
    return select


def _duration_scale(value: Any, fact: str) -> bool:
    """Whether spread figures read as seconds: a duration value or a `*_s` fact."""
    if isinstance(value, str) and as_number(value) is None and "${" not in value:
        try:
            parse_duration(value)
            return True
        except OperatorError:
            return False
    return fact.endswith("_s")


def _aggregate(spec: Mapping[str, Any], env: _Env, roles: tuple[str, ...],
               compile_check: Compiler) -> Node:
    op = spec.get("op")
    if op not in _AGG_OPS:
        raise OperatorError(f"unknown aggregate op {op!r} (use {', '.join(_AGG_OPS)})")
    fact = spec.get("fact")
    nested = compile_check(spec["check"], env) if spec.get("check") is not None else None
    if nested is None and not fact:
        raise OperatorError(f"aggregate {op} needs a fact or a check")
    if op in ("consistent", "spread") and not fact:
        raise OperatorError(f"aggregate {op} needs a fact")
    cmp_bind = None
    if op in ("count_true", "spread"):
        if not spec.get("cmp"):
            raise OperatorError(f"aggregate {op} needs cmp and value")
        cmp_bind = _value_binder(str(spec["cmp"]), spec.get("value"), env)
    select = _selector(spec, roles)
    missing_mode = spec.get("missing")
    label = str(fact) if fact else "check"
    uncertainty = spec.get("uncertainty")
    ignore_spec = spec.get("ignore")

    def host_value(hf: HostFacts, hctx: _Ctx) -> Any:
        try:
            return resolve(hctx.tree, str(fact))
        except MissingFact:
            require_section(hctx.tree, str(fact), hf.host.name)
            if missing_mode in ("pass", "fail", "skip"):
                return MISSING
            raise MissingFact(str(fact), f" on {hf.host.name}") from None

    def host_verdict(hf: HostFacts, hctx: _Ctx) -> Verdict | None:
        """Per-host truth for all/any/none/count_true; None = host left out."""
        if nested is not None:
            try:
                return nested(hctx, MISSING, "")
            except _Skip:
                return None
        value = host_value(hf, hctx)
        if value is MISSING:
            if missing_mode == "skip":
                return None
            return Verdict(missing_mode == "pass", label, "true", _fixed("absent"), None)
        truth = as_bool(value)
        if truth is None:
            raise OperatorError(f"{op} needs a boolean '{label}' on {hf.host.name}, "
                                f"got {describe(value)}")
        return Verdict(truth, label, "true", describe, value)

    def boolean(ctx: _Ctx, chosen: list[tuple[HostFacts, _Ctx]]) -> Verdict:
        undecided: Exception | None = None
        yes: list[tuple[str, Verdict]] = []
        no: list[tuple[str, Verdict]] = []
        for hf, hctx in chosen:
            try:
                v = host_verdict(hf, hctx)
            except _UNDECIDED as exc:
                undecided = undecided or exc
                continue
            if v is not None:
                (yes if v.ok else no).append((hf.host.name, v))
        sample = (no or yes)[0][1].expected if (no or yes) else "true"
        if op == "all":
            if no:
                return Verdict(False, label, f"on every host: {sample}", _joined, no)
        elif op == "none":
            if yes:
                return Verdict(False, label, f"on no host: {sample}", _joined, yes)
        elif op == "any" and yes:
            return Verdict(True, label, f"on some host: {sample}", _joined, yes)
        if undecided is not None:
            raise undecided
        if op == "count_true":
            assert cmp_bind is not None
            cop = cmp_bind(ctx)
            names = [name for name, _ in yes]
            observed = f"{len(names)} ({', '.join(names)})" if names else "0"
            return Verdict(cop.test(len(names)), label, f"{cop.expected} host(s)",
                           _fixed(observed), None)
        if op == "any":
            return Verdict(False, label, f"on some host: {sample}", _joined, no)
        return Verdict(True, label, sample, _joined, [])

    def consistent(chosen: list[tuple[HostFacts, _Ctx]]) -> Verdict:
        groups: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        ignore = _patterns(resolve_value(ignore_spec, env, None)) if ignore_spec else ()
        for hf, hctx in chosen:
            value = host_value(hf, hctx)
            if ignore and isinstance(value, dict):
                # Per-host keys (an advertise address, a cert path with the host name)
                # differ by design; they are left out of the comparison.
                value = {k: v for k, v in value.items()
                         if not any(fnmatch.fnmatchcase(str(k), p) for p in ignore)}
            if value is MISSING and missing_mode == "skip":
                continue
            key = _canon(value)
            groups.setdefault(key, []).append(hf.host.name)
            values.setdefault(key, value)
        if len(groups) <= 1:
            return Verdict(True, label, "same on every host", describe, None)
        # The largest group is the reference; ties go to the first host in inventory order.
        major = max(groups, key=lambda k: len(groups[k]))
        odd = [(names, values[k]) for k, names in groups.items() if k != major]
        text = "; ".join(f"{', '.join(names)}: {_difference(v, values[major])}"
                         for names, v in odd)
        text += f" (others: {', '.join(groups[major])})"
        return Verdict(False, label, "same on every host", _fixed(text), None)

    def spread(ctx: _Ctx, chosen: list[tuple[HostFacts, _Ctx]]) -> Verdict:
        assert cmp_bind is not None
        points: list[tuple[float, float, str]] = []
        for hf, hctx in chosen:
            value = host_value(hf, hctx)
            if value is MISSING:
                continue
            number = as_number(value)
            if number is None:
                number = parse_duration(value) if isinstance(value, str) else None
            if number is None:
                raise OperatorError(f"spread needs a number for '{label}' on {hf.host.name}, "
                                    f"got {describe(value)}")
            unc = 0.0
            if uncertainty:
                try:
                    unc = abs(float(as_number(resolve(hctx.tree, str(uncertainty))) or 0.0))
                except MissingFact:
                    unc = 0.0  # nothing measured: no benefit of the doubt
            points.append((float(number), unc, hf.host.name))
        if not points:
            raise EvalError(f"no host has '{label}'")
        hi, lo = max(points), min(points)
        raw = hi[0] - lo[0]
        adjusted = max(0.0, raw - hi[1] - lo[1]) if uncertainty else raw
        cop = cmp_bind(ctx)
        fmt = format_seconds if _duration_scale(spec.get("value"), label) else _num
        text = f"{fmt(raw)} between {hi[2]} ({fmt(hi[0])}) and {lo[2]} ({fmt(lo[0])})"
        if uncertainty:
            text += f", {fmt(adjusted)} after ±{fmt(hi[1])}/±{fmt(lo[1])} uncertainty"
        return Verdict(cop.test(adjusted), label, f"spread {cop.expected}", _fixed(text), None)

    def node(ctx: _Ctx, item: Any, base: str) -> Verdict:
        chosen, unscanned = select(ctx.env)
        if unscanned and (op == "count_true" or not chosen):
            raise EvalError(f"hosts not scanned: {', '.join(unscanned)}")
        if op == "consistent":
            verdict = consistent(chosen)
        elif op == "spread":
            verdict = spread(ctx, chosen)
        else:
            verdict = boolean(ctx, chosen)
        # Three-valued: a failure seen on scanned hosts stands whatever the unscanned
        # ones would say (the VIP answers, two masters differ); a pass does not.
        if unscanned and (verdict.ok if op != "any" else not verdict.ok):
            raise EvalError(f"hosts not scanned: {', '.join(unscanned)}")
        return verdict
    return node


def _patterns(value: Any) -> tuple[str, ...]:
    """An `ignore:` list (glob patterns) from a literal or a `${params.X}` list."""
    items = value if isinstance(value, list) else [value]
    return tuple(str(i) for i in items if i is not None and str(i))


def _num(x: float) -> str:
    return f"{x:g}"


def _canon(value: Any) -> str:
    return "<absent>" if value is MISSING else canonical(value)


def _difference(value: Any, reference: Any) -> str:
    """What differs from the reference: changed keys of a mapping, else the value."""
    if isinstance(value, dict) and isinstance(reference, dict):
        keys = [k for k in dict.fromkeys([*reference, *value])
                if _canon(value.get(k, MISSING)) != _canon(reference.get(k, MISSING))]
        parts = [f"{k}={describe(value.get(k, MISSING))} vs {describe(reference.get(k, MISSING))}"
                 for k in keys[:8]]
        return ", ".join(parts) + (", …" if len(keys) > 8 else "")
    return f"{describe(value)} vs {describe(reference)}"


