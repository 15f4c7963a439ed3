"""Profiles: shipped ones, extends chains and merging, cycles, unknown names, and
how apply_profile selects rules, overrides severities and resolves params."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kaudit.catalog.profiles import apply_profile, list_profiles, load_profile
from kaudit.catalog.rules import RuleSet, load_rules
from kaudit.core.errors import RuleError


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules()


def write(d: Path, name: str, text: str) -> Path:
    p = d / name
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


def error_of(fn: object, *args: object) -> str:
    with pytest.raises(RuleError) as info:
        fn(*args)  # type: ignore[operator]
    return str(info.value)


# --- shipped profiles -----------------------------------------------------------------------

def test_shipped_profiles_listed_and_valid(shipped: RuleSet) -> None:
    profiles = {p.name: p for p in list_profiles()}
    assert {"baseline", "prod-ha", "lab"} <= set(profiles)
    for p in profiles.values():
        rules, params = apply_profile(shipped, p)
        assert set(params) >= set(shipped.params)
        assert rules, p.name
        assert p.description


def test_baseline_is_host_hygiene_only(shipped: RuleSet) -> None:
    rules, params = apply_profile(shipped, load_profile("baseline"))
    packs = {r.pack for r in rules}
    assert packs == {"os", "kernel", "time", "storage"}
    # storage only through its layout basics: no disk sizes, no HA topology
    assert not any(r.id.endswith("-size") or r.pack in ("ha", "network", "sizing", "cp")
                   for r in rules)
    assert params == shipped.params  # pack defaults untouched


def test_prod_ha_extends_baseline(shipped: RuleSet) -> None:
    prod = load_profile("prod-ha")
    assert prod.extends == ["baseline"]
    rules, params = apply_profile(shipped, prod)
    ids = {r.id for r in rules}
    assert {"ha.master-count", "ha.etcd-odd", "network.cidrs-disjoint", "os.swap-off",
            "time.skew"} <= ids
    assert params["master_count"] == 3
    assert params["max_clock_skew"] == "500ms"


def test_lab_relaxes_prod_ha(shipped: RuleSet) -> None:
    lab = load_profile("lab")
    assert lab.extends == ["prod-ha"]
    assert lab.packs == load_profile("prod-ha").packs  # inherited through the chain
    rules, params = apply_profile(shipped, lab)
    by_id = {r.id: r for r in rules}
    assert params["max_clock_skew"] == "2s"
    assert params["master_count"] == 3        # from prod-ha
    assert by_id["time.skew"].severity == "medium"
    assert shipped.get("time.skew").severity == "high"  # type: ignore[union-attr]
    assert len(rules) == len(apply_profile(shipped, load_profile("prod-ha"))[0])


def test_unknown_profile_name_lists_available() -> None:
    msg = error_of(load_profile, "prod")
    assert msg == "unknown profile 'prod' (available: baseline, lab, prod-ha)"


# --- extends and merging --------------------------------------------------------------------

def test_merge_semantics(tmp_path: Path, shipped: RuleSet) -> None:
    write(tmp_path, "parent.yaml", """\
        description: parent
        packs: [os, kernel]
        include: [time.skew]
        exclude: [os.firewalld-off]
        params: {selinux_allowed: [disabled], max_clock_skew: 1s}
        severity: {os: low, kernel.ip-forward: info}
        phase: preflight
        """)
    child = write(tmp_path, "child.yaml", """\
        extends: parent
        packs: [os, kernel, network]
        include: [ha.master-count]
        exclude: [kernel.modules-loaded]
        params: {max_clock_skew: 250ms}
        severity: {os.swap-off: critical}
        """)
    p = load_profile(str(child), [tmp_path])
    assert p.name == "child" and p.extends == ["parent"]
    assert p.description == "parent"
    assert p.packs == ["os", "kernel", "network"]
    assert p.include == ["time.skew", "ha.master-count"]
    assert p.exclude == ["os.firewalld-off", "kernel.modules-loaded"]
    assert p.params == {"selinux_allowed": ["disabled"], "max_clock_skew": "250ms"}
    assert p.severity == {"os": "low", "kernel.ip-forward": "info", "os.swap-off": "critical"}
    assert p.phase == "preflight"

    rules, params = apply_profile(shipped, p)
    sev = {r.id: r.severity for r in rules}
    packed = {r.id for r in shipped.rules if r.pack in ("os", "kernel", "network")}
    assert set(sev) == (packed - {"os.firewalld-off", "kernel.modules-loaded"}
                        | {"time.skew", "ha.master-count"})
    # Exact id beats the pack-wide override, whatever the order.
    assert sev["os.swap-off"] == "critical"
    assert sev["os.selinux-disabled"] == "low"
    assert sev["kernel.ip-forward"] == "info"
    assert sev["time.skew"] == "high"
    assert params["max_clock_skew"] == "250ms"
    assert params["selinux_allowed"] == ["disabled"]
    assert params["master_count"] == 3      # pack default


def test_tags_and_globs_select(tmp_path: Path, shipped: RuleSet) -> None:
    p = write(tmp_path, "t.yaml", """\
        packs: []
        include: [seed, "network.*"]
        exclude: [etcd]
        severity: {"network.*": info}
        """)
    rules, _ = apply_profile(shipped, load_profile(str(p)))
    ids = {r.id for r in rules}
    assert "network.cidrs-private" in ids and "os.swap-off" in ids
    assert "time.skew" not in ids and "ha.etcd-odd" not in ids  # tagged etcd
    assert {r.severity for r in rules if r.pack == "network"} == {"info"}


def test_no_packs_key_means_every_pack(tmp_path: Path, shipped: RuleSet) -> None:
    rules, params = apply_profile(shipped, load_profile(str(write(tmp_path, "e.yaml", ""))))
    assert [r.id for r in rules] == [r.id for r in shipped.rules]
    assert params == shipped.params


def test_extends_list_and_relative_path(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    write(tmp_path / "base", "one.yaml", "params: {master_count: 1}\ninclude: [os]\n")
    write(tmp_path / "base", "two.yaml", "params: {master_count: 2, etcd_sizes: [1]}\n")
    p = write(tmp_path, "site.yaml", "extends: [base/one.yaml, base/two.yaml, lab]\n"
                                     "params: {etcd_sizes: [7]}\n")
    prof = load_profile(str(p))
    assert prof.extends == ["base/one.yaml", "base/two.yaml", "lab"]
    # later parents win over earlier ones, the child over all of them
    assert prof.params["master_count"] == 3          # lab (via prod-ha) came last
    assert prof.params["etcd_sizes"] == [7]
    assert prof.include == ["os", *load_profile("baseline").include]   # lab's chain adds its own
    assert prof.params["max_clock_skew"] == "2s"


def test_user_profile_by_name_from_extra_dir(tmp_path: Path) -> None:
    write(tmp_path, "mine.yaml", "extends: prod-ha\nparams: {master_count: 5}\n")
    prof = load_profile("mine", [tmp_path])
    assert prof.source == str(tmp_path / "mine.yaml")
    assert prof.params["master_count"] == 5
    assert "mine" in {p.name for p in list_profiles([tmp_path])}


def test_cycle_is_reported_with_chain_and_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "description: a\nextends: b\n")
    write(tmp_path, "b.yaml", "extends: [lab, a]\n")
    msg = error_of(load_profile, str(tmp_path / "a.yaml"), [tmp_path])
    assert msg == f"{tmp_path / 'b.yaml'}:1:16: profile 'a' extends itself via a -> b -> a"


def test_self_extension(tmp_path: Path) -> None:
    write(tmp_path, "me.yaml", "extends: me\n")
    msg = error_of(load_profile, "me", [tmp_path])
    assert msg == f"{tmp_path / 'me.yaml'}:1:1: profile 'me' extends itself via me -> me"


def test_missing_parent_names_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, "child.yaml", "description: x\nextends:\n  - baseline\n  - prod-hq\n")
    msg = error_of(load_profile, str(tmp_path / "child.yaml"))
    assert msg.startswith(f"{tmp_path / 'child.yaml'}:4:5: profile 'child' extends unknown "
                          "profile 'prod-hq' (available: baseline, lab, prod-ha")
    write(tmp_path, "c2.yaml", "extends: ./nowhere.yaml\n")
    msg = error_of(load_profile, str(tmp_path / "c2.yaml"))
    assert msg.startswith(f"{tmp_path / 'c2.yaml'}:1:1: profile 'c2' extends unknown profile "
                          "'./nowhere.yaml'")


def test_profile_file_missing(tmp_path: Path) -> None:
    msg = error_of(load_profile, str(tmp_path / "none.yaml"))
    assert msg.startswith(f"{tmp_path / 'none.yaml'}: cannot read")


# --- schema errors --------------------------------------------------------------------------

def test_profile_schema_errors_all_reported(tmp_path: Path) -> None:
    p = write(tmp_path, "bad.yaml", """\
        description: [not, text]
        packs: os
        severity:
          os.swap-off: urgent
        phase: sometimes
        rules: [os.swap-off]
        extends: {name: lab}
        """)
    lines = error_of(load_profile, str(p)).splitlines()
    name = str(p)
    assert lines == [
        f"{name}:1:1: $.description: expected a string, got a list",
        f"{name}:2:1: $.packs: expected a list, got a string",
        f"{name}:4:3: $.severity['os.swap-off']: 'urgent' is not one of: critical, high, "
        "medium, low, info",
        f"{name}:5:1: $.phase: 'sometimes' is not one of: auto, preflight, installed",
        f"{name}:6:1: $.rules: unknown key 'rules' (allowed: description, extends, packs, "
        "include, exclude, params, severity, phase)",
        f"{name}:7:1: $.extends: expected a string or a list, got a mapping",
    ]


def test_profile_yaml_errors(tmp_path: Path) -> None:
    p = write(tmp_path, "dup.yaml", "params: {a: 1}\nparams: {b: 2}\n")
    assert error_of(load_profile, str(p)).startswith(f"{p}:2:1: YAML error: duplicate key")


# --- unknown names in a profile -------------------------------------------------------------

def test_unknown_rule_pack_tag_glob_and_param(tmp_path: Path, shipped: RuleSet) -> None:
    p = write(tmp_path, "typos.yaml", """\
        packs: [os, sizin]
        include: [os.swap-of, "cpx.*"]
        exclude: [kubelett]
        severity:
          tim.skew: low
        params:
          master_cont: 3
          master_count: 3
        """)
    lines = error_of(apply_profile, shipped, load_profile(str(p))).splitlines()
    name = str(p)
    assert lines[0].startswith(f"{name}:1:13: $.packs[1]: unknown pack 'sizin' (known: cp, ")
    assert lines[1:] == [
        f"{name}:2:11: $.include[0]: rule id, pack or tag 'os.swap-of' matches no rule",
        f"{name}:2:23: $.include[1]: pattern 'cpx.*' matches no rule",
        f"{name}:3:11: $.exclude[0]: rule id, pack or tag 'kubelett' matches no rule",
        f"{name}:5:3: $.severity['tim.skew']: rule id, pack or tag 'tim.skew' matches no rule",
        f"{name}:7:3: $.params.master_cont: unknown parameter 'master_cont': no pack defines "
        "or uses it",
    ]


def test_unknown_names_in_a_parent_point_at_the_parent(tmp_path: Path, shipped: RuleSet) -> None:
    write(tmp_path, "parent.yaml", "include: [nothing-here]\n")
    child = write(tmp_path, "child.yaml", "extends: parent\n")
    msg = error_of(apply_profile, shipped, load_profile(str(child), [tmp_path]))
    assert msg == (f"{tmp_path / 'parent.yaml'}:1:11: $.include[0]: rule id, pack or tag "
                   "'nothing-here' matches no rule")


def test_param_used_only_by_a_rule_reference_is_known(tmp_path: Path) -> None:
    # A param with no pack default is still valid when a rule refers to it.
    (tmp_path / "rules").mkdir()
    write(tmp_path / "rules", "site.yaml", """\
        pack: site
        rules:
          - id: site.release
            title: release
            severity: low
            scope: host
            check: {fact: os.id, op: in, value: "${params.supported_os}"}
        """)
    rs = load_rules([tmp_path / "rules"])
    p = write(tmp_path, "p.yaml", "params: {supported_os: [rocky, rhel]}\n")
    rules, params = apply_profile(rs, load_profile(str(p)))
    assert params["supported_os"] == ["rocky", "rhel"]
    assert "site.release" in {r.id for r in rules}
