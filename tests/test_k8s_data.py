"""rules/k8s: the version-keyed flag, gate, kubeadm, kubelet-config and etcd
lists copied from the k8s-upstream extraction (tools/k8s_versions.py) are
complete and consistent, and the checker would notice if they were not."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
from common import ROOT

SPEC = importlib.util.spec_from_file_location("k8s_versions", ROOT / "tools" / "k8s_versions.py")
assert SPEC and SPEC.loader
k8s_versions = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(k8s_versions)


def test_the_shipped_data_is_complete_and_consistent() -> None:
    assert k8s_versions.problems() == []
    minors = sorted(p.name for p in (ROOT / "rules" / "k8s").glob("1.*"))
    assert {"1.28", "1.35", "1.36"} <= set(minors)
    assert (ROOT / "rules" / "k8s" / "PROVENANCE.md").read_text().startswith("# k8s-upstream")


@pytest.mark.parametrize(("minor", "flag", "known"), [
    ("1.34", "pod-infra-container-image", True),     # kubeadm 1.31-1.34 wrote it
    ("1.35", "pod-infra-container-image", False),    # gone in 1.35
    ("1.31", "fail-cgroupv1", True),
])
def test_facts_the_issue_names(minor: str, flag: str, known: bool) -> None:
    flags = k8s_versions.names(ROOT / "rules" / "k8s" / minor / "kubelet.flags")
    assert (flag in flags) is known


def test_the_checker_finds_broken_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(ROOT / "rules" / "k8s", copy)
    monkeypatch.setattr(k8s_versions, "OUT", copy)
    assert k8s_versions.problems() == []
    gates = copy / "1.35" / "gates.txt"
    gates.write_text("Zeta\nAlpha\n")                       # unsorted
    (copy / "1.34" / "kube-scheduler.flags").unlink()       # missing
    kubeadm = copy / "1.33" / "kubeadm" / "kube-apiserver.txt"
    kubeadm.write_text(kubeadm.read_text() + "no-such-flag\n")
    found = k8s_versions.problems()
    assert any("1.35/gates.txt: not sorted" in p for p in found)
    assert any("1.34: kube-scheduler.flags missing" in p for p in found)
    assert any("1.33/kubeadm/kube-apiserver.txt: not in kube-apiserver.flags" in p
               for p in found)
