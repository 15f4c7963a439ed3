"""The inventory reader: Ansible INI subset, group_vars/, overrides, validation."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kaudit.core.errors import InputError, InventoryError
from kaudit.core.model import Inventory
from kaudit.inventory import (
    CLUSTER_VARS,
    MAX_RANGE_HOSTS,
    apply_overrides,
    is_secret,
    load_inventory,
    parse_inventory,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "inventories"


def parse(text: str) -> Inventory:
    return parse_inventory(textwrap.dedent(text), "hosts.txt")


def error(text: str) -> str:
    with pytest.raises(InventoryError) as info:
        parse(text)
    return str(info.value)


def host(inv: Inventory, name: str):  # type: ignore[no-untyped-def]
    return next(h for h in inv.hosts if h.name == name)


def write(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(textwrap.dedent(text), encoding="utf-8")
    return p


# ------------------------------------------------------------------ fixtures

def test_seed_lab_fixture() -> None:
    inv = load_inventory(FIXTURES / "seed-lab.txt")
    assert [h.name for h in inv.hosts] == ["m01", "m02", "m03", "n01", "n02", "n03"]
    assert [h.address for h in inv.hosts] == [f"192.168.40.{i}" for i in range(190, 196)]
    assert [h.name for h in inv.by_role("master")] == ["m01", "m02", "m03"]
    assert [h.name for h in inv.by_role("worker")] == ["n01", "n02", "n03"]
    # no etcd group: stacked etcd on the masters
    assert [h.name for h in inv.by_role("etcd")] == ["m01", "m02", "m03"]
    assert host(inv, "m01").roles == ("master", "etcd")
    assert all(h.user == "root" and h.port is None for h in inv.hosts)
    assert inv.vars["vip"] == "192.168.40.199"
    assert inv.vars["lb_port"] == 16443 and isinstance(inv.vars["lb_port"], int)
    assert inv.vars["apiserver_port"] == 6443
    assert inv.vars["node_cidr"] == "192.168.40.0/24"
    assert inv.vars["pod_cidr"] == "172.16.0.0/16"
    assert inv.vars["service_cidr"] == "10.96.0.0/16"
    assert inv.vars["timezone"] == "Asia/Shanghai"
    assert "k8s_version" not in inv.vars
    assert host(inv, "n02").line == 10
    assert inv.groups == {"masters": ["m01", "m02", "m03"], "workers": ["n01", "n02", "n03"]}


def test_kubespray_fixture_with_group_vars() -> None:
    inv = load_inventory(FIXTURES / "kubespray" / "inventory.ini")
    assert [h.name for h in inv.hosts] == ["node1", "node2", "node3", "node4", "node5"]
    assert [h.name for h in inv.by_role("master")] == ["node1", "node2", "node3"]
    assert [h.name for h in inv.by_role("worker")] == ["node4", "node5"]
    assert [h.name for h in inv.by_role("etcd")] == ["node1", "node2", "node3"]
    assert host(inv, "node4").address == "10.10.1.6"
    assert host(inv, "node4").groups == ("kube_node", "k8s_cluster")
    assert all(h.user == "ubuntu" for h in inv.hosts)  # from group_vars/all/all.yml
    assert inv.vars["pod_cidr"] == "10.233.64.0/18"
    assert inv.vars["service_cidr"] == "10.233.0.0/18"
    assert inv.vars["vip"] == "10.10.1.100"
    assert inv.vars["lb_port"] == 8443
    assert inv.vars["apiserver_port"] == 6443
    assert inv.vars["k8s_version"] == "v1.28.5"
    assert inv.vars["timezone"] == "UTC"
    assert inv.vars["bin_dir"] == "/usr/local/bin"
    # Kubespray spellings are mapped, not duplicated
    assert "kube_pods_subnet" not in inv.vars and "loadbalancer_apiserver" not in inv.vars
    assert inv.groups["k8s_cluster"] == ["node1", "node2", "node3", "node4", "node5"]
    assert inv.groups["calico_rr"] == []


def test_simple_fixture_one_host_per_line() -> None:
    inv = load_inventory(FIXTURES / "simple.txt")
    assert [h.name for h in inv.hosts] == [
        "192.168.40.190", "192.168.40.191", "192.168.40.192", "n01", "::1"]
    n01 = host(inv, "n01")
    assert (n01.user, n01.port, n01.address, n01.roles) == ("root", 2222, "192.168.40.193",
                                                            ("worker",))
    v6 = host(inv, "::1")
    assert (v6.address, v6.port, v6.roles) == ("::1", 2222, ("worker",))
    assert host(inv, "192.168.40.190").roles == ("master", "etcd")


def test_local_fixture() -> None:
    inv = load_inventory(FIXTURES / "local.txt")
    assert inv.hosts[0].connection == "local"
    assert inv.hosts[0].address == "localhost"


# -------------------------------------------------------------------- ranges

def test_numeric_range_keeps_zero_padding() -> None:
    inv = parse("[workers]\nn[01:10] ansible_user=rocky\n")
    assert [h.name for h in inv.hosts] == [f"n{i:02d}" for i in range(1, 11)]
    assert all(h.user == "rocky" and h.line == 2 for h in inv.hosts)


def test_unpadded_range_letters_and_stride() -> None:
    assert [h.name for h in parse("n[8:11]\n").hosts] == ["n8", "n9", "n10", "n11"]
    assert [h.name for h in parse("web-[a:c].lab\n").hosts] == [
        "web-a.lab", "web-b.lab", "web-c.lab"]
    assert [h.name for h in parse("n[1:10:2]\n").hosts] == ["n1", "n3", "n5", "n7", "n9"]
    assert [h.name for h in parse("r[1:2]n[a:b]\n").hosts] == ["r1na", "r1nb", "r2na", "r2nb"]


def test_range_with_user_and_port() -> None:
    inv = parse("[nodes]\nadmin@n[1:3]:2200\n")
    assert [(h.name, h.user, h.port) for h in inv.hosts] == [
        ("n1", "admin", 2200), ("n2", "admin", 2200), ("n3", "admin", 2200)]


@pytest.mark.parametrize("pattern, words", [
    ("n[5:1]", "start is after end"),
    ("n[01:100]", "same width"),
    ("n[1:4:0]", "step must be a positive number"),
    ("n[1:b]", "expected [NUM:NUM] or [a:z]"),
    ("n[aa:bb]", "expected [NUM:NUM] or [a:z]"),
    (f"n[0:{MAX_RANGE_HOSTS}]", f"more than {MAX_RANGE_HOSTS} hosts"),
    ("a[1:200]b[1:200]", f"more than {MAX_RANGE_HOSTS} hosts"),
])
def test_bad_ranges(pattern: str, words: str) -> None:
    msg = error(f"[nodes]\n{pattern}\n")
    assert msg.startswith("hosts.txt:2: ")
    assert words in msg


def test_range_at_limit_is_fine() -> None:
    assert len(parse(f"n[1:{MAX_RANGE_HOSTS}]\n").hosts) == MAX_RANGE_HOSTS


# ------------------------------------------------------------ groups, roles

def test_children_inherit_roles_and_vars() -> None:
    inv = parse("""\
        [cp_a]
        a1
        [cp_b]
        b1
        [masters:children]
        cp_a
        cp_b
        [masters:vars]
        zone=east
        [cp_b:vars]
        zone=west
        [kube_node]
        w1
        [etcd]
        e1
        """)
    assert host(inv, "a1").roles == ("master",)
    assert host(inv, "b1").roles == ("master",)
    assert host(inv, "a1").groups == ("cp_a", "masters")
    # the child group's vars beat the parent's
    assert host(inv, "a1").vars["zone"] == "east"
    assert host(inv, "b1").vars["zone"] == "west"
    assert host(inv, "w1").roles == ("worker",)
    # an etcd group exists: masters do not get etcd
    assert host(inv, "e1").roles == ("etcd",)
    assert inv.groups["masters"] == ["a1", "b1"]


@pytest.mark.parametrize("group, role", [
    ("masters", "master"), ("master", "master"), ("control-plane", "master"),
    ("control_plane", "master"), ("kube_control_plane", "master"), ("kube-master", "master"),
    ("workers", "worker"), ("worker", "worker"), ("nodes", "worker"), ("node", "worker"),
    ("kube_node", "worker"), ("etcd", "etcd"),
])
def test_role_group_names(group: str, role: str) -> None:
    inv = parse(f"[{group}]\nh1\n[other]\nh2\n")
    assert role in host(inv, "h1").roles
    assert host(inv, "h2").roles == ()


def test_deep_nesting_inherits_role() -> None:
    inv = parse("[kube_node:children]\nrack1\n[rack1:children]\nrack1a\n[rack1a]\nw9\n")
    assert host(inv, "w9").roles == ("worker",)
    assert host(inv, "w9").groups == ("kube_node", "rack1", "rack1a")


def test_group_cycle_is_an_error() -> None:
    msg = error("[a:children]\nb\n[b:children]\nc\n[c:children]\na\n[a]\nh1\n")
    assert msg.startswith("hosts.txt:6: group cycle")
    assert error("[a:children]\na\n").startswith("hosts.txt:2: group cycle")


def test_host_in_several_groups_is_one_host() -> None:
    inv = parse("""\
        [masters]
        m01 ansible_host=10.0.0.1 rack=r1
        [etcd]
        m01 disk=ssd
        [workers]
        w01
        m01
        """)
    assert [h.name for h in inv.hosts] == ["m01", "w01"]
    m01 = host(inv, "m01")
    assert m01.roles == ("master", "worker", "etcd")
    assert m01.vars == {"rack": "r1", "disk": "ssd"}
    assert m01.address == "10.0.0.1"
    assert m01.line == 2
    assert m01.groups == ("masters", "etcd", "workers")


def test_role_host_var() -> None:
    inv = parse("h1 role=master,etcd\nh2 role=worker\nh3 role=control-plane\n")
    assert host(inv, "h1").roles == ("master", "etcd")
    assert host(inv, "h2").roles == ("worker",)
    # an etcd host exists, so h3 (a master) is not made an etcd member
    assert host(inv, "h3").roles == ("master",)
    assert "role" not in host(inv, "h1").vars


def test_role_from_group_vars_and_bad_role() -> None:
    inv = parse("[pool]\nh1\n[pool:vars]\nrole=worker\n")
    assert host(inv, "h1").roles == ("worker",)
    assert error("h1 role=master,boss\n") == (
        "hosts.txt:1: unknown role 'boss' (expected master, worker or etcd)")


def test_stacked_etcd_only_without_etcd_members() -> None:
    assert parse("[masters]\nm1\n[workers]\nw1\n").hosts[0].roles == ("master", "etcd")
    assert parse("[masters]\nm1\n[workers]\nw1\n").hosts[1].roles == ("worker",)
    inv = parse("[masters]\nm1\nm2\n[etcd]\nm2\n")
    assert host(inv, "m1").roles == ("master",)
    assert host(inv, "m2").roles == ("master", "etcd")


# -------------------------------------------------------------- vars syntax

def test_inline_vars_quotes_and_comments() -> None:
    inv = parse("""\
        h1 a="two words" b='x # y' c=plain # trailing comment
        h2 d=1 ; another comment
        h3 e=a#b f=""
        """)
    assert host(inv, "h1").vars == {"a": "two words", "b": "x # y", "c": "plain"}
    assert host(inv, "h2").vars == {"d": "1"}
    assert host(inv, "h3").vars == {"e": "a#b", "f": ""}


def test_comment_lines_and_blank_lines() -> None:
    inv = parse("# comment\n; also a comment\n\n   \n[masters] # trailing\nm1\n")
    assert [h.name for h in inv.hosts] == ["m1"]
    assert host(inv, "m1").roles == ("master", "etcd")


def test_vars_section_syntax() -> None:
    inv = parse("""\
        h1
        [all:vars]
        spaced = hello world
        quoted = "a ; b"
        note=x # comment
        dup=first
        dup=second
        """)
    assert inv.vars["spaced"] == "hello world"
    assert inv.vars["quoted"] == "a ; b"
    assert inv.vars["note"] == "x"
    assert inv.vars["dup"] == "second"  # last wins, as in Ansible


def test_duplicate_inline_var_last_wins() -> None:
    assert host(parse("h1 ansible_port=22 ansible_port=2222\n"), "h1").port == 2222


def test_var_precedence_all_group_host() -> None:
    inv = parse("""\
        [grp]
        h1
        h2 ansible_user=hostuser
        [grp:vars]
        ansible_user=groupuser
        [all:vars]
        ansible_user=alluser
        ansible_port=2200
        """)
    assert host(inv, "h1").user == "groupuser"
    assert host(inv, "h2").user == "hostuser"
    assert host(inv, "h1").port == 2200


def test_expected_key_value_error_names_file_and_line() -> None:
    text = "[masters]\nm01\nm02\n\n[workers]\nn01\nn02 ansible_user=root x\n"
    assert error(text) == "hosts.txt:7: expected key=value, got 'x'"
    assert error("h1\n[all:vars]\nvip\n") == "hosts.txt:3: expected key=value, got 'vip'"
    assert error("h1 =x\n") == "hosts.txt:1: expected key=value, got '=x'"
    assert "invalid variable name 'a-b'" in error("h1 a-b=1\n")


def test_unterminated_quote() -> None:
    assert error("h1 a=\"oops\n") == 'hosts.txt:1: unterminated " quote'


# ---------------------------------------------------------------- sections

def test_unknown_section_suffix_is_an_error() -> None:
    assert error("[x:foo]\nh1\n") == (
        "hosts.txt:1: unknown section type ':foo' in [x:foo] (expected :vars or :children)")


@pytest.mark.parametrize("line", ["[masters", "[bad name]", "[a$b]"])
def test_malformed_sections(line: str) -> None:
    assert error(f"{line}\nh1\n").startswith("hosts.txt:1: ")


def test_children_section_needs_one_group_name() -> None:
    assert error("[a:children]\nb c\n").startswith(
        "hosts.txt:2: expected one group name in [a:children]")


def test_empty_inventory_is_an_error() -> None:
    assert error("") == "hosts.txt: inventory defines no hosts"
    assert error("# nothing\n[masters]\n[all:vars]\nvip=10.0.0.1\n") == (
        "hosts.txt: inventory defines no hosts")


# ------------------------------------------------------- connection vars

def test_connection_vars_long_and_short_names() -> None:
    inv = parse("""\
        a ansible_host=10.0.0.1 ansible_user=alice ansible_port=2201 ansible_ssh_private_key_file=~/.ssh/a
        b address=10.0.0.2 user=bob port=2202 identity=keys/b
        c ansible_connection=local
        d ansible_connection=ssh address=d.example.com
        e address=10.0.0.5 ansible_host=10.0.0.6
        """)  # noqa: E501
    a, b, c, d, e = inv.hosts
    assert (a.address, a.user, a.port, a.identity) == ("10.0.0.1", "alice", 2201, "~/.ssh/a")
    assert (b.address, b.user, b.port, b.identity) == ("10.0.0.2", "bob", 2202, "keys/b")
    assert (c.connection, c.address) == ("local", "c")
    assert (d.connection, d.address) == ("ssh", "d.example.com")
    assert e.address == "10.0.0.6"  # the ansible_* spelling wins in one layer
    # connection vars become fields, not vars
    assert all(h.vars == {} for h in inv.hosts)


def test_short_host_var_beats_group_ansible_var() -> None:
    inv = parse("[g]\nh1 user=bob\n[g:vars]\nansible_user=alice\n")
    assert host(inv, "h1").user == "bob"


def test_unsupported_connection() -> None:
    assert error("h1 ansible_connection=docker\n") == (
        "hosts.txt:1: unsupported ansible_connection 'docker' (kaudit supports ssh and local)")


def test_ipv6_addresses() -> None:
    inv = parse("h1 ansible_host=fd00::10\nroot@[fd00::11]:22\n::1\n[workers]\n[fd00::12]\n")
    assert host(inv, "fd00::12").roles == ("worker",)
    assert host(inv, "h1").address == "fd00::10"
    assert (host(inv, "fd00::11").user, host(inv, "fd00::11").port) == ("root", 22)
    assert host(inv, "::1").port is None


# --------------------------------------------------------------- validation

@pytest.mark.parametrize("name", ["-oProxyCommand=x", "_h", "h$(id)", "h;ls", "h/x", "é1"])
def test_bad_host_names(name: str) -> None:
    msg = error(f"[g]\n'{name}'\n")
    assert msg.startswith("hosts.txt:2: invalid host name")
    assert "reach reports and SSH" in msg


@pytest.mark.parametrize("token", [
    "'$(reboot)'", "'`id`'", "'a;b'", '"a\'b"', "'a\"b'", "'a b'", "'10.0.0.1|x'", "h&",
    "'a>b'", "a\\b", "'a\tb'",
])
def test_address_with_shell_metacharacters(token: str) -> None:
    msg = error(f"[g]\nh1 ansible_host={token}\n")
    assert msg.startswith("hosts.txt:2: address ")
    assert "shell metacharacters" in msg


@pytest.mark.parametrize("address", ["-bad.example", "a_b.example", "x" * 64, "a..b", "ex-.com"])
def test_address_not_rfc1123(address: str) -> None:
    msg = error(f"h1 ansible_host={address}\n")
    assert msg.startswith("hosts.txt:1: address ")
    assert "RFC 1123" in msg


def test_good_hostname_addresses() -> None:
    inv = parse("h1 ansible_host=m01.lab.example.com\nh2 ansible_host=M-02\n")
    assert [h.address for h in inv.hosts] == ["m01.lab.example.com", "M-02"]


@pytest.mark.parametrize("port", ["0", "65536", "abc", "-1", "22.5"])
def test_bad_ports(port: str) -> None:
    msg = error(f"h0\nh1 ansible_port={port}\n")
    assert msg.startswith("hosts.txt:2: ansible_port must be a port number 1-65535")


def test_bad_port_in_pattern_and_group_vars() -> None:
    assert error("m01:ssh\n") == "hosts.txt:1: invalid port 'ssh' in 'm01:ssh'"
    assert error("m01:0\n").startswith("hosts.txt:1: ansible_port must be a port number")
    # the error points at the line that set the port, not at the host
    assert error("[g]\nh1\n[g:vars]\nansible_port=99999\n").startswith("hosts.txt:4: ")


def test_bad_user() -> None:
    assert error("h1 ansible_user=-oProxyCommand\n").startswith(
        "hosts.txt:1: invalid user name '-oProxyCommand'")
    assert error("'$(id)@h1'\n").startswith("hosts.txt:1: invalid user name")


def test_bad_identity() -> None:
    assert error("h1 identity=-oX\n").startswith("hosts.txt:1: invalid private key path")


@pytest.mark.parametrize("line, message", [
    ("vip=192.168.40", "hosts.txt:3: vip must be an IP address, got '192.168.40'"),
    ("vip=host.example", "hosts.txt:3: vip must be an IP address, got 'host.example'"),
    ("node_cidr=192.168.40.1/24",
     "hosts.txt:3: node_cidr '192.168.40.1/24' has host bits set; the network address is "
     "192.168.40.0/24"),
    ("pod_cidr=172.16.0.0/33", "hosts.txt:3: pod_cidr '172.16.0.0/33' is not a valid network"),
    ("service_cidr=10.96.0.0", "hosts.txt:3: service_cidr '10.96.0.0' must be a network like"),
    ("lb_port=70000", "hosts.txt:3: lb_port must be a port number 1-65535, got '70000'"),
    ("apiserver_port=x", "hosts.txt:3: apiserver_port must be a port number 1-65535"),
    ("timezone=Asia/Shanghai;rm", "hosts.txt:3: timezone 'Asia/Shanghai;rm' is not a timezone"),
    ("k8s_version=latest", "hosts.txt:3: k8s_version 'latest' is not a version"),
])
def test_cluster_var_validation(line: str, message: str) -> None:
    assert error(f"h1\n[all:vars]\n{line}\n").startswith(message)


def test_cluster_vars_defaults_and_ipv6() -> None:
    inv = parse("h1\n[all:vars]\nvip=fd00::0:199\nservice_cidr=fd00:96::/112\n")
    assert inv.vars["vip"] == "fd00::199"
    assert inv.vars["service_cidr"] == "fd00:96::/112"
    assert inv.vars["lb_port"] == CLUSTER_VARS["lb_port"] == 16443
    assert inv.vars["apiserver_port"] == CLUSTER_VARS["apiserver_port"] == 6443
    assert set(CLUSTER_VARS) == {"vip", "lb_port", "apiserver_port", "node_cidr", "pod_cidr",
                                 "service_cidr", "timezone", "k8s_version", "lb_dns_name"}


def test_kubespray_names_in_ini() -> None:
    inv = parse("""\
        h1
        [all:vars]
        kube_pods_subnet=10.233.64.0/18
        kube_service_addresses=10.233.0.0/18
        kube_apiserver_port=6444
        loadbalancer_apiserver={"address": "10.0.0.9", "port": 8383}
        """)
    assert parse("h1\n[all:vars]\nloadbalancer_apiserver={address: 10.0.0.8, port: 1}\n"
                 ).vars["vip"] == "10.0.0.8"
    assert inv.vars["pod_cidr"] == "10.233.64.0/18"
    assert inv.vars["service_cidr"] == "10.233.0.0/18"
    assert inv.vars["apiserver_port"] == 6444
    assert (inv.vars["vip"], inv.vars["lb_port"]) == ("10.0.0.9", 8383)


def test_canonical_name_beats_kubespray_name() -> None:
    inv = parse("h1\n[all:vars]\npod_cidr=10.1.0.0/16\nkube_pods_subnet=10.2.0.0/16\n")
    assert inv.vars["pod_cidr"] == "10.1.0.0/16"


def test_bad_loadbalancer_apiserver() -> None:
    assert error("h1\n[all:vars]\nloadbalancer_apiserver=10.0.0.1\n") == (
        "hosts.txt:3: loadbalancer_apiserver must be a mapping {address, port}")


def test_cluster_var_from_a_group_and_conflicts() -> None:
    inv = parse("[k8s_cluster]\nh1\n[k8s_cluster:vars]\npod_cidr=10.1.0.0/16\n")
    assert inv.vars["pod_cidr"] == "10.1.0.0/16"
    msg = error("[a]\nh1\n[b]\nh2\n[a:vars]\nvip=10.0.0.1\n[b:vars]\nvip=10.0.0.2\n")
    assert msg == "hosts.txt:8: cluster var 'vip' differs between groups 'a' and 'b'"


def test_is_secret() -> None:
    for key in ("ansible_password", "ansible_ssh_pass", "ansible_become_password",
                "ansible_become_pass", "ansible_ssh_private_key_passphrase", "db_password",
                "MY_PASSPHRASE", "ldap_passwd"):
        assert is_secret(key), key
    for key in ("ansible_user", "ansible_ssh_private_key_file", "passenger", "vip"):
        assert not is_secret(key), key


# ------------------------------------------------------------------ secrets

SECRET = "S3cr3t-Hunter2"


def test_secrets_go_to_host_secrets_only() -> None:
    inv = parse(f"""\
        [masters]
        m01 ansible_password={SECRET} ansible_become_pass={SECRET}b
        [all:vars]
        ansible_ssh_private_key_passphrase={SECRET}c
        vault_password={SECRET}d
        """)
    m01 = inv.hosts[0]
    assert m01.secrets == {"ansible_password": SECRET, "ansible_become_pass": SECRET + "b",
                           "ansible_ssh_private_key_passphrase": SECRET + "c",
                           "vault_password": SECRET + "d"}
    assert SECRET not in repr(m01)
    assert SECRET not in str(m01.to_dict())
    assert SECRET not in repr(m01.vars)
    assert SECRET not in repr(inv.vars)
    assert SECRET not in repr(inv)


def test_secrets_from_group_vars(tmp_path: Path) -> None:
    inv_path = write(tmp_path, "hosts.txt", "[masters]\nm01\n")
    write(tmp_path, "group_vars/masters.yml", f"ansible_become_password: {SECRET}\nrack: 7\n")
    inv = load_inventory(inv_path)
    assert inv.hosts[0].secrets == {"ansible_become_password": SECRET}
    assert inv.hosts[0].vars == {"rack": 7}
    assert SECRET not in repr(inv)


@pytest.mark.parametrize("text", [
    f"h1 ansible_password= {SECRET}\n",           # stray value after an empty secret
    f"h1 ansible_password='{SECRET}\n",           # unterminated quote
    f"h1 ansible_ssh_pass={SECRET} oops\n",
    f"h1 ansible_ssh_pass:{SECRET}\n",
    f"h1\n[all:vars]\nansible_password {SECRET}\n",
    f"h1\n[all:vars]\nansible_password='{SECRET}\n",
])
def test_secrets_never_in_error_text(text: str) -> None:
    msg = error(text)
    assert msg.startswith("hosts.txt:")
    assert SECRET not in msg


def test_secret_override_refused() -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory(FIXTURES / "seed-lab.txt", {"ansible_password": SECRET})
    assert SECRET not in str(info.value)
    assert "secrets cannot be passed with --var" in str(info.value)


# ----------------------------------------------------------- group_vars

def test_group_vars_layout_and_precedence(tmp_path: Path) -> None:
    inv_path = write(tmp_path, "inv/hosts.ini", """\
        [masters]
        m1
        [rack:children]
        masters
        [all:vars]
        vip=10.0.0.1
        timezone=UTC
        [masters:vars]
        color=ini
        """)
    write(tmp_path, "inv/group_vars/all.yml", "timezone: Europe/Berlin\nlevel: all-file\n")
    write(tmp_path, "inv/group_vars/all/10-a.yml", "level: dir-a\n")
    write(tmp_path, "inv/group_vars/all/20-b.yaml", "level: dir-b\nnode_cidr: 10.0.0.0/24\n")
    write(tmp_path, "inv/group_vars/all/.hidden.yml", "level: hidden\n")
    write(tmp_path, "inv/group_vars/all/notes.txt", "level: txt\n")
    write(tmp_path, "inv/group_vars/masters.yml", "color: file\nshape: round\n")
    write(tmp_path, "inv/group_vars/rack/x.yml", "shape: square\nrack_only: 1\n")
    write(tmp_path, "inv/group_vars/unknown_group.yml", "vip: 10.9.9.9\n")
    inv = load_inventory(inv_path)
    assert inv.vars["vip"] == "10.0.0.1"  # unknown_group.yml is not loaded
    assert inv.vars["timezone"] == "Europe/Berlin"  # group_vars/all beats [all:vars]
    assert inv.vars["level"] == "dir-b"  # files in sorted order, later wins
    assert inv.vars["node_cidr"] == "10.0.0.0/24"
    m1 = inv.hosts[0]
    # group_vars/<group> beats [group:vars]; the child (masters) beats its parent (rack)
    assert m1.vars == {"color": "file", "shape": "round", "rack_only": 1}
    assert m1.groups == ("masters", "rack")


def test_group_vars_yaml_errors_name_file_and_line(tmp_path: Path) -> None:
    inv_path = write(tmp_path, "hosts", "[masters]\nm1\n")
    bad = write(tmp_path, "group_vars/all.yml", "a: 1\nb: [unclosed\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(inv_path)
    assert str(info.value).startswith(f"{bad}:")
    assert "YAML error" in str(info.value)

    bad.write_text("- a\n- b\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(inv_path)
    assert str(info.value) == f"{bad}:1: group_vars file must hold a mapping of variables"

    bad.write_text("x: 1\nvip: 10.0.0.1/24\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(inv_path)
    assert str(info.value) == f"{bad}:2: vip must be an IP address, got '10.0.0.1/24'"

    bad.write_text("a: 1\na: 2\n")
    with pytest.raises(InventoryError, match="duplicate key 'a'"):
        load_inventory(inv_path)


def test_group_vars_templates(tmp_path: Path) -> None:
    inv_path = write(tmp_path, "hosts", "[kube_control_plane]\nm1\n")
    write(tmp_path, "group_vars/all/all.yml", """\
        my_port: 7443
        kube_apiserver_port: "{{ my_port }}"
        """)
    assert load_inventory(inv_path).vars["apiserver_port"] == 7443
    gv = write(tmp_path, "group_vars/all/all.yml", """\
        kube_pods_subnet: "{{ '10.0.0.0/16' | ipaddr }}"
        """)
    # Unresolved, not fatal: pod_cidr stays unset (never the literal {{ ... }}), and
    # the note and the var's origin name the file and line.
    inv = load_inventory(inv_path)
    assert "pod_cidr" not in inv.vars
    (note,) = [n for n in inv.notes if "pod_cidr" in n]
    assert f"{gv}:1: pod_cidr: cannot evaluate template" in note
    assert "--var pod_cidr=VALUE" in note
    assert inv.origins["pod_cidr"] == f"unresolved ({gv}:1)"
    # ...and the override fixes it
    inv = load_inventory(inv_path, {"pod_cidr": "10.0.0.0/16"})
    assert inv.vars["pod_cidr"] == "10.0.0.0/16"


def test_group_vars_vault_file_skipped_and_numbers_are_ports(tmp_path: Path) -> None:
    inv_path = write(tmp_path, "hosts", "[masters]\nm1\n")
    write(tmp_path, "group_vars/all/vault.yml", "$ANSIBLE_VAULT;1.1;AES256\n6231\n")
    write(tmp_path, "group_vars/all/main.yml", "lb_port: 8443\nk8s_version: 1.30\n")
    with pytest.raises(InventoryError, match="k8s_version must be a string"):
        load_inventory(inv_path)
    write(tmp_path, "group_vars/all/main.yml", "lb_port: 8443\nk8s_version: '1.30'\n"
                                               "db_pass: !vault |\n  $ANSIBLE_VAULT;1.1\n")
    inv = load_inventory(inv_path)
    assert inv.vars["lb_port"] == 8443 and inv.vars["k8s_version"] == "1.30"
    assert "db_pass" not in inv.vars
    assert inv.hosts[0].secrets["db_pass"].startswith("$ANSIBLE_VAULT")


# ----------------------------------------------------------------- overrides

def test_overrides_win() -> None:
    inv = load_inventory(FIXTURES / "seed-lab.txt",
                         {"vip": "192.168.40.250", "lb_port": "8443", "custom": "x"})
    assert inv.vars["vip"] == "192.168.40.250"
    assert inv.vars["lb_port"] == 8443
    assert inv.vars["custom"] == "x"
    inv = load_inventory(FIXTURES / "kubespray" / "inventory.ini",
                         {"kube_pods_subnet": "10.244.0.0/16"})
    assert inv.vars["pod_cidr"] == "10.244.0.0/16"


def test_bad_override_names_the_flag() -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory(FIXTURES / "seed-lab.txt", {"pod_cidr": "172.16.0.1/16"})
    assert str(info.value) == ("--var pod_cidr '172.16.0.1/16' has host bits set; the network "
                               "address is 172.16.0.0/16")
    with pytest.raises(InventoryError, match="invalid variable name"):
        load_inventory(FIXTURES / "seed-lab.txt", {"a b": "1"})


def test_apply_overrides_to_saved_vars() -> None:
    saved = {"vip": "10.0.0.1", "lb_port": 16443, "pod_cidr": "10.1.0.0/16", "other": "x"}
    out = apply_overrides(saved, {"lb_port": "8443", "kube_pods_subnet": "10.2.0.0/16",
                                  "note": "y"})
    assert out == {"vip": "10.0.0.1", "lb_port": 8443, "pod_cidr": "10.2.0.0/16",
                   "other": "x", "note": "y"}
    assert saved["lb_port"] == 16443  # the input is not changed
    assert apply_overrides(saved, None) == saved
    with pytest.raises(InventoryError) as info:
        apply_overrides(saved, {"vip": "nope"})
    assert str(info.value) == "--var vip must be an IP address, got 'nope'"
    with pytest.raises(InventoryError, match="secrets cannot be passed"):
        apply_overrides(saved, {"ansible_become_pass": SECRET})


# ------------------------------------------------------------------- files

def test_unreadable_binary_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read"):
        load_inventory(tmp_path / "missing.txt")
    with pytest.raises(InventoryError, match="is a directory"):
        load_inventory(tmp_path)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"m01\n\x00\x01\x02")
    with pytest.raises(InventoryError, match="binary file"):
        load_inventory(binary)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"m01\nm02 note=caf\xe9\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(latin)
    assert str(info.value) == f"{latin}:2: not valid UTF-8 (byte 0xe9)"
    assert isinstance(info.value, InputError) and info.value.exit_code == 2


def test_a_yaml_inventory_is_read_as_yaml_by_content(tmp_path: Path) -> None:
    p = write(tmp_path, "hosts", "all:\n  hosts:\n    m01:\n      ansible_host: 10.0.0.1\n")
    inv = load_inventory(p)
    assert inv.format == "yaml" and [(h.name, h.address) for h in inv.hosts] == [
        ("m01", "10.0.0.1")]
    # Forced to INI, the same text is an INI error naming the line.
    with pytest.raises(InventoryError) as info:
        load_inventory(p, fmt="ini")
    assert str(info.value).startswith(f"{p}:1: 'all:' is not a host")
    assert "--inventory-format" in str(info.value)


def test_parse_inventory_ignores_group_vars() -> None:
    text = (FIXTURES / "kubespray" / "inventory.ini").read_text()
    inv = parse_inventory(text, "inventory.ini")
    assert "pod_cidr" not in inv.vars
    assert inv.hosts[0].user is None
    assert inv.path == "inventory.ini"


# ------------------------------------------------------------ robustness

def test_deep_group_nesting_has_no_recursion_limit() -> None:
    depth = 3000
    lines = ["[g0:children]"]
    for i in range(1, depth):
        lines += [f"g{i}", f"[g{i}:children]"]
    lines[-1] = "[kube_node]"
    lines[-2] = "kube_node"
    lines.append("w1")
    lines.insert(0, "[masters:children]\ng0")
    inv = parse("\n".join(lines) + "\n")
    w1 = host(inv, "w1")
    assert w1.roles == ("master", "worker", "etcd")
    assert len(w1.groups) == depth + 1


def test_too_many_groups() -> None:
    from kaudit.inventory import MAX_GROUPS
    text = "h1\n" + "".join(f"[g{i}]\n" for i in range(MAX_GROUPS))
    assert error(text) == f"hosts.txt:{MAX_GROUPS}: more than {MAX_GROUPS} groups"


def test_all_and_ungrouped_sections() -> None:
    inv = parse("[all]\nh1\n[ungrouped]\nh2\n[all:children]\nmasters\n[masters]\nh1\n")
    assert [h.name for h in inv.hosts] == ["h1", "h2"]
    assert host(inv, "h1").groups == ("masters",)
    assert host(inv, "h2").groups == ()
    assert error("[masters:children]\nall\n") == (
        "hosts.txt:2: group 'all' cannot be a child of 'masters'")


_INI_ALPHABET = "[]:=@#;'\"{}$ ,.-_/\n\tamnrs0129vipluec"


def test_garbage_only_raises_inventory_errors() -> None:
    import random
    rng = random.Random(1234)
    parsed = 0
    for _ in range(3000):
        text = "".join(rng.choice(_INI_ALPHABET) for _ in range(rng.randint(0, 120)))
        try:
            inv = parse_inventory(text, "fuzz.txt")
        except InventoryError as exc:
            assert str(exc).startswith("fuzz.txt"), (text, str(exc))
        else:
            parsed += 1
            assert inv.hosts and all(h.name and h.address for h in inv.hosts), text
    assert parsed > 0  # the generator does reach the success path
