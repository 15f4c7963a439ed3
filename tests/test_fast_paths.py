"""The fast paths added for speed give exactly what the slow, obvious code gives."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kaudit import yamlio
from kaudit.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def _slow_tree(text: str) -> Any:
    return yamlio._yaml().load(io.StringIO(text))


def _shape(node: Any) -> Any:
    """Plain values plus every key/item position that `locate` reads."""
    if isinstance(node, CommentedMap):
        return ("map", node.lc.line, node.lc.col,
                [(k, node.lc.key(k), _shape(v)) for k, v in node.items()])
    if isinstance(node, CommentedSeq):
        return ("seq", node.lc.line, node.lc.col,
                [(node.lc.item(i), _shape(v)) for i, v in enumerate(node)])
    plain = yamlio.to_plain(node)
    return (type(plain).__name__, plain)


SHIPPED = sorted([*ROOT.joinpath("rules").glob("*.yaml"),
                  *ROOT.joinpath("profiles").glob("*.yaml")])


@pytest.mark.skipif(yamlio.CParser is None, reason="libyaml (ruamel.yaml.clib) not installed")
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_fast_tree_equals_round_trip_tree(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    fast = yamlio._fast_load(text)
    assert fast is not yamlio._SLOW
    assert _shape(fast) == _shape(_slow_tree(text))


@pytest.mark.skipif(yamlio.CParser is None, reason="libyaml (ruamel.yaml.clib) not installed")
def test_fast_tree_scalars_and_flow_style() -> None:
    text = ("a: 1\nb: -2.5\nc: true\nd: null\ne: ~\nf: 'x: y'\ng: |\n  lit\n"
            "h: [1, two, {k: v}]\ni: {}\nj: []\nk: 'true'\n")
    fast = yamlio._fast_load(text)
    assert fast is not yamlio._SLOW
    assert _shape(fast) == _shape(_slow_tree(text))


@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n",                 # alias
    "a: 1\na: 2\n",                     # duplicate key
    "when: 2024-01-02\n",               # timestamp
    "n: 0x1F\n",                        # non-decimal int
    "f: .inf\n",                        # special float
    "base: {a: 1}\nm:\n  <<: {b: 2}\n",  # merge key
    "? [a, b]\n: c\n",                  # complex key
    "t: !!binary aGVsbG8=\n",           # explicit tag
    "%YAML 1.2\n---\na: 1\n",            # directive
    "a: 1\n---\nb: 2\n",                # two documents
    "a: [1, 2\n",                       # syntax error
])
def test_unusual_documents_take_the_round_trip_path(text: str) -> None:
    assert yamlio._fast_load(text) is yamlio._SLOW


@pytest.mark.parametrize(("text", "message", "line", "column"), [
    ("a: &x 1\nb: *x\n", "anchors and aliases", 2, 4),
    ("a: 1\nb: 2\na: 3\n", "duplicate key 'a'", 3, 1),
])
def test_refused_documents_still_name_the_position(text: str, message: str, line: int,
                                                   column: int) -> None:
    with pytest.raises(InputError) as info:
        yamlio.load_yaml("x.yaml", text=text)
    assert message in str(info.value)
    assert (info.value.line, info.value.column) == (line, column)
