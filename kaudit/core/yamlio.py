"""Safe YAML loading that keeps line numbers.

Every YAML file kaudit reads (rule packs, profiles, waivers, group_vars)
goes through `load_yaml`, so every one gets the same guarantees: text must
be UTF-8, duplicate keys are errors, anchors/aliases are refused (no
"billion laughs"), and a syntax error names file:line:col. The loaded tree
keeps ruamel's position info so schema errors can be traced back to a line
with `locate`.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent

try:  # libyaml via ruamel.yaml.clib: the fast path below; absent, the pure parser does all
    from ruamel.yaml import CParser
    from ruamel.yaml.resolver import VersionedResolver
except ImportError:  # pragma: no cover - depends on the installation
    CParser = None

from kaudit.core.errors import InputError

MAX_YAML_BYTES = 8 * 1024 * 1024


def read_text(path: str | Path, *, limit: int = MAX_YAML_BYTES,
              error: type[InputError] = InputError) -> str:
    """Read a small UTF-8 text file, or raise a one-line error naming it."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            data = fh.read(limit + 1)
    except IsADirectoryError:
        raise error("is a directory, expected a file", path=str(path)) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", path=str(path)) from None
    if len(data) > limit:
        raise error(f"file is larger than {limit // (1024 * 1024)} MiB", path=str(path))
    if b"\x00" in data:
        raise error("binary file (contains NUL bytes), expected text", path=str(path))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", path=str(path),
                    line=line) from None


def _yaml() -> YAML:
    y = YAML(typ="rt", pure=True)
    y.allow_duplicate_keys = False
    return y


def load_yaml(path: str | Path, *, text: str | None = None,
              error: type[InputError] = InputError) -> Any:
    """Parse one YAML document from `path` (or `text`, named `path`)."""
    name = str(path)
    if text is None:
        text = read_text(path, error=error)
    fast = _fast_load(text)
    if fast is not _SLOW:
        return fast
    y = _yaml()
    try:
        for event in y.parse(io.StringIO(text)):
            if isinstance(event, AliasEvent):
                mark = event.start_mark
                raise error("YAML anchors and aliases are not supported",
                            path=name, line=mark.line + 1, column=mark.column + 1)
        return y.load(io.StringIO(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        if "duplicate key" in str(exc):
            problem = "duplicate key" + _dup_key_name(str(exc))
        line = mark.line + 1 if mark is not None else None
        col = mark.column + 1 if mark is not None else None
        raise error(f"YAML error: {problem}", path=name, line=line, column=col) from None
    except YAMLError as exc:
        raise error(f"YAML error: {str(exc).splitlines()[0]}", path=name) from None
    except RecursionError:
        raise error("YAML nesting too deep", path=name) from None


# --- fast path ------------------------------------------------------------------------
# The pure-Python round-trip loader is slow enough to dominate every command that
# loads the rule packs (figures: bench/RESULTS.md). When libyaml is available, the document is
# composed in C and the same CommentedMap/CommentedSeq tree (with the same line/column
# positions) is built here from the nodes. Anything out of the ordinary (an alias, a
# duplicate or complex key, an explicit tag, a timestamp, a non-decimal number, a
# directive, a syntax error) gives up and lets the round-trip loader do the work, so
# results and error messages are exactly those of the slow path.

_SLOW: Any = object()
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_DEC_INT = re.compile(r"[-+]?[0-9]+")
_DEC_FLOAT = re.compile(r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


class _GiveUp(Exception):
    """The fast path cannot build this document exactly as the round-trip loader would."""


if CParser is not None:
    class _Composer(CParser, VersionedResolver):
        """libyaml's parser and composer with ruamel's YAML 1.2 resolver (node tags)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            VersionedResolver.__init__(self, version=None, loadumper=self)


def _fast_load(text: str) -> Any:
    """The round-trip tree of `text` built from C-composed nodes, or _SLOW."""
    if CParser is None or text.startswith("\ufeff") or "\n%" in text or text.startswith("%"):
        return _SLOW
    try:
        node = _Composer(text).get_single_node()
        if node is None:
            return _SLOW
        return _build(node, set())
    except (_GiveUp, YAMLError, RecursionError, ValueError, TypeError):
        return _SLOW


def _scalar(node: Any) -> Any:
    tag, value = node.tag, node.value
    if tag == _STR:
        return value
    if tag == _NULL:
        return None
    if tag == _BOOL and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if tag == _INT and _DEC_INT.fullmatch(value):
        return int(value)
    if tag == _FLOAT and _DEC_FLOAT.fullmatch(value):
        return float(value)
    raise _GiveUp(tag)


def _build(node: Any, seen: set[int]) -> Any:
    # An alias is the same node object met twice: the slow path reports it.
    if id(node) in seen:
        raise _GiveUp("alias")
    seen.add(id(node))
    if node.tag == _MAP and type(node).__name__ == "MappingNode":
        out = CommentedMap()
        out._yaml_set_line_col(node.start_mark.line, node.start_mark.column)
        for key_node, value_node in node.value:
            if type(key_node).__name__ != "ScalarNode" or key_node.value == "<<":
                raise _GiveUp("key")
            key = _scalar(key_node)
            if key in out:
                raise _GiveUp("duplicate key")
            seen.add(id(key_node))
            out._yaml_set_kv_line_col(key, [key_node.start_mark.line, key_node.start_mark.column,
                                            value_node.start_mark.line,
                                            value_node.start_mark.column])
            out[key] = _build(value_node, seen)
        return out
    if node.tag == _SEQ and type(node).__name__ == "SequenceNode":
        seq = CommentedSeq()
        seq._yaml_set_line_col(node.start_mark.line, node.start_mark.column)
        for i, child in enumerate(node.value):
            seq.append(_build(child, seen))
            seq._yaml_set_idx_line_col(i, [child.start_mark.line, child.start_mark.column])
        return seq
    if type(node).__name__ == "ScalarNode":
        return _scalar(node)
    raise _GiveUp(node.tag)


def _dup_key_name(text: str) -> str:
    # ruamel's message embeds the key as: found duplicate key "name" with value ...
    marker = 'duplicate key "'
    i = text.find(marker)
    if i < 0:
        return ""
    j = text.find('"', i + len(marker))
    return f" '{text[i + len(marker):j]}'" if j > 0 else ""


def locate(tree: Any, path: list[str | int] | tuple[str | int, ...]) -> tuple[int | None,
                                                                             int | None]:
    """1-based (line, column) of the node at `path` inside a loaded tree.

    Walks as deep as the path exists; a key's own position is preferred so an
    error about a key points at the key.
    """
    node = tree
    line: int | None = None
    col: int | None = None
    if isinstance(node, (CommentedMap, CommentedSeq)):
        line, col = node.lc.line + 1, node.lc.col + 1
    for part in path:
        if isinstance(node, CommentedMap) and part in node:
            kline, kcol = node.lc.key(part)
            line, col = kline + 1, kcol + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            iline, icol = node.lc.item(part)
            line, col = iline + 1, icol + 1
            node = node[part]
        else:
            break
    return line, col


def to_plain(node: Any) -> Any:
    """Convert a ruamel tree into plain dicts, lists and scalars."""
    if isinstance(node, dict):
        return {str(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    if hasattr(node, "isoformat"):
        return node.isoformat()
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def dump_yaml(data: Any) -> str:
    """Readable block-style YAML for `show` commands."""
    y = YAML(typ="safe", pure=True)
    y.default_flow_style = False
    y.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    buf = io.StringIO()
    y.dump(to_plain(data), buf)
    return buf.getvalue()
