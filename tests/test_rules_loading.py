"""Loading and validating rule packs: schema errors with file:line:col, cross-pack
checks, the shipped packs, and rule_matches."""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest
from common import ROOT

from kaudit.catalog.rules import load_pack, load_rules, rule_matches
from kaudit.catalog.validate import load_schema
from kaudit.core.errors import RuleError
from kaudit.core.model import PHASES, SEVERITIES, Rule

GOLDEN = Path(__file__).resolve().parent / "golden"

GOOD_RULE = """\
  - id: demo.ok
    title: ok
    severity: low
    scope: host
    check: {fact: a.b, op: eq, value: 1}
"""


def write(tmp_path: Path, text: str, name: str = "demo.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def pack_error(tmp_path: Path, text: str, name: str = "demo.yaml") -> str:
    """Load a broken pack and return the error text (paths relative to tmp_path)."""
    p = write(tmp_path, text, name)
    with pytest.raises(RuleError) as info:
        load_pack(p)
    return str(info.value).replace(str(tmp_path) + os.sep, "")


def rule_pack(check: str, *, scope: str = "host", extra: str = "") -> str:
    return (f"pack: demo\nrules:\n  - id: demo.x\n    title: x\n    severity: low\n"
            f"    scope: {scope}\n{extra}    check: {check}\n")


# --- schema errors --------------------------------------------------------------------------

def test_unknown_key_names_key_line_and_allowed_keys(tmp_path: Path) -> None:
    err = pack_error(tmp_path, rule_pack("{fact: a, op: exists}", extra="    colour: red\n"))
    assert err.startswith("demo.yaml:7:5: $.rules[0].colour: unknown key 'colour'")
    assert "allowed: id, title, severity" in err


def test_unknown_top_level_key(tmp_path: Path) -> None:
    err = pack_error(tmp_path, "pack: demo\nversion: 2\nrules:\n" + GOOD_RULE)
    assert err.startswith("demo.yaml:2:1: $.version: unknown key 'version'")


def test_unknown_operator_points_at_op(tmp_path: Path) -> None:
    err = pack_error(tmp_path, rule_pack("{fact: a.b, op: equals, value: 1}"))
    assert err.startswith("demo.yaml:7:24: $.rules[0].check.op: unknown operator 'equals'")
    assert "allowed: eq, ne," in err


def test_unknown_operator_deep_inside_combinators(tmp_path: Path) -> None:
    text = """\
        pack: demo
        rules:
          - id: demo.x
            title: x
            severity: low
            scope: host
            check:
              all:
                - any:
                    - not: {fact: a, op: exists}
                    - each: network.addresses
                      check: {fact: .address, op: regx, value: '^10\\.'}
        """
    err = pack_error(tmp_path, text)
    assert err.startswith(
        "demo.yaml:12:39: $.rules[0].check.all[0].any[1].check.op: unknown operator 'regx' "
        "(did you mean 'regex'?)")


def test_wrong_type(tmp_path: Path) -> None:
    err = pack_error(tmp_path, "pack: demo\nrules:\n  - id: demo.x\n    title: [a, b]\n"
                               "    severity: low\n    scope: host\n"
                               "    check: {fact: a, op: exists}\n")
    assert err == "demo.yaml:4:5: $.rules[0].title: expected a string, got a list"


def test_missing_id(tmp_path: Path) -> None:
    err = pack_error(tmp_path, "pack: demo\nrules:\n  - title: x\n    severity: low\n"
                               "    scope: host\n    check: {fact: a, op: exists}\n")
    assert err == "demo.yaml:3:5: $.rules[0]: missing required key 'id'"


def test_bad_severity_lists_allowed_values(tmp_path: Path) -> None:
    err = pack_error(tmp_path, GOOD_RULE.join(["pack: demo\nrules:\n", ""]).replace(
        "severity: low", "severity: urgent"))
    assert err == ("demo.yaml:5:5: $.rules[0].severity: 'urgent' is not one of: "
                   "critical, high, medium, low, info")


def test_bad_phase_item_and_role(tmp_path: Path) -> None:
    err = pack_error(tmp_path, rule_pack(
        "{fact: a, op: exists}", extra="    phase: [preflight, later]\n    roles: boss\n"))
    lines = err.splitlines()
    assert lines[0] == "demo.yaml:7:24: $.rules[0].phase[1]: 'later' is not one of: " \
                       "preflight, installed"
    assert lines[1] == "demo.yaml:8:5: $.rules[0].roles: 'boss' is not one of: master, " \
                       "worker, etcd"


def test_bad_id_shape_and_prefix(tmp_path: Path) -> None:
    err = pack_error(tmp_path, "pack: demo\nrules:\n" + GOOD_RULE.replace("demo.ok", "Demo_ok"))
    assert "demo.yaml:3:5: $.rules[0].id: rule id 'Demo_ok' must look like" in err
    err = pack_error(tmp_path, "pack: demo\nrules:\n" + GOOD_RULE.replace("demo.ok", "os.ok"))
    assert err == "demo.yaml:3:5: $.rules[0].id: rule id 'os.ok' must start with the pack " \
                  "name 'demo.'"


def test_duplicate_id_in_one_pack_names_both_lines(tmp_path: Path) -> None:
    err = pack_error(tmp_path, "pack: demo\nrules:\n" + GOOD_RULE + GOOD_RULE)
    assert err == ("demo.yaml:8:5: $.rules[1].id: duplicate rule id 'demo.ok': already "
                   "defined at demo.yaml:3")


def test_yaml_syntax_error(tmp_path: Path) -> None:
    err = pack_error(tmp_path, "pack: demo\nrules:\n  - id: [unclosed\n")
    assert re.match(r"demo\.yaml:\d+:\d+: YAML error: ", err), err


def test_duplicate_key(tmp_path: Path) -> None:
    err = pack_error(tmp_path, "pack: demo\nrules:\n" + GOOD_RULE.replace(
        "    title: ok\n", "    title: ok\n    title: again\n"))
    assert err.startswith("demo.yaml:5:5: YAML error: duplicate key 'title'")


def test_alias_refused(tmp_path: Path) -> None:
    err = pack_error(tmp_path, "pack: demo\nx: &a 1\nrules:\n" + GOOD_RULE.replace(
        "value: 1", "value: *a"))
    assert err.startswith("demo.yaml:")
    assert "anchors and aliases are not supported" in err


def test_empty_file(tmp_path: Path) -> None:
    assert pack_error(tmp_path, "") == "demo.yaml:1:1: file is empty, expected a mapping"


def test_all_problems_in_one_file_are_reported_in_line_order(tmp_path: Path) -> None:
    text = """\
        pack: demo
        rules:
          - id: demo.a
            title: a
            severity: urgent
            scope: host
            check: {fact: x, op: equals, value: 1}
          - id: demo.b
            title: b
            severity: low
            scope: everywhere
            tags: [Bad Tag]
            check: {fact: x, op: empty, value: 3}
          - id: demo.c
            severity: low
            scope: host
            bogus: 1
            check: {fact: x, op: eq}
        """
    lines = pack_error(tmp_path, text).splitlines()
    assert [ln.split(": ", 2)[:2] for ln in lines] == [
        ["demo.yaml:5:5", "$.rules[0].severity"],
        ["demo.yaml:7:22", "$.rules[0].check.op"],
        ["demo.yaml:11:5", "$.rules[1].scope"],
        ["demo.yaml:12:12", "$.rules[1].tags[0]"],
        ["demo.yaml:13:33", "$.rules[1].check.value"],
        ["demo.yaml:14:5", "$.rules[2]"],
        ["demo.yaml:17:5", "$.rules[2].bogus"],
        ["demo.yaml:18:5", "$.rules[2].check"],
    ]
    assert lines[4].endswith("operator 'empty' takes no 'value'")
    assert lines[5].endswith("missing required key 'title'")
    assert lines[7].endswith("operator 'eq' needs a 'value'")


def test_not_a_check(tmp_path: Path) -> None:
    err = pack_error(tmp_path, rule_pack("{facts: a, op: exists}"))
    assert err == ("demo.yaml:7:5: $.rules[0].check: not a check: expected one of the keys "
                   "fact, all, any, not, each, some, hosts (found: facts, op)")
    err = pack_error(tmp_path, rule_pack("'swap.active empty'"))
    assert err == "demo.yaml:7:5: $.rules[0].check: expected a mapping, got a string"


def test_empty_combinator_and_bad_missing(tmp_path: Path) -> None:
    err = pack_error(tmp_path, rule_pack("{all: []}"))
    assert err == "demo.yaml:7:13: $.rules[0].check.all: expected at least 1 item"
    err = pack_error(tmp_path, rule_pack("{fact: a, op: empty, missing: ok}"))
    assert err.startswith("demo.yaml:7:33: $.rules[0].check.missing: 'ok' is not one of: "
                          "pass, fail, skip, error")


# --- cluster aggregates ---------------------------------------------------------------------

@pytest.mark.parametrize("check", [
    "{hosts: {roles: [master]}, fact: vip.held, op: count_true, cmp: eq, value: 1}",
    "{hosts: {roles: master, status: [ok]}, op: count_true, cmp: ge, value: 2,"
    " check: {fact: vip.tcp, op: 'true'}}",
    "{hosts: {}, op: all, check: {fact: swap.active, op: empty}}",
    "{hosts: {roles: [etcd]}, op: none, check: {fact: vip.held, op: true}}",
    "{hosts: {roles: [master]}, fact: kubernetes.manifests.kube-apiserver.args, op: consistent}",
    "{hosts: {}, fact: clock.offset_s, op: spread, uncertainty: clock.uncertainty_s,"
    " cmp: le, value: '${params.max_clock_skew}', missing: error}",
])
def test_valid_cluster_aggregates(tmp_path: Path, check: str) -> None:
    rules, _ = load_pack(write(tmp_path, rule_pack(check, scope="cluster")))
    assert rules[0].check["hosts"] is not None


@pytest.mark.parametrize(("check", "message"), [
    ("{hosts: {}, fact: a, op: median, cmp: le, value: 1}",
     "$.rules[0].check.op: unknown aggregate operator 'median'"),
    ("{hosts: {}, fact: a, op: spread}",
     "$.rules[0].check: aggregate op 'spread' needs 'fact', 'cmp' and 'value'"),
    ("{hosts: {}, op: any, fact: a}",
     "$.rules[0].check: aggregate op 'any' needs a nested 'check'"),
    ("{hosts: {}, op: any, fact: a, check: {fact: b, op: exists}}",
     "$.rules[0].check.fact: key 'fact' is not used with aggregate op all/any/none"),
    ("{hosts: {}, op: consistent, fact: a, cmp: eq}",
     "$.rules[0].check.cmp: key 'cmp' is not used with aggregate op consistent"),
    ("{hosts: {}, op: count_true, cmp: eq, value: 1}",
     "$.rules[0].check: aggregate op count_true needs exactly one of 'fact' or 'check'"),
    ("{hosts: {}, op: spread, fact: a, cmp: about, value: 1}",
     "$.rules[0].check.cmp: unknown comparison 'about'"),
    ("{hosts: {roles: [boss]}, op: consistent, fact: a}",
     "$.rules[0].check.hosts.roles[0]: 'boss' is not one of: master, worker, etcd"),
    ("{hosts: {role: master}, op: consistent, fact: a}",
     "$.rules[0].check.hosts.role: unknown key 'role' (did you mean 'roles'?)"),
])
def test_bad_cluster_aggregates(tmp_path: Path, check: str, message: str) -> None:
    err = pack_error(tmp_path, rule_pack(check, scope="cluster"))
    assert message in err
    assert err.startswith("demo.yaml:7:")


def test_hosts_aggregate_needs_cluster_scope(tmp_path: Path) -> None:
    err = pack_error(tmp_path, rule_pack("{hosts: {}, fact: a, op: consistent}"))
    assert err == ("demo.yaml:7:13: $.rules[0].check.hosts: a 'hosts:' aggregate needs "
                   "'scope: cluster'")


# --- semantic checks beyond the schema -----------------------------------------------------

def test_invalid_regex_and_bad_reference(tmp_path: Path) -> None:
    err = pack_error(tmp_path, rule_pack(
        "{all: [{fact: a, op: regex, value: '(unclosed'},"
        " {fact: b, op: eq, value: '${param.x}'}, {fact: c, op: eq, value: '${vars.x'}]}"))
    lines = err.splitlines()
    assert len(lines) == 3
    assert "$.rules[0].check.all[0].value: invalid regular expression" in lines[0]
    assert "$.rules[0].check.all[1].value: bad reference '${param.x}'" in lines[1]
    assert "$.rules[0].check.all[2].value: unclosed '${'" in lines[2]


def test_valid_references_accepted(tmp_path: Path) -> None:
    check = ("{all: [{fact: a, op: eq, value: '${nth_ip(vars.service_cidr, 10)}'},"
             " {fact: b, op: eq, value: '${count(master)}'},"
             " {fact: c, op: eq, value: '${facts.hostname}'},"
             " {fact: d, op: regex, value: '^${vars.x}$'}]}")
    rules, _ = load_pack(write(tmp_path, rule_pack(check, extra="    message: '${params.y}'\n")))
    assert rules[0].check["all"][0]["value"] == "${nth_ip(vars.service_cidr, 10)}"


def test_boolean_op_names_are_normalised(tmp_path: Path) -> None:
    rules, _ = load_pack(write(tmp_path, rule_pack(
        "{any: [{fact: vip.held, op: true}, {fact: vip.tcp, op: false}]}")))
    assert rules[0].check == {"any": [{"fact": "vip.held", "op": "true"},
                                      {"fact": "vip.tcp", "op": "false"}]}


def test_rule_fields_and_defaults(tmp_path: Path) -> None:
    text = """\
        pack: demo
        params: {limit: 8Gi, names: [a, b]}
        rules:
          - id: demo.full
            title: Full
            severity: high
            scope: host
            roles: master
            phase: installed
            tags: [x, y]
            rationale: >
              folded
              text
            applies: {fact: kubernetes.installed, op: true}
            check: {fact: memory.total_bytes, op: ge, value: '${params.limit}'}
            message: "{observed} < {expected}"
            remediation: |
              add memory
          - id: demo.bare
            title: Bare
            severity: info
            scope: cluster
            check: {fact: inventory.cidrs, op: cidrs_disjoint}
        """
    rules, params = load_pack(write(tmp_path, text))
    assert params == {"limit": "8Gi", "names": ["a", "b"]}
    full, bare = rules
    assert full == Rule(
        id="demo.full", title="Full", severity="high", scope="host",
        check={"fact": "memory.total_bytes", "op": "ge", "value": "${params.limit}"},
        pack="demo", roles=("master",), phase=("installed",), tags=("x", "y"),
        rationale="folded text", remediation="add memory", message="{observed} < {expected}",
        applies={"fact": "kubernetes.installed", "op": "true"},
        source=f"{tmp_path / 'demo.yaml'}:4")
    assert (bare.roles, bare.phase, bare.tags, bare.applies) == ((), PHASES, (), None)
    assert type(full.check) is dict  # plain data, not ruamel types


# --- several packs --------------------------------------------------------------------------

def test_user_pack_cannot_replace_shipped_id(tmp_path: Path) -> None:
    write(tmp_path, "pack: os\nrules:\n" + GOOD_RULE.replace("demo.ok", "os.extra")
          + GOOD_RULE.replace("demo.ok", "os.swap-off"), "mine.yaml")
    with pytest.raises(RuleError) as info:
        load_rules([tmp_path])
    msg = str(info.value)
    shipped = load_rules().get("os.swap-off")
    assert shipped is not None
    assert msg == (f"{tmp_path / 'mine.yaml'}:8:5: $.rules[1].id: duplicate rule id "
                   f"'os.swap-off': already defined at {shipped.source}")


def test_pack_spread_over_files_and_duplicate_across_files(tmp_path: Path) -> None:
    write(tmp_path, "pack: os\nrules:\n" + GOOD_RULE.replace("demo.ok", "os.extra"), "a.yaml")
    rs = load_rules([tmp_path])
    extra = rs.get("os.extra")
    assert extra is not None and extra.pack == "os"
    assert rs.packs["os"].endswith("os.yaml")  # the first file of the pack
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "pack: os\nrules:\n" + GOOD_RULE.replace("demo.ok", "os.extra"),
          "b.yaml")
    with pytest.raises(RuleError) as info:
        load_rules([tmp_path, tmp_path / "sub"])
    assert str(info.value) == (
        f"{tmp_path / 'sub' / 'b.yaml'}:3:5: $.rules[0].id: duplicate rule id 'os.extra': "
        f"already defined at {tmp_path / 'a.yaml'}:3")


def test_conflicting_param_defaults(tmp_path: Path) -> None:
    write(tmp_path, "pack: demo\nparams:\n  max_clock_skew: 1s\nrules:\n" + GOOD_RULE, "a.yaml")
    with pytest.raises(RuleError) as info:
        load_rules([tmp_path])
    msg = str(info.value)
    assert msg.startswith(f"{tmp_path / 'a.yaml'}:3:3: $.params.max_clock_skew: parameter "
                          "'max_clock_skew' defaults to '1s' here but to '500ms' at ")
    assert "time.yaml:" in msg


def test_equal_param_defaults_are_fine(tmp_path: Path) -> None:
    write(tmp_path, "pack: demo\nparams:\n  master_count: 3\nrules:\n" + GOOD_RULE)
    assert load_rules([tmp_path]).params["master_count"] == 3


def test_extra_dir_missing_and_single_file(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="rules directory not found"):
        load_rules([tmp_path / "nope"])
    p = write(tmp_path, "pack: demo\nrules:\n" + GOOD_RULE)
    write(tmp_path, "not: a pack\n", "ignored.txt")
    rs = load_rules([p])
    assert rs.get("demo.ok") is not None


def test_extra_dir_files_sorted_and_error_names_file(tmp_path: Path) -> None:
    write(tmp_path, "pack: bbb\nrules:\n" + GOOD_RULE.replace("demo.", "bbb."), "b.yml")
    write(tmp_path, "pack: aaa\nrules:\n" + GOOD_RULE.replace("demo.", "aaa."), "a.yaml")
    rs = load_rules([tmp_path])
    assert [r.id for r in rs.rules][-2:] == ["aaa.ok", "bbb.ok"]
    write(tmp_path, "pack: ccc\nrules: []\n", "c.yaml")
    with pytest.raises(RuleError) as info:
        load_rules([tmp_path])
    assert str(info.value) == f"{tmp_path / 'c.yaml'}:2:1: $.rules: expected at least 1 item"


# --- shipped packs --------------------------------------------------------------------------

REQUIRED_IDS = {
    "os.swap-off", "os.selinux-disabled", "os.firewalld-off", "kernel.ip-forward",
    "kernel.modules-loaded", "time.timezone", "time.skew", "network.cidrs-disjoint",
    "network.cidrs-private", "ha.master-count", "ha.etcd-odd",
}


def test_shipped_packs_load_and_are_complete() -> None:
    rs = load_rules()
    ids = {r.id for r in rs.rules}
    assert ids >= REQUIRED_IDS
    assert set(rs.packs) >= {"os", "kernel", "time", "network", "ha"}
    for rule in rs.rules:
        assert rule.severity in SEVERITIES
        assert rule.title and rule.rationale and rule.remediation and rule.tags, rule.id
        assert rule.source and re.search(r"\.ya?ml:\d+$", rule.source)
        if "seed" in rule.tags:     # seed rules cite it; others (version skew) cite upstream
            assert re.search(r"[\u4e00-\u9fff]", rule.rationale), f"{rule.id}: cite the seed"
        else:
            assert "Kubernetes" in rule.rationale or "etcd" in rule.rationale, rule.id
    assert rs.params["max_clock_skew"] == "500ms"
    assert rs.params["selinux_allowed"] == ["disabled", "permissive"]


def test_shipped_cluster_rules() -> None:
    rs = load_rules()
    skew = rs.get("time.skew")
    assert skew is not None and skew.scope == "cluster"
    assert skew.check["op"] == "spread" and skew.check["uncertainty"] == "clock.uncertainty_s"
    assert {r.id for r in rs.rules if r.scope == "cluster"} >= {
        "time.skew", "network.cidrs-disjoint", "network.cidrs-private", "ha.master-count",
        "ha.etcd-odd"}


def test_shipped_pack_files_match_source_tree() -> None:
    # The packaged resources are the repository's rules/ directory.
    rs = load_rules()
    for name, source in rs.packs.items():
        assert Path(source).name in {p.name for p in (ROOT / "rules").glob("*.yaml")}, name


# --- the schema follows docs/rules.md ------------------------------------------------------

def _doc_table_ops(heading: str) -> set[str]:
    text = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    ops: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            name_col, notes = line.split("|")[1], line.split("|")[3]
            ops.update(re.findall(r"`([a-z_]+)`", name_col))
            # variants mentioned in the notes, e.g. "(`eq_ci` for case-insensitive)"
            ops.update(re.findall(r"\(`([a-z_]+)` for", notes))
    return ops


def test_schema_operators_are_exactly_the_documented_ones() -> None:
    schema = load_schema("rulepack")
    ops = set(schema["$defs"]["factCheck"]["properties"]["op"]["enum"])
    assert ops == _doc_table_ops("### Operators")
    aggregates = set(schema["$defs"]["hostsCheck"]["properties"]["op"]["enum"])
    assert aggregates == {"all", "any", "none", "count_true", "consistent", "spread"}


@pytest.mark.parametrize("op", sorted(_doc_table_ops("### Operators")))
def test_every_documented_operator_validates(tmp_path: Path, op: str) -> None:
    valueless = {"empty", "not_empty", "exists", "missing", "cidrs_disjoint", "cidr_private",
                 "unique", "true", "false"}
    check = f"{{fact: a.b, op: '{op}'}}" if op in valueless else \
        f"{{fact: a.b, op: '{op}', value: '1'}}"
    rules, _ = load_pack(write(tmp_path, rule_pack(check)))
    assert rules[0].check["op"] == op


# --- rule_matches ---------------------------------------------------------------------------

RULE = Rule(id="cp.apiserver-inflight", title="t", severity="high", scope="host", check={},
            pack="cp", tags=("apiserver", "seed"))


@pytest.mark.parametrize(("token", "expected"), [
    ("cp.apiserver-inflight", True),
    ("cp.*", True),
    ("cp.apiserver-*", True),
    ("*.apiserver-inflight", True),
    ("cp", True),
    ("apiserver", True),
    ("seed", True),
    ("cp.apiserver", False),
    ("os.*", False),
    ("c", False),
    ("kubelet", False),
    ("CP.*", False),
])
def test_rule_matches(token: str, expected: bool) -> None:
    assert rule_matches(RULE, token) is expected


# --- golden error messages ------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted(p.stem for p in GOLDEN.glob("*.yaml")))
def test_golden_error_messages(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOLDEN)
    with pytest.raises(RuleError) as info:
        load_pack(f"{case}.yaml")
    expected = (GOLDEN / f"{case}.txt")
    if os.environ.get("KAUDIT_UPDATE_GOLDEN"):
        expected.write_text(str(info.value) + "\n", encoding="utf-8")
    assert str(info.value) + "\n" == expected.read_text(encoding="utf-8")


# --- validate() directly --------------------------------------------------------------------

def test_validate_raises_the_given_error_class(tmp_path: Path) -> None:
    from kaudit.catalog.validate import validate
    from kaudit.core.errors import InputError
    from kaudit.core.yamlio import load_yaml

    p = write(tmp_path, "pack: demo\nrules:\n  - id: demo.x\n")
    with pytest.raises(InputError) as info:
        validate(load_yaml(p), "rulepack", "x.yaml", InputError)
    assert type(info.value) is InputError
    assert (info.value.path, info.value.line, info.value.column) == ("x.yaml", 3, 5)
    assert str(info.value) == ("x.yaml:3:5: $.rules[0]: missing required keys 'title', "
                               "'severity', 'scope', 'check'")
    with pytest.raises(InputError, match=r"^x\.yaml:1:1: \$: expected a mapping, got a string"):
        validate(load_yaml(write(tmp_path, "just text\n")), "rulepack", "x.yaml", InputError)
