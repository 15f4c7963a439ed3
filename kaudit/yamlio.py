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
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent

from kaudit.errors import InputError

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
