"""Operators of the rule language: units, versions, CIDRs and every op of docs/rules.md."""

from __future__ import annotations

from typing import Any

import pytest

from kaudit.evaluate.operators import (
    MISSING,
    OPS,
    OperatorError,
    cidr_contains,
    cidr_overlap,
    cidrs_disjoint,
    compare_versions,
    compile_op,
    describe,
    is_private,
    overlapping_pairs,
    parse_duration,
    parse_size,
)

# --------------------------------------------------------------------- sizes


@pytest.mark.parametrize(("text", "expected"), [
    ("512", 512), (512, 512), ("8G", 8 * 10**9), ("8GB", 8 * 10**9), ("8g", 8 * 10**9),
    ("8gb", 8 * 10**9), ("16Gi", 16 * 2**30), ("16GiB", 16 * 2**30), ("16gi", 16 * 2**30),
    ("1.5Gi", 3 * 2**29), ("4Ki", 4096), ("4K", 4000), ("4k", 4000), ("2M", 2 * 10**6),
    ("2MB", 2 * 10**6), ("2Mi", 2 * 2**20), ("1T", 10**12), ("1Ti", 2**40), ("1P", 10**15),
    ("1Pi", 2**50), ("100B", 100), (" 8 G ", 8 * 10**9), (1.6, 2),
])
def test_parse_size(text: Any, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["8X", "8Gx", "G", "", "1.2.3G", "8 Gigs"])
def test_parse_size_rejects_bad_units(text: str) -> None:
    with pytest.raises(OperatorError, match="bad size"):
        parse_size(text)


def test_parse_size_lowercase_m_is_ambiguous() -> None:
    with pytest.raises(OperatorError, match="minutes"):
        parse_size("5m")


@pytest.mark.parametrize("value", [True, None, [1], {"a": 1}])
def test_parse_size_rejects_non_scalars(value: Any) -> None:
    with pytest.raises(OperatorError):
        parse_size(value)


# --------------------------------------------------------------------- durations


@pytest.mark.parametrize(("text", "expected"), [
    ("300ms", 0.3), ("300s", 300), ("5m", 300), ("2h", 7200), ("1h30m", 5400),
    ("1m0s", 60), ("2m30.5s", 150.5), ("0s", 0), ("300", 300), (42, 42), (1.5, 1.5),
    ("1.5h", 5400), ("-1s", -1), ("100us", 1e-4), ("1d", 86400),
])
def test_parse_duration(text: Any, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["5x", "m", "1h30", "5 minutes", "", "1M"])
def test_parse_duration_rejects_bad_text(text: str) -> None:
    with pytest.raises(OperatorError, match="bad duration"):
        parse_duration(text)


# --------------------------------------------------------------------- versions


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("v1.28.5", "1.28.5", 0), ("1.28.5-0", "1.28.5", 0), ("1.28.5+k3s1", "1.28.5", 0),
    ("1.28", "1.28.1", -1), ("1.28.0", "1.28", 0), ("1.28.10", "1.28.9", 1),
    ("1.9", "1.10", -1), ("v1.29.0", "1.28.15", 1), ("1.29.0-rc.1", "1.29.0", -1),
    ("1.29.0-alpha.2", "1.29.0-beta.0", -1), ("1.29.0-rc.2", "1.29.0-rc.1", 1),
    ("Kubernetes v1.27.3", "1.28", -1), ("2.4.22-f8e3218", "2.4.22", 0), (2, "1.99", 1),
])
def test_compare_versions(a: Any, b: Any, expected: int) -> None:
    assert compare_versions(a, b) == expected
    assert compare_versions(b, a) == -expected


@pytest.mark.parametrize("bad", ["", "latest", None, ["1.2"], True])
def test_compare_versions_rejects_non_versions(bad: Any) -> None:
    with pytest.raises(OperatorError):
        compare_versions(bad, "1.28")


# --------------------------------------------------------------------- CIDR helpers


def test_cidr_contains() -> None:
    assert cidr_contains("192.168.40.0/24", "192.168.40.190")
    assert cidr_contains("192.168.40.0/24", "192.168.40.0/25")
    assert cidr_contains("192.168.40.0/24", "192.168.40.0/24")
    assert not cidr_contains("192.168.40.0/24", "192.168.40.0/23")
    assert not cidr_contains("192.168.40.0/24", "192.168.41.1")
    assert cidr_contains("fd00::/8", "fd00:1::5")
    assert not cidr_contains("0.0.0.0/0", "::1")  # different families never contain


def test_cidr_overlap_and_disjoint() -> None:
    assert cidr_overlap("10.96.0.0/12", "10.96.0.0/16")
    assert not cidr_overlap("10.96.0.0/16", "10.97.0.0/16")
    assert not cidr_overlap("10.0.0.0/8", "fd00::/8")
    assert cidrs_disjoint(["192.168.40.0/24", "172.16.0.0/16", "10.96.0.0/16"])
    assert not cidrs_disjoint(["192.168.40.0/24", "172.16.0.0/16", "172.16.5.0/24"])
    assert overlapping_pairs(["10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16"]) == [
        ("10.0.0.0/8", "10.1.0.0/16"), ("10.0.0.0/8", "10.2.0.0/16")]
    assert cidrs_disjoint([])


@pytest.mark.parametrize(("cidr", "private"), [
    ("10.0.0.0/8", True), ("10.96.0.0/16", True), ("172.16.0.0/12", True),
    ("172.31.255.0/24", True), ("172.32.0.0/16", False), ("172.15.0.0/16", False),
    ("192.168.0.0/16", True), ("192.168.40.0/24", True), ("192.0.0.0/16", False),
    ("192.0.0.0/24", False), ("100.64.0.0/10", False), ("8.8.8.8", False),
    ("172.0.0.0/8", False), ("10.0.0.0/7", False), ("fd00:10::/64", True), ("2001:db8::/32", False),
])
def test_is_private(cidr: str, private: bool) -> None:
    assert is_private(cidr) is private


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "300.1.1.1", "m01", "", 5])
def test_cidr_rejects_garbage(bad: Any) -> None:
    with pytest.raises(OperatorError):
        cidr_contains("10.0.0.0/8", bad)


# --------------------------------------------------------------------- OPS table


def check(op: str, fact: Any, value: Any = None) -> bool:
    return OPS[op](fact, value)


def test_schema_docs_and_registry_name_the_same_operators() -> None:
    """One list of operators: the registry. The rule-pack schema's enums (both of
    them) and docs/rules.md must name exactly those, so neither can drift."""
    import json
    import re
    from pathlib import Path

    from kaudit.evaluate.aggregate import _AGG_OPS

    root = Path(__file__).resolve().parent.parent
    schema = json.loads((root / "kaudit" / "schema" / "rulepack.schema.json").read_text())
    fact_check = schema["$defs"]["factCheck"]
    assert set(fact_check["properties"]["op"]["enum"]) == set(OPS)
    assert set(fact_check["else"]["if"]["properties"]["op"]["enum"]) == set(OPS)
    hosts = schema["$defs"]["hostsCheck"]["properties"]
    assert tuple(hosts["op"]["enum"]) == _AGG_OPS
    assert set(hosts["cmp"]["enum"]) <= set(OPS)
    docs = (root / "docs" / "rules.md").read_text()
    undocumented = [op for op in OPS if not re.search(rf"`{op}`", docs)]
    assert not undocumented


def test_eq_numeric_when_both_numbers_else_string() -> None:
    assert check("eq", "1", 1)
    assert check("eq", 1.0, "1")
    assert check("eq", "0.50", 0.5)
    assert not check("eq", "01a", "1a")
    assert check("eq", "permissive", "permissive")
    assert not check("eq", "Permissive", "permissive")
    assert check("eq_ci", "Permissive", "permissive")
    assert check("ne", "2", 1)
    assert not check("ne", "1", 1.0)
    assert check("eq", None, None)
    assert not check("eq", "", None)


def test_eq_booleans_and_units() -> None:
    assert check("eq", "true", True)  # kubelet flags are strings: --flag -> "true"
    assert check("eq", False, "false")
    assert not check("eq", 1, True)
    assert check("eq", "1m0s", "60s")
    assert check("eq", "16Gi", 16 * 2**30)
    assert not check("eq", "5m", "5M")  # a duration is never equal to a size


def test_membership() -> None:
    assert check("in", "permissive", ["disabled", "permissive"])
    assert not check("in", "enforcing", ["disabled", "permissive"])
    assert check("in", "9", [8, 9])
    assert check("not_in", "enforcing", ["disabled", "permissive"])
    with pytest.raises(OperatorError, match="list value"):
        check("in", "x", "x")
    with pytest.raises(OperatorError, match="single value"):
        check("in", ["a"], ["a"])


def test_ordering_numbers_sizes_durations() -> None:
    assert check("ge", 131072, 65536)
    assert check("ge", "unlimited", 65536)
    assert not check("lt", 8, "8")
    assert check("le", 8, "8")
    assert check("ge", 16 * 2**30, "16Gi")
    assert not check("ge", 16 * 10**9, "16Gi")
    assert check("ge", 8 * 10**9, "8G")
    assert check("ge", "16Gi", 16 * 2**30)  # unit on the fact side
    assert check("le", 0.3, "300ms")
    assert check("ge", "5m0s", "300s")
    assert check("gt", "1h", 3599)
    assert not check("gt", "300ms", "1s")


@pytest.mark.parametrize(("fact", "value", "match"), [
    ([1, 2], 1, "got a list"), ({"a": 1}, "8G", "got a mapping"), (True, 1, "boolean"),
    ("many", 3, "'many'"), ("8G", "5m", "cannot compare a size with a duration"),
    (None, 1, "null"),
])
def test_ordering_wrong_types_raise(fact: Any, value: Any, match: str) -> None:
    with pytest.raises(OperatorError, match=match):
        check("ge", fact, value)


def test_ordering_bad_unit_in_value_raises_at_compile() -> None:
    with pytest.raises(OperatorError, match="unknown unit"):
        compile_op("ge", "8Q")


def test_version_ops() -> None:
    assert check("version_ge", "v1.28.5", "1.28.5")
    assert check("version_ge", "1.28.10", "1.28.5")
    assert not check("version_ge", "1.28.4", "1.28.5")
    assert check("version_lt", "1.27.99", "1.28")
    assert check("version_eq", "1.28.5-0", "v1.28.5")
    assert check("version_gt", "1.28.1", "1.28")
    assert check("version_le", "1.28", "1.28.0")
    with pytest.raises(OperatorError, match="not a version"):
        compile_op("version_ge", "stable")
    with pytest.raises(OperatorError):
        check("version_ge", ["1.28"], "1.28")


def test_regex() -> None:
    assert check("regex", "m01.example.com", r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9-]+)*$")
    assert not check("regex", "M_01", r"^[a-z0-9.-]+$")
    assert check("not_regex", "fall 2", r"\bfail\b")
    assert check("regex", 6443, r"^\d+$")
    assert check("regex", True, "^true$")
    with pytest.raises(OperatorError, match="bad regex"):
        compile_op("regex", "(")
    with pytest.raises(OperatorError):
        check("regex", ["a"], "a")


def test_contains_and_missing_items_text() -> None:
    mods = ["ip_vs", "overlay", "nf_conntrack"]
    assert check("contains", mods, "ip_vs")
    assert check("contains", mods, ["ip_vs", "overlay"])
    assert not check("contains", mods, ["ip_vs", "br_netfilter", "ip_vs_sh"])
    op = compile_op("contains", ["ip_vs", "br_netfilter", "ip_vs_sh"])
    assert op.explain(mods) == "missing br_netfilter, ip_vs_sh"
    assert op.expected == "contains ip_vs, br_netfilter, ip_vs_sh"
    assert check("contains", "Configuration file is valid", "is valid")
    assert check("contains", {"memory.available": "100Mi"}, "memory.available")
    assert check("contains", [6443, 16443], "6443")
    assert check("not_contains", mods, ["br_netfilter"])
    nc = compile_op("not_contains", ["overlay", "x"])
    assert not nc.test(mods)
    assert nc.explain(mods) == "contains overlay"
    with pytest.raises(OperatorError):
        check("contains", 5, "5")


@pytest.mark.parametrize(("fact", "empty"), [
    ([], True), ({}, True), ("", True), (None, True), ([{}], False), ("x", False),
    (0, False), (False, False),
])
def test_empty(fact: Any, empty: bool) -> None:
    assert check("empty", fact) is empty
    assert check("not_empty", fact) is not empty


def test_exists_and_missing() -> None:
    assert check("exists", 0)
    assert check("exists", None)
    assert not check("exists", MISSING)
    assert check("missing", MISSING)
    assert not check("missing", "")


def test_cidr_ops() -> None:
    assert check("cidr_in", "192.168.40.199", "192.168.40.0/24")
    assert check("cidr_in", ["192.168.40.1", "192.168.40.2"], "192.168.40.0/24")
    op = compile_op("cidr_in", "192.168.40.0/24")
    assert not op.test(["192.168.40.1", "192.168.50.3"])
    assert op.explain(["192.168.40.1", "192.168.50.3"]) == "outside: 192.168.50.3"
    assert check("cidr_in", {"address": "10.1.2.3", "prefixlen": 24}, "10.0.0.0/8")
    assert check("cidr_not_overlap", ["192.168.40.0/24", "fd00::/64"],
                 ["172.16.0.0/16", "10.96.0.0/16"])
    ov = compile_op("cidr_not_overlap", ["172.16.0.0/16", "10.96.0.0/16"])
    assert not ov.test(["192.168.40.0/24", "10.96.0.0/12"])
    assert ov.explain(["192.168.40.0/24", "10.96.0.0/12"]) == "10.96.0.0/12 overlaps 10.96.0.0/16"
    assert check("cidrs_disjoint", ["192.168.40.0/24", "172.16.0.0/16", "10.96.0.0/16"])
    dj = compile_op("cidrs_disjoint")
    assert dj.explain(["10.0.0.0/8", "10.96.0.0/16"]) == "10.0.0.0/8 overlaps 10.96.0.0/16"
    assert check("cidr_private", ["192.168.40.0/24", "172.16.0.0/16", "10.96.0.0/16"])
    pv = compile_op("cidr_private")
    assert not pv.test(["192.0.0.0/16", "10.96.0.0/16"])
    assert pv.explain(["192.0.0.0/16", "10.96.0.0/16"]) == "not private: 192.0.0.0/16"
    with pytest.raises(OperatorError, match="not an IP"):
        check("cidr_in", "m01", "10.0.0.0/8")
    with pytest.raises(OperatorError, match="needs a list"):
        check("cidrs_disjoint", "10.0.0.0/8")
    with pytest.raises(OperatorError):
        compile_op("cidr_in", "10.0.0.0/40")


def test_unique_names_duplicates() -> None:
    assert check("unique", ["m01", "m02", "m03"])
    op = compile_op("unique")
    assert not op.test(["m01", "m02", "m01", "m03", "m02", "m01"])
    assert op.explain(["m01", "m02", "m01", "m03", "m02", "m01"]) == \
        "duplicates: m01 (3x), m02 (2x)"
    with pytest.raises(OperatorError):
        check("unique", "m01")


def test_booleans() -> None:
    assert check("true", True)
    assert check("true", "true")
    assert check("false", False)
    assert not check("true", False)
    with pytest.raises(OperatorError, match="boolean"):
        check("true", "maybe")
    with pytest.raises(OperatorError, match="boolean"):
        check("false", 0)


def test_unknown_operator() -> None:
    with pytest.raises(OperatorError, match="unknown operator 'equals'"):
        compile_op("equals", 1)


# --------------------------------------------------------------------- human text


def test_expected_texts() -> None:
    assert compile_op("ge", "8Gi").expected == ">= 8 GiB"
    assert compile_op("ge", "8G").expected == ">= 8 GB"
    assert compile_op("le", "500ms").expected == "<= 500ms"
    assert compile_op("eq", 1).expected == "= 1"
    assert compile_op("in", ["disabled", "permissive"]).expected == \
        "in [disabled, permissive]"
    assert compile_op("empty").expected == "empty"
    assert compile_op("version_ge", "1.28.5").expected == "version >= 1.28.5"


def test_observed_texts() -> None:
    swap = [{"device": "/dev/zram0", "type": "partition", "size_bytes": 4080218931, "zram": True}]
    assert describe(swap) == "/dev/zram0 (zram, 3.8 GiB)"
    disk = [{"device": "/dev/sda2", "type": "partition", "size_bytes": 2 * 2**30, "zram": False}]
    assert describe(disk) == "/dev/sda2 (partition, 2 GiB)"
    assert describe([]) == "empty"
    assert describe(True) == "true"
    assert describe(["a", "b"]) == "a, b"
    assert len(describe(["x" * 50] * 50)) <= 300
    op = compile_op("ge", "8Gi")
    assert op.explain(7 * 2**30 + 2**29) == "7.5 GiB"
    assert compile_op("ge", "8G").explain(7_800_000_000) == "7.8 GB"
    assert compile_op("le", "500ms").explain(0.812) == "812ms"


@pytest.mark.parametrize(("name", "version", "ok", "says"), [
    ("pod-infra-container-image", "1.34.2", True, ""),
    ("pod-infra-container-image", "v1.35.0", False, "removed: last in 1.34"),
    ("pod_manifest_path", "1.35.0", True, ""),            # pflag reads _ as -
    ("fail-cgroupv1", "1.30.1", False, "added in 1.31"),
    ("preemption", "1.31.0", False, "never in 1.28-1.36"),
])
def test_known_name_judges_kubelet_flags_by_the_kubelets_own_version(
        name: str, version: str, ok: bool, says: str) -> None:
    op = compile_op("known_name", {"list": "kubelet.flags", "version": version})
    assert op.test(name) is ok
    if not ok:
        assert op.explain(name).split(";")[0] == says
        assert op.expected.startswith(f"known to kubelet {version.lstrip('v')[:4]}")


def test_known_name_gates_exact_newer_versions_and_bad_input() -> None:
    gates = {"list": "gates.txt", "normalise": False}
    assert compile_op("known_name", {**gates, "version": "1.30.0"}).test("APIPriorityAndFairness")
    op = compile_op("known_name", {**gates, "version": "1.31.0"})
    assert not op.test("APIPriorityAndFairness")
    assert op.explain("APIPriorityAndFairness") == "removed: last in 1.30"
    assert not compile_op("known_name", {**gates, "version": "1.33.1"}).test("AppArmor")
    assert not compile_op("known_name", {**gates, "version": "1.35.0"}).test("Pod_Level")
    newer = compile_op("known_name", {**gates, "version": "1.40.2"})
    assert newer.test("PodLevelResources")
    assert "newer than kaudit's data: judged by 1.36" in newer.expected
    with pytest.raises(OperatorError, match="is not a version"):
        compile_op("known_name", {**gates, "version": "latest"})
    with pytest.raises(OperatorError, match="needs a value"):
        compile_op("known_name", "kubelet.flags")


def test_known_name_reads_etcd_lists_by_etcds_version() -> None:
    op = compile_op("known_name", {"list": "etcd/flags.txt", "version": "3.6.5"})
    assert op.test("listen-metrics-urls")
    assert "etcd flags 3.6" in op.expected


def test_minor_skew_and_release_supported() -> None:
    skew = compile_op("minor_skew", {"newest": 36, "oldest": "1.35.2", "older": 3, "newer": 0})
    assert [skew.test(v) for v in ("1.32.0", "1.33.9", "v1.35", 36)] == [False, True, True, False]
    assert skew.explain("1.36.0") == "1.36, 1 minor newer than apiserver 1.35"
    assert skew.explain("1.32.1") == "1.32, 4 minors older than apiserver 1.36"
    with pytest.raises(OperatorError):
        compile_op("minor_skew", {"newest": "latest", "oldest": 35}).test("1.35")
    day = {"as_of": "2026-12-01"}
    supported = compile_op("release_supported", day)
    assert [supported.test(v) for v in ("1.34.9", "1.35.0", "1.37.1", "1.41.0")] == \
        [False, True, True, True]
    assert supported.explain("1.34.9") == "1.34.9 (1.34 reached end of life on 2026-10-27)"
    assert compile_op("release_supported", {**day, "margin_days": 100}).test("1.35.0") is False
    with pytest.raises(OperatorError, match="not a date"):
        compile_op("release_supported", {"as_of": "1 December"})


def test_name_status_reads_etcds_own_deprecations() -> None:
    op = compile_op("name_status", {"list": "etcd/flags-status.tsv", "version": "3.6.4"})
    assert op.test("data-dir") and op.test("not-a-flag-at-all")
    assert not op.test("experimental-initial-corrupt-check")
    assert op.explain("experimental-initial-corrupt-check") == \
        "use --feature-gates=InitialCorruptCheck=true"
    assert op.explain("max-retry-attempts").startswith("accepted and ignored")
