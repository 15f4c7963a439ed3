"""Waivers: accepted findings with a justification and an expiry date.

A waiver turns a `fail` or `error` result of its rule (on the hosts its
`host` name or glob matches; every host and the cluster scope when it has
none) into `waived`. From the start of its `expires` day (UTC) it no longer
waives: the result keeps failing and carries the waiver marked expired, so
every report can say so. Waivers that match nothing are reported as unused.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from kaudit.catalog.validate import load_document
from kaudit.core.errors import InputError
from kaudit.core.model import Result
from kaudit.core.yamlio import locate

WAIVABLE = ("fail", "error")


class WaiverError(InputError):
    """The waivers file is invalid."""


@dataclass(frozen=True)
class Waiver:
    """One entry of a waivers file; `source` is `file:line` of the entry."""

    rule: str
    justification: str
    expires: date
    host: str | None = None
    owner: str | None = None
    source: str = ""

    def matches(self, result: Result) -> bool:
        if result.rule != self.rule:
            return False
        if self.host is None:
            return True
        return result.host is not None and fnmatch.fnmatchcase(result.host, self.host)

    def active(self, today: date) -> bool:
        """A waiver stops applying at the start (UTC) of its expiry day."""
        return today < self.expires

    def record(self, *, expired: bool = False) -> dict[str, Any]:
        """The dict stored in Result.waiver (fields read by report.text.waiver_reason)."""
        out: dict[str, Any] = {
            "rule": self.rule, "host": self.host, "justification": self.justification,
            "expires": self.expires.isoformat(), "owner": self.owner, "source": self.source,
        }
        if expired:
            out["expired"] = True
        return out

    def describe(self) -> str:
        where = f" on {self.host}" if self.host else ""
        return f"waiver for {self.rule}{where} ({self.source})"


def utc_today() -> date:
    return datetime.now(UTC).date()


def load_waivers(path: str | Path, known_rules: Collection[str]) -> list[Waiver]:
    """Read and validate a waivers file; an unknown rule id is an error with file:line."""
    name = str(path)
    tree, plain = load_document(name, "waivers", error=WaiverError)
    waivers: list[Waiver] = []
    for i, entry in enumerate(plain["waivers"]):
        line, _ = locate(tree, ["waivers", i])
        if entry["rule"] not in known_rules:
            rline, rcol = locate(tree, ["waivers", i, "rule"])
            raise WaiverError(f"waiver names unknown rule {entry['rule']!r} "
                              "(see `kaudit rules list`)", path=name, line=rline, column=rcol)
        try:
            expires = date.fromisoformat(entry["expires"])
        except ValueError:
            eline, ecol = locate(tree, ["waivers", i, "expires"])
            raise WaiverError(f"expires {entry['expires']!r} is not a valid date",
                              path=name, line=eline, column=ecol) from None
        waivers.append(Waiver(rule=entry["rule"], justification=entry["justification"].strip(),
                              expires=expires, host=entry.get("host"),
                              owner=entry.get("owner"), source=f"{name}:{line}" if line else name))
    return waivers


def apply_waivers(results: Sequence[Result], waivers: Sequence[Waiver], *,
                  today: date | None = None) -> list[str]:
    """Waive matching fail/error results in place; return notes for the report
    (expired waivers, unused waivers)."""
    today = today or utc_today()
    used: dict[int, int] = {}
    expired_hits: dict[int, int] = {}
    for result in results:
        if result.status not in WAIVABLE:
            continue
        matching = [(i, w) for i, w in enumerate(waivers) if w.matches(result)]
        active = [(i, w) for i, w in matching if w.active(today)]
        if active:
            i, w = active[0]
            result.status = "waived"
            result.waiver = w.record()
            used[i] = used.get(i, 0) + 1
        elif matching:
            i, w = matching[0]
            result.waiver = w.record(expired=True)
            expired_hits[i] = expired_hits.get(i, 0) + 1
    notes: list[str] = []
    for i, w in enumerate(waivers):
        if not w.active(today):
            hits = expired_hits.get(i, 0)
            tail = (f"{hits} result(s) no longer waived" if hits
                    else "it matches no failing result; remove it")
            notes.append(f"expired {w.describe()}: expired on {w.expires.isoformat()}; {tail}")
        elif i not in used:
            notes.append(f"unused {w.describe()}: matches no failing result")
    return notes
