"""Fact files: what a collection produced, saved for later re-evaluation.

A fact file holds, per host, the inventory entry, the collection status, the
raw probe output and the parsed facts, plus the cluster vars the scan used,
under a format version. `kaudit scan --facts FILE` re-evaluates it without
SSH; `kaudit diff` compares two of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kaudit import __version__
from kaudit.core.atomic import atomic_write_chunks
from kaudit.core.errors import FactFileError
from kaudit.core.model import HOST_STATUSES, Host, HostFacts

FACT_FILE_VERSION = 1
FORMAT_KEY = "kaudit_fact_file"
MAX_FACT_FILE_BYTES = 1024 * 1024 * 1024


def dump_facts(hosts: list[HostFacts], cluster_vars: dict[str, Any], *,
               inventory_path: str | None, collected_at: str) -> dict[str, Any]:
    """The JSON document of a fact file."""
    return {
        FORMAT_KEY: FACT_FILE_VERSION,
        "kaudit_version": __version__,
        "collected_at": collected_at,
        "inventory": {"path": inventory_path, "vars": cluster_vars},
        "hosts": [
            {
                "inventory": hf.host.to_dict(),
                "status": hf.status,
                "error": hf.error,
                "duration_s": hf.duration_s,
                "notes": hf.notes,
                "facts": hf.facts,
                "raw": hf.raw,
            }
            for hf in hosts
        ],
    }


def save_facts(path: str | Path, hosts: list[HostFacts], cluster_vars: dict[str, Any], *,
               inventory_path: str | None, collected_at: str) -> None:
    """Write a fact file atomically, host by host.

    The text is json.dumps(dump_facts(...), indent=1) + newline, but the document of a
    big fleet never exists in memory as one string (peak RSS: bench/RESULTS.md)."""
    atomic_write_chunks(path, _fact_file_chunks(hosts, cluster_vars, inventory_path=inventory_path,
                                           collected_at=collected_at))


def _fact_file_chunks(hosts: list[HostFacts], cluster_vars: dict[str, Any], *,
                      inventory_path: str | None, collected_at: str) -> Iterator[str]:
    head = json.dumps(dump_facts([], cluster_vars, inventory_path=inventory_path,
                                 collected_at=collected_at), indent=1, ensure_ascii=False)
    if not hosts:
        yield head + "\n"
        return
    # "hosts" is the last key: its empty list closes the document.
    yield head.removesuffix("[]\n}") + "["
    for i, hf in enumerate(hosts):
        entry = dump_facts([hf], {}, inventory_path=None, collected_at="")["hosts"][0]
        # A list item at depth 2: JSON strings hold no raw newline, so every line of
        # the host's own text moves right by two spaces.
        text = json.dumps(entry, indent=1, ensure_ascii=False)
        yield ("," if i else "") + "\n  " + text.replace("\n", "\n  ")
    yield "\n ]\n}\n"


def read_json(path: str | Path, what: str) -> Any:
    """Load a JSON file or raise FactFileError naming file and line."""
    name = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FACT_FILE_BYTES:
            raise FactFileError(f"{what} is larger than 1 GiB", path=name)
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FactFileError(f"cannot read {what}: {exc.strerror or exc}", path=name) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise FactFileError(f"{what} is not UTF-8 text", path=name) from None
    del data  # not kept beside its text while the tree is built
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FactFileError(f"not valid JSON: {exc.msg}", path=name, line=exc.lineno,
                            column=exc.colno) from None
    except RecursionError:
        raise FactFileError("JSON nesting too deep", path=name) from None


def is_fact_file(doc: Any) -> bool:
    return isinstance(doc, dict) and FORMAT_KEY in doc


def load_facts(path: str | Path) -> tuple[list[HostFacts], dict[str, Any], dict[str, Any]]:
    """Read a fact file: (hosts, cluster vars, header)."""
    doc = read_json(path, "fact file")
    return parse_fact_doc(doc, str(path))


def parse_fact_doc(doc: Any, name: str) -> tuple[list[HostFacts], dict[str, Any],
                                                 dict[str, Any]]:
    """Check a fact document's shape and turn it into HostFacts."""
    def bad(msg: str) -> FactFileError:
        return FactFileError(msg, path=name)

    if not isinstance(doc, dict):
        raise bad("not a kaudit fact file (expected a JSON object)")
    if FORMAT_KEY not in doc:
        if "results" in doc and "summary" in doc:
            raise bad("this is a kaudit JSON report, not a fact file "
                      "(write one with --save-facts or `kaudit collect`)")
        raise bad(f"not a kaudit fact file (no '{FORMAT_KEY}' key)")
    version = doc[FORMAT_KEY]
    if version != FACT_FILE_VERSION:
        raise bad(f"fact file format {version!r} is not supported by kaudit {__version__} "
                  f"(expected {FACT_FILE_VERSION}); collect again")
    inv = doc.get("inventory")
    if not isinstance(inv, dict) or not isinstance(inv.get("vars", {}), dict):
        raise bad("'inventory' must be an object with 'vars'")
    entries = doc.get("hosts")
    if not isinstance(entries, list):
        raise bad("'hosts' must be a list")
    hosts: list[HostFacts] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"hosts[{i}]"
        if not isinstance(entry, dict):
            raise bad(f"{where}: expected an object")
        hinv = entry.get("inventory")
        if (not isinstance(hinv, dict) or not isinstance(hinv.get("name"), str)
                or not isinstance(hinv.get("address"), str)):
            raise bad(f"{where}.inventory: expected an object with 'name' and 'address'")
        status = entry.get("status")
        if status not in HOST_STATUSES:
            raise bad(f"{where}.status: {status!r} is not one of {', '.join(HOST_STATUSES)}")
        facts = entry.get("facts", {})
        if not isinstance(facts, dict):
            raise bad(f"{where}.facts: expected an object")
        notes = entry.get("notes", [])
        if not isinstance(notes, list):
            raise bad(f"{where}.notes: expected a list")
        roles = hinv.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise bad(f"{where}.inventory.roles: expected a list of strings")
        if hinv["name"] in seen:
            raise bad(f"{where}: duplicate host name {hinv['name']!r}")
        seen.add(hinv["name"])
        try:
            host = Host.from_dict(hinv)
        except (TypeError, ValueError) as exc:
            raise bad(f"{where}.inventory: {exc}") from None
        raw = entry.get("raw")
        hosts.append(HostFacts(
            host=host, status=status, error=entry.get("error"), facts=facts,
            raw=raw if isinstance(raw, str) else None,
            notes=[str(n) for n in notes], duration_s=entry.get("duration_s"),
        ))
    header = {k: v for k, v in doc.items() if k not in ("hosts", "inventory")}
    header["inventory_path"] = inv.get("path")
    return hosts, dict(inv.get("vars", {})), header
