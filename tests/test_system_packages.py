"""The guard on tests/system-packages.txt: every program that the suite, the
lab or the probe calls is listed there, so .ci/run installs it on a fresh
machine; and no test skips for a missing program instead of failing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import requires
from common import ROOT

TESTS = ROOT / "tests"
PROBE = ROOT / "kaudit" / "collect" / "probe.sh"

# Literal argv[0] of a subprocess call, a which() or a need() in the test code.
CALL = re.compile(r'(?:\brun|Popen|check_output|check_call)\(\s*\[\s*"([A-Za-z0-9_.+-]+)"')
WHICH = re.compile(r'\bwhich\(\s*"([A-Za-z0-9_.+-]+)"')
NEED = re.compile(r'\bneed\(([^)]*)\)')
STRING = re.compile(r'"([A-Za-z0-9_.+-]+)"')
NOT_PROGRAMS = {"root"}      # need(..., root=True)


def _test_sources() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if p.name != "test_system_packages.py")


def programs_called_by_tests() -> dict[str, str]:
    """program -> first file:line that calls it."""
    found: dict[str, str] = {}
    for path in _test_sources():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            names = CALL.findall(line) + WHICH.findall(line)
            for args in NEED.findall(line):
                names += [s for s in STRING.findall(args) if s not in NOT_PROGRAMS]
            for name in names:
                found.setdefault(name, f"{path.relative_to(ROOT)}:{n}")
    return found


def programs_called_by_probe() -> set[str]:
    text = PROBE.read_text(encoding="utf-8")
    names = set(re.findall(r"\bhave ([A-Za-z0-9_.-]+)", text))
    names |= set(re.findall(r"^\s*cmd [A-Za-z0-9_.-]+ [0-9]+ ([A-Za-z0-9_.-]+)", text, re.M))
    for block in re.findall(r"for kp_c in (.*?); do", text, re.S):
        names |= set(block.replace("\\\n", " ").split())
    return names


def test_the_list_parses_and_names_real_packages() -> None:
    listed = requires.programs()
    assert len(listed) > 20
    assert "iputils-ping" in requires.packages()           # the one that was missed
    assert listed["ping"].package == "iputils-ping"


def test_every_program_the_tests_call_is_listed() -> None:
    called = programs_called_by_tests()
    # The scan itself must see the calls it exists for.
    assert {"ip", "ssh-keygen", "haproxy", "chromium", "busybox", "sudo"} <= called.keys()
    listed = requires.programs()
    undeclared = {n: where for n, where in called.items()
                  if n not in listed and not n.startswith(("python", "ruff", "mypy"))}
    assert not undeclared, f"add these to tests/system-packages.txt: {undeclared}"


def test_every_program_the_probe_may_run_is_classified() -> None:
    """Lab hosts see this machine's programs: each one the probe looks for is
    either installed by CI (a package) or listed with '-' (absent or played by
    the lab), so a new probe command cannot silently depend on the machine."""
    probed = programs_called_by_probe()
    assert {"ping", "timeout", "dpkg-query", "chronyc", "systemctl"} <= probed
    listed = requires.programs()
    assert not sorted(probed - listed.keys()), "classify in tests/system-packages.txt"


def test_ci_installs_exactly_the_list() -> None:
    """.ci/run's PACKAGES array is the package column of tests/system-packages.txt."""
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    m = re.search(r"^PACKAGES=\((.*?)\)", run, re.M | re.S)
    assert m, "no PACKAGES=(...) in .ci/run"
    assert sorted(m.group(1).split()) == requires.packages()
    assert 'apt-get install -y -qq --no-install-recommends "${need[@]}"' in run
    out = subprocess.run(["python3", str(TESTS / "requires.py"), "--packages"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == requires.packages()


def test_no_test_skips_for_a_missing_program() -> None:
    """A missing program fails through requires.need(); a skip would let CI
    pass on a machine where the test never ran."""
    skip = re.compile(r"pytest\.skip\(|skipif\(.*(which|exists|geteuid)")
    offenders = [f"{p.relative_to(ROOT)}:{n}"
                 for p in _test_sources()
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if skip.search(line)]
    assert not offenders


def test_every_listed_program_with_a_package_is_here() -> None:
    assert not requires.missing(), requires.message(requires.missing())
