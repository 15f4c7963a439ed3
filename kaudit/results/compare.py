"""The one comparison of a result with its earlier self, used by drift
(`--baseline`) and by `kaudit diff`. Results are keyed by (rule, host).

- `new`: failing now, and not failing before (or not there before);
- `resolved`: failing before, passing now;
- `unverified`: failing before, and now neither failing nor passing (not
  evaluated, not applicable, waived, or gone): nobody knows it is fixed;
- `unchanged`: everything else.
"""

from __future__ import annotations

from typing import Literal

from kaudit.core.model import Result

Key = tuple[str, str | None]
Change = Literal["new", "resolved", "unverified", "unchanged"]


def key(result: Result) -> Key:
    return (result.rule, result.host)


def change(before: str | None, now: str | None) -> Change:
    """How a result moved from status `before` to `now` (None: no such result)."""
    if now == "fail":
        return "unchanged" if before == "fail" else "new"
    if before == "fail":
        return "resolved" if now == "pass" else "unverified"
    return "unchanged"
