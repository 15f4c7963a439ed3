"""Safe YAML loading that keeps line numbers.

Every YAML file kaudit reads (rule packs, profiles, waivers, group_vars)
goes through `load_yaml`, so every one gets the same guarantees: text must
be UTF-8, duplicate keys are errors, anchors/aliases are refused (no
"billion laughs"), merge keys and complex keys are refused, and a syntax error
names file:line:col. The result is plain data (Map and Seq are dict and list)
that remembers where each node was, so schema errors are traced back to a line
with `locate`. Only ruamel.yaml's public composer API is used.
"""

from __future__ import annotations

import datetime
import io
import math
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
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


class Map(dict):
    """A YAML mapping as a plain dict, with 0-based positions of itself and its keys."""

    __slots__ = ("col", "key_pos", "line")

    def __init__(self, line: int, col: int) -> None:
        super().__init__()
        self.line, self.col = line, col
        self.key_pos: dict[Any, tuple[int, int]] = {}


class Seq(list):
    """A YAML sequence as a plain list, with 0-based positions of itself and its items."""

    __slots__ = ("col", "item_pos", "line")

    def __init__(self, line: int, col: int) -> None:
        super().__init__()
        self.line, self.col = line, col
        self.item_pos: list[tuple[int, int]] = []


def load_yaml(path: str | Path, *, text: str | None = None,
              error: type[InputError] = InputError) -> Any:
    """Parse one YAML document from `path` (or `text`, named `path`) into plain data
    (Map and Seq are dict and list) that keeps every node's position for `locate`.

    One path for every file: the document is composed by libyaml when ruamel.yaml.clib
    is there, by ruamel's pure-Python composer otherwise, and built here from the
    nodes with YAML 1.2 scalars."""
    name = str(path)
    if text is None:
        text = read_text(path, error=error)
    text = text.removeprefix("\ufeff")
    try:
        node = _compose(text)
        if node is None:
            return None
        return _Builder(text, name, error).build(node)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        line = mark.line + 1 if mark is not None else None
        col = mark.column + 1 if mark is not None else None
        raise error(f"YAML error: {problem}", path=name, line=line, column=col) from None
    except YAMLError as exc:
        raise error(f"YAML error: {str(exc).splitlines()[0]}", path=name) from None
    except RecursionError:
        raise error("YAML nesting too deep", path=name) from None


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_INFINITY = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf}


if CParser is not None:
    class _Composer(CParser, VersionedResolver):
        """libyaml's parser and composer with ruamel's YAML 1.2 resolver (node tags)."""

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            VersionedResolver.__init__(self, version=None, loadumper=self)


def _compose(text: str) -> Any:
    """The single document's node graph (None for an empty document)."""
    if CParser is not None:
        return _Composer(text).get_single_node()
    return YAML(typ="safe", pure=True).compose(io.StringIO(text))


def _scalar(tag: str, value: str) -> Any:
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return value.lower() == "true"
    if tag == _INT:
        text = value.replace("_", "")
        if text[:2] in ("0o", "0x") or text[1:3] in ("0o", "0x"):
            return int(text, 0)
        return int(text, 10)
    if tag == _FLOAT:
        low = value.lower()
        if low in _INFINITY:
            return _INFINITY[low]
        if low == ".nan":
            return math.nan
        return float(value.replace("_", ""))
    if tag == _TIMESTAMP:
        try:
            return datetime.date.fromisoformat(value).isoformat()
        except ValueError:
            return value
    return value           # str, and the value of any other tag as written


class _Builder:
    def __init__(self, text: str, name: str, error: type[InputError]) -> None:
        self.text, self.name, self.error = text, name, error
        self.seen: set[int] = set()

    def fail(self, message: str, mark: Any) -> InputError:
        return self.error(message, path=self.name, line=mark.line + 1, column=mark.column + 1)

    def build(self, node: Any) -> Any:
        # An alias is the same node object met twice.
        if id(node) in self.seen:
            raise self.fail("YAML anchors and aliases are not supported", self._alias_mark(node))
        self.seen.add(id(node))
        kind = type(node).__name__
        mark = node.start_mark
        if kind == "MappingNode":
            out = Map(mark.line, mark.column)
            for key_node, value_node in node.value:
                if type(key_node).__name__ != "ScalarNode":
                    raise self.fail("YAML error: complex (non-scalar) keys are not supported",
                                    key_node.start_mark)
                if key_node.value == "<<" and key_node.tag != _STR:
                    raise self.fail("YAML merge keys (<<) are not supported",
                                    key_node.start_mark)
                key = _scalar(key_node.tag, key_node.value)
                if key in out:
                    raise self.fail(f"YAML error: duplicate key '{key}'", key_node.start_mark)
                out.key_pos[key] = (key_node.start_mark.line, key_node.start_mark.column)
                out[key] = self.build(value_node)
            return out
        if kind == "SequenceNode":
            seq = Seq(mark.line, mark.column)
            for child in node.value:
                seq.item_pos.append((child.start_mark.line, child.start_mark.column))
                seq.append(self.build(child))
            return seq
        return _scalar(node.tag, node.value)

    def _alias_mark(self, node: Any) -> Any:
        """Where the first alias is used (the events say; the nodes only know the anchor)."""
        if CParser is not None:
            parser = CParser(self.text)
            while parser.check_event():
                event = parser.get_event()
                if isinstance(event, AliasEvent):
                    return event.start_mark
        return node.start_mark


def locate(tree: Any, path: list[str | int] | tuple[str | int, ...]) -> tuple[int | None,
                                                                             int | None]:
    """1-based (line, column) of the node at `path` inside a loaded tree.

    Walks as deep as the path exists; a key's own position is preferred so an
    error about a key points at the key.
    """
    node = tree
    line: int | None = None
    col: int | None = None
    if isinstance(node, Map | Seq):
        line, col = node.line + 1, node.col + 1
    for part in path:
        if isinstance(node, Map) and part in node:
            kline, kcol = node.key_pos[part]
            line, col = kline + 1, kcol + 1
            node = node[part]
        elif isinstance(node, Seq) and isinstance(part, int) and 0 <= part < len(node):
            iline, icol = node.item_pos[part]
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


_DOC_START = re.compile(r"^---(?:\s|$)")


def load_yaml_documents(path: str | Path, *, text: str | None = None,
                        error: type[InputError] = InputError) -> list[tuple[Any, int]]:
    """Every `---`-separated document of a file as (tree, first line); positions stay
    the file's own (each document is parsed with the lines before it blanked)."""
    if text is None:
        text = read_text(path, error=error)
    lines = text.removeprefix("\ufeff").splitlines()
    starts = [0] + [i for i, ln in enumerate(lines) if _DOC_START.match(ln)]
    out = []
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        body = lines[start:end]
        if body and _DOC_START.match(body[0]):
            body = ["", *body[1:]]          # the marker line itself, blanked
        tree = load_yaml(path, text="\n" * start + "\n".join(body) + "\n", error=error)
        if tree is not None:
            out.append((tree, start + 1))
    return out
