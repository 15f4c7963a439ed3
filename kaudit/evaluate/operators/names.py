"""`known_name`: is a flag or feature-gate name known to the component at its own
version? The lists are data (rules/k8s/<minor>/, rules/k8s/etcd/<minor>/, from
the Kubernetes and etcd sources; tools/k8s_versions.py). A component newer than
the newest list is judged by the newest and the finding says so; a name known
to another minor says when it was removed or added."""

from __future__ import annotations

import functools
import re
from typing import Any

from kaudit.evaluate.operators.base import OperatorError
from kaudit.evaluate.operators.registry import CompiledOp, _op
from kaudit.packs import shipped

_MINOR = re.compile(r"v?(\d+)\.(\d+)")


def _family(listname: str) -> tuple[str, str]:
    """('k8s', 'kube-apiserver.flags') or ('etcd', 'flags.txt')."""
    if listname.startswith("etcd/"):
        return "etcd", listname[len("etcd/"):]
    return "k8s", listname


@functools.cache
def minors(family: str) -> tuple[tuple[int, int], ...]:
    root = shipped("rules").joinpath("k8s")
    if family == "etcd":
        root = root.joinpath("etcd")
    found = []
    for entry in root.iterdir():
        m = _MINOR.fullmatch(entry.name)
        if m and entry.is_dir():
            found.append((int(m.group(1)), int(m.group(2))))
    return tuple(sorted(found))


@functools.cache
def names(family: str, minor: tuple[int, int], listname: str) -> frozenset[str]:
    root = shipped("rules").joinpath("k8s")
    if family == "etcd":
        root = root.joinpath("etcd")
    path = root.joinpath(f"{minor[0]}.{minor[1]}", listname)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return frozenset()      # e.g. etcd 3.5 has no feature gates at all
    return frozenset(ln for ln in text.splitlines() if ln and not ln.startswith("#"))


@functools.cache
def replacements(family: str) -> dict[tuple[str, str], str]:
    """(list file, removed name) -> what to use instead: rules/k8s/replacements.tsv,
    and for etcd the experimental-flag migrations (etcd-experimental-flags.tsv)."""
    root = shipped("rules").joinpath("k8s")
    table: dict[tuple[str, str], str] = {}
    if family == "etcd":
        for line in root.joinpath("etcd-experimental-flags.tsv").read_text("utf-8").splitlines():
            fields = line.split("\t")
            if line and not line.startswith("#") and len(fields) > 4 and fields[4]:
                table[("flags.txt", fields[0])] = fields[4]
        return table
    for line in root.joinpath("replacements.tsv").read_text("utf-8").splitlines():
        fields = line.split("\t")
        if line and not line.startswith("#") and len(fields) == 3:
            table[(fields[0], fields[1])] = fields[2]
    return table


def _judged_by(op: str, family: str, version: str
               ) -> tuple[tuple[int, int], tuple[tuple[int, int], ...], tuple[int, int]]:
    """(the version's minor, the minors with data, the one judged by): its own, else
    the newest for a newer version, the oldest for an older one."""
    m = _MINOR.match(version.strip())
    if not m:
        raise OperatorError(f"{op}: {version!r} is not a version")
    want = (int(m.group(1)), int(m.group(2)))
    have = minors(family)
    if not have:
        raise OperatorError(f"{op}: no version data for {family}")
    chosen = want if want in have else (have[-1] if want > have[-1] else have[0])
    return want, have, chosen


def _text(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


def _spec(value: Any) -> tuple[str, str, bool, str]:
    if not isinstance(value, dict) or "list" not in value or "version" not in value:
        raise OperatorError("known_name needs a value {list: NAME, version: VERSION}")
    # A version a `${first(...)}` fallback supplied says where it came from.
    source = getattr(value["version"], "source", "")
    return (str(value["list"]), str(value["version"]), bool(value.get("normalise", True)),
            str(source))


@_op("known_name")
def _known_name(value: Any) -> CompiledOp:
    listname, version, normalise, source = _spec(value)
    family, filename = _family(listname)
    want, have, chosen = _judged_by("known_name", family, version)
    component = filename.rsplit(".", 1)[0]
    if family == "etcd":
        component = "etcd " + ("feature gates" if component == "gates" else component)
    elif component == "gates":
        component = "feature gates of Kubernetes"
    elif component == "kubelet-config":
        component = "KubeletConfiguration fields of Kubernetes"
    note = ""
    if want > have[-1]:
        note = (f" (it is {_text(want)}, newer than kaudit's data: judged by {_text(chosen)}, "
                "so a name newer than that may be real)")
    elif want < have[0]:
        note = f" (it is {_text(want)}, older than kaudit's data: judged by {_text(chosen)})"
    if source:
        note += f" (version from {source})"
    known = names(family, chosen, filename)

    def norm(fact: Any) -> str:
        text = str(fact)
        # pflag normalises underscores in flag names to dashes; gate names are exact.
        return text.replace("_", "-") if normalise else text

    def test(fact: Any) -> bool:
        return norm(fact) in known

    def explain(fact: Any) -> str:
        name = norm(fact)
        seen = [mm for mm in have if name in names(family, mm, filename)]
        if not seen:
            where = f"never in {_text(have[0])}-{_text(have[-1])}"
        elif seen[-1] < chosen:
            where = f"removed: last in {_text(seen[-1])}"
            instead = replacements(family).get((filename, name))
            if instead:
                where += f"; use {instead}"
        else:
            where = f"added in {_text(seen[0])}"
        return where         # `each` puts the name in front

    return CompiledOp("known_name", test, f"known to {component} {_text(chosen)}{note}", explain)


@functools.cache
def statuses(family: str, minor: tuple[int, int], listname: str) -> dict[str, str]:
    """name -> status ('active', 'ignored', 'deprecated: <message>') of a status table."""
    table: dict[str, str] = {}
    for line in names(family, minor, listname):
        name, _, status = line.partition("\t")
        table[name] = status.strip()
    return table


@_op("name_status")
def _name_status(value: Any) -> CompiledOp:
    """A name the component accepts but deprecates, or accepts and ignores: fails
    with upstream's own message (it names the replacement where there is one)."""
    listname, version, normalise, source = _spec(value)
    family, filename = _family(listname)
    _, _, chosen = _judged_by("name_status", family, version)
    table = statuses(family, chosen, filename)
    note = f" (version from {source})" if source else ""

    def norm(fact: Any) -> str:
        text = str(fact)
        return text.replace("_", "-") if normalise else text

    def test(fact: Any) -> bool:
        return table.get(norm(fact), "active") == "active"

    def explain(fact: Any) -> str:
        status = table.get(norm(fact), "active")
        if status == "ignored":
            return "accepted and ignored: its value has no effect"
        return status.removeprefix("deprecated: ").strip() or "deprecated"

    what = "etcd" if family == "etcd" else "Kubernetes"
    return CompiledOp("name_status", test,
                      f"not deprecated or ignored in {what} {_text(chosen)}{note}", explain)
