"""The fast paths added for speed give exactly what the slow, obvious code gives."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from common import ROOT

from kaudit.core import yamlio
from kaudit.core.errors import InputError


def _oracle(text: str) -> Any:
    """ruamel's own round-trip loader: the reference for values and positions."""
    from ruamel.yaml import YAML

    return YAML(typ="rt", pure=True).load(io.StringIO(text))


def _shape(node: Any, oracle: bool) -> Any:
    """Plain values plus every key/item position that `locate` reads."""
    if isinstance(node, dict):
        pos = (node.lc.line, node.lc.col) if oracle else (node.line, node.col)
        keys = [(k, tuple(node.lc.key(k)) if oracle else node.key_pos[k], _shape(v, oracle))
                for k, v in node.items()]
        return ("map", pos, keys)
    if isinstance(node, list):
        pos = (node.lc.line, node.lc.col) if oracle else (node.line, node.col)
        items = [(tuple(node.lc.item(i)) if oracle else node.item_pos[i], _shape(v, oracle))
                 for i, v in enumerate(node)]
        return ("seq", pos, items)
    plain = node.isoformat() if hasattr(node, "isoformat") else yamlio.to_plain(node)
    return (type(plain).__name__, plain)


SHIPPED = sorted([*ROOT.joinpath("rules").glob("*.yaml"),
                  *ROOT.joinpath("profiles").glob("*.yaml")])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_loader_matches_ruamels_round_trip_values_and_positions(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert _shape(yamlio.load_yaml(path, text=text), False) == _shape(_oracle(text), True)


SCALARS = ("a: 1\nb: -2.5\nc: true\nd: null\ne: ~\nf: 'x: y'\ng: |\n  lit\n"
           "h: [1, two, {k: v}]\ni: {}\nj: []\nk: 'true'\nn: 0x1F\no: 0o17\n"
           "when: 2024-01-02\nf2: .inf\nf3: -.INF\n")


@pytest.mark.parametrize("pure", [False, True], ids=["libyaml", "pure-python"])
def test_scalars_flow_style_and_both_composers(pure: bool, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    if pure:
        monkeypatch.setattr(yamlio, "CParser", None)
    doc = yamlio.load_yaml("x.yaml", text=SCALARS)
    assert _shape(doc, False) == _shape(_oracle(SCALARS), True)
    assert (doc["n"], doc["o"], doc["when"]) == (31, 15, "2024-01-02")
    # An explicit tag gives its value (ruamel's round-trip TaggedScalar leaked before).
    assert yamlio.load_yaml("x.yaml", text="t: !!str 12\n") == {"t": "12"}
    assert type(doc) is yamlio.Map and isinstance(doc, dict)


@pytest.mark.parametrize(("text", "message", "line", "column"), [
    ("a: &x 1\nb: *x\n", "anchors and aliases", 2, 4),
    ("a: 1\nb: 2\na: 3\n", "duplicate key 'a'", 3, 1),
    ("base: {a: 1}\nm:\n  <<: {b: 2}\n", "merge keys", 3, 3),
    ("? [a, b]\n: c\n", "complex (non-scalar) keys", 1, 3),
    ("a: 1\n---\nb: 2\n", "YAML error", 2, 1),
    ("a: [1, 2\n", "YAML error", None, None),
])
def test_refused_documents_name_the_position(text: str, message: str, line: int | None,
                                             column: int | None) -> None:
    with pytest.raises(InputError) as info:
        yamlio.load_yaml("x.yaml", text=text)
    assert message in str(info.value)
    if line is not None:
        assert (info.value.line, info.value.column) == (line, column)
    else:
        assert info.value.line is not None


def test_clean_skips_only_text_the_patterns_cannot_touch() -> None:
    """clean() and xml_safe() leave printable text alone without running their patterns:
    no printable character (of the whole BMP, in any neighbourhood) is one they change."""
    from kaudit.core import sanitize as t

    def slow_clean(s: str) -> str:
        return t._CONTROLS.sub("", t._ESCAPES.sub("", t._LINE_BREAKS.sub("\n", s)))

    for code in range(0x10000):
        c = chr(code)
        for sample in (c, f"a{c}b", f"\x1b[{c}", f"{c}\n"):
            assert t.clean(sample) == slow_clean(sample), hex(code)
            assert t.xml_safe(sample) == t._XML_ILLEGAL.sub("", sample), hex(code)


_TRICKY: list[Any] = [
    "6443", 6443, "6443.0", 6443.0, "1Gi", "1024Mi", "1073741824", True, "true", "yes", "on",
    False, "no", "off", None, "inf", float("inf"), "-inf", " 5", "5", 5, "1h", "60m", "3600",
    "3600s", [1], {"a": 1}, "", "abc", "ABC", "1e3", 1000, ".5", 0.5, "+5", "1G", "1000M",
    "unlimited", "infinity", "-", "1", 1, 1.0, "0", 0, "null"]


def test_equality_index_answers_like_the_pairwise_scan() -> None:
    import random

    from kaudit.evaluate.operators import _EqIndex, values_equal

    rng = random.Random(7)
    for _ in range(400):
        values = rng.sample(_TRICKY, rng.randint(0, 12))
        index = _EqIndex(values)
        for x in _TRICKY:
            assert index.has(x) == any(values_equal(x, v) for v in values), (x, values)
            assert index.has(x, swap=True) == any(values_equal(v, x) for v in values), \
                (x, values)


def test_maps_hosts_compiled_once_answers_every_host() -> None:
    from kaudit.evaluate.operators import compile_op

    members = [{"name": f"h{i}", "address": f"10.0.0.{i}"} for i in range(1, 50)]
    op = compile_op("maps_hosts", members)
    good = [{"address": m["address"], "names": [m["name"].upper()]} for m in members]
    bad = [*good[:-1], {"address": "10.9.9.9", "names": ["h49"]}]
    for _ in range(2):  # the answer for one fact is remembered; the next fact is new
        assert op.test(good) and op.explain(good) == ""
        assert not op.test(bad) and op.explain(bad) == "h49 -> 10.9.9.9"


def test_maps_hosts_names_every_miss_in_value_order() -> None:
    """Against the obvious loop over every wanted name (random files and duplicates)."""
    import ipaddress
    import random

    from kaudit.evaluate.operators import compile_op

    rng = random.Random(3)
    names = ["a", "B", "c", "A", "d", "e"]
    for _ in range(300):
        members = [{"name": rng.choice(names), "address": f"10.0.0.{rng.randint(1, 3)}"}
                   for _ in range(rng.randint(0, 8))]
        hosts_file = [{"address": f"10.0.0.{rng.randint(1, 3)}",
                       "names": rng.sample(names, rng.randint(0, 3))}
                      for _ in range(rng.randint(0, 4))]
        first: dict[str, str] = {}
        for entry in hosts_file:
            for n in entry["names"]:
                first.setdefault(n.lower(), entry["address"])
        want = []
        for m in members:
            got = first.get(m["name"].lower())
            if got is None:
                want.append(f"{m['name']} absent")
            elif ipaddress.ip_address(got) != ipaddress.ip_address(m["address"]):
                want.append(f"{m['name']} -> {got}")
        op = compile_op("maps_hosts", members)
        assert op.test(hosts_file) == (not want)
        assert op.explain(hosts_file) == "; ".join(want)


def test_maps_hosts_caps_what_it_lists_for_large_fleets() -> None:
    """A 1,000-host fleet with a bare /etc/hosts: the finding names 20 hosts and a count,
    not a 40 KB message repeated on every host."""
    from kaudit.evaluate.operators import compile_op

    members = [{"name": f"h{i}", "address": f"10.0.{i // 250}.{i % 250 + 1}"}
               for i in range(1000)]
    op = compile_op("maps_hosts", members)
    text = op.explain([{"address": "127.0.0.1", "names": ["localhost"]}])
    assert text.startswith("h0 absent; h1 absent;")
    assert text.endswith("; (+980 more)")
    assert op.expected.endswith(", (+980 more)")
    assert len(text) < 400
