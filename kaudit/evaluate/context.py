"""What evaluation passes around: the errors that make a check undecided, fact
paths into a host's tree, the run's environment and each target's context, and
the Verdict of a decided check."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kaudit.core.model import HostFacts
from kaudit.evaluate.operators import (
    OperatorError,
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
        if tree is not env.cluster:
            require_section(tree, path)
        raise


def require_section(tree: Any, path: str, host: str | None = None) -> None:
    """A host tree without the path's top-level section never collected it:
    raise NotCollected (an error in every `missing:` mode)."""
    root = path.split(".", 1)[0]
    if isinstance(tree, dict) and root not in tree:
        raise NotCollected(path, root, host) from None


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
# compile_check(spec, env, roles): passed to the checks that nest checks (each,
# some, aggregates), so that those modules need not import the dispatcher.
Compiler = Callable[..., Node]


def _fixed(text: str) -> Callable[[Any], str]:
    return lambda _: text


def _joined(verdicts: list[tuple[str, Verdict]]) -> str:
    parts = [f"{label}: {v.observed}" if label else v.observed for label, v in verdicts]
    text = "; ".join(parts)
    return text if len(text) <= 400 else text[:399] + "…"


