"""The programs the suite needs, read from tests/system-packages.txt (the one
list, which .ci/run installs from). A missing program is a failure naming its
Debian package, never a skip: a suite that skips what it cannot run would pass
CI on a machine where half of it never ran."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

LIST = Path(__file__).resolve().parent / "system-packages.txt"


@dataclass(frozen=True)
class Program:
    name: str
    package: str | None     # None: listed with "-", not installed by CI
    why: str
    line: int


def programs() -> dict[str, Program]:
    """Every program in the list by name; a malformed line is an error naming it."""
    out: dict[str, Program] = {}
    for n, raw in enumerate(LIST.read_text(encoding="utf-8").splitlines(), 1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split(None, 2)
        if len(parts) < 3:
            raise ValueError(f"{LIST.name}:{n}: want 'program package why', got {raw!r}")
        name, pkg, why = parts
        if name in out:
            raise ValueError(f"{LIST.name}:{n}: {name} is listed twice")
        out[name] = Program(name, None if pkg == "-" else pkg, why, n)
    return out


def packages() -> list[str]:
    """The Debian packages .ci/run installs, sorted and unique."""
    return sorted({p.package for p in programs().values() if p.package})


def find(name: str) -> str | None:
    """Where the program is, looking in the sbin directories too (sshd)."""
    path = os.environ.get("PATH", os.defpath) + ":/usr/local/sbin:/usr/sbin:/sbin"
    return shutil.which(name, path=path)


def missing(names: list[str] | None = None) -> list[Program]:
    """The listed programs with a package that this machine lacks."""
    listed = programs()
    wanted = [listed[n] for n in names] if names is not None else list(listed.values())
    return [p for p in wanted if p.package and find(p.name) is None]


def message(gone: list[Program]) -> str:
    pkgs = " ".join(sorted({p.package for p in gone if p.package}))
    names = ", ".join(f"{p.name} ({p.package})" for p in gone)
    return (f"this machine lacks programs the suite needs: {names}. "
            f"Install them with `apt-get install {pkgs}`, or run `bash .ci/run`, "
            f"which installs everything in tests/{LIST.name}.")


def need(*names: str, root: bool = False) -> None:
    """Fail the calling test (never skip) unless every named program is here.

    A name that is not in the list is a bug in the test: declare it there first.
    """
    import pytest

    listed = programs()
    undeclared = [n for n in names if n not in listed]
    if undeclared:
        pytest.fail(f"{', '.join(undeclared)} not declared in tests/{LIST.name}", pytrace=False)
    if root and os.geteuid() != 0:
        pytest.fail("this test needs root, as CI has (namespaces, mounts, real sshd)",
                    pytrace=False)
    gone = missing(list(names))
    if gone:
        pytest.fail(message(gone), pytrace=False)


if __name__ == "__main__":
    # `python3 tests/requires.py --packages`: what .ci/run installs, one a line.
    import sys

    if sys.argv[1:] != ["--packages"]:
        sys.exit("usage: python3 tests/requires.py --packages")
    print("\n".join(packages()))
