"""Profiles: which packs and rules run, with which parameters and severities.

A profile is YAML data (shipped in profiles/, or a user file) validated against
kaudit/schema/profile.schema.json. `extends` chains merge like yamllint's:
params and severity are dict-merged (child wins), include/exclude are appended,
packs and phase are replaced when the child sets them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kaudit.catalog.rules import RuleSet, is_glob, param_references, rule_matches
from kaudit.catalog.validate import (
    Problem,
    json_path,
    load_document,
    raise_problems,
    sort_problems,
)
from kaudit.core.errors import RuleError
from kaudit.core.model import Rule
from kaudit.core.yamlio import locate
from kaudit.packs import is_trusted, shipped

PROFILE_SUFFIXES = (".yaml", ".yml")

# (file, line, column, json path) of one setting, so merged settings still point at
# where they were written.
Where = tuple[str, int | None, int | None, str]


@dataclass
class Profile:
    """A resolved profile: its own settings merged over everything it extends."""

    name: str
    source: str
    description: str = ""
    extends: list[str] = field(default_factory=list)
    packs: list[str] | None = None          # None = every pack
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    severity: dict[str, str] = field(default_factory=dict)
    phase: str | None = None
    # ("include", token) / ("params", name) / ... -> where it was set
    origins: dict[tuple[str, str], Where] = field(default_factory=dict, repr=False,
                                                  compare=False)


def shipped_profile_dir() -> Any:
    return shipped("profiles")


def _is_path(name_or_path: str) -> bool:
    return name_or_path.endswith(PROFILE_SUFFIXES) or "/" in name_or_path


def find_profile(name: str,
                 extra_dirs: Sequence[Path | str] = ()) -> tuple[str, str | None] | None:
    """(path, text) of the profile called `name`: shipped first, then extra dirs.

    The text is given for shipped profiles (they may live in a zip); user files
    are read by the YAML loader itself, with its size and encoding checks.
    """
    for suffix in PROFILE_SUFFIXES:
        t = shipped_profile_dir().joinpath(name + suffix)
        if t.is_file():
            return str(t), t.read_text(encoding="utf-8")
    for d in extra_dirs:
        for suffix in PROFILE_SUFFIXES:
            p = Path(d) / (name + suffix)
            if p.is_file():
                return str(p), None
    return None


def available_names(extra_dirs: Sequence[Path | str] = ()) -> list[str]:
    names = {t.name.rsplit(".", 1)[0] for t in shipped_profile_dir().iterdir()
             if t.is_file() and t.name.endswith(PROFILE_SUFFIXES)}
    for d in extra_dirs:
        if Path(d).is_dir():
            names.update(p.stem for p in Path(d).iterdir() if p.suffix in PROFILE_SUFFIXES)
    return sorted(names)


def load_profile(name_or_path: str, extra_dirs: Sequence[Path | str] = ()) -> Profile:
    """Load a profile by name or path and resolve its `extends` chain."""
    if _is_path(name_or_path):
        return _resolve(name_or_path, None, extra_dirs, [])
    found = find_profile(name_or_path, extra_dirs)
    if found is None:
        raise RuleError(f"unknown profile {name_or_path!r} (available: "
                        f"{', '.join(available_names(extra_dirs))})")
    return _resolve(found[0], found[1], extra_dirs, [])


def list_profiles(extra_dirs: Sequence[Path | str] = ()) -> list[Profile]:
    """Every shipped profile (and those in extra dirs), resolved, sorted by name."""
    return [load_profile(n, extra_dirs) for n in available_names(extra_dirs)]


def _stem(path: str) -> str:
    return Path(path).name.rsplit(".", 1)[0]


def _resolve(path: str, text: str | None, extra_dirs: Sequence[Path | str],
             chain: list[tuple[str, str]]) -> Profile:
    """Load `path` and merge it over its parents; `chain` is (name, path) of the children."""
    # An empty profile is valid: every pack, no overrides.
    tree, plain = load_document(
        path, "profile", text=text, empty={},
        trusted=text is not None and is_trusted("profiles", Path(path).name, text))
    name = _stem(path)
    chain = [*chain, (name, str(Path(path).resolve()) if Path(path).exists() else path)]

    def where(*parts: str | int) -> Where:
        line, col = locate(tree, list(parts))
        return (path, line, col, json_path(parts))

    parents = plain.get("extends", [])
    parents = [parents] if isinstance(parents, str) else list(parents)
    merged = Profile(name=name, source=path)
    for i, parent in enumerate(parents):
        at = where("extends", i) if isinstance(plain["extends"], list) else where("extends")
        parent_path, parent_text = _find_parent(parent, path, extra_dirs, name, at)
        key = str(Path(parent_path).resolve()) if Path(parent_path).exists() else parent_path
        if any(p == key for _, p in chain):
            names = [n for n, _ in chain] + [_stem(parent_path)]
            start = next(i for i, (_, p) in enumerate(chain) if p == key)
            raise RuleError(f"profile {names[start]!r} extends itself via "
                            f"{' -> '.join(names[start:])}", path=at[0], line=at[1],
                            column=at[2])
        _merge(merged, _resolve(parent_path, parent_text, extra_dirs, chain))

    own = Profile(
        name=name, source=path, description=plain.get("description", ""),
        packs=plain.get("packs"), include=list(plain.get("include", [])),
        exclude=list(plain.get("exclude", [])), params=dict(plain.get("params", {})),
        severity=dict(plain.get("severity", {})), phase=plain.get("phase"),
    )
    for key in ("include", "exclude", "packs"):
        for i, token in enumerate(plain.get(key) or []):
            own.origins[(key, token)] = where(key, i)
    for key in ("params", "severity"):
        for token in plain.get(key, {}):
            own.origins[(key, token)] = where(key, token)
    _merge(merged, own)
    merged.extends = parents
    merged.description = own.description or merged.description
    return merged


def _find_parent(parent: str, child_path: str, extra_dirs: Sequence[Path | str], child: str,
                 at: Where) -> tuple[str, str | None]:
    if _is_path(parent):
        p = Path(parent)
        if not p.is_absolute():
            p = Path(child_path).parent / p
        if p.is_file():
            return str(p), None
    else:
        found = find_profile(parent, extra_dirs)
        if found is not None:
            return found
    raise RuleError(f"profile {child!r} extends unknown profile {parent!r} (available: "
                    f"{', '.join(available_names(extra_dirs))})", path=at[0], line=at[1],
                    column=at[2])


def _merge(base: Profile, child: Profile) -> None:
    """Overlay `child` on `base` in place."""
    base.description = child.description or base.description
    if child.packs is not None:
        base.packs = list(child.packs)
    base.include = [*base.include, *child.include]
    base.exclude = [*base.exclude, *child.exclude]
    base.params = {**base.params, **child.params}
    base.severity = {**base.severity, **child.severity}
    base.phase = child.phase or base.phase
    base.origins = {**base.origins, **child.origins}


def apply_profile(ruleset: RuleSet, profile: Profile) -> tuple[list[Rule], dict[str, Any]]:
    """The rules a profile selects (with its severity overrides) and the effective params."""
    problems: list[Problem] = []

    def problem(key: str, token: str, message: str) -> None:
        path, line, col, jpath = profile.origins.get((key, token),
                                                     (profile.source, None, None, f"$.{key}"))
        problems.append(Problem(path, line, col, jpath, message))

    for pack in profile.packs or []:
        if pack not in ruleset.packs:
            problem("packs", pack, f"unknown pack {pack!r} (known: "
                                   f"{', '.join(sorted(ruleset.packs))})")
    for key, tokens in (("include", profile.include), ("exclude", profile.exclude),
                        ("severity", list(profile.severity))):
        for token in tokens:
            if not any(rule_matches(r, token) for r in ruleset.rules):
                what = "pattern" if is_glob(token) else "rule id, pack or tag"
                problem(key, token, f"{what} {token!r} matches no rule")
    known_params = set(ruleset.params)
    for rule in ruleset.rules:
        known_params |= param_references(rule)
    for name in profile.params:
        if name not in known_params:
            problem("params", name, f"unknown parameter {name!r}: no pack defines or uses it")
    raise_problems(sort_problems(problems))

    selected: list[Rule] = []
    for rule in ruleset.rules:
        chosen = profile.packs is None or rule.pack in profile.packs
        chosen = chosen or any(rule_matches(rule, t) for t in profile.include)
        if not chosen or any(rule_matches(rule, t) for t in profile.exclude):
            continue
        selected.append(_with_severity(rule, profile.severity))
    return selected, {**ruleset.params, **profile.params}


def _with_severity(rule: Rule, overrides: dict[str, str]) -> Rule:
    # Broad tokens (pack, tag, glob) apply in file order; an exact id always wins.
    severity = rule.severity
    for token, value in overrides.items():
        if token != rule.id and rule_matches(rule, token):
            severity = value  # type: ignore[assignment]
    if rule.id in overrides:
        severity = overrides[rule.id]  # type: ignore[assignment]
    return rule if severity == rule.severity else dataclasses.replace(rule, severity=severity)
