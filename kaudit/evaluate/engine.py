"""Rule evaluation (docs/rules.md): compile each rule's check once per run, then run it
against every host's facts (host scope) or the synthetic cluster tree (cluster scope).

A check is three-valued: it passes, fails, or cannot be decided (a missing fact, an
unset reference, an operator that raises). Combinators follow that logic: `all` fails
as soon as one part fails, and is undecided only when nothing failed but something was
undecided; `any` mirrors it. Undecided becomes an `error` result, never a pass.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kaudit.cli.gctune import no_cyclic_gc
from kaudit.core.model import HostFacts, Result, Rule
from kaudit.evaluate.operators import (
    MISSING,
    CompiledOp,
    OperatorError,
    as_bool,
    as_number,
    compile_op,
    describe,
    format_seconds,
    parse_duration,
    to_network,
)


class EvalError(Exception):
    """A check cannot be decided; the message says why."""


class MissingFact(EvalError):
    """A fact path is absent from the tree."""

    def __init__(self, path: str, detail: str = "") -> None:
        super().__init__(f"fact '{path}' missing{detail}")
        self.path = path


class NotCollected(MissingFact):
    """The fact's whole section is absent from a host's facts: the probe did not
    collect it (an old fact file, a section that failed to parse, a host whose
    probe stopped early). Unlike a missing fact inside a collected section, no
    `missing:` mode turns this into pass, fail or skip: it is always an error."""

    def __init__(self, path: str, section: str, host: str | None = None) -> None:
        where = f" on {host}: no '{section}' facts were collected" if host else \
            f": no '{section}' facts were collected on this host"
        super().__init__(path, where)
        self.section = section


class UnsetReference(EvalError):
    """A `${params.X}` / `${vars.X}` reference names something not set."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not set")
        self.name = name


class _Skip(Exception):
    """`missing: skip` met an absent fact: the rule does not apply."""


_UNDECIDED = (EvalError, OperatorError)

# ------------------------------------------------------------------ fact paths


@functools.lru_cache(maxsize=8192)
def _plan(path: str) -> tuple[tuple[str, ...], tuple[tuple[tuple[str, int], ...], ...]]:
    """For each segment index, the dotted keys to try, longest first, with the next index."""
    parts = tuple(path.split("."))
    n = len(parts)
    return parts, tuple(tuple((".".join(parts[i:j]), j) for j in range(n, i, -1))
                        for i in range(n))


def resolve(tree: Any, path: str) -> Any:
    """Greedy dotted lookup: `sysctl.net.ipv4.ip_forward`, `network.addresses.0`."""
    parts, plan = _plan(path)
    node, i, n = tree, 0, len(parts)
    while i < n:
        if isinstance(node, dict):
            for key, nxt in plan[i]:
                if key in node:
                    node, i = node[key], nxt
                    break
            else:
                raise MissingFact(path)
        elif isinstance(node, list) and parts[i].isdigit() and int(parts[i]) < len(node):
            node, i = node[int(parts[i])], i + 1
        else:
            raise MissingFact(path)
    return node


def _lookup(tree: Any, path: str, env: _Env) -> Any:
    """`resolve`, except that `inventory.*` paths a host's tree lacks read the cluster tree,
    so host rules can compare a host's facts with the plan (worker count, master addresses)."""
    try:
        return resolve(tree, path)
    except MissingFact:
        if path.startswith("inventory.") and env.cluster and tree is not env.cluster:
            return resolve(env.cluster, path)
        _raise_if_not_collected(tree, path, env)
        raise


def _raise_if_not_collected(tree: Any, path: str, env: _Env) -> None:
    """A host tree without the path's top-level section never collected it."""
    root = path.split(".", 1)[0]
    if tree is not env.cluster and isinstance(tree, dict) and root not in tree:
        raise NotCollected(path, root) from None


# ------------------------------------------------------------------ evaluation context


@dataclass
class _Env:
    """What is constant during one evaluate() call."""

    params: Mapping[str, Any]
    vars: Mapping[str, Any]
    hosts: Sequence[HostFacts]
    role_counts: dict[str, int]
    host_ctx: list[_Ctx] = field(default_factory=list)
    cluster: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Ctx:
    """One evaluation target: a host's facts, or the cluster tree (host=None)."""

    tree: dict[str, Any]
    host: str | None
    notes: list[str]
    env: _Env


class Verdict:
    """Outcome of a decided check; `observed` text is built only when someone asks."""

    __slots__ = ("_arg", "_explain", "_text", "expected", "fact", "ok")

    def __init__(self, ok: bool, fact: str, expected: str,
                 explain: Callable[[Any], str], arg: Any) -> None:
        self.ok, self.fact, self.expected = ok, fact, expected
        self._explain, self._arg = explain, arg
        self._text: str | None = None

    @property
    def observed(self) -> str:
        if self._text is None:
            self._text = self._explain(self._arg)
        return self._text


Node = Callable[[_Ctx, Any, str], Verdict]


def _fixed(text: str) -> Callable[[Any], str]:
    return lambda _: text


def _joined(verdicts: list[tuple[str, Verdict]]) -> str:
    parts = [f"{label}: {v.observed}" if label else v.observed for label, v in verdicts]
    text = "; ".join(parts)
    return text if len(text) <= 400 else text[:399] + "…"


# ------------------------------------------------------------------ references

_REF_RE = re.compile(r"\$\{\s*([^{}]*?)\s*\}")
_NTH_RE = re.compile(r"^nth_ip\(\s*([^,()]+?)\s*,\s*(-?\d+)\s*\)$")
_COUNT_RE = re.compile(r"^count\(\s*([\w-]+)\s*\)$")


def _refs_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return _REF_RE.findall(value)
    if isinstance(value, list):
        return [r for v in value for r in _refs_in(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in _refs_in(v)]
    return []


def _ref_value(expr: str, env: _Env, tree: dict[str, Any] | None) -> Any:
    """The value of one reference expression (inside `${...}`)."""
    for prefix, source in (("params.", env.params), ("vars.", env.vars)):
        if expr.startswith(prefix):
            try:
                found = resolve(source, expr[len(prefix):])
            except MissingFact:
                raise UnsetReference(expr) from None
            if found is None:
                raise UnsetReference(expr)
            return found
    if expr.startswith("facts."):
        if tree is None:
            raise EvalError(f"${{{expr}}} needs a host's facts")
        return _lookup(tree, expr[len("facts."):], env)
    m = _NTH_RE.match(expr)
    if m:
        arg = m.group(1)
        cidr = _ref_value(arg, env, tree) if "." in arg and "/" not in arg else arg
        net = to_network(cidr)
        try:
            return str(net[int(m.group(2))])
        except IndexError:
            raise OperatorError(f"{expr}: {net} has no address {m.group(2)}") from None
    m = _COUNT_RE.match(expr)
    if m:
        role = m.group(1)
        if role in ("total", "all"):
            return len(env.hosts)
        return env.role_counts.get(role, 0)
    raise OperatorError(f"unknown reference ${{{expr}}}")


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def resolve_value(value: Any, env: _Env, tree: dict[str, Any] | None) -> Any:
    """Fill references in a rule value; a string that is exactly one reference keeps its type."""
    if isinstance(value, str):
        m = _REF_RE.fullmatch(value.strip())
        if m:
            return _ref_value(m.group(1), env, tree)
        if "${" not in value:
            return value
        return _REF_RE.sub(lambda r: _text(_ref_value(r.group(1), env, tree)), value)
    if isinstance(value, list):
        return [resolve_value(v, env, tree) for v in value]
    if isinstance(value, dict):
        return {k: resolve_value(v, env, tree) for k, v in value.items()}
    return value


def _fill_text(template: str, env: _Env, tree: dict[str, Any] | None) -> str:
    """References in a message or remediation; one that cannot be filled says so inline."""
    if "${" not in template:
        return template

    def one(m: re.Match[str]) -> str:
        try:
            return _text(_ref_value(m.group(1), env, tree))
        except (EvalError, OperatorError):
            return f"<unset {m.group(1)}>"
    return _REF_RE.sub(one, template)


_PLACEHOLDER_RE = re.compile(r"\{(observed|expected|host|fact)\}")


def render_message(template: str, *, observed: str, expected: str, host: str | None,
                   fact: str, env: _Env, tree: dict[str, Any] | None) -> str:
    """Fill a rule's `message`: `{observed}` `{expected}` `{host}` `{fact}` and `${...}`."""
    # References first: host-controlled observed text must never be expanded as a reference.
    text = _fill_text(template, env, tree)
    values = {"observed": observed, "expected": expected, "host": host or "cluster",
              "fact": fact}
    return _PLACEHOLDER_RE.sub(lambda m: values[m.group(1)], text)


# ------------------------------------------------------------------ compiling checks


def _value_binder(op: str, value: Any, env: _Env) -> Callable[[_Ctx], CompiledOp]:
    """The compiled operator, bound once per run unless the value reads host facts."""
    refs = _refs_in(value)
    if any(r.startswith("facts.") or "(facts." in r for r in refs):
        # Compiled per host, except when the reference yields the very object the last
        # host got (`${facts.inventory.hosts}` is one shared list of every member).
        last: list[Any] = [MISSING, None]

        def per_host(ctx: _Ctx) -> CompiledOp:
            resolved = resolve_value(value, env, ctx.tree)
            if resolved is not last[0] or last[1] is None:
                last[0], last[1] = resolved, compile_op(op, resolved)
            return last[1]
        return per_host
    try:
        bound = compile_op(op, resolve_value(value, env, None) if refs else value)
    except UnsetReference as exc:
        # Reported per host (as error, or skip inside `applies`), not at compile time.
        unset = exc

        def raise_unset(ctx: _Ctx) -> CompiledOp:
            raise UnsetReference(unset.name)
        return raise_unset
    return lambda ctx: bound


def _leaf(spec: Mapping[str, Any], env: _Env) -> Node:
    path, op = str(spec["fact"]), str(spec.get("op", ""))
    if not op:
        raise OperatorError(f"check on '{path}' has no op")
    missing_mode = spec.get("missing")
    bind = _value_binder(op, spec.get("value"), env)
    relative = path.startswith(".")
    rel = path[1:]
    # `default:` stands in for an absent fact: a flag left unset is judged by the value
    # the component then uses (--max-requests-inflight unset = 400).
    has_default = "default" in spec
    default = spec.get("default")

    def node(ctx: _Ctx, item: Any, base: str) -> Verdict:
        if relative:
            label = f"{base}.{rel}" if rel else base
            try:
                fact = item if not rel else resolve(item, rel)
            except MissingFact:
                fact = MISSING
        else:
            label = path
            try:
                fact = _lookup(ctx.tree, path, env)
            except NotCollected:
                raise
            except MissingFact:
                fact = MISSING
        cop = bind(ctx)
        if fact is MISSING and has_default and op not in ("exists", "missing"):
            value = resolve_value(default, env, ctx.tree)
            return Verdict(cop.test(value), label, cop.expected,
                           lambda v: f"{cop.explain(v)} (unset: default)", value)
        if fact is MISSING and op not in ("exists", "missing"):
            if missing_mode == "pass":
                return Verdict(True, label, cop.expected, _fixed("absent"), None)
            if missing_mode == "fail":
                return Verdict(False, label, cop.expected, _fixed("absent"), None)
            if missing_mode == "skip":
                raise _Skip(f"not applicable: fact '{label}' absent")
            raise MissingFact(label)
        return Verdict(cop.test(fact), label, cop.expected, cop.explain, fact)
    return node


def _all(nodes: list[Node]) -> Node:
    def node(ctx: _Ctx, item: Any, base: str) -> Verdict:
        undecided: Exception | None = None
        last: Verdict | None = None
        for child in nodes:
            try:
                v = child(ctx, item, base)
            except _UNDECIDED as exc:
                undecided = undecided or exc
                continue
            if not v.ok:
                return v
            last = v
        if undecided is not None:
            raise undecided
        return last or Verdict(True, "", "all", describe, None)
    return node


def _any(nodes: list[Node]) -> Node:
    def node(ctx: _Ctx, item: Any, base: str) -> Verdict:
        undecided: Exception | None = None
        failed: list[Verdict] = []
        for child in nodes:
            try:
                v = child(ctx, item, base)
            except _UNDECIDED as exc:
                undecided = undecided or exc
                continue
            if v.ok:
                return v
            failed.append(v)
        if undecided is not None:
            raise undecided
        if not failed:
            return Verdict(False, "", "any", _fixed("no alternatives"), None)
        pairs = [(v.fact, v) for v in failed]
        return Verdict(False, ", ".join(dict.fromkeys(v.fact for v in failed)),
                       " or ".join(v.expected for v in failed), _joined, pairs)
    return node


def _not(child: Node) -> Node:
    def node(ctx: _Ctx, item: Any, base: str) -> Verdict:
        v = child(ctx, item, base)
        return Verdict(not v.ok, v.fact, f"not ({v.expected})", lambda c: c.observed, v)
    return node


def _item_label(key: Any, item: Any) -> str:
    if isinstance(item, dict):
        for k in ("name", "device", "address", "path", "ifname", "id"):
            if isinstance(item.get(k), str | int):
                return str(item[k])
    if isinstance(item, str | int | float) and not isinstance(item, bool):
        return str(item)
    return str(key)


def _each(spec: Mapping[str, Any], env: _Env, every: bool, roles: tuple[str, ...]) -> Node:
    path = str(spec["each" if every else "some"])
    child = compile_check(spec["check"], env, roles)
    word = "each" if every else "some"
    relative = path.startswith(".")

    missing_mode = spec.get("missing")

    def node(ctx: _Ctx, item: Any, base: str) -> Verdict:
        label = (f"{base}.{path[1:]}" if path != "." else base) if relative else path
        try:
            if relative:
                coll = item if path == "." else resolve(item, path[1:])
            else:
                coll = _lookup(ctx.tree, path, env)
        except NotCollected:
            raise
        except MissingFact:
            if missing_mode in ("pass", "fail"):
                return Verdict(missing_mode == "pass", label, f"{word} item of {label}",
                               _fixed("absent"), None)
            if missing_mode == "skip":
                raise _Skip(f"not applicable: fact '{label}' absent") from None
            raise MissingFact(label) from None
        if isinstance(coll, list):
            entries = [(str(i), x) for i, x in enumerate(coll)]
        elif isinstance(coll, dict):
            entries = [(str(k), x) for k, x in coll.items()]
        else:
            raise OperatorError(
                f"{word} needs a list or mapping at '{label}', got {describe(coll)}")
        undecided: Exception | None = None
        failed: list[tuple[str, Verdict]] = []
        passed: Verdict | None = None
        for key, x in entries:
            try:
                v = child(ctx, x, f"{label}.{key}")
            except _UNDECIDED as exc:
                undecided = undecided or exc
                continue
            if v.ok and not every:
                return v
            if v.ok:
                passed = v
            else:
                failed.append((_item_label(key, x), v))
        if every and failed:
            first = failed[0][1]
            return Verdict(False, first.fact, f"every item of {label}: {first.expected}",
                           _joined, failed)
        if undecided is not None:
            raise undecided
        if every:
            wanted = f"every item of {label}: {passed.expected}" if passed else \
                f"every item of {label}"
            return Verdict(True, label, wanted, _fixed("all items pass"), None)
        expected = f"some item of {label}: {failed[0][1].expected}" if failed else \
            f"some item of {label}"
        return Verdict(False, label, expected,
                       _joined if failed else _fixed("no items"), failed)
    return node


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
        return _each(spec, env, True, roles)
    if "some" in spec:
        return _each(spec, env, False, roles)
    if "hosts" in spec:
        return _aggregate(spec, env, roles)
    if "fact" in spec:
        return _leaf(spec, env)
    raise OperatorError(f"unrecognised check with keys {', '.join(map(str, spec))}")


# ------------------------------------------------------------------ cluster aggregates

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


def _aggregate(spec: Mapping[str, Any], env: _Env, roles: tuple[str, ...]) -> Node:
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
            root = str(fact).split(".", 1)[0]
            if root not in hctx.tree:
                raise NotCollected(str(fact), root, hf.host.name) from None
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
    return "<absent>" if value is MISSING else json.dumps(value, sort_keys=True, default=str)


def _difference(value: Any, reference: Any) -> str:
    """What differs from the reference: changed keys of a mapping, else the value."""
    if isinstance(value, dict) and isinstance(reference, dict):
        keys = [k for k in dict.fromkeys([*reference, *value])
                if _canon(value.get(k, MISSING)) != _canon(reference.get(k, MISSING))]
        parts = [f"{k}={describe(value.get(k, MISSING))} vs {describe(reference.get(k, MISSING))}"
                 for k in keys[:8]]
        return ", ".join(parts) + (", …" if len(keys) > 8 else "")
    return f"{describe(value)} vs {describe(reference)}"


# ------------------------------------------------------------------ running rules

_NO_DESELECTION: Mapping[str, str] = MappingProxyType({})
_CIDR_VARS = ("node_cidr", "pod_cidr", "service_cidr")


def cluster_tree(hosts: Sequence[HostFacts], cluster_vars: Mapping[str, Any]) -> dict[str, Any]:
    """The synthetic fact tree cluster-scope rules read (docs/rules.md "Cluster scope")."""
    count = {"master": 0, "worker": 0, "etcd": 0}
    for hf in hosts:
        for role in set(hf.host.roles):
            count[role] = count.get(role, 0) + 1
    count["total"] = len(hosts)
    ok = [hf for hf in hosts if hf.status == "ok"]
    names: dict[str, list[str]] = {"master": [], "worker": [], "etcd": []}
    addresses: dict[str, list[str]] = {"master": [], "worker": [], "etcd": []}
    for hf in hosts:
        for role in dict.fromkeys(hf.host.roles):
            names.setdefault(role, []).append(hf.host.name)
            addresses.setdefault(role, []).append(hf.host.address)
    return {
        "inventory": {
            "vars": dict(cluster_vars),
            "count": count,
            "hosts_by_role": names,
            "addresses_by_role": addresses,
            "names": [hf.host.name for hf in hosts],
            "addresses": [hf.host.address for hf in hosts],
            "hostnames": [hf.facts["hostname"] for hf in ok if "hostname" in hf.facts],
            "cidrs": [cluster_vars[k] for k in _CIDR_VARS if cluster_vars.get(k)],
        },
        "hosts": {hf.host.name: hf.facts for hf in ok},
    }


def host_tree(hf: HostFacts, members: list[dict[str, str]]) -> dict[str, Any]:
    """A host's facts plus `inventory.*`: who the inventory says this host is, and every
    cluster member, so host rules can compare the host with the plan (hostname, /etc/hosts)."""
    own = {"name": hf.host.name, "address": hf.host.address, "roles": list(hf.host.roles),
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
    # Evaluation makes no garbage cycles worth collecting, but allocates enough for the
    # cyclic GC to re-scan every fact tree of a big fleet over and over (~0.2 s at 1000).
    with no_cyclic_gc():
        return _evaluate(rules, hosts, cluster_vars=cluster_vars, params=params, phase=phase,
                         deselected=deselected)


def _evaluate(rules: Sequence[Rule], hosts: Sequence[HostFacts], *,
              cluster_vars: Mapping[str, Any], params: Mapping[str, Any], phase: str,
              deselected: Mapping[str, str]) -> list[Result]:
    role_counts: dict[str, int] = {}
    for hf in hosts:
        for role in set(hf.host.roles):
            role_counts[role] = role_counts.get(role, 0) + 1
    env = _Env(params=params, vars=cluster_vars, hosts=hosts, role_counts=role_counts)
    env.cluster = cluster_tree(hosts, cluster_vars)
    members = [{"name": hf.host.name, "address": hf.host.address} for hf in hosts]
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
