"""Load and validate rule packs: the shipped ones and any from `--rules DIR`.

A pack is checked against kaudit/schema/rulepack.schema.json, then for what a
schema cannot say (id prefix, duplicate ids, cluster-only aggregates, regex
and reference syntax). Every problem in a file is reported at once.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from kaudit.catalog.refs import RefError, bodies, parse_ref, unclosed
from kaudit.catalog.validate import (
    Problem,
    json_path,
    raise_problems,
    schema_problems,
    sort_problems,
)
from kaudit.core.errors import RuleError
from kaudit.core.model import PHASES, Rule
from kaudit.core.yamlio import load_yaml, locate, to_plain
from kaudit.packs import is_trusted, shipped

PACK_SUFFIXES = (".yaml", ".yml")
_GLOB_CHARS = frozenset("*?[")
_REGEX_OPS = ("regex", "not_regex")


@dataclass
class RuleSet:
    """Every loaded rule, pack parameter defaults, and where each pack came from."""

    rules: list[Rule]
    params: dict[str, Any]
    packs: dict[str, str]                    # pack name -> source file
    param_sources: dict[str, str] = field(default_factory=dict, repr=False)

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)




@dataclass
class _Pack:
    name: str
    path: str
    rules: list[Rule]
    params: dict[str, Any]
    param_pos: dict[str, tuple[int | None, int | None]]
    id_pos: dict[str, tuple[int | None, int | None]]


def is_glob(token: str) -> bool:
    return any(c in _GLOB_CHARS for c in token)


def rule_matches(rule: Rule, token: str) -> bool:
    """True if `token` (exact id, glob on the id, pack name or tag) selects `rule`."""
    if token in (rule.id, rule.pack) or token in rule.tags:
        return True
    return is_glob(token) and fnmatch.fnmatchcase(rule.id, token)


def param_references(rule: Rule) -> set[str]:
    """Names of the profile parameters a rule refers to (${params.X})."""
    names: set[str] = set()
    for text in _strings([rule.check, rule.applies, rule.message]):
        for body in bodies(text):
            try:
                ref = parse_ref(body)
            except RefError:
                continue            # reported by the pack checks
            names.update(leaf.path for leaf in ref.leaves() if leaf.kind == "params")
    return names


def load_pack(path: str | Path) -> tuple[list[Rule], dict[str, Any]]:
    """Load and validate one pack file; returns its rules and parameter defaults."""
    pack = _load_pack(str(path), None)
    return pack.rules, pack.params


def load_rules(extra_dirs: Sequence[Path | str] = ()) -> RuleSet:
    """Shipped packs, then every *.yaml/*.yml in each extra dir (sorted by name)."""
    shipped = shipped_pack_files()
    packs = [_load_pack(str(t), t.read_text(encoding="utf-8")) for t in shipped]
    # The shipped files themselves (e.g. `rules validate rules/` in a checkout, where
    # the package maps to that directory) are loaded once, not reported as duplicates.
    same = {Path(str(t)).resolve() for t in shipped if Path(str(t)).is_file()}
    for d in extra_dirs:
        packs.extend(_load_pack(str(p), None) for p in pack_files(Path(d))
                     if p.resolve() not in same)
    return _combine(packs)


def shipped_pack_files() -> list[Traversable]:
    root = shipped("rules")
    return sorted((t for t in root.iterdir() if t.is_file() and t.name.endswith(PACK_SUFFIXES)),
                  key=lambda t: t.name)


def pack_files(path: Path) -> list[Path]:
    """The pack files in a directory (or the file itself)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RuleError("rules directory not found", path=str(path))
    return sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(PACK_SUFFIXES))


def _combine(packs: list[_Pack]) -> RuleSet:
    problems: list[Problem] = []
    rules: list[Rule] = []
    by_id: dict[str, Rule] = {}
    pack_src: dict[str, str] = {}
    params: dict[str, Any] = {}
    param_src: dict[str, str] = {}
    for pack in packs:
        # A pack may be spread over several files (a site adding its own "os" rules);
        # `packs` names the first file.
        pack_src.setdefault(pack.name, pack.path)
        for i, rule in enumerate(pack.rules):
            if rule.id in by_id:
                line, col = pack.id_pos.get(rule.id, (None, None))
                problems.append(Problem(pack.path, line, col, json_path(["rules", i, "id"]),
                                        f"duplicate rule id {rule.id!r}: already defined at "
                                        f"{by_id[rule.id].source}"))
                continue
            by_id[rule.id] = rule
            rules.append(rule)
        for name, value in pack.params.items():
            line, col = pack.param_pos.get(name, (None, None))
            here = f"{pack.path}:{line}" if line else pack.path
            if name in params and params[name] != value:
                problems.append(Problem(pack.path, line, col, json_path(["params", name]),
                                        f"parameter {name!r} defaults to {value!r} here but to "
                                        f"{params[name]!r} at {param_src[name]}"))
                continue
            params.setdefault(name, value)
            param_src.setdefault(name, here)
    raise_problems(sort_problems(problems))
    return RuleSet(rules=rules, params=params, packs=pack_src, param_sources=param_src)


def _load_pack(path: str, text: str | None) -> _Pack:
    """A pack file; `text` is given for shipped packs (read from the package)."""
    tree = load_yaml(path, text=text, error=RuleError)
    _normalise_bool_ops(tree)
    trusted = text is not None and is_trusted("rules", Path(path).name, text)
    problems = schema_problems(tree, "rulepack", path, trusted=trusted)
    if problems and not _rules_checkable(tree, problems):
        raise_problems(problems)
    # Rules the schema found fine still get the semantic checks, so one run
    # reports everything wrong with the file.
    broken = {p.where.split("]", 1)[0] + "]" for p in problems if p.where.startswith("$.rules[")}
    name = str(tree["pack"])
    rules: list[Rule] = []
    seen: dict[str, int | None] = {}
    id_pos: dict[str, tuple[int | None, int | None]] = {}
    for i, node in enumerate(tree["rules"]):
        if f"$.rules[{i}]" in broken:
            continue
        line, _ = locate(tree, ["rules", i])
        rule = _make_rule(to_plain(node), name, f"{path}:{line}")
        problems.extend(_rule_problems(tree, path, i, rule, name, seen))
        seen.setdefault(rule.id, line)
        id_pos.setdefault(rule.id, locate(tree, ["rules", i, "id"]))
        rules.append(rule)
    params = to_plain(tree.get("params") or {})
    param_pos = {k: locate(tree, ["params", k]) for k in params}
    raise_problems(sort_problems(problems))
    return _Pack(name, path, rules, params, param_pos, id_pos)


def _rules_checkable(tree: Any, problems: list[Problem]) -> bool:
    """Whether the pack's skeleton (pack name, rules list) is sound enough to look inside."""
    skeleton = ("$", "$.pack", "$.rules")
    return isinstance(tree, dict) and not any(p.where in skeleton for p in problems)


def _make_rule(node: dict[str, Any], pack: str, source: str) -> Rule:
    return Rule(
        id=node["id"], title=node["title"], severity=node["severity"], scope=node["scope"],
        check=node["check"], pack=pack,
        roles=_as_tuple(node.get("roles", ())),
        phase=_as_tuple(node.get("phase", PHASES)),
        tags=tuple(node.get("tags", ())),
        rationale=str(node.get("rationale", "")).strip(),
        remediation=str(node.get("remediation", "")).rstrip("\n"),
        message=str(node.get("message", "")),
        applies=node.get("applies"),
        source=source,
    )


def _as_tuple(value: str | Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _rule_problems(tree: Any, path: str, index: int, rule: Rule, pack: str,
                   seen: dict[str, int | None]) -> Iterator[Problem]:
    """What the schema cannot check about one rule."""
    base: list[str | int] = ["rules", index]

    def problem(parts: list[str | int], message: str) -> Problem:
        line, col = locate(tree, parts)
        return Problem(path, line, col, json_path(parts), message)

    if not rule.id.startswith(pack + "."):
        yield problem([*base, "id"], f"rule id {rule.id!r} must start with the pack name "
                                     f"'{pack}.'")
    if rule.id in seen:
        yield problem([*base, "id"], f"duplicate rule id {rule.id!r}: already defined at "
                                     f"{path}:{seen[rule.id]}")
    for key in ("check", "applies"):
        node = getattr(rule, key)
        if node is None:
            continue
        for parts, check in _walk_checks(node, [*base, key]):
            if "hosts" in check and rule.scope != "cluster":
                yield problem([*parts, "hosts"],
                              "a 'hosts:' aggregate needs 'scope: cluster'")
            if check.get("op") in _REGEX_OPS and isinstance(check.get("value"), str) \
                    and not bodies(check["value"]):
                try:
                    re.compile(check["value"])
                except re.error as exc:
                    yield problem([*parts, "value"], f"invalid regular expression: {exc}")
    for parts, text in _walk_strings(
            {"check": rule.check, "applies": rule.applies, "message": rule.message}, base):
        for msg in _reference_problems(text):
            yield problem(parts, msg)


def _reference_problems(text: str) -> Iterator[str]:
    for body in bodies(text):
        try:
            parse_ref(body)
        except RefError as exc:
            yield str(exc)
    if unclosed(text):
        yield f"unclosed '${{' in {text!r}"


def _walk_checks(check: Any, parts: list[str | int]) -> Iterator[tuple[list[str | int],
                                                                      dict[str, Any]]]:
    if not isinstance(check, dict):
        return
    yield parts, check
    for key in ("all", "any"):
        for i, sub in enumerate(check.get(key) or ()):
            yield from _walk_checks(sub, [*parts, key, i])
    for key in ("not", "check"):
        if key in check:
            yield from _walk_checks(check[key], [*parts, key])


def _walk_strings(node: Any, parts: list[str | int]) -> Iterator[tuple[list[str | int], str]]:
    if isinstance(node, str):
        yield parts, node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _walk_strings(v, [*parts, k])
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_strings(v, [*parts, i])


def _strings(node: Any) -> Iterator[str]:
    for _, text in _walk_strings(node, []):
        yield text


def _normalise_bool_ops(node: Any) -> None:
    """`op: true` parses as a YAML boolean; the operator is named "true"."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("op", "cmp") and isinstance(value, bool):
                node[key] = "true" if value else "false"
            else:
                _normalise_bool_ops(value)
    elif isinstance(node, list):
        for item in node:
            _normalise_bool_ops(item)
