"""Kubespray's inventory as its playbooks see it. The inventory no longer declares
`k8s_cluster`: roles/dynamic_groups builds it at run time from kube_control_plane,
kube_node and calico_rr (and maps the old names kube-master, kube-node, calico-rr),
so group_vars/k8s_cluster/ applies to those hosts. kaudit does the same."""

from __future__ import annotations

from kaudit.inventory.raw import _Raw

# kubernetes-sigs/kubespray roles/dynamic_groups/tasks/main.yml (group_mappings).
GROUP_MAPPINGS = {
    "kube_control_plane": ("kube-master",),
    "kube_node": ("kube-node",),
    "calico_rr": ("calico-rr",),
    "no_floating": ("no-floating",),
    "k8s_cluster": ("kube_node", "kube_control_plane", "calico_rr"),
}


def add_runtime_groups(raw: _Raw) -> list[str]:
    """Add the groups Kubespray's playbooks add; returns the ones added."""
    added = []
    for group, sources in GROUP_MAPPINGS.items():
        present = [s for s in sources if s in raw.children]
        if group in raw.children or not present:
            continue
        raw.add_group(group)
        raw.group_vars.setdefault(group, {})
        for source in present:
            raw.children[group].append(source)
            raw.parents[source].append(group)
        added.append(group)
    return added
