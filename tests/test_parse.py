"""The parser on recorded probe outputs (exact facts per section) and under
hostile input (property tests): it never raises and always returns a dict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kaudit.facts.parse import parse_probe_output
from kaudit.facts.parsers.kube import parse_feature_gates, parse_flags, parse_kv_pairs
from kaudit.facts.parsers.lb import parse_haproxy_config, parse_keepalived_config

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "probe"
SEED_MODULES = ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_sh", "nf_conntrack", "br_netfilter",
                "overlay"]


# The Rocky recordings predate the probe's health sections (certs, etcd metrics,
# health endpoints, df -i): exactly these are noted as missing, nothing else.
NEWER_SECTIONS = [f"{s}: section {s} missing from the probe output"
                  for s in ("certs", "etcd-metrics", "health", "disks")]


def load(name: str) -> tuple[dict[str, Any], list[str]]:
    facts, notes = parse_probe_output((FIXTURES / f"{name}.out").read_bytes())
    if name.startswith("rocky9-"):
        assert notes[-len(NEWER_SECTIONS):] == NEWER_SECTIONS, notes
        notes = notes[:-len(NEWER_SECTIONS)]
    return facts, notes


@pytest.fixture(scope="module")
def pre() -> dict[str, Any]:
    facts, notes = load("rocky9-master-preflight")
    assert notes == []
    return facts


@pytest.fixture(scope="module")
def worker() -> dict[str, Any]:
    facts, notes = load("rocky9-worker-preflight")
    assert notes == []
    return facts


@pytest.fixture(scope="module")
def inst() -> dict[str, Any]:
    facts, notes = load("rocky9-master-installed")
    assert notes == []
    return facts


def test_header_and_probe(pre: dict[str, Any]) -> None:
    assert pre["probe"] == {"complete": True, "version": "1", "uid": 0,
                            "timeout_method": "plain", "duration_s": 1.482}
    assert pre["time"]["epoch"] == pytest.approx(1795744800.123456789)
    assert pre["ulimit"] == {"nofile_soft": 1024, "nofile_hard": 524288}


def test_os_kernel_host(pre: dict[str, Any], worker: dict[str, Any]) -> None:
    assert pre["os"] == {"name": "Rocky Linux", "id": "rocky", "id_like": "rhel centos fedora",
                         "version_id": "9.4", "pretty_name": "Rocky Linux 9.4 (Blue Onyx)",
                         "major": 9}
    assert pre["kernel"] == {"release": "5.14.0-427.13.1.el9_4.x86_64", "arch": "x86_64"}
    assert pre["hostname"] == "m01" and worker["hostname"] == "n01"
    assert pre["cpu"] == {"count": 4}
    assert pre["memory"]["total_bytes"] == 7869560 * 1024


def test_swap_selinux_services(pre: dict[str, Any], inst: dict[str, Any]) -> None:
    assert pre["swap"] == {"active": [], "fstab": [], "zram_generator": False,
                           "units_enabled": [], "swappiness": 30}
    assert pre["selinux"] == {"mode": "disabled", "config": "disabled"}
    assert pre["services"]["firewalld"] == {"active": "inactive", "enabled": "disabled"}
    assert pre["services"]["dnsmasq"] == {"active": "not-found", "enabled": "not-found"}
    assert pre["services"]["chronyd"] == {"active": "active", "enabled": "enabled"}
    assert pre["services"]["kubelet"]["active"] == "not-found"
    assert inst["services"]["kubelet"] == {"active": "active", "enabled": "enabled"}
    assert inst["services"]["containerd"] == {"active": "active", "enabled": "enabled"}
    assert len(pre["services"]) == 11


def test_time(pre: dict[str, Any]) -> None:
    t = pre["time"]
    assert t["timezone"] == "Asia/Shanghai" and t["timezone_file"] == "Asia/Shanghai"
    assert t["synchronized"] is True
    assert t["chrony_offset_s"] == pytest.approx(-0.000023468)
    assert t["ntpdate_cron"] is True
    assert t["sources"] == ["time2.aliyun.com", "2.rocky.pool.ntp.org"]


def test_limits_modules_sysctl_cgroup(pre: dict[str, Any]) -> None:
    assert pre["limits"] == {"nofile": {"soft": 65536, "hard": 131072},
                             "nproc": {"soft": 65535, "hard": 655350},
                             "memlock": {"soft": "unlimited", "hard": "unlimited"}}
    for mod in SEED_MODULES:
        assert mod in pre["modules"]["loaded"]
        assert mod in pre["modules"]["persistent"]
    assert "ext4" in pre["modules"]["builtin"] and "ip_vs" not in pre["modules"]["builtin"]
    assert pre["sysctl"]["net.ipv4.ip_forward"] == "1"
    assert pre["sysctl"]["net.netfilter.nf_conntrack_max"] == "2310720"
    assert pre["sysctl"]["net.core.somaxconn"] == "16384"
    assert "fs.may_detach_mounts" not in pre["sysctl"]       # gone from 5.x kernels
    assert pre["sysctl_files"]["fs.may_detach_mounts"] == "1"
    assert pre["sysctl_files"]["net.bridge.bridge-nf-call-iptables"] == "1"
    assert pre["cgroup"] == {"version": 2}


def test_mounts_master(pre: dict[str, Any]) -> None:
    m = pre["mounts"]
    assert m["/var/lib/etcd"] == {
        "exists": True, "resolved": "/var/lib/etcd", "mountpoint": "/var/lib/etcd",
        "own_mount": True, "source": "/dev/nvme0n1p1", "fstype": "xfs", "disks": ["nvme0n1"],
        "rotational": False, "size_bytes": 104805380 * 1024,
        "fstab_spec": "UUID=5d2e8f6a-3b1c-4e7d-8a9f-2c4b6d8e0f13", "fstab_by_uuid": True}
    assert m["/data"]["own_mount"] is True and m["/data"]["fstab_by_uuid"] is True
    assert m["/data"]["disks"] == ["sdc"] and m["/data"]["fstype"] == "xfs"
    assert m["/var/lib/kubelet"]["resolved"] == "/data/kubelet"
    assert m["/var/lib/kubelet"]["mountpoint"] == "/data"
    assert m["/var/lib/kubelet"]["own_mount"] is False
    assert "fstab_spec" not in m["/var/lib/kubelet"]
    assert m["/var/lib/containers"]["mountpoint"] == "/data"
    # / is LVM on sda2: resolved through dm-0 -> sda2 -> sda
    assert m["/"]["disks"] == ["sda"] and m["/"]["rotational"] is True
    assert m["/"]["fstab_by_uuid"] is False


def test_mounts_worker(worker: dict[str, Any]) -> None:
    assert worker["mounts"]["/var/lib/etcd"] == {"exists": False}
    assert worker["mounts"]["/data"]["own_mount"] is True


def test_network_hosts_vip(pre: dict[str, Any], worker: dict[str, Any],
                           inst: dict[str, Any]) -> None:
    net = pre["network"]
    assert net["interfaces"]["ens160"] == {"mtu": 1500, "state": "up"}
    assert net["addresses"][0] == {"ifname": "ens160", "address": "192.168.40.190",
                                   "prefixlen": 24, "family": "inet"}
    assert all(a["ifname"] != "lo" for a in net["addresses"])
    assert net["routes"] == ["192.168.40.0/24", "::1/128", "fe80::/64"]
    assert net["default_ifname"] == "ens160"
    assert worker["network"]["addresses"][0]["address"] == "192.168.40.193"
    names = {n: e["address"] for e in pre["hosts_file"] for n in e["names"]}
    assert names["m01"] == "192.168.40.190" and names["n03"] == "192.168.40.195"
    assert pre["vip"] == {"address": "192.168.40.199", "port": 16443, "icmp": False,
                          "tcp": False, "tcp_method": "bash", "held": False}
    assert inst["vip"]["held"] is True and inst["vip"]["ifname"] == "ens160"
    assert inst["vip"]["icmp"] is True and inst["vip"]["tcp"] is True


def test_preflight_has_no_kubernetes(pre: dict[str, Any]) -> None:
    assert pre["kubernetes"] == {"installed": False, "manifests": {}}
    assert pre["versions"] == {}
    assert pre["containerd"] == {"config_present": False, "systemd_cgroup": False}
    assert pre["haproxy"] == {"config_present": False}
    assert pre["keepalived"] == {"config_present": False}
    assert "socat" not in pre["packages"]["installed"]
    assert {"ipvsadm", "ipset", "conntrack-tools"} <= set(pre["packages"]["installed"])
    assert "ipvsadm" in pre["commands"] and "socat" not in pre["commands"]


def test_manifests(inst: dict[str, Any]) -> None:
    k8s = inst["kubernetes"]
    assert k8s["installed"] is True
    assert set(k8s["manifests"]) == {"etcd", "kube-apiserver", "kube-controller-manager",
                                     "kube-scheduler"}
    api = k8s["manifests"]["kube-apiserver"]
    assert api["image"] == "registry.k8s.io/kube-apiserver:v1.28.5"
    assert api["args"]["max-requests-inflight"] == "1500"
    assert api["args"]["max-mutating-requests-inflight"] == "500"
    assert api["args"]["request-timeout"] == "300s"
    assert api["args"]["service-cluster-ip-range"] == "10.96.0.0/16"
    assert api["command"][0] == "kube-apiserver"
    assert "feature_gates" not in api
    cm = k8s["manifests"]["kube-controller-manager"]["args"]
    assert cm["cluster-cidr"] == "172.16.0.0/16" and cm["allocate-node-cidrs"] == "true"
    assert k8s["manifests"]["etcd"]["args"]["data-dir"] == "/var/lib/etcd"


def test_kubelet(inst: dict[str, Any]) -> None:
    k = inst["kubelet"]
    assert k["config"]["kind"] == "KubeletConfiguration"
    assert k["flags_source"] == "process"
    assert k["flags"]["config"] == "/var/lib/kubelet/config.yaml"
    # exact on the documented settings (other derived keys may be added beside them)
    documented = ("nodeStatusUpdateFrequency", "cgroupDriver", "evictionHard", "evictionSoft",
                  "clusterDNS", "featureGates")
    assert {key: v for key, v in k["effective"].items() if key in documented} == {
        "nodeStatusUpdateFrequency": "10s", "cgroupDriver": "systemd",
        "evictionHard": {"imagefs.available": "15%", "memory.available": "500Mi",
                         "nodefs.available": "10%", "nodefs.inodesFree": "5%"},
        "evictionSoft": {"memory.available": "1.5Gi", "nodefs.available": "10%",
                         "nodefs.inodesFree": "5%"},
        "clusterDNS": ["10.96.0.10"]}


def test_kubelet_flags_from_files_when_not_running() -> None:
    text = (FIXTURES / "rocky9-master-installed.out").read_text()
    start = text.index("@@kaudit:cmd kubelet-cmdline")
    end = text.index("@@kaudit:file /var/lib/kubelet/kubeadm-flags.env")
    facts, _ = parse_probe_output(text[:start] + text[end:])
    k = facts["kubelet"]
    assert k["flags_source"] == "files"
    assert k["flags"]["config"] == "/var/lib/kubelet/config.yaml"
    assert k["flags"]["container-runtime-endpoint"] == \
        "unix:///var/run/containerd/containerd.sock"
    assert k["effective"]["evictionSoft"]["memory.available"] == "1.5Gi"


def test_versions_containerd_lb(inst: dict[str, Any]) -> None:
    assert inst["versions"] == {"kubelet": "1.28.5", "kubelet_minor": 28, "kubeadm": "1.28.5",
                                "kubectl": "1.28.5",
                                "containerd": "1.6.32", "runc": "1.1.12",
                                "haproxy": "2.4.22-f8e3218", "keepalived": "2.2.8"}
    assert inst["containerd"] == {"config_present": True, "systemd_cgroup": True,
                                  "sandbox_image": "registry.k8s.io/pause:3.9"}
    ha = inst["haproxy"]
    assert ha["check_ok"] is True and "Configuration file is valid" in ha["check_output"]
    assert ha["frontends"] == [{"name": "k8s-master", "mode": "tcp",
                                "binds": ["0.0.0.0:16443", "127.0.0.1:16443"],
                                "default_backend": "k8s-master"}]
    be = ha["backends"][0]
    assert be["tcp_check"] is True and be["balance"] == "roundrobin"
    assert [(s["address"], s["port"], s["check"]) for s in be["servers"]] == [
        ("192.168.40.190", 6443, True), ("192.168.40.191", 6443, True),
        ("192.168.40.192", 6443, True)]
    assert "fall" in be["default_server"] and "fail" not in be["default_server"]
    ka = inst["keepalived"]
    inst_keys = ("name", "interface", "state", "priority", "virtual_router_id", "vips",
                 "track_scripts")
    assert [{key: i[key] for key in inst_keys} for i in ka["instances"]] == [
        {"name": "VI_1", "interface": "ens160", "state": "MASTER", "priority": 101,
         "virtual_router_id": 51, "vips": ["192.168.40.199"],
         "track_scripts": ["check_apiserver"]}]
    assert ka["scripts"]["check_apiserver"]["script"] == "/etc/keepalived/check_apiserver.sh"
    # secrets never reach facts
    assert "1111" not in json.dumps(inst)


def test_debian_recording() -> None:
    facts, notes = load("debian-local")
    assert facts["os"]["id"] == "debian"
    assert facts["probe"]["complete"] is True
    assert "debian" in json.dumps(facts["os"])
    assert isinstance(facts["packages"]["installed"], list) and facts["packages"]["installed"]
    assert all(isinstance(n, str) for n in notes)


# ---- small parsers --------------------------------------------------------

def test_flag_helpers() -> None:
    assert parse_flags(["kubelet", "--a=1", "--b", "--c", "x", "-v=2", "--d=e=f"]) == \
        {"a": "1", "b": "true", "c": "x", "v": "2", "d": "e=f"}
    assert parse_feature_gates("A=true, B=false,C=maybe") == {"A": True, "B": False,
                                                               "C": "maybe"}
    assert parse_kv_pairs("memory.available<100Mi,nodefs.available<10%", "<") == \
        {"memory.available": "100Mi", "nodefs.available": "10%"}


def test_kubelet_flag_wins_over_config() -> None:
    text = (FIXTURES / "rocky9-master-installed.out").read_text()
    text = text.replace("--eviction-soft-grace-period=",
                        "--node-status-update-frequency=30s\n--cgroup-driver=cgroupfs\n"
                        "--cluster-dns=10.96.0.10,10.96.0.11\n"
                        "--eviction-hard=memory.available<100Mi,nodefs.available<10%\n"
                        "--feature-gates=NodeRelease=true,GracefulNodeShutdown=false\n"
                        "--eviction-soft-grace-period=", 1)
    facts, _ = parse_probe_output(text)
    eff = facts["kubelet"]["effective"]
    assert eff["nodeStatusUpdateFrequency"] == "30s"
    assert eff["cgroupDriver"] == "cgroupfs"
    assert eff["clusterDNS"] == ["10.96.0.10", "10.96.0.11"]
    assert eff["evictionHard"] == {"memory.available": "100Mi", "nodefs.available": "10%"}
    assert eff["featureGates"] == {"NodeRelease": True, "GracefulNodeShutdown": False}


def test_seed_haproxy_typo_is_parsed_and_visible() -> None:
    cfg = parse_haproxy_config("backend b\n  default-server inter 10s fail 2\n"
                               "  server s1 [::1]:6443 check\nlisten l\n  bind :80\n")
    assert cfg["backends"][0]["default_server"] == ["inter", "10s", "fail", "2"]
    assert cfg["backends"][0]["servers"][0]["address"] == "::1"
    assert cfg["frontends"][0]["binds"] == [":80"]


def test_keepalived_one_line_blocks_and_unbalanced() -> None:
    cfg = parse_keepalived_config(
        'vrrp_instance V { interface eth0\n virtual_ipaddress { 10.0.0.5/24 dev eth0 }\n'
        ' track_script { chk }\n')
    assert cfg["instances"][0]["vips"] == ["10.0.0.5"]
    assert cfg["instances"][0]["track_scripts"] == ["chk"]
    assert cfg["instances"][0]["interface"] == "eth0"


def test_broken_manifest_drops_only_itself() -> None:
    text = (FIXTURES / "rocky9-master-installed.out").read_text()
    start = text.index("@@kaudit:file /etc/kubernetes/manifests/kube-scheduler.yaml")
    end = text.index("@@kaudit:file /var/lib/kubelet/config.yaml")
    bad = "@@kaudit:file /etc/kubernetes/manifests/kube-scheduler.yaml\n: : [ {\n\n"
    facts, notes = parse_probe_output(text[:start] + bad + text[end:])
    assert "kube-scheduler" not in facts["kubernetes"]["manifests"]
    assert "kube-apiserver" in facts["kubernetes"]["manifests"]
    assert any("kube-scheduler.yaml" in n for n in notes)


def test_malformed_section_notes_and_keeps_the_rest() -> None:
    text = (FIXTURES / "rocky9-master-preflight.out").read_text()
    text = text.replace("@@kaudit:section cpu\nnproc=4\nonline=0-3\ncpuinfo=4",
                        "@@kaudit:section cpu\nnproc=x\nonline=junk\n")
    facts, notes = parse_probe_output(text)
    assert "cpu" not in facts and "cpu: CPU count unknown" in notes
    assert facts["hostname"] == "m01"


def test_non_utf8_and_truncation_are_noted() -> None:
    raw = (FIXTURES / "rocky9-master-preflight.out").read_bytes()
    raw = raw.replace(b"Asia/Shanghai\n", b"Asia/\xff\xfeShanghai\n", 1)
    facts, notes = parse_probe_output(raw[: len(raw) // 2])
    assert any("UTF-8" in n for n in notes)
    assert any("truncated" in n for n in notes)
    assert facts["probe"]["complete"] is False
    assert facts["hostname"] == "m01"


def test_huge_lists_are_capped() -> None:
    body = "\n".join(f"mod{i} 1 0 - Live 0x0" for i in range(30000))
    text = (f"KAUDIT-PROBE 1 1.5\n@@kaudit:section modules\n@@kaudit:file /proc/modules\n"
            f"{body}\n\n@@kaudit:end 0\n")
    facts, notes = parse_probe_output(text)
    assert len(facts["modules"]["loaded"]) == 10000
    assert any("cut" in n for n in notes)


def test_not_a_probe_output() -> None:
    facts, notes = parse_probe_output(b"\x00\x01garbage\nmore")
    assert isinstance(facts, dict)
    assert any("KAUDIT-PROBE" in n for n in notes)


# ---- property tests -------------------------------------------------------

RECORDING = (FIXTURES / "rocky9-master-installed.out").read_bytes()
SECTIONS = ["meta", "os-release", "uname", "hostname", "cpu", "meminfo", "swap", "selinux",
            "services", "time", "limits", "modules", "sysctl", "sysctl-files", "cgroup",
            "mountinfo", "paths", "block", "network", "hosts", "vip", "kubernetes", "kubelet",
            "scheduler-config", "versions", "packages", "commands", "containerd", "haproxy",
            "keepalived", "done"]
MARKERS = ["@@kaudit:file /etc/fstab", "@@kaudit:cmd x rc=1", "@@kaudit:cmd y rc=zz",
           "@@kaudit:nofile /x", "@@kaudit:file /etc/kubernetes/manifests/a.yaml",
           "@@kaudit:file /var/lib/kubelet/config.yaml", "@@kaudit:file /proc/self/mountinfo",
           "@@kaudit:cmd systemctl-show rc=0", "@@kaudit:file /etc/haproxy/haproxy.cfg",
           "@@kaudit:file /etc/keepalived/keepalived.conf", "@@kaudit:end", "@@kaudit:bogus"]


def check(data: bytes | str) -> None:
    facts, notes = parse_probe_output(data)
    assert isinstance(facts, dict)
    assert all(isinstance(n, str) for n in notes)
    json.dumps(facts)             # facts are plain JSON data


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    check(data)
    check(b"KAUDIT-PROBE 1 1.0\n" + data)


line_st = st.one_of(
    st.sampled_from([f"@@kaudit:section {s}" for s in SECTIONS]),
    st.sampled_from(MARKERS),
    st.text(max_size=80),
    st.sampled_from(["key=value", "path / exists=1 link=0 resolved=/", "disk sda 8:0 rot=1",
                     "part sda1 8:1 parent=sda", "if eth0 mtu=x state=", "- a", "{", "}",
                     "  - --flag=1", "spec:", "  containers:", "vrrp_instance X {",
                     "server s 1.2.3.4:x check", "LoadState=not-found", "", "cron x: y"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(line_st, max_size=120))
def test_section_soup(lines: list[str]) -> None:
    check("KAUDIT-PROBE 1 1795744800.5\n" + "\n".join(lines))


@pytest.mark.parametrize("cut", range(0, len(RECORDING), 300))
def test_truncations_of_a_real_recording(cut: int) -> None:
    check(RECORDING[:cut])


def test_huge_lines_and_binary_sections() -> None:
    check(b"KAUDIT-PROBE 1 1.0\n@@kaudit:section hostname\nproc=" + b"x" * 5_000_000 + b"\n")
    check(b"KAUDIT-PROBE 1 1.0\n@@kaudit:section kubernetes\n"
          b"@@kaudit:file /var/lib/kubelet/config.yaml\n" + b"[" * 200_000 + b"\n")
    check(b"KAUDIT-PROBE 1 1.0\n@@kaudit:section keepalived\n"
          b"@@kaudit:file /etc/keepalived/keepalived.conf\n" + b"{" * 100_000 + b"\n")
    facts, _ = parse_probe_output(b"KAUDIT-PROBE 1 1.0\n@@kaudit:section hostname\nproc="
                                  + b"y" * 100_000 + b"\n@@kaudit:end 0\n")
    assert len(facts["hostname"]) <= 65536


def test_invalid_utf8_from_a_host_is_noted_when_collected() -> None:
    """The collector hands the parser the probe's bytes, so the note about
    undecodable output reaches the host's notes (it never fired when the
    collector decoded with errors='replace' first)."""
    from kaudit.collect.fanout import _fill
    from kaudit.collect.options import ProbeRun
    from kaudit.core.model import Host, HostFacts

    out = b"KAUDIT-PROBE 1 1700000000\n@@kaudit:sec hostname\ncmd=h\xff\xfe\n@@kaudit:end 0\n"
    hf = HostFacts(Host("h", "127.0.0.1"))
    run = ProbeRun(stdout=out, stderr=b"", exit_status=0, clock_offset_s=None,
                   clock_uncertainty_s=None, truncated=False)
    _fill(hf, run, parse_probe_output, 1 << 20)
    assert any("not valid UTF-8" in n for n in hf.notes), hf.notes
    assert "\ufffd" in (hf.raw or "")
