"""`release_supported`: is a Kubernetes version on a release line upstream still
patches? The release lines and their end-of-life dates are data
(rules/k8s/releases.tsv, from kubernetes.io's release schedule).

    value: {as_of: YYYY-MM-DD or "" (today, UTC), margin_days: N}

passes when the version's minor reaches end of life more than N days after
`as_of`. A minor newer than the data passes (it was released after kaudit's data,
so it is current); one older than the data is long past end of life."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

from kaudit.evaluate.operators.base import OperatorError
from kaudit.evaluate.operators.registry import CompiledOp, _op
from kaudit.evaluate.operators.skew import as_minor
from kaudit.packs import shipped


@functools.cache
def releases() -> dict[int, tuple[str, dt.date]]:
    """minor -> (release date text, end-of-life date)."""
    text = shipped("rules").joinpath("k8s", "releases.tsv").read_text(encoding="utf-8")
    table: dict[int, tuple[str, dt.date]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        minor, released, eol = line.split("\t")[:3]
        table[as_minor(minor, "releases.tsv")] = (released, dt.date.fromisoformat(eol))
    return table


def _as_of(value: Any) -> dt.date:
    if value in (None, ""):
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise OperatorError(f"release_supported: as_of {value!r} is not a date "
                            "(YYYY-MM-DD)") from None


@_op("release_supported")
def _release_supported(value: Any) -> CompiledOp:
    spec = value if isinstance(value, dict) else {}
    today = _as_of(spec.get("as_of"))
    margin = dt.timedelta(days=int(spec.get("margin_days", 0) or 0))
    table = releases()
    oldest, newest = min(table), max(table)
    live = sorted(m for m, (_, eol) in table.items() if eol > today + margin)
    lines = ", ".join(f"1.{m}" for m in live) or f"newer than 1.{newest}"
    when = "" if not margin else f" for {margin.days} more days"
    expected = f"a release line supported on {today}{when} ({lines})"

    def test(fact: Any) -> bool:
        minor = as_minor(fact, "the fact")
        if minor > newest:
            return True
        return minor in table and table[minor][1] > today + margin

    def explain(fact: Any) -> str:
        minor = as_minor(fact, "the fact")
        if minor < oldest:
            return f"{fact} (1.{minor} is older than 1.{oldest}, which reached end of life " \
                   f"on {table[oldest][1]})"
        eol = table[minor][1]
        verb = "reached" if eol <= today else "reaches"
        return f"{fact} (1.{minor} {verb} end of life on {eol})"

    return CompiledOp("release_supported", test, expected, explain)
