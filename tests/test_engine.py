"""Rule evaluation: fact paths, results per host, skips and errors, combinators,
references, message text and cluster aggregates (docs/rules.md)."""

from __future__ import annotations

from typing import Any

import pytest

from kaudit.core.model import Host, HostFacts, Result, Rule
from kaudit.evaluate.context import MissingFact, resolve
from kaudit.evaluate.engine import detect_phase, evaluate

ZRAM = {"device": "/dev/zram0", "type": "partition", "size_bytes": 4080218931, "zram": True}


def hf(name: str, roles: tuple[str, ...] = ("master",), status: str = "ok",
       error: str | None = None, notes: list[str] | None = None, address: str | None = None,
       **facts: Any) -> HostFacts:
    host = Host(name=name, address=address or f"192.168.40.{190 + int(name[-1])}", roles=roles)
    return HostFacts(host=host, status=status, error=error, facts=facts,  # type: ignore[arg-type]
                     notes=notes or [])


def rule(check: dict[str, Any], id: str = "t.rule", scope: str = "host", **kw: Any) -> Rule:
    return Rule(id=id, title=id, severity="high", scope=scope, check=check,  # type: ignore[arg-type]
                pack="t", **kw)


def run(rules: list[Rule] | Rule, hosts: list[HostFacts], *, vars: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None, phase: str = "preflight",
        deselected: dict[str, str] | None = None) -> list[Result]:
    return evaluate(rules if isinstance(rules, list) else [rules], hosts,
                    cluster_vars=vars or {}, params=params or {}, phase=phase,
                    deselected=deselected or {})


def one(check: dict[str, Any], host: HostFacts | None = None, **kw: Any) -> Result:
    rule_kw = {k: kw.pop(k) for k in ("message", "remediation", "applies", "roles", "phase")
               if k in kw}
    [result] = run(rule(check, **rule_kw), [host or hf("m1")], **kw)
    return result


# ------------------------------------------------------------------ fact paths


def test_resolve_is_greedy_and_indexes_lists() -> None:
    tree = {"sysctl": {"net.ipv4.ip_forward": "1", "net": {"x": 2}},
            "mounts": {"/var/lib/etcd": {"rotational": False}, "/": {"size_bytes": 5}},
            "network": {"addresses": [{"address": "10.0.0.1"}, {"address": "10.0.0.2"}]}}
    assert resolve(tree, "sysctl.net.ipv4.ip_forward") == "1"
    assert resolve(tree, "sysctl.net.x") == 2
    assert resolve(tree, "mounts./var/lib/etcd.rotational") is False
    assert resolve(tree, "mounts./.size_bytes") == 5
    assert resolve(tree, "network.addresses.1.address") == "10.0.0.2"
    for bad in ("network.addresses.2", "network.addresses.x", "sysctl.vm.swappiness",
                "sysctl.net.ipv4.ip_forward.deeper", "nothing", ""):
        with pytest.raises(MissingFact) as info:
            resolve(tree, bad)
        assert info.value.path == bad


# ------------------------------------------------------------------ host rules


def test_pass_and_fail_with_observed_expected_and_default_message() -> None:
    swap_off = rule({"fact": "swap.active", "op": "empty"}, id="os.swap-off")
    results = run(swap_off, [hf("m1", swap={"active": []}),
                             hf("m2", swap={"active": [ZRAM]})])
    assert [(r.host, r.status) for r in results] == [("m1", "pass"), ("m2", "fail")]
    fail = results[1]
    assert fail.observed == "/dev/zram0 (zram, 3.8 GiB)"
    assert fail.expected == "empty"
    assert fail.message == "swap.active: observed /dev/zram0 (zram, 3.8 GiB), expected empty"
    assert (fail.rule, fail.pack, fail.severity, fail.scope) == ("os.swap-off", "t", "high", "host")


def test_expected_texts_for_common_checks() -> None:
    host = hf("m1", sysctl={"net.ipv4.ip_forward": "0"}, memory={"total_bytes": 4 * 2**30},
              selinux={"mode": "enforcing"})
    r = one({"fact": "sysctl.net.ipv4.ip_forward", "op": "eq", "value": 1}, host)
    assert (r.status, r.observed, r.expected) == ("fail", "0", "= 1")
    r = one({"fact": "memory.total_bytes", "op": "ge", "value": "8Gi"}, host)
    assert (r.status, r.observed, r.expected) == ("fail", "4 GiB", ">= 8 GiB")
    r = one({"fact": "selinux.mode", "op": "in", "value": ["disabled", "permissive"]}, host)
    assert (r.status, r.observed, r.expected) == \
        ("fail", "enforcing", "in [disabled, permissive]")


def test_missing_fact_is_error_with_matching_collector_notes() -> None:
    host = hf("m1", notes=["swap: /proc/swaps unreadable", "sysctl: section truncated"],
              _notes=["swapfile: unrelated", "swap.active: permission denied"])
    r = one({"fact": "swap.active", "op": "empty"}, host)
    assert r.status == "error"
    assert r.message == ("fact 'swap.active' missing: no 'swap' facts were collected on "
                         "this host (swap: /proc/swaps unreadable; "
                         "swap.active: permission denied)")
    r = one({"fact": "cpu.count", "op": "ge", "value": 2}, host)
    assert r.message == "fact 'cpu.count' missing: no 'cpu' facts were collected on this host"
    r = one({"fact": "cpu.count", "op": "ge", "value": 2}, hf("m1", cpu={}))
    assert r.message == "fact 'cpu.count' missing"


@pytest.mark.parametrize(("mode", "status"), [("pass", "pass"), ("fail", "fail"),
                                              ("skip", "skip")])
def test_missing_mode(mode: str, status: str) -> None:
    """`missing:` decides a fact absent from a collected section..."""
    r = one({"fact": "swap.fstab", "op": "empty", "missing": mode}, hf("m1", swap={}))
    assert r.status == status
    if status == "fail":
        assert r.observed == "absent"
    if status == "skip":
        assert "swap.fstab" in r.message
    # ...but a section that was never collected is an error in every mode:
    # "absent" means "collected, and not there".
    r = one({"fact": "swap.fstab", "op": "empty", "missing": mode}, hf("m1"))
    assert (r.status, r.message) == (
        "error", "fact 'swap.fstab' missing: no 'swap' facts were collected on this host")
    r = one({"each": "swap.devices", "check": {"fact": ".zram", "op": "false"},
             "missing": mode}, hf("m1"))
    assert r.status == "error"


def test_exists_and_missing_ops_decide_on_absent_facts() -> None:
    collected = hf("m1", selinux={})
    assert one({"fact": "selinux.config", "op": "exists"}, collected).status == "fail"
    assert one({"fact": "selinux.config", "op": "missing"}, collected).status == "pass"
    assert one({"fact": "selinux.config", "op": "missing"}).status == "error"
    host = hf("m1", selinux={"config": "disabled"})
    assert one({"fact": "selinux.config", "op": "exists"}, host).status == "pass"


def test_operator_error_becomes_error_never_pass() -> None:
    host = hf("m1", modules={"loaded": ["ip_vs"]}, hostname="m01")
    r = one({"fact": "modules.loaded", "op": "ge", "value": 3}, host)
    assert r.status == "error"
    assert "ge needs a number, size or duration, got a list" in r.message
    r = one({"fact": "hostname", "op": "cidr_in", "value": "10.0.0.0/8"}, host)
    assert (r.status, r.message) == ("error", "not an IP address or CIDR: 'm01'")


def test_bad_rule_value_errors_on_every_host() -> None:
    results = run(rule({"fact": "memory.total_bytes", "op": "ge", "value": "8Q"}),
                  [hf("m1", memory={"total_bytes": 1}), hf("m2", memory={"total_bytes": 1})])
    assert [r.status for r in results] == ["error", "error"]
    assert all("unknown unit 'Q'" in r.message for r in results)
    [r] = run(rule({"fact": "x", "op": "equals", "value": 1}), [hf("m1", x=1)])
    assert (r.status, r.message) == ("error", "rule cannot be evaluated: unknown operator 'equals'")


class Boom:
    def __str__(self) -> str:
        raise RuntimeError("boom")


def test_unexpected_exception_is_error() -> None:
    results = run([rule({"fact": "x", "op": "eq", "value": "y"}, id="a.one"),
                   rule({"fact": "x", "op": "exists"}, id="a.two")], [hf("m1", x=Boom())])
    assert [(r.rule, r.status) for r in results] == [("a.one", "error"), ("a.two", "pass")]
    assert results[0].message == "check crashed: RuntimeError: boom"


def test_skips_role_phase_deselected_and_applies() -> None:
    check = {"fact": "swap.active", "op": "empty"}
    hosts = [hf("m1", ("master", "etcd"), swap={"active": []}),
             hf("w1", ("worker",), swap={"active": []}), hf("n1", ())]
    results = run(rule(check, roles=("master",)), hosts)
    assert [(r.status, r.message) for r in results] == [
        ("pass", ""), ("skip", "not applicable: role worker"),
        ("skip", "not applicable: role none")]
    results = run(rule(check, phase=("installed",)), hosts[:1])
    assert [(r.status, r.message) for r in results] == [
        ("skip", "not applicable in preflight phase")]
    results = run(rule(check, id="os.swap-off"), hosts[:1],
                  deselected={"os.swap-off": "deselected by --skip os.swap-off"})
    assert [(r.status, r.message) for r in results] == [
        ("skip", "deselected by --skip os.swap-off")]
    applies = {"fact": "kubernetes.installed", "op": "true"}
    results = run(rule(check, applies=applies),
                  [hf("m1", kubernetes={"installed": False}, swap={"active": [ZRAM]}),
                   hf("m2", kubernetes={"installed": True}, swap={"active": [ZRAM]})])
    assert [r.status for r in results] == ["skip", "fail"]
    assert results[0].message == \
        "not applicable: kubernetes.installed is false (rule applies when true)"


def test_applies_needing_an_unset_var_skips_but_check_needing_it_errors() -> None:
    host = hf("m1", time={"timezone": "UTC"})
    tz = {"fact": "time.timezone", "op": "eq", "value": "${vars.timezone}"}
    r = one(tz, host, applies={"fact": "time.timezone", "op": "ne", "value": "${vars.timezone}"})
    assert (r.status, r.message) == ("skip", "not applicable: vars.timezone is not set")
    r = one(tz, host)
    assert r.status == "error"
    assert r.message == "${vars.timezone} is not set: set it in the inventory or with --var"
    assert one(tz, host, vars={"timezone": "UTC"}).status == "pass"
    assert one(tz, host, vars={"timezone": "Asia/Shanghai"}).status == "fail"


def test_unreachable_host_is_error_and_others_complete() -> None:
    hosts = [hf("m1", swap={"active": []}),
             hf("m2", status="unreachable", error="connection refused"),
             hf("m3", status="timeout")]
    results = run(rule({"fact": "swap.active", "op": "empty"}), hosts)
    assert [(r.host, r.status, r.message) for r in results] == [
        ("m1", "pass", ""), ("m2", "error", "host not scanned: unreachable: connection refused"),
        ("m3", "error", "host not scanned: timeout")]


def test_results_ordered_by_rule_then_host_cluster_host_none() -> None:
    rules = [rule({"fact": "a", "op": "exists"}, id="t.a"),
             rule({"fact": "inventory.count.total", "op": "eq", "value": 2}, id="t.c",
                  scope="cluster"),
             rule({"fact": "b", "op": "exists"}, id="t.b")]
    results = run(rules, [hf("m2", a=1, b={"c": 1}), hf("m1", a=1, b={})])
    rules[2] = rule({"fact": "b.c", "op": "exists"}, id="t.b")
    results = run(rules, [hf("m2", a=1, b={"c": 1}), hf("m1", a=1, b={})])
    assert [(r.rule, r.host, r.status) for r in results] == [
        ("t.a", "m2", "pass"), ("t.a", "m1", "pass"), ("t.c", None, "pass"),
        ("t.b", "m2", "pass"), ("t.b", "m1", "fail")]


# ------------------------------------------------------------------ combinators


def test_all_reports_the_failing_leaf() -> None:
    host = hf("m1", services={"firewalld": {"active": "inactive", "enabled": "enabled"}})
    check = {"all": [{"fact": "services.firewalld.active", "op": "ne", "value": "active"},
                     {"fact": "services.firewalld.enabled", "op": "in",
                      "value": ["disabled", "masked", "not-found"]}]}
    r = one(check, host)
    assert (r.status, r.observed, r.expected) == \
        ("fail", "enabled", "in [disabled, masked, not-found]")
    assert r.message.startswith("services.firewalld.enabled: observed enabled")


def test_any_summarises_all_alternatives() -> None:
    host = hf("m1", services={"chronyd": {"active": "inactive"}, "ntpd": {"active": "failed"}},
              time={"ntpdate_cron": False})
    check = {"any": [{"fact": "services.chronyd.active", "op": "eq", "value": "active"},
                     {"fact": "services.ntpd.active", "op": "eq", "value": "active"},
                     {"fact": "time.ntpdate_cron", "op": "true"}]}
    r = one(check, host)
    assert r.status == "fail"
    assert r.observed == ("services.chronyd.active: inactive; services.ntpd.active: failed; "
                          "time.ntpdate_cron: false")
    assert r.expected == "= active or = active or true"
    host.facts["services"]["ntpd"]["active"] = "active"
    assert one(check, host).status == "pass"


def test_not_inverts() -> None:
    host = hf("m1", haproxy={"check_output": "unknown keyword 'fail'"})
    check = {"not": {"fact": "haproxy.check_output", "op": "contains", "value": "unknown"}}
    r = one(check, host)
    assert (r.status, r.expected) == ("fail", "not (contains unknown)")
    assert r.observed == "unknown keyword 'fail'"


def test_three_valued_logic_with_missing_facts() -> None:
    host = hf("m1", ok=True, bad=False)
    missing = {"fact": "absent", "op": "true"}
    good, bad = {"fact": "ok", "op": "true"}, {"fact": "bad", "op": "true"}
    assert one({"all": [missing, bad]}, host).status == "fail"   # false whatever it is
    assert one({"all": [good, missing]}, host).status == "error"  # cannot know
    assert one({"any": [missing, good]}, host).status == "pass"
    assert one({"any": [bad, missing]}, host).status == "error"
    assert one({"not": missing}, host).status == "error"


# ------------------------------------------------------------------ each / some


def test_each_with_relative_paths_names_the_failing_items() -> None:
    host = hf("m1", swap={"active": [
        {"device": "/dev/sda2", "type": "partition", "size_bytes": 1, "zram": False},
        ZRAM, {"device": "/dev/zram1", "type": "partition", "size_bytes": 1, "zram": True}]})
    r = one({"each": "swap.active", "check": {"fact": ".zram", "op": "false"}}, host)
    assert r.status == "fail"
    assert r.observed == "/dev/zram0: true; /dev/zram1: true"
    assert r.expected == "every item of swap.active: false"


def test_each_item_itself_and_mapping_values() -> None:
    host = hf("m1", network={"routes": ["192.168.40.0/24", "10.96.0.0/12"]},
              mounts={"/data": {"own_mount": True}, "/var/lib/etcd": {"own_mount": False}})
    r = one({"each": "network.routes",
             "check": {"fact": ".", "op": "cidr_not_overlap", "value": "${vars.service_cidr}"}},
            host, vars={"service_cidr": "10.96.0.0/16"})
    assert r.status == "fail"
    assert r.observed == "10.96.0.0/12: 10.96.0.0/12 overlaps 10.96.0.0/16"
    r = one({"each": "mounts", "check": {"fact": ".own_mount", "op": "true"}}, host)
    assert (r.status, r.observed) == ("fail", "/var/lib/etcd: false")
    assert r.message.startswith("mounts./var/lib/etcd.own_mount: observed")


def test_each_missing_relative_fact_names_full_path() -> None:
    host = hf("m1", network={"addresses": [{"address": "10.0.0.1"}, {"ifname": "eth1"}]})
    r = one({"each": "network.addresses",
             "check": {"fact": ".address", "op": "cidr_in", "value": "10.0.0.0/8"}}, host)
    assert (r.status, r.message) == ("error", "fact 'network.addresses.1.address' missing")


def test_some_and_empty_collections() -> None:
    host = hf("m1", keepalived={"instances": [{"name": "VI_1", "vips": ["192.168.40.199"]},
                                              {"name": "VI_2", "vips": []}]}, empty=[])
    some = {"some": "keepalived.instances",
            "check": {"fact": ".vips", "op": "contains", "value": "${vars.vip}"}}
    assert one(some, host, vars={"vip": "192.168.40.199"}).status == "pass"
    r = one(some, host, vars={"vip": "192.168.40.200"})
    assert r.status == "fail"
    assert r.observed == "VI_1: missing 192.168.40.200; VI_2: missing 192.168.40.200"
    assert one({"each": "empty", "check": {"fact": ".", "op": "true"}}, host).status == "pass"
    r = one({"some": "empty", "check": {"fact": ".", "op": "true"}}, host)
    assert (r.status, r.observed) == ("fail", "no items")
    r = one({"each": "keepalived", "check": {"fact": ".", "op": "true"}}, host)
    assert r.status == "error"
    r = one({"each": "keepalived.instances.0.name", "check": {"fact": ".", "op": "true"}}, host)
    assert r.status == "error" and "needs a list or mapping" in r.message


def test_nested_each_relative_to_inner_item() -> None:
    host = hf("m1", haproxy={"backends": [
        {"name": "apiserver", "servers": [
            {"name": "m01", "address": "192.168.40.190", "port": 6443, "check": True},
            {"name": "m02", "address": "192.168.40.191", "port": 6443, "check": False}]}]})
    r = one({"each": "haproxy.backends",
             "check": {"each": ".servers", "check": {"fact": ".check", "op": "true"}}}, host)
    assert r.status == "fail"
    assert r.observed == "apiserver: m02: false"


# ------------------------------------------------------------------ references and text


def test_references_keep_types_and_interpolate() -> None:
    host = hf("m1", selinux={"mode": "permissive"},
              kubelet={"effective": {"clusterDNS": ["10.96.0.10"]}},
              haproxy={"binds": ["192.168.40.199:16443"]}, memory={"total_bytes": 8 * 2**30},
              limits={"nofile": {"soft": 65536, "hard": 65536}})
    params = {"selinux_allowed": ["disabled", "permissive"], "min_ram": "8Gi"}
    vars = {"service_cidr": "10.96.0.0/16", "vip": "192.168.40.199", "lb_port": "16443"}
    assert one({"fact": "selinux.mode", "op": "in", "value": "${params.selinux_allowed}"},
               host, params=params).status == "pass"
    assert one({"fact": "kubelet.effective.clusterDNS", "op": "contains",
                "value": "${nth_ip(vars.service_cidr, 10)}"}, host, vars=vars).status == "pass"
    assert one({"fact": "haproxy.binds", "op": "contains",
                "value": "${vars.vip}:${vars.lb_port}"}, host, vars=vars).status == "pass"
    assert one({"fact": "memory.total_bytes", "op": "ge", "value": "${params.min_ram}"},
               host, params=params).status == "pass"
    r = one({"fact": "limits.nofile.hard", "op": "ge", "value": "${facts.limits.nofile.soft}"},
            host)
    assert r.status == "pass"
    r = one({"fact": "selinux.mode", "op": "in", "value": "${params.nope}"}, host, params=params)
    assert (r.status, r.message) == ("error", "${params.nope} is not set: set it in the profile")


def test_nth_ip_and_count_references() -> None:
    hosts = [hf("m1", ("master",)), hf("m2", ("master", "etcd")), hf("w3", ("worker",))]
    cluster = [
        rule({"fact": "inventory.vars.dns", "op": "eq",
              "value": "${nth_ip(vars.service_cidr, 10)}"}, id="t.a", scope="cluster"),
        rule({"fact": "inventory.count.master", "op": "eq", "value": "${count(master)}"},
             id="t.b", scope="cluster"),
        rule({"fact": "inventory.count.total", "op": "eq", "value": "${count(etcd)}"},
             id="t.c", scope="cluster", message="{observed} hosts, ${count(etcd)} etcd"),
        rule({"fact": "inventory.vars.dns", "op": "eq",
              "value": "${nth_ip(vars.service_cidr, 70000)}"}, id="t.d", scope="cluster"),
    ]
    results = run(cluster, hosts, vars={"service_cidr": "10.96.0.0/16", "dns": "10.96.0.10"})
    assert [r.status for r in results] == ["pass", "pass", "fail", "error"]
    assert results[2].message == "3 hosts, 1 etcd"
    assert "has no address 70000" in results[3].message


def test_message_template_and_remediation() -> None:
    host = hf("m2", swap={"active": [ZRAM]})
    r = one({"fact": "swap.active", "op": "empty"}, host, params={"swappiness": 0},
            message="{host}: {fact} has {observed}, want {expected} "
                    "(vm.swappiness=${params.swappiness})",
            remediation="swapoff -a && sysctl -w vm.swappiness=${params.swappiness}\n"
                        "echo ${vars.nope}")
    assert r.message == ("m2: swap.active has /dev/zram0 (zram, 3.8 GiB), want empty "
                         "(vm.swappiness=0)")
    assert r.remediation == "swapoff -a && sysctl -w vm.swappiness=0\necho <unset vars.nope>"


def test_host_text_is_never_expanded_in_messages() -> None:
    host = hf("m1", hostname="${params.secret}{expected}")
    r = one({"fact": "hostname", "op": "eq", "value": "m01"}, host, params={"secret": "s3cret"},
            message="saw {observed}")
    assert r.message == "saw ${params.secret}{expected}"


# ------------------------------------------------------------------ cluster scope


def cluster_hosts() -> list[HostFacts]:
    def facts(i: int, held: bool, offset: float, unc: float) -> dict[str, Any]:
        return {"hostname": f"m0{i}", "vip": {"held": held},
                "clock": {"offset_s": offset, "uncertainty_s": unc},
                "kubernetes": {"manifests": {"kube-apiserver": {"args": {
                    "max-requests-inflight": "800" if i != 3 else "400",
                    "request-timeout": "1m0s"}}}}}
    return [hf("m1", ("master", "etcd"), **facts(1, True, 0.10, 0.01)),
            hf("m2", ("master", "etcd"), **facts(2, True, -0.20, 0.02)),
            hf("m3", ("master", "etcd"), **facts(3, False, 0.30, 0.05)),
            hf("w4", ("worker",), hostname="w04", vip={"held": False},
               clock={"offset_s": 0.0, "uncertainty_s": 0.0})]


VARS = {"node_cidr": "192.168.40.0/24", "pod_cidr": "172.16.0.0/16",
        "service_cidr": "10.96.0.0/16", "vip": "192.168.40.199"}


def cluster(check: dict[str, Any], hosts: list[HostFacts] | None = None,
            vars: dict[str, Any] | None = None, **kw: Any) -> Result:
    [r] = run(rule(check, scope="cluster", **kw), hosts or cluster_hosts(),
              vars=VARS if vars is None else vars)
    assert r.host is None
    return r


def test_cluster_tree_inventory_facts() -> None:
    assert cluster({"fact": "inventory.count.master", "op": "eq", "value": 3}).status == "pass"
    assert cluster({"fact": "inventory.count.worker", "op": "ge", "value": 3}).status == "fail"
    assert cluster({"fact": "inventory.names", "op": "eq",
                    "value": ["m1", "m2", "m3", "w4"]}).status == "pass"
    assert cluster({"fact": "inventory.hostnames", "op": "unique"}).status == "pass"
    assert cluster({"fact": "inventory.cidrs", "op": "cidrs_disjoint"}).status == "pass"
    assert cluster({"fact": "inventory.addresses", "op": "cidr_in",
                    "value": "${vars.node_cidr}"}).status == "pass"
    assert cluster({"fact": "inventory.vars.vip", "op": "cidr_in",
                    "value": "${vars.node_cidr}"}).status == "pass"
    r = cluster({"fact": "inventory.cidrs", "op": "cidr_private"},
                vars={**VARS, "pod_cidr": "192.0.0.0/16"})
    assert (r.status, r.observed) == ("fail", "not private: 192.0.0.0/16")
    r = cluster({"fact": "inventory.cidrs", "op": "cidrs_disjoint"},
                vars={**VARS, "pod_cidr": "10.96.0.0/12"})
    assert (r.status, r.observed) == ("fail", "10.96.0.0/12 overlaps 10.96.0.0/16")
    assert cluster({"fact": "hosts.m2.vip.held", "op": "true"}).status == "pass"


def test_count_true_observed_lists_hosts() -> None:
    check = {"hosts": {"roles": ["master"]}, "fact": "vip.held", "op": "count_true",
             "cmp": "eq", "value": 1}
    r = cluster(check)
    assert (r.status, r.observed, r.expected) == ("fail", "2 (m1, m2)", "= 1 host(s)")
    hosts = cluster_hosts()
    hosts[1].facts["vip"]["held"] = False
    assert cluster(check, hosts).status == "pass"
    hosts[0].facts["vip"] = {}
    r = cluster(check, hosts)
    assert (r.status, r.message) == ("error", "fact 'vip.held' missing on m1")
    assert cluster({**check, "missing": "fail", "value": 0}, hosts).status == "pass"
    del hosts[0].facts["vip"]
    r = cluster({**check, "missing": "fail", "value": 0}, hosts)
    assert (r.status, r.message) == (
        "error", "fact 'vip.held' missing on m1: no 'vip' facts were collected")


def test_rule_roles_filter_aggregate_hosts() -> None:
    check = {"hosts": {}, "fact": "vip.held", "op": "count_true", "cmp": "eq", "value": 0}
    assert cluster(check, roles=("worker",)).status == "pass"
    assert cluster(check, roles=("master",)).status == "fail"


def test_consistent_lists_the_odd_hosts() -> None:
    check = {"hosts": {"roles": ["master"]}, "op": "consistent",
             "fact": "kubernetes.manifests.kube-apiserver.args"}
    r = cluster(check)
    assert r.status == "fail"
    assert r.observed == "m3: max-requests-inflight=400 vs 800 (others: m1, m2)"
    assert r.expected == "same on every host"
    r = cluster({**check, "fact": "hostname"})
    assert r.observed == "m2: m02 vs m01; m3: m03 vs m01 (others: m1)"
    r = cluster({**check, "fact": "kubernetes.manifests.kube-apiserver.args.request-timeout"})
    assert r.status == "pass"


def test_spread_accounts_for_uncertainty() -> None:
    check = {"hosts": {}, "op": "spread", "fact": "clock.offset_s",
             "uncertainty": "clock.uncertainty_s", "cmp": "le", "value": "500ms"}
    # raw spread 0.5 s between m3 (+0.30 +-0.05) and m2 (-0.20 +-0.02): 0.43 s after uncertainty
    r = cluster({**check, "value": "450ms"})
    assert r.status == "pass"
    r = cluster({**check, "value": "400ms"})
    assert r.status == "fail"
    assert r.observed == ("500ms between m3 (300ms) and m2 (-200ms), "
                          "430ms after ±50ms/±20ms uncertainty")
    assert r.expected == "spread <= 400ms"
    no_unc = {k: v for k, v in check.items() if k != "uncertainty"}
    assert cluster({**no_unc, "value": "450ms"}).status == "fail"


def test_all_any_none_aggregates_with_nested_check() -> None:
    nested = {"fact": "clock.offset_s", "op": "le", "value": "250ms"}
    r = cluster({"hosts": {}, "op": "all", "check": nested})
    assert r.status == "fail"
    assert r.observed == "m3: 300ms"
    assert r.expected == "on every host: <= 250ms"
    assert cluster({"hosts": {}, "op": "any", "check": nested}).status == "pass"
    r = cluster({"hosts": {"roles": ["master"]}, "op": "none", "fact": "vip.held"})
    assert (r.status, r.observed) == ("fail", "m1: true; m2: true")
    assert cluster({"hosts": {"roles": ["worker"]}, "op": "none",
                    "fact": "vip.held"}).status == "pass"


def test_unscanned_hosts_make_aggregates_error_but_not_inventory_checks() -> None:
    hosts = cluster_hosts()
    hosts[2] = hf("m3", ("master", "etcd"), status="unreachable", error="no route to host")
    r = cluster({"hosts": {"roles": ["master"]}, "fact": "vip.held", "op": "count_true",
                 "cmp": "eq", "value": 1}, hosts)
    assert (r.status, r.message) == ("error", "hosts not scanned: m3 (unreachable)")
    # Explicitly selecting scanned hosts only is the rule's choice.
    r = cluster({"hosts": {"roles": ["master"], "status": "ok"}, "fact": "vip.held",
                 "op": "count_true", "cmp": "eq", "value": 2}, hosts)
    assert r.status == "pass"
    assert cluster({"fact": "inventory.count.master", "op": "eq", "value": 3},
                   hosts).status == "pass"
    r = cluster({"fact": "hosts.m3.vip.held", "op": "true"}, hosts)
    assert (r.status, r.message) == (
        "error", "fact 'hosts.m3.vip.held' missing (hosts.m3: host not scanned (unreachable))")


def test_aggregate_with_no_hosts_selected_is_error() -> None:
    r = cluster({"hosts": {"roles": ["etcd"]}, "op": "consistent", "fact": "hostname"},
                [hf("w1", ("worker",), hostname="w1")])
    assert (r.status, r.message) == ("error", "no hosts selected (roles etcd)")


def test_cluster_rule_phase_and_deselection() -> None:
    rules = [rule({"fact": "inventory.count.total", "op": "ge", "value": 1}, id="t.a",
                  scope="cluster", phase=("installed",)),
             rule({"fact": "inventory.count.total", "op": "ge", "value": 1}, id="t.b",
                  scope="cluster")]
    results = run(rules, cluster_hosts(), deselected={"t.b": "not in profile lab"})
    assert [(r.host, r.status, r.message) for r in results] == [
        (None, "skip", "not applicable in preflight phase"),
        (None, "skip", "not in profile lab")]


def test_detect_phase() -> None:
    assert detect_phase([hf("m1", kubernetes={"installed": False}), hf("m2")]) == "preflight"
    assert detect_phase([hf("m1", kubernetes={"installed": False}),
                         hf("m2", kubernetes={"installed": True})]) == "installed"
    assert detect_phase([hf("m1", status="timeout", kubernetes={"installed": True})]) == \
        "preflight"
    assert detect_phase([]) == "preflight"


def test_not_each_and_missing_fact_reference() -> None:
    host = hf("m1", mounts={"/data": {"own_mount": True}}, limits={"nofile": {"hard": 10}})
    r = one({"not": {"each": "mounts", "check": {"fact": ".own_mount", "op": "true"}}}, host)
    assert (r.status, r.expected) == ("fail", "not (every item of mounts: true)")
    r = one({"fact": "limits.nofile.hard", "op": "ge", "value": "${facts.limits.nofile.soft}"},
            host)
    assert (r.status, r.message) == ("error", "fact 'limits.nofile.soft' missing")


def test_a_failure_seen_on_scanned_hosts_stands_when_others_were_not_scanned() -> None:
    """Three-valued aggregates: the VIP answering from n1 is a definite failure even
    though n3 could not be scanned; with nobody answering, n3 leaves it undecided."""
    def fleet(n1_answers: bool) -> list[HostFacts]:
        return [hf("n1", ("worker",), vip={"icmp": n1_answers}),
                hf("n2", ("worker",), vip={"icmp": False}),
                hf("n3", ("worker",), status="timeout", error="probe timed out")]
    check = {"hosts": {}, "op": "none", "check": {"fact": "vip.icmp", "op": "true"}}
    r = cluster(check, fleet(True))
    assert r.status == "fail"
    assert "n1" in str(r.observed)
    r = cluster(check, fleet(False))
    assert (r.status, r.message) == ("error", "hosts not scanned: n3 (timeout)")
    # `any` is the mirror image: a pass seen on a scanned host stands.
    check = {"hosts": {}, "op": "any", "check": {"fact": "vip.icmp", "op": "true"}}
    assert cluster(check, fleet(True)).status == "pass"
    assert cluster(check, fleet(False)).status == "error"
    # Two scanned masters disagreeing is definite too.
    hosts = [hf("m1", hostname="a"), hf("m2", hostname="b"),
             hf("m3", status="unreachable", error="refused")]
    assert cluster({"hosts": {}, "op": "consistent", "fact": "hostname"}, hosts).status == "fail"
