"""Sanitising: text that came from a host must never drive the operator's
terminal or break an XML document. Shared by the collector's messages and
every report writer."""

from __future__ import annotations

import json
import re
from typing import Any

# Well-formed escape sequences, 7-bit and 8-bit forms. Whatever is left of a
# malformed one loses its ESC/C1 introducer below and becomes inert text.
_ESCAPES = re.compile(
    r"""
      (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]                     # CSI ... final
    | (?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f]) .*? (?:\x07|\x1b\\|\x9c)  # OSC/DCS/SOS/PM/APC ... ST
    | \x1b [ -/]* [0-~]                                       # two-char and nF escapes
    """,
    re.VERBOSE | re.DOTALL,
)
# C0 except \t and \n, DEL, C1, bidi overrides that reorder what is shown, and
# lone surrogates (they cannot even be encoded for the terminal).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_LINE_BREAKS = re.compile("\r\n|[\u2028\u2029]")
# Characters XML 1.0 does not allow, lone surrogates included.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Every character that one of the three patterns above can start a match with (\r
# and ESC are in the C0 range, the 8-bit introducers in C1). Text without any of them
# is left as it is: one scan instead of three substitutions over a 40 KB fact value.
_SUSPECT = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean(text: str, *, keep_newlines: bool = True) -> str:
    """Remove escape sequences and control characters (keeping \\n and \\t
    unless keep_newlines is false, then every line break becomes a space)."""
    text = str(text)
    # isprintable() (in C) is false for every suspect character, and for \n and \t.
    if not text.isprintable() and _SUSPECT.search(text) is not None:
        text = _LINE_BREAKS.sub("\n", text)
        text = _CONTROLS.sub("", _ESCAPES.sub("", text))
    if not keep_newlines:
        text = text.replace("\n", " ").replace("\t", " ")
    return text


def xml_safe(text: str) -> str:
    """Remove characters that are illegal in an XML 1.0 document."""
    text = str(text)
    return text if text.isprintable() else _XML_ILLEGAL.sub("", text)


def shorten(text: str, limit: int) -> str:
    """Cut text to about `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def _cleaned(value: Any) -> Any:
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, list | tuple):
        return [_cleaned(v) for v in value]
    if isinstance(value, dict):
        return {clean(str(k)): _cleaned(v) for k, v in value.items()}
    return value


def show(value: Any) -> str:
    """A fact value as one readable, cleaned string (strings as they are,
    structures as JSON, whose own escapes then stay inert text)."""
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return clean(value)
    return json.dumps(_cleaned(value), ensure_ascii=False, default=str)


def one_line(text: object, limit: int = 300) -> str:
    """Text from a host or a library made safe for a one-line message."""
    s = clean(str(text), keep_newlines=False).strip()
    return s if len(s) <= limit else s[:limit] + "..."
