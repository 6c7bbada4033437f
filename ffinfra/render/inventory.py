"""The Ansible inventory for the operator: hosts.yml plus group_vars for `all` and each node group.

hosts.yml groups the hosts four ways: by spec node group (the only groups that list host variables), by role
(role_<role>: children are the node groups of that role), by primary zone (zone_<zone>), and by service
(sm_hosts, slurm_controller). Ansible group names must be identifiers, so '-' in names becomes '_'.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ffinfra.render.artifact import Artifact
from ffinfra.render.env import header
from ffinfra.render.ostune import sysctl_settings
from ffinfra.render.slurm import slurm_controller
from ffinfra.topology.model import Host, Topology

ROLES = ("compute", "storage", "management", "controller", "login")


def group_name(name: str) -> str:
    """A spec name as an Ansible group name: letters, digits and '_' only."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def _dump(hdr: str, data: Any) -> str:
    # safe_dump quotes whatever YAML would misread (a host named "yes", an address like 1e3), and with
    # sort_keys=False the order is the order we built, which is deterministic.
    return hdr + "\n" + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=1000)


def host_vars(h: Host) -> dict[str, Any]:
    v: dict[str, Any] = {"ansible_host": h.mgmt_ip, "ffinfra_zone": h.zone}
    if h.ports:
        v["ffinfra_leaf"] = h.ports[0].leaf
        v["ffinfra_leaf_port"] = h.ports[0].leaf_port
    if h.ipoib_ip and h.ports:  # no IB port, no IPoIB interface (as in /etc/hosts)
        v["ffinfra_ipoib_ip"] = h.ipoib_ip
    if h.bmc_ip:
        v["ffinfra_bmc_ip"] = h.bmc_ip
    return v


def inventory_tree(topo: Topology) -> dict[str, Any]:
    spec = topo.spec
    children: dict[str, Any] = {}
    for gname in spec.nodes:
        children[group_name(gname)] = {"hosts": {h.name: host_vars(h) for h in topo.hosts_in_group(gname)}}
    for role in ROLES:
        groups = [g for g, gs in spec.nodes.items() if gs.role == role]
        if groups:
            children[f"role_{role}"] = {"children": {group_name(g): {} for g in groups}}
    for z in spec.fabric.zones:
        children[f"zone_{group_name(z.name)}"] = {"hosts": {h.name: None for h in topo.hosts if h.zone == z.name}}
    children["sm_hosts"] = {"hosts": {name: None for name in dict.fromkeys(sn.sm_host for sn in topo.subnets)}}
    children["slurm_controller"] = {"hosts": {slurm_controller(topo).name: None}}
    return {"all": {"children": children}}


def all_vars(topo: Topology) -> dict[str, Any]:
    spec = topo.spec
    classes = spec.qos.classes
    return {
        "ffinfra_stack": topo.name,
        "ffinfra_domain": spec.network.domain,
        "ffinfra_slurm_controller": slurm_controller(topo).name,
        "ffinfra_qos": {
            "enabled": spec.qos.enabled,
            "classes": {name: {"sl": getattr(classes, name).sl} for name in ("hfreduce", "nccl", "storage", "other")},
        },
        "ffinfra_sysctl": sysctl_settings(spec),
        "ffinfra_nofile": spec.os.nofile,
        "ffinfra_memlock": spec.os.memlock,
        "ansible_python_interpreter": "/usr/bin/python3",
    }


def group_vars(topo: Topology, gname: str) -> dict[str, Any]:
    g = topo.spec.nodes[gname]
    v: dict[str, Any] = {"ffinfra_role": g.role, "ffinfra_profile": g.profile}
    gpus = topo.spec.hardware[g.profile].gpus
    if gpus is not None:
        v["ffinfra_gpu_count"] = gpus.count
    return v


def render_inventory(topo: Topology) -> list[Artifact]:
    hdr = header("#", topo.name)
    out = [
        Artifact("inventory/hosts.yml", _dump(hdr, inventory_tree(topo)), "inventory", "operator"),
        Artifact("inventory/group_vars/all.yml", _dump(hdr, all_vars(topo)), "inventory", "operator"),
    ]
    for gname in topo.spec.nodes:
        out.append(
            Artifact(
                f"inventory/group_vars/{group_name(gname)}.yml",
                _dump(hdr, group_vars(topo, gname)),
                "inventory",
                "operator",
            )
        )
    return out
