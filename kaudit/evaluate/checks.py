"""Compiling host checks (docs/rules.md "Checks"): a fact and an operator, the
combinators all / any / not, and each / some over lists and mappings.

A check is three-valued: it passes, fails, or cannot be decided (a missing fact, an
unset reference, an operator that raises). `all` fails as soon as one part fails,
and is undecided only when nothing failed but something was undecided; `any`
mirrors it. Undecided becomes an `error` result, never a pass."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kaudit.evaluate.context import (
    _UNDECIDED,
    Compiler,
    MissingFact,
    Node,
    NotCollected,
    UnsetReference,
    Verdict,
    _Ctx,
    _Env,
    _fixed,
    _joined,
    _lookup,
    _Skip,
    resolve,
)
from kaudit.evaluate.operators import (
    MISSING,
    CompiledOp,
    OperatorError,
    compile_op,
    describe,
)
from kaudit.evaluate.operators.text import LABEL_KEYS
from kaudit.evaluate.references import _refs_in, resolve_value


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
        for k in LABEL_KEYS:
            if isinstance(item.get(k), str | int):
                return str(item[k])
    if isinstance(item, str | int | float) and not isinstance(item, bool):
        return str(item)
    return str(key)


def _each(spec: Mapping[str, Any], env: _Env, every: bool, roles: tuple[str, ...],
          compile_check: Compiler) -> Node:
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


