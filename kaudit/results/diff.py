"""`kaudit diff OLD NEW`: what changed between two JSON reports or two fact files.

Reports are compared finding by finding ((rule, host) newly failing or
resolved); fact files fact by fact, as flattened dotted paths per host, with
volatile facts (clocks, timings, free-memory counters) ignored. Both kinds
compare host lists and host statuses; with `--profile`, two fact files are
evaluated and compared finding by finding too. Something got worse when a
finding newly fails or a host that was scanned can no longer be.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabulate import tabulate

from kaudit.core.errors import FactFileError, KauditError
from kaudit.core.model import HostFacts, Report, Result
from kaudit.core.sanitize import clean, shorten, show
from kaudit.facts.factfile import is_fact_file, parse_fact_doc, read_json
from kaudit.results.compare import change
from kaudit.results.compare import key as result_key
from kaudit.results.reportfile import jsonable, report_from_dict, validate_report

# Facts that change on every collection without anything having changed on
# the host. Patterns are fnmatch globs on the dotted path.
IGNORED_FACTS: tuple[str, ...] = (
    "time.epoch",
    "time.chrony_offset_s",
    "clock.*",
    "probe.duration_s",
    "memory.available_bytes",
    "memory.free_bytes",
    "uptime*",
)
VALUE_LIMIT = 120


@dataclass
class Side:
    """One input of a diff: a report or a fact file, with its hosts."""

    path: str
    kind: str                               # "report" | "facts"
    hosts: list[HostFacts]
    report: Report | None = None


@dataclass
class FactChange:
    host: str
    path: str
    old: Any                                # None with `added`
    new: Any                                # None with `removed`
    change: str                             # "changed" | "added" | "removed"


@dataclass
class Diff:
    old: str
    new: str
    kind: str
    hosts_added: list[str] = field(default_factory=list)
    hosts_removed: list[str] = field(default_factory=list)
    host_status: list[tuple[str, str, str]] = field(default_factory=list)  # name, old, new
    new_failures: list[Result] = field(default_factory=list)
    resolved: list[tuple[Result, str]] = field(default_factory=list)   # old result, now status
    # failing before, not evaluated (or gone) now: not known to be fixed
    unverified: list[tuple[Result, str]] = field(default_factory=list)
    facts: list[FactChange] = field(default_factory=list)

    @property
    def worse(self) -> bool:
        """A new failure, or a host that was scanned and now is not."""
        return bool(self.new_failures) or any(
            old == "ok" and new != "ok" for _, old, new in self.host_status)

    @property
    def empty(self) -> bool:
        return not (self.hosts_added or self.hosts_removed or self.host_status
                    or self.new_failures or self.resolved or self.unverified or self.facts)


def load_side(path: str | Path) -> Side:
    """Read a JSON report or a fact file, telling them apart by their keys."""
    name = str(path)
    doc = read_json(path, "file")
    if is_fact_file(doc):
        hosts, _, _ = parse_fact_doc(doc, name)
        return Side(name, "facts", hosts)
    if isinstance(doc, dict) and "format_version" in doc:
        report = report_from_dict(validate_report(doc, name))
        return Side(name, "report", report.hosts, report)
    raise FactFileError("neither a kaudit JSON report nor a fact file", path=name)


def flatten(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, leaf) pairs; lists and scalars are leaves, empty dicts too."""
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, tree


def ignored(path: str, patterns: tuple[str, ...] = IGNORED_FACTS) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def _fact_changes(host: str, old: dict[str, Any], new: dict[str, Any]) -> list[FactChange]:
    a = {k: v for k, v in flatten(old) if not ignored(k)}
    b = {k: v for k, v in flatten(new) if not ignored(k)}
    out = []
    for key in sorted(a.keys() | b.keys()):
        if key not in b:
            out.append(FactChange(host, key, a[key], None, "removed"))
        elif key not in a:
            out.append(FactChange(host, key, None, b[key], "added"))
        elif a[key] != b[key]:
            out.append(FactChange(host, key, a[key], b[key], "changed"))
    return out


def diff_sides(old: Side, new: Side) -> Diff:
    """Compare two loaded inputs of the same kind."""
    if old.kind != new.kind:
        raise KauditError(f"cannot compare a {old.kind.replace('facts', 'fact file')} "
                          f"({old.path}) with a {new.kind.replace('facts', 'fact file')} "
                          f"({new.path}); give two reports or two fact files")
    d = Diff(old=old.path, new=new.path, kind=old.kind)
    before = {hf.host.name: hf for hf in old.hosts}
    after = {hf.host.name: hf for hf in new.hosts}
    d.hosts_added = [n for n in after if n not in before]
    d.hosts_removed = [n for n in before if n not in after]
    for name, hf in after.items():
        if name in before and before[name].status != hf.status:
            d.host_status.append((name, before[name].status, hf.status))
    if old.report is not None and new.report is not None:
        was = {result_key(r): r for r in old.report.results}
        now = {result_key(r): r for r in new.report.results}
        d.new_failures = [r for k, r in now.items()
                          if change(was[k].status if k in was else None, r.status) == "new"]
        for k, r in was.items():
            status = now[k].status if k in now else None
            moved = change(r.status, status)
            if moved == "resolved":
                d.resolved.append((r, "pass"))
            elif moved == "unverified":
                d.unverified.append((r, status or "absent"))
    if old.kind == "facts":
        for name, hf in after.items():
            if name in before and before[name].status == "ok" and hf.status == "ok":
                d.facts += _fact_changes(name, before[name].facts, hf.facts)
    return d


def diff_files(old: str | Path, new: str | Path) -> Diff:
    """Load both inputs and compare them (bad input raises KauditError, exit 2);
    `kaudit.scan.diff_files` also evaluates fact files against a profile."""
    return diff_sides(load_side(old), load_side(new))


def _cell(value: Any) -> str:
    return shorten(clean(show(value), keep_newlines=False), VALUE_LIMIT)


def _list_change(old: Any, new: Any) -> str | None:
    """'+a -b' for two lists of scalars, None otherwise."""
    if not (isinstance(old, list) and isinstance(new, list)):
        return None
    if not all(isinstance(v, str | int | float | bool) for v in (*old, *new)):
        return None
    added = [v for v in new if v not in old]
    removed = [v for v in old if v not in new]
    parts = [f"+{v}" for v in added] + [f"-{v}" for v in removed]
    return _cell(" ".join(map(str, parts)) or "(order changed)")


def _host(name: str | None) -> str:
    return _cell(name) if name is not None else "cluster"


def render_table(d: Diff) -> str:
    """The diff as readable tables; `no changes` when there are none."""
    kind = "reports" if d.kind == "report" else "fact files"
    out = [f"kaudit diff: {_cell(d.old)} -> {_cell(d.new)} ({kind})"]
    if d.empty:
        return "\n".join([*out, "", "no changes"]) + "\n"
    hosts = ([(_cell(n), "added", "") for n in d.hosts_added]
             + [(_cell(n), "removed", "") for n in d.hosts_removed]
             + [(_cell(n), "status", f"{a} -> {b}") for n, a, b in d.host_status])
    if hosts:
        out += ["", "Hosts", tabulate(hosts, headers=["host", "change", "detail"])]
    if d.new_failures:
        rows: list[tuple[str, ...]] = [
            (_host(r.host), _cell(r.rule), r.severity, _cell(r.observed), _cell(r.expected))
            for r in d.new_failures]
        out += ["", f"New failures ({len(rows)})",
                tabulate(rows, headers=["host", "rule", "severity", "observed", "expected"])]
    if d.resolved:
        rows = [(_host(r.host), _cell(r.rule), r.severity, now) for r, now in d.resolved]
        out += ["", f"Resolved ({len(rows)})",
                tabulate(rows, headers=["host", "rule", "severity", "now"])]
    if d.unverified:
        rows = [(_host(r.host), _cell(r.rule), r.severity, now) for r, now in d.unverified]
        out += ["", f"Failing before, not evaluated now ({len(rows)})",
                tabulate(rows, headers=["host", "rule", "severity", "now"])]
    if d.facts:
        rows = []
        for c in d.facts:
            listed = _list_change(c.old, c.new) if c.change == "changed" else None
            old = "" if c.change == "added" else _cell(c.old)
            if listed is not None:
                old = f"{len(c.old)} items"
            new = "" if c.change == "removed" else (listed or _cell(c.new))
            rows.append((_cell(c.host), _cell(c.path), c.change, old, new))
        out += ["", f"Changed facts ({len(rows)})",
                tabulate(rows, headers=["host", "fact", "change", "old", "new"])]
    out += ["", "worse: yes" if d.worse else "worse: no"]
    return "\n".join(out) + "\n"


def _result(r: Result) -> dict[str, Any]:
    return {"rule": r.rule, "host": r.host, "severity": r.severity, "title": r.title,
            "observed": jsonable(r.observed), "expected": jsonable(r.expected)}


def to_dict(d: Diff) -> dict[str, Any]:
    """The diff as a plain dict (for `--format json`)."""
    return {
        "old": d.old, "new": d.new, "kind": d.kind, "worse": d.worse,
        "hosts": {
            "added": d.hosts_added, "removed": d.hosts_removed,
            "status_changed": [{"host": n, "old": a, "new": b} for n, a, b in d.host_status],
        },
        "findings": {
            "new": [_result(r) for r in d.new_failures],
            "resolved": [{**_result(r), "now": now} for r, now in d.resolved],
            "unverified": [{**_result(r), "now": now} for r, now in d.unverified],
        },
        "facts": [{"host": c.host, "path": c.path, "change": c.change,
                   "old": jsonable(c.old), "new": jsonable(c.new)} for c in d.facts],
    }


def to_json(d: Diff) -> str:
    return json.dumps(to_dict(d), indent=2) + "\n"
