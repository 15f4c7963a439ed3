"""Host lists for humans: runs of numbered names condensed the way inventories
write them (`n[001:050]`), capped, with a count when the list is long."""

from __future__ import annotations

import re
from collections.abc import Iterable

_NUMBERED = re.compile(r"^(.*?)(\d+)$")
MIN_RUN = 3             # shorter runs stay as names: "m01, m02"


def condense(names: Iterable[str]) -> list[str]:
    """['n01', 'n02', 'n03', 'm1'] -> ['n[01:03]', 'm1']; order of first appearance,
    each run sorted by number (same prefix and digit width only)."""
    order: list[tuple[str, int] | str] = []
    runs: dict[tuple[str, int], list[int]] = {}
    for name in dict.fromkeys(names):
        m = _NUMBERED.match(name)
        if not m:
            order.append(name)
            continue
        key = (m.group(1), len(m.group(2)))
        if key not in runs:
            runs[key] = []
            order.append(key)
        runs[key].append(int(m.group(2)))
    out: list[str] = []
    for item in order:
        if isinstance(item, str):
            out.append(item)
            continue
        prefix, width = item
        numbers = sorted(set(runs[item]))
        start = prev = numbers[0]
        for n in [*numbers[1:], None]:
            if n is not None and n == prev + 1:
                prev = n
                continue
            if prev - start + 1 >= MIN_RUN:
                out.append(f"{prefix}[{start:0{width}d}:{prev:0{width}d}]")
            else:
                out += [f"{prefix}{k:0{width}d}" for k in range(start, prev + 1)]
            if n is not None:
                start = prev = n
    return out


def host_list(names: Iterable[str], limit: int = 20) -> str:
    """Condensed names joined by ', ', at most `limit` parts, then '(+N more)';
    a count in front once the list is longer than a few hosts."""
    names = list(dict.fromkeys(names))
    parts = condense(names)
    shown = ", ".join(parts[:limit])
    if len(parts) > limit:
        rest = len(names) - sum(_count(p) for p in parts[:limit])
        shown += f" (+{rest} more)"
    if len(names) > 5:
        shown = f"{len(names)} hosts {shown}"
    return shown


def _count(part: str) -> int:
    m = re.search(r"\[(\d+):(\d+)\]$", part)
    return int(m.group(2)) - int(m.group(1)) + 1 if m else 1
