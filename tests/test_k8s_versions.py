"""cp.unknown-flags on a stock kubeadm control plane of every minor version
kaudit has kubeadm data for (1.31 to the newest; rules/k8s/<minor>/kubeadm/,
extracted from kubeadm's sources): no failure. The same plane with one fault of
each kind fails exactly that rule."""

from __future__ import annotations

from typing import Any

import pytest
from common import ROOT, host, run_rule

K8S = ROOT / "rules" / "k8s"
MINORS = sorted((p.name for p in K8S.glob("1.*") if (p / "kubeadm").is_dir()),
                key=lambda m: int(m.split(".")[1]))
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def _names(path: Any) -> list[str]:
    return [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]


def _etcd_version(minor: str) -> str:
    for line in (K8S / "kubeadm-etcd-version.tsv").read_text().splitlines():
        fields = line.split("\t")
        if fields[0] == minor:
            return fields[1].split("-")[0]
    raise AssertionError(f"no etcd version for {minor}")


def stock(minor: str) -> dict[str, Any]:
    """A master as kubeadm `minor` sets it up: the flags it writes into the four
    static pod manifests and kubeadm-flags.env / 10-kubeadm.conf, at that version."""
    version = f"{minor}.0"
    kubeadm = K8S / minor / "kubeadm"
    manifests: dict[str, Any] = {
        c: {"version": version, "flag_names": _names(kubeadm / f"{c}.txt")} for c in COMPONENTS}
    etcd = _etcd_version(minor)
    etcd_flags = kubeadm / ("etcd.txt" if etcd.startswith("3.6") or
                            not (kubeadm / "etcd-pre-3.6.txt").exists() else "etcd-pre-3.6.txt")
    manifests["etcd"] = {"version": etcd, "flag_names": _names(etcd_flags)}
    return {"kubernetes": {"manifests": manifests},
            "versions": {"kubelet": version},
            "kubelet": {"flag_names": _names(kubeadm / "kubelet.txt")}}


def _status(facts: dict[str, Any]) -> tuple[str, str]:
    (result,) = run_rule("cp.unknown-flags", [host("m01", facts, ("master", "etcd"))],
                         phase="installed")
    return result.status, result.message


def test_data_covers_the_supported_lines() -> None:
    assert MINORS[0] == "1.31" and {"1.35", "1.36"} <= set(MINORS)


@pytest.mark.parametrize("minor", MINORS)
def test_stock_kubeadm_control_plane_has_no_unknown_flag(minor: str) -> None:
    assert _status(stock(minor)) == ("pass", "")


@pytest.mark.parametrize("minor", MINORS)
def test_one_fault_of_each_kind_fails(minor: str) -> None:
    n = int(minor.split(".")[1])
    # A flag the seed recommends that never existed.
    facts = stock(minor)
    facts["kubernetes"]["manifests"]["kube-scheduler"]["flag_names"].append("preemption")
    status, message = _status(facts)
    assert status == "fail" and "preemption: never in" in message
    # A gate from a newer version than the component.
    newest = MINORS[-1]
    newer = sorted(set(_names(K8S / newest / "gates.txt")) - set(_names(K8S / minor / "gates.txt")))
    if newer:
        facts = stock(minor)
        facts["kubernetes"]["manifests"]["kube-apiserver"]["feature_gate_names"] = [newer[0]]
        status, message = _status(facts)
        assert status == "fail" and f"{newer[0]}: added in" in message
    # A gate removed before this version (AppArmor was last in 1.32).
    if n >= 33:
        facts = stock(minor)
        facts["kubelet"]["feature_gate_names"] = ["AppArmor"]
        status, message = _status(facts)
        assert status == "fail" and "AppArmor: removed: last in 1.32" in message
    # A removed kubelet flag: --pod-infra-container-image is gone in 1.35.
    facts = stock(minor)
    facts["kubelet"]["flag_names"].append("pod-infra-container-image")
    status, message = _status(facts)
    assert status == ("fail" if n >= 35 else "pass"), message


def test_an_etcd_36_flag_on_etcd_35_fails() -> None:
    facts = stock("1.33")                                  # kubeadm 1.33: etcd 3.5
    assert facts["kubernetes"]["manifests"]["etcd"]["version"].startswith("3.5")
    facts["kubernetes"]["manifests"]["etcd"]["flag_names"] += _names(
        K8S / "1.34" / "kubeadm" / "etcd.txt")           # what kubeadm 1.34 writes (3.6)
    status, message = _status(facts)
    assert status == "fail" and "etcd flags 3.5" in message


def _results(facts: dict[str, Any], cluster_vars: dict[str, Any] | None = None) -> Any:
    (result,) = run_rule("cp.unknown-flags", [host("m01", facts, ("master", "etcd"))],
                         phase="installed", vars=cluster_vars or {})
    return result


def test_a_component_without_a_version_falls_back_to_kubeadm_then_the_cluster_var() -> None:
    facts = stock("1.35")
    del facts["kubernetes"]["manifests"]["kube-apiserver"]["version"]    # image by digest
    facts["kubernetes"]["manifests"]["kube-apiserver"]["flag_names"].append("cloud-provider")
    facts["versions"]["kubeadm"] = "1.35.2"
    result = _results(facts)
    assert result.status == "fail"
    assert "cloud-provider: removed: last in 1.32" in result.message
    assert "version from facts.versions.kubeadm" in result.message
    del facts["versions"]["kubeadm"]
    result = _results(facts, {"k8s_version": "1.35.2"})
    assert result.status == "fail" and "version from vars.k8s_version" in result.message


def test_a_component_with_no_known_version_is_an_error_naming_what_was_missing() -> None:
    facts = stock("1.35")
    del facts["versions"]["kubelet"]
    result = _results(facts)
    assert result.status == "error"
    for name in ("facts.versions.kubelet", "facts.versions.kubeadm", "vars.k8s_version"):
        assert name in result.message


@pytest.mark.parametrize(("where", "name", "version", "says"), [
    (("kubelet",), "pod-infra-container-image", "1.35.0", "sandbox (pause) image"),
    (("kubernetes", "manifests", "kube-apiserver"), "cloud-provider", "1.35.0",
     "external cloud-controller-manager"),
    (("kubernetes", "manifests", "etcd"), "experimental-initial-corrupt-check", "3.7.0",
     "use --feature-gates=InitialCorruptCheck=true"),
])
def test_a_removed_name_says_what_replaced_it(where: tuple[str, ...], name: str, version: str,
                                             says: str) -> None:
    facts = stock("1.35")
    node = facts
    for key in where:
        node = node[key]
    node["flag_names"].append(name)
    if where[-1] == "etcd":
        node["version"] = version
    status, message = _status(facts)
    assert status == "fail" and "removed: last in" in message and says in message


def test_etcd_flags_deprecated_in_its_version_are_a_low_finding_not_a_failure() -> None:
    facts = stock("1.33")                                   # etcd 3.5 flags ...
    facts["kubernetes"]["manifests"]["etcd"]["version"] = "3.6.5"     # ... on etcd 3.6
    facts["kubernetes"]["manifests"]["etcd"]["flag_names"].append(
        "experimental-watch-progress-notify-interval")
    assert _status(facts)[0] == "pass"                      # 3.6 still accepts it
    (result,) = run_rule("cp.deprecated-flags", [host("m01", facts, ("master", "etcd"))],
                         phase="installed")
    assert result.status == "fail" and result.severity == "low"
    assert "Use '--watch-progress-notify-interval' instead" in result.message
    (clean,) = run_rule("cp.deprecated-flags", [host("m01", stock("1.35"), ("master", "etcd"))],
                        phase="installed")
    assert clean.status == "pass"
