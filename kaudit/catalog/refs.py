"""The `${...}` reference language of rule values and messages, parsed in one
place: the pack loader rejects what this parser rejects (with file:line), and
the evaluator walks the Ref trees it returns. Each distinct reference text is
parsed once per process.

    ${params.NAME}            a profile parameter
    ${vars.NAME}              a cluster var
    ${facts.PATH}             a fact of the host being evaluated
    ${nth_ip(REF|CIDR, N)}    the N-th address of a CIDR (REF: params./vars.)
    ${count(ROLE)}            hosts with ROLE (master, worker, etcd), or total/all
    ${min(facts.PATH)}        the least / greatest number at PATH over the scanned
    ${max(facts.PATH)}        hosts that have it (skew rules: newest apiserver minor)
    ${first(A, B, ...)}       the first of params./vars./facts./min()/max() references
                              that is set (a version from the component, else kubeadm's,
                              else the cluster var); an error naming all when none is
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass

from kaudit.core.model import ROLES

# One reference: `${` ... `}` with no braces inside (surrounding blanks ignored).
REF = re.compile(r"\$\{\s*([^{}]*?)\s*\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NTH = re.compile(r"nth_ip\(\s*([^,()]+?)\s*,\s*(-?\d+)\s*\)\Z")
_COUNT = re.compile(r"count\(\s*([^()]*?)\s*\)\Z")
_EXTREME = re.compile(r"(min|max)\(\s*([^(),]*?)\s*\)\Z")
_FIRST = re.compile(r"first\((.*)\)\Z")
COUNTABLE = (*ROLES, "total", "all")
FORMS = ("${params.NAME}, ${vars.NAME}, ${facts.PATH}, ${nth_ip(vars.NAME|CIDR, N)}, "
         "${count(ROLE)}, ${min(facts.PATH)}, ${max(facts.PATH)} or ${first(REF, REF, ...)}")


class RefError(ValueError):
    """A reference the language does not have; the message says what is expected."""


@dataclass(frozen=True)
class Ref:
    """A parsed reference. kind: params | vars | facts | nth_ip | count | min | max | first."""

    kind: str
    path: str = ""            # params/vars name, facts path (also min/max), count role
    of: Ref | None = None     # nth_ip: the reference that gives the CIDR ...
    cidr: str | None = None   # ... or a literal CIDR
    index: int = 0            # nth_ip: which address
    options: tuple[Ref, ...] = ()   # first: the references tried in order

    def leaves(self) -> tuple[Ref, ...]:
        """The plain references this one reads (params/vars/facts)."""
        if self.kind == "first":
            return tuple(leaf for o in self.options for leaf in o.leaves())
        if self.of is not None:
            return self.of.leaves()
        if self.kind in ("min", "max"):
            return (Ref("facts", self.path),)
        return (self,) if self.kind in ("params", "vars", "facts") else ()

    def __str__(self) -> str:
        if self.kind == "first":
            return f"first({', '.join(str(o) for o in self.options)})"
        if self.kind in ("min", "max"):
            return f"{self.kind}(facts.{self.path})"
        if self.kind == "nth_ip":
            return f"nth_ip({self.of if self.of else self.cidr}, {self.index})"
        if self.kind == "count":
            return f"count({self.path})"
        return f"{self.kind}.{self.path}"


@functools.lru_cache(maxsize=4096)
def parse_ref(body: str) -> Ref:
    """The Ref of one reference body (the text inside `${...}`); RefError if none."""
    text = body.strip()
    for kind in ("params", "vars"):
        if text.startswith(kind + "."):
            name = text[len(kind) + 1:]
            if not _NAME.match(name):
                raise RefError(f"bad reference '${{{body}}}': {kind}.NAME needs a plain name")
            return Ref(kind, name)
    if text.startswith("facts."):
        path = text[len("facts."):]
        if not path or any(c.isspace() for c in path):
            raise RefError(f"bad reference '${{{body}}}': facts.PATH needs a dotted path")
        return Ref("facts", path)
    m = _NTH.match(text)
    if m:
        arg, index = m.group(1), int(m.group(2))
        if "/" in arg:
            try:
                ipaddress.ip_network(arg, strict=False)
            except ValueError:
                raise RefError(f"bad reference '${{{body}}}': {arg!r} is not a CIDR") from None
            return Ref("nth_ip", cidr=arg, index=index)
        inner = parse_ref(arg)
        if inner.kind not in ("params", "vars"):
            raise RefError(f"bad reference '${{{body}}}': nth_ip takes vars.NAME, "
                           "params.NAME or a CIDR")
        return Ref("nth_ip", of=inner, index=index)
    m = _EXTREME.match(text)
    if m:
        inner = parse_ref(m.group(2)) if m.group(2) else Ref("none")
        if inner.kind != "facts":
            raise RefError(f"bad reference '${{{body}}}': {m.group(1)}() takes facts.PATH")
        return Ref(m.group(1), inner.path)
    m = _FIRST.match(text)
    if m:
        args = _split_args(m.group(1))
        if len(args) < 2:
            raise RefError(f"bad reference '${{{body}}}': first() takes two or more references")
        options = tuple(parse_ref(a) for a in args)
        for o in options:
            if o.kind not in ("params", "vars", "facts", "min", "max"):
                raise RefError(f"bad reference '${{{body}}}': first() takes params., vars., "
                               "facts., min() or max() references")
        return Ref("first", options=options)
    m = _COUNT.match(text)
    if m:
        if m.group(1) not in COUNTABLE:
            raise RefError(f"bad reference '${{{body}}}': count() takes one of "
                           f"{', '.join(COUNTABLE)}")
        return Ref("count", m.group(1))
    raise RefError(f"bad reference '${{{body}}}': expected {FORMS}")


def _split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments (commas inside parentheses stay)."""
    args, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += (c == "(") - (c == ")")
        if c == "," and depth == 0:
            args.append(text[start:i].strip())
            start = i + 1
    args.append(text[start:].strip())
    return [a for a in args if a]


def bodies(text: str) -> list[str]:
    """The reference bodies in a string, in order."""
    return REF.findall(text)


def unclosed(text: str) -> bool:
    """A `${` left over once every well-formed reference is taken out."""
    return "${" in REF.sub("", text)
