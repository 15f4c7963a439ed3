"""`${...}` references in rule values and messages: params, cluster vars, facts,
`nth_ip(cidr, n)` and `count(role)`, resolved per run or per host."""

from __future__ import annotations

import re
from typing import Any

from kaudit.catalog.refs import REF, Ref, RefError, parse_ref
from kaudit.evaluate.context import EvalError, MissingFact, UnsetReference, _Env, _lookup, resolve
from kaudit.evaluate.operators import (
    OperatorError,
    to_network,
)
from kaudit.evaluate.operators.base import Sourced

_REF_RE = REF


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
    try:
        ref = parse_ref(expr)
    except RefError as exc:
        raise OperatorError(str(exc)) from None
    return _walk(ref, env, tree)


def _walk(ref: Ref, env: _Env, tree: dict[str, Any] | None) -> Any:
    if ref.kind in ("params", "vars"):
        source = env.params if ref.kind == "params" else env.vars
        try:
            found = resolve(source, ref.path)
        except MissingFact:
            raise UnsetReference(str(ref)) from None
        if found is None:
            raise UnsetReference(str(ref))
        return found
    if ref.kind == "facts":
        if tree is None:
            raise EvalError(f"${{{ref}}} needs a host's facts")
        return _lookup(tree, ref.path, env)
    if ref.kind == "first":
        return _first(ref, env, tree)
    if ref.kind in ("min", "max"):
        return _extreme(ref, env)
    if ref.kind == "nth_ip":
        net = to_network(_walk(ref.of, env, tree) if ref.of else ref.cidr)
        try:
            return str(net[ref.index])
        except IndexError:
            raise OperatorError(f"{ref}: {net} has no address {ref.index}") from None
    if ref.path in ("total", "all"):          # count
        return len(env.hosts)
    return env.role_counts.get(ref.path, 0)


def _first(ref: Ref, env: _Env, tree: dict[str, Any] | None) -> Any:
    """The first option that is set; a fallback's text says where it came from."""
    missing: list[str] = []
    for i, option in enumerate(ref.options):
        try:
            value = _walk(option, env, tree)
        except (MissingFact, UnsetReference):
            missing.append(str(option))
            continue
        if i and isinstance(value, str):
            return Sourced(value, str(option))
        return value
    raise UnsetReference(" and ".join(missing))


def _extreme(ref: Ref, env: _Env) -> Any:
    """The least or greatest number at a fact path over the scanned hosts that have it."""
    found = []
    for hf in env.hosts:
        try:
            value = resolve(hf.facts, ref.path)
        except MissingFact:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            found.append(value)
    if not found:
        raise UnsetReference(f"facts.{ref.path} on any scanned host")
    return min(found) if ref.kind == "min" else max(found)


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


