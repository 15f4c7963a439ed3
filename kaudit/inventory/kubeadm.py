"""A kubeadm configuration file as the cluster plan (`--kubeadm-config kubeadm.yaml`):
the ClusterConfiguration and InitConfiguration documents (kubeadm.k8s.io/v1beta3 or
v1beta4, `---`-separated, other kinds ignored) give

    networking.podSubnet          -> pod_cidr
    networking.serviceSubnet      -> service_cidr
    controlPlaneEndpoint          -> vip (an IP) or lb_dns_name (a name), and lb_port
    kubernetesVersion             -> k8s_version
    etcd.local.dataDir            -> etcd_data_dir
    localAPIEndpoint.bindPort     -> apiserver_port   (InitConfiguration)

each with the file and line it came from."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from kaudit.core.errors import InventoryError
from kaudit.core.yamlio import load_yaml_documents, locate
from kaudit.inventory.raw import Origin

API_VERSIONS = ("kubeadm.k8s.io/v1beta3", "kubeadm.k8s.io/v1beta4")
KINDS = ("ClusterConfiguration", "InitConfiguration", "JoinConfiguration",
         "ResetConfiguration", "UpgradeConfiguration")


def is_kubeadm_config(tree: Any) -> bool:
    return isinstance(tree, dict) and str(tree.get("apiVersion", "")).startswith("kubeadm.k8s.io/")


def load_plan(path: str | Path) -> dict[str, Origin]:
    """Cluster vars (with origins) from a kubeadm configuration file."""
    name = str(path)
    plan: dict[str, Origin] = {}
    docs = load_yaml_documents(path, error=InventoryError)
    seen = False
    for tree, first in docs:
        if not isinstance(tree, dict):
            raise InventoryError("a kubeadm config document must be a mapping", path=name,
                                 line=first)
        api, kind = str(tree.get("apiVersion", "")), tree.get("kind")
        if not api.startswith("kubeadm.k8s.io/"):
            continue                     # KubeletConfiguration, KubeProxyConfiguration, ...
        line = locate(tree, ["apiVersion"])[0]
        if api not in API_VERSIONS:
            raise InventoryError(f"kubeadm config {api} is not supported (v1beta3 or v1beta4; "
                                 "convert with `kubeadm config migrate`)", path=name, line=line)
        if kind not in KINDS:
            raise InventoryError(f"unknown kubeadm config kind {kind!r}", path=name, line=line)
        seen = True
        if kind == "ClusterConfiguration":
            _cluster(tree, name, plan)
        elif kind == "InitConfiguration":
            port = _get(tree, ("localAPIEndpoint", "bindPort"))
            if port is not None:
                plan["apiserver_port"] = (port, name, _at(tree, ("localAPIEndpoint", "bindPort")))
    if not seen:
        raise InventoryError("no kubeadm.k8s.io ClusterConfiguration or InitConfiguration in "
                             "this file", path=name, line=1)
    return plan


def _get(tree: Any, keys: tuple[str, ...]) -> Any:
    node = tree
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _at(tree: Any, keys: tuple[str, ...]) -> int | None:
    return locate(tree, list(keys))[0]


def _cluster(tree: Any, name: str, plan: dict[str, Origin]) -> None:
    for keys, var in ((("networking", "podSubnet"), "pod_cidr"),
                      (("networking", "serviceSubnet"), "service_cidr"),
                      (("kubernetesVersion",), "k8s_version"),
                      (("etcd", "local", "dataDir"), "etcd_data_dir")):
        value = _get(tree, keys)
        if value not in (None, ""):
            if var in ("pod_cidr", "service_cidr") and "," in str(value):
                value = str(value).split(",")[0].strip()    # dual stack: the first family
            plan[var] = (str(value), name, _at(tree, keys))
    endpoint = _get(tree, ("controlPlaneEndpoint",))
    if endpoint in (None, ""):
        return
    line = _at(tree, ("controlPlaneEndpoint",))
    host, port = _split_endpoint(str(endpoint), name, line)
    try:
        ipaddress.ip_address(host)
        plan["vip"] = (host, name, line)
    except ValueError:
        plan["lb_dns_name"] = (host, name, line)
    if port is not None:
        plan["lb_port"] = (port, name, line)


def _split_endpoint(text: str, name: str, line: int | None) -> tuple[str, int | None]:
    """'10.0.0.199:16443', '[fd00::1]:6443', 'k8s-api.example.com' -> (host, port)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if port and not port.isdigit():
        raise InventoryError(f"controlPlaneEndpoint {text!r}: port {port!r} is not a number",
                             path=name, line=line)
    return host, int(port) if port else None
