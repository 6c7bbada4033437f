"""The Ansible inventory: hosts.yml plus group_vars for `all` and each node group.

hosts.yml groups the hosts by spec node group (the only groups that list host variables), by node role
(role_<role>: children are the node groups of that role) and by primary zone (zone_<zone>). The groups that place
work are topology/services.py's decision, written here as it made it: svc_<Ansible role> (the hosts each play of
playbooks/site.yml runs its role on), sm_<subnet> and profile_<hardware profile> (where files of a subnet or a
board go). group_vars/all.yml tells every role where the manifest is and which groups a host is in, so a role
selects its files with one expression (see roles/README.md). Group names must be identifiers: '-' becomes '_'.
"""

from __future__ import annotations

from typing import Any

import yaml

from ffinfra.render.artifact import Artifact
from ffinfra.render.env import header
from ffinfra.render.ostune import sysctl_settings
from ffinfra.topology.model import Host, Topology
from ffinfra.topology.services import (
    ROLE_PACKAGES,
    ROLE_REAL_PACKAGES,
    ROLE_SIM_PACKAGES,
    ansible_group,
    package_versions,
)

ROLES = ("compute", "storage", "management", "controller", "login")


# libyaml's dumper when PyYAML has it (several times faster on 1,000+ hosts, the same bytes), else PyYAML's own.
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
HOST_GROUPS = "{{ group_names + ['all', 'host_' ~ (inventory_hostname | regex_replace('[^A-Za-z0-9_]', '_'))] }}"
MANIFEST_LOOKUP = "{{ lookup('ansible.builtin.file', ffinfra_artifacts_dir ~ '/manifest.json') | from_json }}"


def _dump(hdr: str, data: Any) -> str:
    # The safe dumper quotes whatever YAML would misread (a host named "yes", an address like 1e3), and with
    # sort_keys=False the order is the order we built, which is deterministic.
    return hdr + "\n" + yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=1000)


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
        children[ansible_group(gname)] = {"hosts": {h.name: host_vars(h) for h in topo.hosts_in_group(gname)}}
    for role in ROLES:
        groups = [g for g, gs in spec.nodes.items() if gs.role == role]
        if groups:
            children[f"role_{role}"] = {"children": {ansible_group(g): {} for g in groups}}
    for z in spec.fabric.zones:
        children[f"zone_{ansible_group(z.name)}"] = {"hosts": {h.name: None for h in topo.hosts if h.zone == z.name}}
    for name, hosts in topo.services.groups.items():
        children[name] = {"hosts": dict.fromkeys(hosts)} if hosts else {}
    return {"all": {"children": children}}


def all_vars(topo: Topology) -> dict[str, Any]:
    spec = topo.spec
    classes = spec.qos.classes
    return (
        {
            "ffinfra_stack": topo.name,
            "ffinfra_domain": spec.network.domain,
            "ffinfra_slurm_controller": topo.services.slurm_controller,
            "ffinfra_subnet_managers": subnet_manager_vars(topo),
            # What every role selects its files from: the build's manifest, and the groups this host is in.
            "ffinfra_manifest": MANIFEST_LOOKUP,
            # every host is also in its own one-host group, host_<name>: where per-node files go (a 3FS node id)
            "ffinfra_groups": HOST_GROUPS,
            # What each role needs installed; `common` installs the union for the host's roles (svc_<role> groups).
            "ffinfra_role_packages": {role: list(pkgs) for role, pkgs in ROLE_PACKAGES.items()},
            # package → the version the spec pins (scheduler.slurm.version, fabric.subnet_manager.version)
            "ffinfra_package_versions": package_versions(spec),
            "ffinfra_role_sim_packages": {role: list(pkgs) for role, pkgs in ROLE_SIM_PACKAGES.items()},
            # on a real fabric only: 3FS's build and runtime (nothing of 3FS starts on a simulated one), HFReduce's
            # ibverbs build and its build venv
            "ffinfra_role_real_packages": {role: list(pkgs) for role, pkgs in ROLE_REAL_PACKAGES.items()},
            "ffinfra_qos": {
                "enabled": spec.qos.enabled,
                "classes": {
                    name: {"sl": getattr(classes, name).sl} for name in ("hfreduce", "nccl", "storage", "other")
                },
            },
            "ffinfra_sysctl": sysctl_settings(spec),
            "ffinfra_nofile": spec.os.nofile,
            "ffinfra_memlock": spec.os.memlock,
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        | (
            {
                "ffinfra_threefs": threefs_vars(topo),
                # on the controller: where threefs_build puts the binaries every 3FS role copies (not the build folder)
                "ffinfra_threefs_binaries_dir": "{{ (ffinfra_state_dir | default(ffinfra_artifacts_dir ~ '/..'))"
                " | ansible.builtin.realpath }}/threefs-bin/{{ ffinfra_threefs.build.commit }}",
            }
            if topo.threefs
            else {}
        )
        | ({"ffinfra_hfreduce": hfreduce_vars(topo)} if topo.hfreduce else {})
    )


def subnet_manager_vars(topo: Topology) -> dict[str, Any]:
    """Per subnet: its master SM's host and address (a lab's standby reaches ibsim there), its standby's host, the
    port GUID it binds to (opensm.conf names the master's) and the priority it runs at (one below the master's, so
    the master takes the subnet back)."""
    by_name = topo.host_by_name
    priority = topo.spec.fabric.subnet_manager.sm_priority
    return {
        sn.name: {
            "master": sn.sm_host,
            "master_address": by_name[sn.sm_host].mgmt_ip,
            "standby": sn.standby_host,
            "standby_guid": None if sn.standby_port_guid is None else f"0x{sn.standby_port_guid:016x}",
            "standby_priority": max(0, priority - 1),
        }
        for sn in topo.subnets
    }


def hfreduce_vars(topo: Topology) -> dict[str, Any]:
    """The hfreduce role's builds: where each profile's is built, what it is, where it goes (topology/hfreduce.py).
    The source folder itself is an extra var of the run (ffinfra_hfreduce_source_dir): it is where ffinfra is."""
    layout = topo.hfreduce
    assert layout is not None
    return {
        "version": layout.source.version,
        "source": layout.source.short,
        "files": list(layout.source.files),
        "builds": [
            {
                "profile": b.profile,
                "build_host": b.build_host,
                "hosts": list(b.hosts),
                "simd": b.simd,
                "prefix": b.prefix,
                "cuda": b.cuda,
                "ibverbs": b.ibverbs,
                "nvlink": b.nvlink,
            }
            for b in layout.builds
        ],
    }


def threefs_vars(topo: Topology) -> dict[str, Any]:
    """What the 3FS roles need beyond their files: the compiler's decisions (topology/threefs.py), never re-derived."""
    layout, t = topo.threefs, topo.spec.storage.threefs
    assert layout is not None
    return {
        "cluster_id": layout.cluster_id,
        "mountpoint": layout.mountpoint,
        "admin_host": layout.admin_host,
        "build_host": layout.build_host,
        "monitor_host": layout.monitor,
        "chain_table_id": 1,
        "chunk_size": t.chunk_size_kib * 1024,
        "stripe_size": t.stripe_size,
        "chains": len(topo.chain_table.chains) if topo.chain_table else 0,
        "disks": [
            {
                "index": d.index,
                "device": d.device,
                "label": d.label,
                "mount": d.mount,
                "target_path": d.target_path,
                "unit": d.mount_unit,
            }
            for d in layout.disks
        ],
        "build": {
            "repo": t.build.repo,
            "commit": t.build.commit,
            "jobs": t.build.jobs or 0,
            "shuffle_method": t.shuffle_method,
        },
        "fdb": {
            "version": t.fdb.version,
            "package_url": t.fdb.package_url.format(version=t.fdb.version),
            "port": t.fdb.port,
        },
        "monitor": {"db": t.monitor.db, "port": t.monitor.port, "clickhouse_port": t.monitor.clickhouse_port},
        "mgmtd_addresses": list(layout.mgmtd_addresses),
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
        Artifact("inventory/hosts.yml", _dump(hdr, inventory_tree(topo)), "inventory"),
        Artifact("inventory/group_vars/all.yml", _dump(hdr, all_vars(topo)), "inventory"),
    ]
    for gname in topo.spec.nodes:
        out.append(
            Artifact(
                f"inventory/group_vars/{ansible_group(gname)}.yml",
                _dump(hdr, group_vars(topo, gname)),
                "inventory",
            )
        )
    return out
