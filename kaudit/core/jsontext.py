"""Indented JSON text, byte for byte as json.dumps(value, indent=N, ensure_ascii=False)
writes it, faster.

With `indent`, json.dumps runs its pure-Python encoder over every value. Here mappings
and lists whose items are all scalars (a report's results, most fact lists) are laid
out by json's C encoder in one call, every string still goes through json's C
escaper, and only the nesting is walked in Python. The text comes as chunks, so a
fact file or report can be written without ever being one string.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from functools import cache
from typing import Any

_encode_str: Callable[[str], str] = json.encoder.encode_basestring
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


class Unusual(Exception):
    """A value left to json.dumps: a non-string key, a type JSON has not."""


@cache
def _flat_encoder(separator: str) -> json.JSONEncoder:
    """json's C encoder with an item separator that carries the newline and indent."""
    return json.JSONEncoder(ensure_ascii=False, separators=(separator, ": "))


def _same(text: str) -> str:
    return text


def pretty_chunks(value: Any, indent: int, out: list[str],
                  escape: Callable[[str], str] = _same) -> None:
    """Append the text of json.dumps(value, indent=indent, ensure_ascii=False) to `out`,
    passing every string's JSON text through `escape`; Unusual for what it cannot do
    exactly (the caller then uses json.dumps)."""
    _pretty(value, "\n", " " * indent, out, escape)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float:
        if value != value:
            return "NaN"
        if value in (math.inf, -math.inf):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    raise Unusual(value)


def _pretty(value: Any, newline: str, step: str, out: list[str],
            escape: Callable[[str], str]) -> None:
    if type(value) is str:
        out.append(escape(_encode_str(value)))
        return
    if type(value) is dict:
        if not value:
            out.append("{}")
            return
        inner = newline + step
        if all(type(k) is str and type(v) in _SCALAR_TYPES for k, v in value.items()):
            text = _flat_encoder("," + inner).encode(value)
            out.append("{" + inner)
            out.append(escape(text[1:-1]))
            out.append(newline + "}")
            return
        sep = "{" + inner
        for k, v in value.items():
            if type(k) is not str:
                raise Unusual(k)
            out.append(sep)
            out.append(escape(_encode_str(k)))
            out.append(": ")
            _pretty(v, inner, step, out, escape)
            sep = "," + inner
        out.append(newline + "}")
        return
    if type(value) is list:
        if not value:
            out.append("[]")
            return
        inner = newline + step
        if all(type(v) in _SCALAR_TYPES for v in value):
            text = _flat_encoder("," + inner).encode(value)
            out.append("[" + inner)
            out.append(escape(text[1:-1]))
            out.append(newline + "]")
            return
        sep = "[" + inner
        for v in value:
            out.append(sep)
            _pretty(v, inner, step, out, escape)
            sep = "," + inner
        out.append(newline + "]")
        return
    out.append(_scalar(value))
