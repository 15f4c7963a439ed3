"""The `${...}` reference language of rule values and messages, parsed in one
place: the pack loader rejects what this parser rejects (with file:line), and
the evaluator walks the Ref trees it returns. Each distinct reference text is
parsed once per process.

    ${params.NAME}            a profile parameter
    ${vars.NAME}              a cluster var
    ${facts.PATH}             a fact of the host being evaluated
    ${nth_ip(REF|CIDR, N)}    the N-th address of a CIDR (REF: params./vars.)
    ${count(ROLE)}            hosts with ROLE (master, worker, etcd), or total/all
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
COUNTABLE = (*ROLES, "total", "all")
FORMS = ("${params.NAME}, ${vars.NAME}, ${facts.PATH}, ${nth_ip(vars.NAME|CIDR, N)} or "
         "${count(ROLE)}")


class RefError(ValueError):
    """A reference the language does not have; the message says what is expected."""


@dataclass(frozen=True)
class Ref:
    """A parsed reference. kind: params | vars | facts | nth_ip | count."""

    kind: str
    path: str = ""            # params/vars name, facts path, count role
    of: Ref | None = None     # nth_ip: the reference that gives the CIDR ...
    cidr: str | None = None   # ... or a literal CIDR
    index: int = 0            # nth_ip: which address

    def __str__(self) -> str:
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
    m = _COUNT.match(text)
    if m:
        if m.group(1) not in COUNTABLE:
            raise RefError(f"bad reference '${{{body}}}': count() takes one of "
                           f"{', '.join(COUNTABLE)}")
        return Ref("count", m.group(1))
    raise RefError(f"bad reference '${{{body}}}': expected {FORMS}")


def bodies(text: str) -> list[str]:
    """The reference bodies in a string, in order."""
    return REF.findall(text)


def unclosed(text: str) -> bool:
    """A `${` left over once every well-formed reference is taken out."""
    return "${" in REF.sub("", text)
