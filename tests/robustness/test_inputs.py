"""Bad input files: each row runs the real CLI and expects exit 2, one
`kaudit: error:` line naming the file (and line where there is one), no
traceback, and nothing written (no report, no fact file)."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import REPO, assert_one_line_error, run_kaudit, write_pack

FACTS = REPO / "fixtures" / "facts" / "lab-healthy.json"
BINARY = b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)) * 4
LATIN1 = b"[masters]\nm01 ansible_host=127.0.0.2\nn\xe9ud ansible_host=127.0.0.3\n"
BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
"""
RULE = """\
pack: mine
rules:
  - id: mine.one
    title: One
    severity: low
    scope: host
    check: {fact: hostname, op: not_empty}
"""
WAIVER = """\
waivers:
  - rule: os.swap-off
    justification: lab only
    expires: 2999-01-01
"""


def _scan_inventory(d: Path, inv: Path) -> list[str | Path]:
    return ["scan", "-p", "baseline", inv, "-r", f"json:{d / 'out.json'}",
            "--save-facts", d / "saved.json", "--known-hosts", d / "kh"]


def _scan_facts(d: Path, *extra: str | Path) -> list[str | Path]:
    return ["scan", "-p", "baseline", "--facts", FACTS, "-r", f"json:{d / 'out.json'}",
            "-r", f"junit:{d / 'out.xml'}", *extra]


Row = tuple[str, Callable[[Path], list[str | Path]], tuple[str, ...]]


def inventory_row(content: bytes) -> Callable[[Path], list[str | Path]]:
    def make(d: Path) -> list[str | Path]:
        (d / "hosts.txt").write_bytes(content)
        return _scan_inventory(d, d / "hosts.txt")
    return make


def pack_row(content: bytes) -> Callable[[Path], list[str | Path]]:
    def make(d: Path) -> list[str | Path]:
        (d / "rules").mkdir()
        (d / "rules" / "mine.yaml").write_bytes(content)
        return _scan_facts(d, "--rules", d / "rules")
    return make


def profile_row(content: bytes) -> Callable[[Path], list[str | Path]]:
    def make(d: Path) -> list[str | Path]:
        (d / "prof.yaml").write_bytes(content)
        args = _scan_facts(d)
        args[2] = d / "prof.yaml"
        return args
    return make


def waiver_row(content: bytes) -> Callable[[Path], list[str | Path]]:
    def make(d: Path) -> list[str | Path]:
        (d / "waivers.yaml").write_bytes(content)
        return _scan_facts(d, "--waivers", d / "waivers.yaml")
    return make


def facts_row(content: bytes) -> Callable[[Path], list[str | Path]]:
    def make(d: Path) -> list[str | Path]:
        (d / "facts.json").write_bytes(content)
        args = _scan_facts(d)
        args[4] = d / "facts.json"
        return args
    return make


def _other_version() -> bytes:
    doc = json.loads(FACTS.read_text())
    doc["kaudit_fact_file"] = 99
    return json.dumps(doc).encode()


ROWS: list[Row] = [
    # inventories
    ("inventory-empty", inventory_row(b""), ("hosts.txt: inventory defines no hosts",)),
    ("inventory-binary", inventory_row(BINARY),
     ("hosts.txt: binary file (contains NUL bytes), expected text",)),
    ("inventory-latin1", inventory_row(LATIN1), ("hosts.txt:3: not valid UTF-8 (byte 0xe9)",)),
    ("inventory-bad-line", inventory_row(b"[masters]\nm01 ansible_host=127.0.0.2\nm02 x\n"),
     ("hosts.txt:3:",)),
    ("inventory-bad-port", inventory_row(b"[masters]\nm01 ansible_port=99999\n"),
     ("hosts.txt:2:", "99999")),
    # rule packs
    ("pack-empty", pack_row(b""), ("mine.yaml:1:1: file is empty, expected a mapping",)),
    ("pack-binary", pack_row(BINARY), ("mine.yaml: binary file (contains NUL bytes)",)),
    ("pack-latin1", pack_row(b"pack: mine\n# caf\xe9\nrules: []\n"),
     ("mine.yaml:2: not valid UTF-8 (byte 0xe9)",)),
    ("pack-syntax", pack_row(b"pack: mine\nrules: [\n  - id: x\n"), ("mine.yaml:", "YAML error")),
    ("pack-duplicate-key", pack_row(b"pack: mine\npack: other\nrules: []\n"),
     ("mine.yaml:2:1: YAML error: duplicate key 'pack'",)),
    ("pack-billion-laughs", pack_row(BOMB.encode()),
     ("mine.yaml:2:8: YAML anchors and aliases are not supported",)),
    ("pack-wrong-type", pack_row(RULE.replace("severity: low", "severity: [low]").encode()),
     ("mine.yaml:5:5: $.rules[0].severity:",)),
    ("pack-unknown-key", pack_row(RULE.replace("    scope:", "    colour: blue\n    scope:")
                                  .encode()),
     ("mine.yaml:6:5: $.rules[0].colour: unknown key 'colour'",)),
    ("pack-unknown-operator", pack_row(RULE.replace("not_empty", "frobnicate").encode()),
     ("mine.yaml:7:", "unknown operator 'frobnicate'",)),
    ("pack-duplicates-shipped-id",
     pack_row(RULE.replace("mine", "os").replace("os.one", "os.swap-off").encode()),
     ("mine.yaml:3:5: $.rules[0].id: duplicate rule id 'os.swap-off': already defined at ",
      "os.yaml:")),
    # profiles
    ("profile-empty-is-not-a-mapping", profile_row(b"- a\n- b\n"), ("prof.yaml:1:1:",)),
    ("profile-binary", profile_row(BINARY), ("prof.yaml: binary file",)),
    ("profile-latin1", profile_row(b"description: caf\xe9\n"),
     ("prof.yaml:1: not valid UTF-8 (byte 0xe9)",)),
    ("profile-extends-itself", profile_row(b"extends: ./prof.yaml\n"),
     ("prof.yaml:1:1: profile 'prof' extends itself via prof -> prof",)),
    ("profile-extends-missing", profile_row(b"extends: [baseline, nosuch]\n"),
     ("prof.yaml:1:", "extends unknown profile 'nosuch' (available: baseline, lab, prod-ha)")),
    ("profile-unknown-key", profile_row(b"packs: [os]\nflavour: x\n"),
     ("prof.yaml:2:1: $.flavour: unknown key 'flavour'",)),
    ("profile-bomb", profile_row(BOMB.encode()), ("prof.yaml:2:8: YAML anchors",)),
    # waivers
    ("waivers-empty", waiver_row(b""), ("waivers.yaml:1:1: file is empty",)),
    ("waivers-binary", waiver_row(BINARY), ("waivers.yaml: binary file",)),
    ("waivers-latin1", waiver_row(b"waivers: []\n# \xff\n"),
     ("waivers.yaml:2: not valid UTF-8 (byte 0xff)",)),
    ("waivers-wrong-type", waiver_row(WAIVER.replace("2999-01-01", "soon").encode()),
     ("waivers.yaml:4:5: $.waivers[0].expires:",)),
    ("waivers-unknown-rule", waiver_row(WAIVER.replace("os.swap-off", "os.nope").encode()),
     ("waivers.yaml:2:", "os.nope")),
    ("waivers-duplicate-key", waiver_row((WAIVER + "waivers: []\n").encode()),
     ("waivers.yaml:5:1: YAML error: duplicate key 'waivers'",)),
    # fact files
    ("facts-empty", facts_row(b""), ("facts.json:1:1: not valid JSON",)),
    ("facts-binary", facts_row(BINARY), ("facts.json: fact file is not UTF-8 text",)),
    ("facts-other-version", facts_row(_other_version()),
     ("facts.json: fact file format 99 is not supported by kaudit",)),
    ("facts-deep", facts_row(b"[" * 200_000), ("facts.json: JSON nesting too deep",)),
]


@pytest.mark.parametrize(("make", "needles"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_bad_input_is_one_clear_error(tmp_path: Path, make, needles) -> None:  # type: ignore[no-untyped-def]
    args = make(tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    proc = run_kaudit(*args, cwd=tmp_path, timeout=60)
    err = assert_one_line_error(proc, 2, *needles)
    assert err.count("\n") <= 3, err   # schema errors may list a few problems, no more
    assert proc.stdout == b""
    assert {p.name for p in tmp_path.iterdir()} == before   # nothing written


def test_unknown_only_id(tmp_path: Path) -> None:
    proc = run_kaudit(*_scan_facts(tmp_path, "--only", "os.no-such-rule"), cwd=tmp_path)
    assert_one_line_error(proc, 2, "--only/--skip: 'os.no-such-rule' matches no rule id, "
                                   "pack or tag (see `kaudit rules list`)")
    assert not (tmp_path / "out.json").exists()


def test_missing_profile(tmp_path: Path) -> None:
    proc = run_kaudit(*_scan_facts(tmp_path)[:2], "nosuch", *_scan_facts(tmp_path)[3:],
                      cwd=tmp_path)
    assert_one_line_error(proc, 2, "unknown profile 'nosuch' (available: baseline, lab, prod-ha)")


def test_rules_validate_rejects_a_duplicate_of_a_shipped_id(tmp_path: Path) -> None:
    rules, _ = write_pack(tmp_path)
    (rules / "dup.yaml").write_text(RULE.replace("mine", "os").replace("os.one", "os.swap-off"))
    proc = run_kaudit("rules", "validate", rules, cwd=tmp_path)
    assert_one_line_error(proc, 2, "dup.yaml:3:5:", "duplicate rule id 'os.swap-off'")


@pytest.mark.parametrize("shape", ["one-line", "many-lines"])
def test_100mb_inventory_fails_fast_with_bounded_memory(tmp_path: Path, shape: str) -> None:
    inv = tmp_path / "hosts.txt"
    with inv.open("wb") as f:
        f.write(b"[masters]\nm01 ansible_host=127.0.0.2 note=")
        chunk = (b"a" * (1 << 20)) if shape == "one-line" else (b"m ansible_host=127.0.0.9\n"
                                                               * 40_000)
        while f.tell() < 100_000_000:
            f.write(chunk)
        f.write(b"\n")
    start = time.monotonic()
    rusage = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = run_kaudit("scan", "-p", "baseline", inv, "-r", f"json:{tmp_path / 'out.json'}",
                      cwd=tmp_path, timeout=30)
    took = time.monotonic() - start
    assert_one_line_error(proc, 2, "hosts.txt: file is larger than 8 MiB")
    assert took < 10
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert max(peak_kib, rusage) < 200 * 1024   # far below the file's 100 MB
    assert not (tmp_path / "out.json").exists()


def test_unwritable_report_path_writes_no_report_at_all(tmp_path: Path) -> None:
    proc = run_kaudit(*_scan_facts(tmp_path)[:5], "-r", f"json:{tmp_path / 'a.json'}",
                      "-r", f"junit:{tmp_path / 'nodir' / 'x.xml'}", cwd=tmp_path)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in err
    assert "directory" in err and "nodir" in err and "-r/--report" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
