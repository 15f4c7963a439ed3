"""Validate loaded YAML against the JSON Schemas shipped in kaudit/schema/.

Every problem is reported, not just the first, as `file:line:col: <json path>:
<what is wrong>`. The text is derived from the failing keyword
(`error.validator`) and the schema, never from jsonschema's English messages;
a schema may carry an `x-message` template to say it better.
"""

from __future__ import annotations

import difflib
import json
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from kaudit.core.errors import KauditError, RuleError
from kaudit.core.yamlio import load_yaml, locate, to_plain

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

_TYPE_NAMES = {
    "object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
    "number": "a number", "boolean": "a boolean", "null": "null",
}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, with its position."""

    path: str
    line: int | None
    column: int | None
    where: str          # JSON path, e.g. $.rules[0].check.op
    message: str

    def __str__(self) -> str:
        loc = self.path
        if self.line is not None:
            loc += f":{self.line}"
            if self.column is not None:
                loc += f":{self.column}"
        return f"{loc}: {self.where}: {self.message}" if self.where else f"{loc}: {self.message}"


@cache
def load_schema(schema_name: str) -> dict[str, Any]:
    """The parsed schema kaudit/schema/<schema_name>.schema.json."""
    text = resources.files("kaudit.schema").joinpath(f"{schema_name}.schema.json").read_text(
        encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    # Imported here: only files that are not trusted shipped data need it.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(schema_name))


def json_path(parts: Iterable[str | int]) -> str:
    """Render a path like $.rules[0].params['max.skew']."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}"
        else:
            out += f"[{_quote(part)}]"
    return out


def schema_problems(tree: Any, schema_name: str, path: str, *,
                    trusted: bool = False) -> list[Problem]:
    """Every schema violation in `tree` (a ruamel tree from load_yaml), sorted by position.
    A `trusted` document (shipped data whose content the tests validated:
    kaudit.packs.is_trusted) is not checked again."""
    if tree is None:
        return [Problem(path, 1, 1, "", "file is empty, expected a mapping")]
    if trusted:
        return []
    # Validate a plain copy (string keys, no ruamel types) but locate in the original.
    plain = to_plain(tree)
    found: list[tuple[list[str | int], str]] = []
    for error in _validator(schema_name).iter_errors(plain):
        found.extend(_describe(error))
    problems: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for parts, message in found:
        where = json_path(parts)
        if (where, message) in seen:
            continue
        seen.add((where, message))
        line, col = locate(tree, parts)
        if line is None and not parts:
            line, col = 1, 1  # a bare scalar document has no recorded position
        problems.append(Problem(path, line, col, where, message))
    return sort_problems(problems)


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    return sorted(problems, key=lambda p: (p.path, p.line or 0, p.column or 0, p.where))


def raise_problems(problems: Sequence[Problem], error: type[KauditError] = RuleError) -> None:
    """Raise one error listing every problem (no-op when there are none).

    str(error) gives one `file:line:col: ...` line per problem; the error's own
    path/line/column are the first problem's.
    """
    if not problems:
        return
    first, rest = problems[0], problems[1:]
    head = f"{first.where}: {first.message}" if first.where else first.message
    message = "\n".join([head, *(str(p) for p in rest)])
    raise error(message, path=first.path, line=first.line, column=first.column)


def validate(tree: Any, schema_name: str, path: str,
             error: type[KauditError] = RuleError, *, trusted: bool = False) -> None:
    """Validate `tree` against a shipped schema; raise one error listing all problems."""
    raise_problems(schema_problems(tree, schema_name, path, trusted=trusted), error)


# --- turning one jsonschema error into (path, message) pairs ------------------------------

def _describe(error: ValidationError) -> list[tuple[list[str | int], str]]:
    parts: list[str | int] = list(error.absolute_path)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    validator = error.validator
    instance = error.instance

    if "propertyNames" in error.relative_schema_path:
        # The instance is the offending key; point at the key itself.
        key_parts = [*parts, str(instance)]
        return [(key_parts, _template(schema, instance, key_parts)
                 or f"invalid key {_quote(instance)}")]

    if validator == "additionalProperties" and isinstance(instance, Mapping):
        allowed = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        out: list[tuple[list[str | int], str]] = []
        for key in instance:
            if key in allowed or any(re.search(p, key) for p in patterns):
                continue
            hint = _did_you_mean(key, allowed)
            out.append(([*parts, key],
                        f"unknown key {_quote(key)}{hint} (allowed: {', '.join(allowed)})"))
        if out or not isinstance(error.validator_value, Mapping):
            return out
        # additionalProperties with a schema: the error is about a value.

    if validator == "required" and isinstance(instance, Mapping):
        missing = [k for k in error.validator_value if k not in instance]
        tmpl = _template(schema, instance, parts)
        if tmpl:
            return [(parts, tmpl)]
        if len(missing) == 1:
            return [(parts, f"missing required key {_quote(missing[0])}")]
        return [(parts, "missing required keys " + ", ".join(_quote(k) for k in missing))]

    if validator == "not" and isinstance(instance, Mapping):
        banned = error.validator_value.get("required") if isinstance(
            error.validator_value, Mapping) else None
        if banned:
            key_parts = [*parts, banned[0]]
            return [(key_parts, _template(schema, instance, parts)
                     or f"key {_quote(banned[0])} is not allowed here")]

    if validator in ("anyOf", "oneOf") and not _template(schema, instance, parts):
        return _describe_alternatives(error, parts)

    tmpl = _template(schema, instance, parts)
    if tmpl and validator == "enum":
        # Keep the schema's wording but still say what would have been accepted.
        choices = error.validator_value
        tmpl += f"{_did_you_mean(instance, choices)} (allowed: {', '.join(map(str, choices))})"
    return [(parts, tmpl or describe_error(error))]


def _describe_alternatives(error: ValidationError,
                           parts: list[str | int]) -> list[tuple[list[str | int], str]]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    branches = error.validator_value if isinstance(error.validator_value, list) else []
    types = [b.get("type") for b in branches if isinstance(b, Mapping)]
    if types and all(isinstance(t, str) for t in types):
        checker = Draft202012Validator.TYPE_CHECKER
        matching = [i for i, t in enumerate(types) if checker.is_type(error.instance, t)]
        if not matching:
            wanted = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in types)
            return [(parts, f"expected {wanted}, got {_kind(error.instance)}")]
        sub = [e for e in error.context or () if e.relative_schema_path[0] in matching]
        if sub:
            chosen = best_match(sub)
            if chosen is not None:
                return _describe(chosen)
    if error.validator == "oneOf" and not error.context:
        return [(parts, "matches more than one alternative")]
    chosen = best_match(error.context or ())
    if chosen is None:
        return [(parts, "does not match any allowed form")]
    return _describe(chosen)


def describe_error(error: ValidationError) -> str:
    """What is wrong, from the failing keyword and its value (not jsonschema's English)."""
    v, vv, inst = error.validator, error.validator_value, error.instance
    if v == "required" and isinstance(inst, dict):
        missing = [k for k in vv if k not in inst]
        return f"missing required key{'s' if len(missing) > 1 else ''} " + ", ".join(
            _quote(k) for k in missing)
    if v == "type":
        wanted = vv if isinstance(vv, list) else [vv]
        names = " or ".join(_TYPE_NAMES.get(str(t), str(t)) for t in wanted)
        return f"expected {names}, got {_kind(inst)}"
    if v == "enum":
        hint = _did_you_mean(inst, vv) if isinstance(inst, str) else ""
        return f"{_quote(inst)} is not one of: {', '.join(str(x) for x in vv)}{hint}"
    if v == "const":
        return f"expected {_quote(vv)}, got {_quote(inst)}"
    if v == "pattern":
        return f"{_quote(inst)} does not match the pattern {vv}"
    if v == "minItems":
        return f"expected at least {vv} item{'s' if vv != 1 else ''}"
    if v == "maxItems":
        return f"expected at most {vv} item{'s' if vv != 1 else ''}"
    if v == "minLength":
        return "must not be empty" if vv == 1 else f"expected at least {vv} characters"
    if v == "uniqueItems":
        dups = _duplicates(inst) if isinstance(inst, list) else []
        return "duplicate items: " + ", ".join(_quote(d) for d in dups)
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        rel = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">",
               "exclusiveMaximum": "<"}[v]
        return f"expected a value {rel} {vv}, got {_quote(inst)}"
    if v is None:  # a `false` schema
        return "not allowed here"
    if v == "not":
        return "not allowed here"
    return f"fails the schema's {v!r} constraint"


# --- small text helpers -------------------------------------------------------------------

def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _quote(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "\\'") + "'"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "[" + ", ".join(_quote(v) for v in value) + "]"
    return json.dumps(value)


def _did_you_mean(word: Any, choices: Iterable[Any]) -> str:
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return f" (did you mean {_quote(close[0])}?)" if close else ""


def _duplicates(items: list[Any]) -> list[Any]:
    seen: list[Any] = []
    dups: list[Any] = []
    for item in items:
        if item in seen and item not in dups:
            dups.append(item)
        seen.append(item)
    return dups


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def _template(schema: Mapping[str, Any], instance: Any, parts: list[str | int]) -> str | None:
    """Fill the schema's `x-message`: {value} is the instance, {key} the last path part,
    and for a mapping instance {keys} and each of its scalar fields."""
    tmpl = schema.get("x-message")
    if not isinstance(tmpl, str):
        return None
    fields = _Fields(value=_quote(instance), key=_quote(parts[-1]) if parts else "?")
    if isinstance(instance, Mapping):
        fields["keys"] = ", ".join(str(k) for k in instance) or "none"
        for k, v in instance.items():
            if isinstance(k, str) and k.isidentifier():
                fields[k] = _quote(v)
    return string.Formatter().vformat(tmpl, (), fields)


def load_document(path: str, schema_name: str, *, text: str | None = None,
                  trusted: bool = False, error: type[KauditError] = RuleError,
                  empty: Any = None) -> tuple[Any, Any]:
    """The one way a YAML input is read: load (with positions), validate against
    its schema (unless `trusted`), and give (tree for `locate`, plain data).
    An empty document is `empty` when given, else a schema error."""
    tree = load_yaml(path, text=text, error=error)  # type: ignore[arg-type]
    if tree is None and empty is not None:
        tree = empty
    validate(tree, schema_name, path, error, trusted=trusted)
    return tree, to_plain(tree)
