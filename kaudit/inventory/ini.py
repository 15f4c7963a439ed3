"""A subset of Ansible's INI inventory: sections, host lines with ranges
(`n[01:03]`), `[group:vars]`, `[group:children]`, into a raw inventory."""

from __future__ import annotations

import ipaddress
import string

from kaudit.core.errors import InventoryError
from kaudit.inventory.raw import (
    _GROUP_NAME,
    _HOST_NAME,
    _RANGE,
    _VAR_NAME,
    MAX_RANGE_HOSTS,
    Origin,
    _mentions_secret,
    _Raw,
    _RawHost,
)


def _tokenize(text: str, path: str, lineno: int) -> list[str]:
    """Split on whitespace; quotes group and are removed; `#`/`;` at a token's
    start begins a comment."""
    tokens: list[str] = []
    cur: list[str] = []
    in_token = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            if in_token:
                tokens.append("".join(cur))
                cur, in_token = [], False
            i += 1
        elif c in "#;" and not in_token:
            break
        elif c in "'\"":
            end = text.find(c, i + 1)
            if end < 0:
                # Never echo the text: it may be a password.
                raise InventoryError(f"unterminated {c} quote", path=path, line=lineno)
            cur.append(text[i + 1:end])
            in_token = True
            i = end + 1
        else:
            cur.append(c)
            in_token = True
            i += 1
    if in_token:
        tokens.append("".join(cur))
    return tokens


def _split_var(token: str, tokens: list[str], path: str, lineno: int) -> tuple[str, str]:
    key, eq, value = token.partition("=")
    if not eq or not key:
        shown = token
        if any(_mentions_secret(t) for t in tokens):
            shown = "<hidden: the line holds a secret>"
        raise InventoryError(f"expected key=value, got {shown!r}", path=path, line=lineno)
    if not _VAR_NAME.match(key):
        raise InventoryError(f"invalid variable name {key!r} (letters, digits and _ only)",
                             path=path, line=lineno)
    return key, value


# ------------------------------------------------------------- host patterns

def _expand(pattern: str, path: str, lineno: int) -> list[str]:
    """Expand Ansible host ranges: n[01:10], [a:c], n[1:10:2]; several may nest."""
    m = _RANGE.search(pattern)
    if m is None:
        return [pattern]
    beg, end, stride_s = m.group(1), m.group(2), m.group(3)
    stride = 1
    if stride_s is not None:
        if not stride_s.isdigit() or int(stride_s) < 1:
            raise InventoryError(f"host range {m.group(0)!r}: step must be a positive number",
                                 path=path, line=lineno)
        stride = int(stride_s)
    if beg.isdigit() and end.isdigit():
        width = len(beg) if beg.startswith("0") and len(beg) > 1 else 0
        if width and len(end) != width:
            raise InventoryError(f"host range {m.group(0)!r}: zero-padded start and end "
                                 "must have the same width", path=path, line=lineno)
        lo, hi = int(beg), int(end)
        if lo > hi:
            raise InventoryError(f"host range {m.group(0)!r}: start is after end",
                                 path=path, line=lineno)
        if (hi - lo) // stride + 1 > MAX_RANGE_HOSTS:
            raise InventoryError(f"host range {m.group(0)!r} expands to more than "
                                 f"{MAX_RANGE_HOSTS} hosts", path=path, line=lineno)
        items = [str(v).zfill(width) for v in range(lo, hi + 1, stride)]
    elif len(beg) == 1 and len(end) == 1 and beg.isalpha() and end.isalpha():
        letters = string.ascii_letters
        lo, hi = letters.index(beg), letters.index(end)
        if lo > hi:
            raise InventoryError(f"host range {m.group(0)!r}: start is after end",
                                 path=path, line=lineno)
        items = list(letters[lo:hi + 1:stride])
    else:
        raise InventoryError(f"host range {m.group(0)!r}: expected [NUM:NUM] or [a:z]",
                             path=path, line=lineno)
    head, tail = pattern[:m.start()], pattern[m.end():]
    out: list[str] = []
    for item in items:
        out.extend(_expand(head + item + tail, path, lineno))
        if len(out) > MAX_RANGE_HOSTS:
            raise InventoryError(f"host pattern {pattern!r} expands to more than "
                                 f"{MAX_RANGE_HOSTS} hosts", path=path, line=lineno)
    return out


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _parse_pattern(token: str, path: str,
                   lineno: int) -> tuple[list[str], str | None, str | None]:
    """`[user@]host[:port]` with ranges or `[v6]:port` -> (names, user, port)."""
    user: str | None = None
    port: str | None = None
    hostpart = token
    if "@" in token:
        user, _, hostpart = token.rpartition("@")
    if hostpart.startswith("[") and "]" in hostpart and _is_ip(hostpart[1:hostpart.index("]")]):
        close = hostpart.index("]")
        rest = hostpart[close + 1:]
        if rest and not rest.startswith(":"):
            raise InventoryError(f"unexpected {rest!r} after IPv6 address", path=path,
                                 line=lineno)
        port = rest[1:] if rest else None
        names = [hostpart[1:close]]
    elif _is_ip(hostpart):  # bare IPv6 (or IPv4): no port to split off
        names = [hostpart]
    else:
        outside = _RANGE.sub("", hostpart)
        if outside.count(":") == 1:
            hostpart, _, port = hostpart.rpartition(":")
        names = _expand(hostpart, path, lineno)
    if port == "":
        raise InventoryError(f"{token!r} is not a host (a YAML inventory is read as YAML when "
                             "it is a mapping of groups: all: {{hosts: ..., children: ...}}; "
                             "or give --inventory-format)", path=path, line=lineno)
    if port is not None and not port.isdigit():
        raise InventoryError(f"invalid port {port!r} in {token!r}", path=path, line=lineno)
    for name in names:
        if not (_HOST_NAME.match(name) or _is_ip(name)):
            raise InventoryError(
                f"invalid host name {name!r}: names must start with a letter or digit and "
                "hold only letters, digits, '.', '_' and '-' (they reach reports and SSH)",
                path=path, line=lineno)
    return names, user, port


# ------------------------------------------------------------------ INI parse

def _parse_ini(text: str, path: str) -> _Raw:
    raw = _Raw(path=path)
    raw.add_group("all")
    raw.add_group("ungrouped")
    group, kind = "ungrouped", "hosts"
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and not _looks_like_host(stripped):
            group, kind = _parse_section(stripped, path, lineno)
            raw.add_group(group, lineno)
            raw.group_vars.setdefault(group, {})
            continue
        if kind == "vars":
            key, value = _parse_var_line(stripped, path, lineno)
            raw.group_vars[group][key] = (value, path, lineno)  # last wins, as in Ansible
        elif kind == "children":
            _add_child(raw, group, stripped, path, lineno)
        else:
            _add_hosts(raw, group, stripped, path, lineno)
    return raw


def _looks_like_host(line: str) -> bool:
    # `[::1]:2222 role=worker` and `[a:c].example.com` are host lines, not sections.
    close = line.find("]")
    if close > 0 and _is_ip(line[1:close]):
        return True
    return close > 0 and close + 1 < len(line) and not line[close + 1:].lstrip().startswith(
        ("#", ";"))


def _parse_section(line: str, path: str, lineno: int) -> tuple[str, str]:
    body = _tokenize(line, path, lineno)
    inner = line[1:line.find("]")].strip() if "]" in line else ""
    if "]" not in line or len(body) != 1:
        raise InventoryError(f"malformed section header {line!r}", path=path, line=lineno)
    name, colon, suffix = inner.partition(":")
    kind = "hosts"
    if colon:
        if suffix not in ("vars", "children"):
            raise InventoryError(f"unknown section type ':{suffix}' in [{inner}] "
                                 "(expected :vars or :children)", path=path, line=lineno)
        kind = suffix
    if not _GROUP_NAME.match(name):
        raise InventoryError(f"invalid group name {name!r} (letters, digits, '_', '-', '.')",
                             path=path, line=lineno)
    return name, kind


def _parse_var_line(line: str, path: str, lineno: int) -> tuple[str, str]:
    key, eq, rest = line.partition("=")
    key = key.strip()
    if not eq or not key:
        tokens = _tokenize(line, path, lineno)
        return _split_var(tokens[0] if tokens else line, tokens, path, lineno)
    if not _VAR_NAME.match(key):
        raise InventoryError(f"invalid variable name {key!r} (letters, digits and _ only)",
                             path=path, line=lineno)
    # The value is the rest of the line, as in Ansible (`a = x y` is "x y",
    # `{"k": 1}` keeps its quotes); only a trailing comment and one pair of
    # surrounding quotes are removed.
    value = _strip_comment(rest, path, lineno).strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return key, value


def _strip_comment(text: str, path: str, lineno: int) -> str:
    quote = ""
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in "#;" and (i == 0 or text[i - 1].isspace()):
            return text[:i]
    if quote:
        raise InventoryError(f"unterminated {quote} quote", path=path, line=lineno)
    return text


def _add_child(raw: _Raw, parent: str, line: str, path: str, lineno: int) -> None:
    tokens = _tokenize(line, path, lineno)
    if len(tokens) != 1 or not _GROUP_NAME.match(tokens[0]):
        raise InventoryError(f"expected one group name in [{parent}:children], got {line!r}",
                             path=path, line=lineno)
    child = tokens[0]
    if child in ("all", "ungrouped") or parent == "ungrouped":
        raise InventoryError(f"group {child!r} cannot be a child of {parent!r}",
                             path=path, line=lineno)
    raw.add_group(child, lineno)
    _link(raw, parent, child, path, lineno)


def _link(raw: _Raw, parent: str, child: str, path: str, lineno: int | None) -> None:
    """`child` inside `parent` (both known groups); a cycle is an error at `lineno`."""
    if parent == "all":
        return
    if child == parent or parent in _descendants(raw, child):
        raise InventoryError(f"group cycle: {parent!r} is already inside {child!r}",
                             path=path, line=lineno)
    if child not in raw.children[parent]:
        raw.children[parent].append(child)
        raw.parents[child].append(parent)


def _descendants(raw: _Raw, group: str) -> set[str]:
    seen: set[str] = set()
    stack = [group]
    while stack:
        for c in raw.children.get(stack.pop(), []):
            if c not in seen:
                seen.add(c)
                stack.append(c)
    return seen


def _add_hosts(raw: _Raw, group: str, line: str, path: str, lineno: int) -> None:
    tokens = _tokenize(line, path, lineno)
    if not tokens:
        return
    names, user, port = _parse_pattern(tokens[0], path, lineno)
    inline: dict[str, Origin] = {}
    if user is not None:
        inline["ansible_user"] = (user, path, lineno)
    if port is not None:
        inline["ansible_port"] = (port, path, lineno)
    for token in tokens[1:]:
        key, value = _split_var(token, tokens, path, lineno)
        inline[key] = (value, path, lineno)
    for name in names:
        host = raw.hosts.get(name)
        if host is None:
            host = raw.hosts[name] = _RawHost(name=name, line=lineno)
        host.vars.update(inline)
        if group not in host.groups:
            host.groups.append(group)


