"""Framing of probe output: the header, sections and their file/command
blocks. Tolerant by construction: anything unexpected is kept as plain
lines or reported through notes, never raised."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kaudit.collect.probe import END, HEADER, MARK

SECTION = MARK + "section "

MAX_LIST = 10000          # items kept in any fact list
MAX_STR = 65536           # characters kept in any fact string
_ESCAPED = re.compile(r"^\\+" + re.escape(MARK))
_BLOCK = re.compile("^" + re.escape(MARK) + r"(file|nofile|unreadable|cmd|nocmd|skipped) (.*)$")
_CMD = re.compile(r"^(.*) rc=(-?\d+)$")


@dataclass
class Block:
    """One framed file or command output inside a section."""

    kind: str                 # file | nofile | unreadable | cmd | nocmd | skipped
    name: str                 # the path or command name
    rc: int | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return self.kind in ("file", "cmd")

    @property
    def text(self) -> str:
        """Content as printed by the probe (which adds one final newline)."""
        lines = self.lines
        if lines and lines[-1] == "":
            lines = lines[:-1]
        return "\n".join(lines)


@dataclass
class Section:
    """A `@@kaudit:section NAME` block: loose key=value lines, then blocks."""

    name: str
    lines: list[str] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)

    def kv(self) -> dict[str, str]:
        """The loose `key=value` lines (first occurrence wins)."""
        out: dict[str, str] = {}
        for line in self.lines:
            key, sep, value = line.partition("=")
            if sep and key and key not in out:
                out[key] = value
        return out

    def file(self, path: str) -> str | None:
        """Content of the framed file `path`, None when absent or unreadable."""
        for b in self.blocks:
            if b.kind == "file" and b.name == path:
                return b.text
        return None

    def files(self) -> list[Block]:
        return [b for b in self.blocks if b.kind == "file"]

    def cmd(self, name: str) -> Block | None:
        """The block for command `name` in any state (ran, missing, skipped)."""
        for b in self.blocks:
            if b.kind in ("cmd", "nocmd", "skipped") and b.name == name:
                return b
        return None


@dataclass
class Frame:
    """The whole output split up; `complete` is False when `@@kaudit:end` is missing."""

    version: str | None = None
    epoch: str | None = None
    sections: dict[str, Section] = field(default_factory=dict)
    complete: bool = False
    end_rc: int | None = None


def _marker_lines(text: str) -> list[int]:
    """Indexes of the lines starting with MARK, found with str.find (no loop per line)."""
    out = [0] if text.startswith(MARK) else []
    needle = "\n" + MARK
    line = last = 0
    p = text.find(needle)
    while p >= 0:
        line += text.count("\n", last, p + 1)
        last = p + 1
        out.append(line)
        p = text.find(needle, last)
    return out


def split_output(text: str, notes: list[str]) -> Frame:
    """Split decoded probe output into sections and blocks."""
    frame = Frame()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    start = 0
    if lines:
        head = lines[0].rstrip("\r").split(" ")
        if len(head) == 3 and head[0] == HEADER:
            frame.version, frame.epoch = head[1], head[2]
            start = 1
        else:
            notes.append("output does not start with a KAUDIT-PROBE header line")
    body = lines[start:] if start else lines
    if "\r" in text:
        body = [ln[:-1] if ln.endswith("\r") else ln for ln in body]
    # Only the ~60 marker lines are looked at one by one; the ~1,000 content lines
    # between them are sliced into their section or block in one go.
    marks = [i - start for i in _marker_lines(text) if i >= start]
    if "\\" + MARK in text:
        body = [ln[1:] if ln[:1] == "\\" and _ESCAPED.match(ln) else ln for ln in body]
    marks.append(len(body))
    current: Section | None = None
    block: Block | None = None
    stray = 0
    prev = 0
    for i in marks:
        if i > prev:
            if current is None:
                stray += i - prev
            else:
                target = block.lines if block is not None else current.lines
                room = 4 * MAX_LIST - len(target)
                if room > 0:
                    target.extend(body[prev:min(i, prev + room)])
        if i == len(body):
            break
        prev = i + 1
        line = body[i]
        if line.startswith(SECTION):
            name = line[len(SECTION):].strip()
            if name in frame.sections:
                notes.append(f"section {name!r} repeated; later copy ignored")
                current, block = Section(name), None   # collected, then dropped
                continue
            current, block = Section(name), None
            frame.sections[name] = current
            continue
        if line.startswith(END):
            frame.complete = True
            frame.end_rc = to_int(line[len(END):])
            break
        m = _BLOCK.match(line)
        if m and current is not None:
            kind, rest = m.group(1), m.group(2)
            status: int | None = None
            if kind == "cmd":
                cm = _CMD.match(rest)
                if cm:
                    rest, status = cm.group(1), to_int(cm.group(2))
            block = Block(kind, rest, status)
            current.blocks.append(block)
            continue
        stray += 1
    if stray:
        notes.append(f"{stray} line(s) outside any section or with an unknown marker ignored")
    if not frame.complete:
        notes.append("probe output is truncated (no @@kaudit:end line)")
    return frame


def cap(value: Any, notes: list[str], path: str = "") -> Any:
    """Bound every list and string in a fact tree (a hostile host cannot bloat reports)."""
    if isinstance(value, str):
        if len(value) > MAX_STR:
            notes.append(f"{path or 'value'}: string cut to {MAX_STR} characters")
            return value[:MAX_STR]
        return value
    if isinstance(value, list):
        if len(value) > MAX_LIST:
            notes.append(f"{path or 'value'}: list cut to {MAX_LIST} items")
            value = value[:MAX_LIST]
        # Short plain strings (nearly every item) are kept without a call.
        return [v if type(v) is str and len(v) <= MAX_STR else cap(v, notes, path)
                for v in value]
    if isinstance(value, dict):
        if len(value) > MAX_LIST:
            notes.append(f"{path or 'value'}: object cut to {MAX_LIST} keys")
            value = dict(list(value.items())[:MAX_LIST])
        out: dict[str, Any] = {}
        for k, v in value.items():
            key = k if type(k) is str and len(k) <= MAX_STR else str(k)[:MAX_STR]
            if isinstance(v, str | list | dict) and not (type(v) is str and len(v) <= MAX_STR):
                v = cap(v, notes, f"{path}.{k}" if path else str(k))
            out[key] = v
        return out
    return value


@dataclass
class Ctx:
    """What a section parser sees: the frame, the facts parsed before it
    (read only) and a notes list it reports problems to."""

    frame: Frame
    facts: dict[str, Any]
    notes: list[str]
    label: str = ""

    def sec(self, name: str) -> Section | None:
        return self.frame.sections.get(name)

    def need(self, name: str) -> Section:
        """The section, or MissingSection (noted once by the runner)."""
        s = self.frame.sections.get(name)
        if s is None:
            raise MissingSection(name)
        return s

    def note(self, msg: str) -> None:
        self.notes.append(f"{self.label}: {msg}" if self.label else msg)


class MissingSection(Exception):
    """A parser's section is not in the output (older probe, truncation)."""


def to_int(text: str | None) -> int | None:
    """An int from plain decimal text, else None."""
    if text is None:
        return None
    t = text.strip()
    if t.startswith("-"):
        return -int(t[1:]) if t[1:].isascii() and t[1:].isdigit() else None
    return int(t) if t.isascii() and t.isdigit() and len(t) < 40 else None


def to_float(text: str | None) -> float | None:
    """A finite float from text, else None."""
    if text is None or len(text) > 64:
        return None
    try:
        v = float(text.strip())
    except ValueError:
        return None
    return v if v == v and v not in (float("inf"), float("-inf")) else None


def strip_comment(line: str, chars: str = "#") -> str:
    """The line without a trailing comment starting at any of `chars`."""
    cut = len(line)
    for ch in chars:
        i = line.find(ch, 0, cut)
        if i >= 0:
            cut = i
    return line[:cut]
