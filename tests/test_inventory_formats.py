"""Inventories as people have them: Kubespray's current sample layout, Ansible YAML
with group_vars/ and host_vars/, KubeKey 3.x and 4.x files, and kubeadm configs
as the cluster plan. Files under fixtures/inventories/ use each tool's real file
names and keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest
from common import host, run_rule

from kaudit.core.errors import InventoryError
from kaudit.core.model import HostFacts
from kaudit.inventory import load_inventory

INV = Path(__file__).resolve().parents[1] / "fixtures" / "inventories"
KAUDIT = [sys.executable, "-m", "kaudit"]


def write(tmp: Path, rel: str, text: str) -> Path:
    p = tmp / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(dedent(text))
    return p


# ------------------------------------------------------------------- Kubespray


def test_kubespray_sample_gets_its_run_time_groups_and_their_group_vars() -> None:
    path = INV / "kubespray-sample" / "inventory.ini"
    inv = load_inventory(path)
    assert [(h.name, h.roles) for h in inv.hosts][:1] == [("node1", ("master", "etcd"))]
    assert [h.name for h in inv.by_role("worker")] == ["node4", "node5", "node6"]
    # group_vars/k8s_cluster applies although the inventory never declares k8s_cluster.
    k8s = str(INV / "kubespray-sample" / "group_vars" / "k8s_cluster" / "k8s-cluster.yml")
    assert inv.vars["pod_cidr"] == "10.233.64.0/18"
    assert inv.vars["service_cidr"] == "10.233.0.0/18"
    assert inv.origins["pod_cidr"] == f"{k8s}:14" and inv.origins["service_cidr"] == f"{k8s}:10"
    assert inv.vars["vip"] == "10.3.0.100" and inv.vars["lb_port"] == 16443
    assert inv.vars["lb_dns_name"] == "k8s-api.example.internal"
    assert any("run-time groups added: k8s_cluster" in n for n in inv.notes)
    assert "k8s_cluster" in inv.groups
    # Jinja expressions (kube_apiserver_ip, dns_domain, kube_cert_dir) never reach vars.
    assert not any("{{" in str(v) for v in inv.vars.values())
    # `ip` is the cluster address; SSH still goes to ansible_host.
    node1 = inv.hosts[0]
    assert (node1.address, node1.ip, node1.cluster_address) == (
        "95.54.0.12", "10.3.0.1", "10.3.0.1")


def test_rules_judge_the_cluster_address_not_the_ssh_address() -> None:
    inv = load_inventory(INV / "kubespray-sample" / "inventory.ini",
                         {"node_cidr": "10.3.0.0/24"})
    hosts = [HostFacts(host=h, facts={"hostname": h.name}) for h in inv.hosts]
    (result,) = run_rule("network.nodes-in-node-cidr", hosts, vars=inv.vars)
    assert result.status == "pass", result.message       # 10.3.0.x, not 95.54.0.x
    ssh_only = [HostFacts(host=h.__class__(**{**h.__dict__, "ip": None}),
                          facts={"hostname": h.name}) for h in inv.hosts]
    (result,) = run_rule("network.nodes-in-node-cidr", ssh_only, vars=inv.vars)
    assert result.status == "fail" and "95.54.0.12" in result.message


def test_a_declared_k8s_cluster_group_is_kept_as_written(tmp_path: Path) -> None:
    inv_path = write(tmp_path, "hosts.ini", """\
        [kube_control_plane]
        m1
        [kube_node]
        w1
        [k8s_cluster:children]
        kube_control_plane
        """)
    write(tmp_path, "group_vars/k8s_cluster.yml", "kube_pods_subnet: 10.1.0.0/16\n")
    inv = load_inventory(inv_path)
    assert inv.vars["pod_cidr"] == "10.1.0.0/16"
    assert inv.groups["k8s_cluster"] == ["m1"] and inv.notes == []


# ---------------------------------------------------------------- Ansible YAML


def test_ansible_yaml_inventory_with_group_vars_and_host_vars() -> None:
    path = INV / "ansible-yaml" / "hosts.yml"
    inv = load_inventory(path)
    assert inv.format == "yaml"
    by = {h.name: h for h in inv.hosts}
    assert list(by) == ["bastion-probe", "m01", "m02", "m03", "n01", "n02"]
    assert by["bastion-probe"].connection == "local" and by["bastion-probe"].roles == ()
    # host_vars/m01.yml, host_vars/m02/conn.yml (a directory), host_vars/m03.yaml
    assert [by[m].address for m in ("m01", "m02", "m03")] == [
        "192.168.40.190", "192.168.40.191", "192.168.40.192"]
    # precedence: the group's inline port 2222 < host_vars/m02/conn.yml's 22
    assert (by["m01"].port, by["m02"].port) == (2222, 22)
    assert by["m01"].roles == ("master", "etcd") and by["n02"].ip == "10.10.0.194"
    assert by["n01"].user == "rocky"                     # from all: vars
    # all < parent group < child group: pod_cidr from group_vars/k8s_cluster, not all:
    assert inv.vars["pod_cidr"] == "172.16.0.0/16"
    assert inv.origins["pod_cidr"].endswith("group_vars/k8s_cluster/network.yml:1")
    assert inv.origins["service_cidr"] == f"{path}:14"
    assert inv.vars["vip"] == "192.168.40.199" and inv.vars["timezone"] == "Asia/Shanghai"


@pytest.mark.parametrize(("text", "line", "says"), [
    ("all:\n  children:\n    masters:\n      host: m01\n", 4, "unknown key 'host'"),
    ("all:\n  hosts:\n    - m01\n", 2, "hosts must be a mapping"),
    ("all:\n  vars:\n    bad-name: 1\n  hosts:\n    m01:\n", 3, "invalid variable name"),
    ("all:\n  children:\n    kube_node:\n      hosts:\n        w[3:1]:\n", 5, "range"),
])
def test_yaml_inventory_errors_name_the_line(tmp_path: Path, text: str, line: int,
                                             says: str) -> None:
    p = write(tmp_path, "hosts.yml", text)
    with pytest.raises(InventoryError) as info:
        load_inventory(p, fmt="yaml")
    assert str(info.value).startswith(f"{p}:{line}:") and says in str(info.value)


def test_an_unresolved_jinja_value_is_noted_with_its_line_and_left_unset(tmp_path: Path) -> None:
    p = write(tmp_path, "hosts.yml", """\
        all:
          hosts:
            m01:
          vars:
            pod_cidr: "{{ kube_pods_subnet }}"
            service_cidr: 10.96.0.0/16
            site: "{{ lookup('env', 'SITE') }}"
        """)
    inv = load_inventory(p)
    assert "pod_cidr" not in inv.vars and "site" not in inv.vars
    assert inv.vars["service_cidr"] == "10.96.0.0/16"
    assert inv.origins["pod_cidr"] == f"unresolved ({p}:5)"
    assert any(f"{p}:5: pod_cidr: cannot evaluate template" in n for n in inv.notes)
    assert any("site holds a Jinja expression" in n for n in inv.notes)


# --------------------------------------------------------------------- KubeKey


def test_kubekey_3_cluster_file_with_ranges_and_the_plan() -> None:
    path = INV / "kubekey" / "config-sample.yaml"
    inv = load_inventory(path)
    assert inv.format == "kubekey3"
    by = {h.name: h for h in inv.hosts}
    assert [h.name for h in inv.by_role("master")] == ["node1", "node2", "node3"]
    assert [h.name for h in inv.by_role("worker")] == ["node4", "node5"]
    assert (by["node1"].port, by["node1"].user, by["node1"].ip) == (8022, "ubuntu",
                                                                      "172.16.0.2")
    assert by["node3"].identity == "~/.ssh/id_rsa"
    assert inv.vars["vip"] == "172.16.0.100" and inv.vars["lb_port"] == 16443
    assert inv.vars["pod_cidr"] == "10.233.64.0/18" and inv.vars["timezone"] == "Asia/Shanghai"
    assert inv.vars["k8s_version"] == "v1.35.2" and inv.vars["etcd_data_dir"] == "/var/lib/etcd"
    assert inv.origins["pod_cidr"] == f"{path}:39"


def test_kubekey_passwords_are_used_for_login_but_never_shown(tmp_path: Path) -> None:
    path = INV / "kubekey" / "config-sample.yaml"
    inv = load_inventory(path)
    node1 = inv.hosts[0]
    assert node1.secrets == {"ansible_password": "Qcloud@123"}
    assert "Qcloud" not in repr(node1) and "Qcloud" not in json.dumps(node1.to_dict())
    cp = subprocess.run([*KAUDIT, "inventory", "show", str(path), "--format", "json"],
                        capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0 and "Qcloud" not in cp.stdout + cp.stderr
    assert "node[1:3]" not in cp.stdout and '"node3"' in cp.stdout


def test_kubekey_4_inventory() -> None:
    inv = load_inventory(INV / "kubekey" / "inventory.yaml")
    assert inv.format == "kubekey4"
    by = {h.name: h for h in inv.hosts}
    assert [h.name for h in inv.by_role("master")] == ["node1", "node2"]
    assert [h.name for h in inv.by_role("worker")] == ["node3"]      # kube_worker
    assert [h.name for h in inv.by_role("etcd")] == ["node1", "node2"]
    assert (by["node1"].address, by["node1"].ip) == ("192.168.10.11", "10.0.0.11")
    assert by["node2"].identity == "/root/.ssh/id_ed25519" and by["node1"].secrets
    assert sorted(inv.groups["k8s_cluster"]) == ["node1", "node2", "node3"]


def test_kubekey_errors_name_the_line(tmp_path: Path) -> None:
    text = (INV / "kubekey" / "config-sample.yaml").read_text().replace(
        "    - node[4:5]", "    - node[4:6]")
    p = write(tmp_path, "cluster.yaml", text)
    with pytest.raises(InventoryError) as info:
        load_inventory(p)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "node[4:6]" in ln)
    assert str(info.value) == f"{p}:{line}: roleGroups.worker: 'node6' is not in spec.hosts"


# ------------------------------------------------------------- kubeadm config


def test_kubeadm_v1beta4_config_is_the_plan() -> None:
    cfg = INV / "kubeadm" / "kubeadm-v1beta4.yaml"
    inv = load_inventory(INV / "kubekey" / "inventory.yaml", kubeadm_config=cfg)
    assert (inv.vars["pod_cidr"], inv.vars["service_cidr"]) == ("172.16.0.0/16",
                                                                "10.96.0.0/16")
    assert (inv.vars["vip"], inv.vars["lb_port"]) == ("192.168.40.199", 16443)
    assert inv.vars["k8s_version"] == "v1.35.2" and inv.vars["apiserver_port"] == 6443
    assert inv.vars["etcd_data_dir"] == "/var/lib/etcd"
    # Lines are the file's own, across `---` documents.
    assert inv.origins["pod_cidr"] == f"{cfg}:15" and inv.origins["apiserver_port"] == f"{cfg}:6"


def test_kubeadm_v1beta3_dns_endpoint_and_dual_stack_and_the_inventory_disagreeing() -> None:
    cfg = INV / "kubeadm" / "kubeadm-v1beta3.yaml"
    inv = load_inventory(INV / "kubespray-sample" / "inventory.ini", kubeadm_config=cfg)
    assert inv.vars["lb_dns_name"] == "k8s-api.example.internal"
    assert inv.vars["pod_cidr"] == "10.244.0.0/16"          # the IPv4 family of a dual stack
    assert inv.vars["vip"] == "10.3.0.100"                  # not in the kubeadm config
    (note,) = [n for n in inv.notes if n.startswith("pod_cidr:")]
    assert "the kubeadm config says 10.244.0.0/16" in note and "10.233.64.0/18" in note


@pytest.mark.parametrize(("text", "line", "says"), [
    ("apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n", 1,
     "kubeadm config kubeadm.k8s.io/v1beta2 is not supported"),
    ("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n", 1,
     "no kubeadm.k8s.io ClusterConfiguration"),
    ("apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n---\n"
     "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n"
     "controlPlaneEndpoint: 10.0.0.1:port\n", 6, "port 'port' is not a number"),
])
def test_kubeadm_config_errors_name_the_line(tmp_path: Path, text: str, line: int,
                                             says: str) -> None:
    cfg = write(tmp_path, "kubeadm.yaml", text)
    with pytest.raises(InventoryError) as info:
        load_inventory(INV / "kubespray-sample" / "inventory.ini", kubeadm_config=cfg)
    assert str(info.value).startswith(f"{cfg}:{line}:") and says in str(info.value)


def test_a_kubeadm_config_given_as_the_inventory_is_explained() -> None:
    cfg = INV / "kubeadm" / "kubeadm-v1beta3.yaml"
    with pytest.raises(InventoryError, match="give it as --kubeadm-config"):
        load_inventory(cfg)


# ----------------------------------------------------------- detection and CLI


@pytest.mark.parametrize(("rel", "fmt"), [
    ("kubespray-sample/inventory.ini", "ini"), ("ansible-yaml/hosts.yml", "yaml"),
    ("kubekey/config-sample.yaml", "kubekey3"), ("kubekey/inventory.yaml", "kubekey4"),
    ("seed-lab.txt", "ini"),
])
def test_format_is_detected_by_content(rel: str, fmt: str) -> None:
    assert load_inventory(INV / rel).format == fmt


def test_inventory_show_prints_where_each_var_came_from() -> None:
    path = INV / "kubespray-sample" / "inventory.ini"
    cp = subprocess.run([*KAUDIT, "inventory", "show", str(path)], capture_output=True,
                        text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    line = next(ln for ln in cp.stdout.splitlines() if ln.startswith("pod_cidr"))
    assert "10.233.64.0/18" in line and line.rstrip().endswith("k8s-cluster.yml:14")
    assert "note: Kubespray run-time groups added: k8s_cluster" in cp.stdout
    bad = subprocess.run([*KAUDIT, "inventory", "show", str(path), "--kubeadm-config",
                          str(path)], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_kubespray_hosts_scan_offline_with_their_plan() -> None:
    """The facts of a host judged against the Kubespray plan: its pod CIDR rule sees
    the CIDRs from group_vars/k8s_cluster, which no --var had to repeat."""
    inv = load_inventory(INV / "kubespray-sample" / "inventory.ini")
    (result,) = run_rule("network.cidrs-disjoint", [host("node1", {}, ("master",))],
                         vars=inv.vars)
    assert result.status == "pass"
    (result,) = run_rule("network.cidrs-disjoint", [host("node1", {}, ("master",))],
                         vars={**inv.vars, "service_cidr": "10.233.64.0/20"})
    assert result.status == "fail"


DOCS = Path(__file__).resolve().parents[1] / "docs" / "inventory"


def _example(page: str) -> str:
    text = (DOCS / page).read_text()
    start = max(text.find("```yaml\n"), text.find("```ini\n"))
    start = text.index("\n", start) + 1
    return text[start:text.index("```", start)]


@pytest.mark.parametrize(("page", "fmt", "hosts"), [
    ("ini.md", "ini", 6), ("ansible-yaml.md", "yaml", 4), ("kubespray.md", "ini", 4),
    ("kubekey.md", "kubekey3", 2),
])
def test_each_format_page_has_a_smallest_working_example(tmp_path: Path, page: str, fmt: str,
                                                        hosts: int) -> None:
    p = write(tmp_path, "inventory", _example(page))
    inv = load_inventory(p)
    assert inv.format == fmt and len(inv.hosts) == hosts
    assert inv.by_role("master")


def test_the_kubeadm_page_example_is_a_working_plan(tmp_path: Path) -> None:
    cfg = write(tmp_path, "kubeadm.yaml", _example("kubeadm.md"))
    inv = load_inventory(write(tmp_path, "hosts", "[masters]\nm01\n"), kubeadm_config=cfg)
    assert inv.vars["vip"] == "192.168.40.199" and inv.vars["pod_cidr"] == "172.16.0.0/16"
