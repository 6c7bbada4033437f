"""The Ansible inventory: hosts.yml and group_vars, loadable YAML with the groups a playbook needs."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from ffinfra.render.inventory import HOST_GROUPS, render_inventory
from ffinfra.render.ostune import sysctl_settings

_FILES: dict[int, tuple[object, dict[str, str]]] = {}  # keeps the topology alive so its id is not reused
_LOADED: dict[tuple[int, str], object] = {}


def files(topo) -> dict[str, str]:
    if id(topo) not in _FILES:
        _FILES[id(topo)] = (topo, {a.path: a.content for a in render_inventory(topo)})
    return _FILES[id(topo)][1]


def load(topo, path: str = "inventory/hosts.yml"):
    """The file as Ansible's YAML loader sees it (libyaml's safe loader when present: same result, faster)."""
    key = (id(topo), path)
    if key not in _LOADED:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        _LOADED[key] = yaml.load(files(topo)[path], Loader=loader)
    return copy.deepcopy(_LOADED[key])


def group_hosts(inv, group: str) -> dict:
    return inv["all"]["children"][group].get("hosts") or {}


def all_hosts(inv) -> dict:
    """Hosts with their variables: the node groups are the only groups that carry host variables."""
    out = {}
    for g in inv["all"]["children"].values():
        for name, v in (g.get("hosts") or {}).items():
            if v:
                assert name not in out, f"{name} has variables in two groups"
                out[name] = v
    return out


def test_inventory_loads_with_safe_load_and_has_1424_hosts_for_ff2(stack):
    inv = yaml.safe_load(files(stack("ff2"))["inventory/hosts.yml"])
    assert len(all_hosts(inv)) == 1424 == len(stack("ff2").hosts)


@pytest.mark.parametrize("name", ["lab", "small", "ff2", "ff2-single"])
def test_every_group_name_is_an_ansible_identifier(stack, name):
    for group in load(stack(name))["all"]["children"]:
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", group), group


def test_node_groups_with_dashes_become_underscores(edited):
    def edit(d):
        d["nodes"] = {("cn-a" if k == "compute" else k): v for k, v in d["nodes"].items()}
        d["scheduler"]["slurm"]["partitions"][0]["groups"] = ["cn-a"]

    topo = edited("lab", edit)
    inv = load(topo)
    assert list(group_hosts(inv, "cn_a")) == ["cn01", "cn02", "cn03", "cn04"]
    assert inv["all"]["children"]["role_compute"]["children"] == {"cn_a": {}}
    assert "inventory/group_vars/cn_a.yml" in files(topo)


def test_host_variables(stack):
    topo = stack("ff2")
    hosts = all_hosts(load(topo))
    assert hosts["gpu0001"] == {
        "ansible_host": "10.0.4.1",
        "ffinfra_zone": "z0",
        "ffinfra_leaf": "z0-lf01",
        "ffinfra_leaf_port": 1,
        "ffinfra_ipoib_ip": "10.2.4.1",
        "ffinfra_bmc_ip": "10.1.4.1",
    }
    # no IB port: no leaf and no IPoIB address
    assert set(hosts["login01"]) == {"ansible_host", "ffinfra_zone", "ffinfra_bmc_ip"}
    for h in topo.hosts:
        assert hosts[h.name]["ansible_host"] == h.mgmt_ip


def test_role_groups_hold_the_node_groups_of_that_role(stack):
    children = load(stack("ff2"))["all"]["children"]
    assert children["role_compute"] == {"children": {"gpu_z0": {}, "gpu_z1": {}}}  # '-' → '_' for Ansible
    assert children["role_storage"] == {"children": {"storage": {}}}
    assert children["role_management"] == {"children": {"mgmt": {}}}
    assert children["role_controller"] == {"children": {"ctl": {}}}
    assert children["role_login"] == {"children": {"login": {}}}


def test_zone_groups_partition_the_hosts_by_primary_zone(stack):
    topo = stack("ff2")
    inv = load(topo)
    z0, z1 = set(group_hosts(inv, "zone_z0")), set(group_hosts(inv, "zone_z1"))
    assert not z0 & z1
    assert z0 | z1 == {h.name for h in topo.hosts}
    assert "gpu0001" in z0 and "gpu1236" in z1


def test_service_groups_are_the_compilers_decision(stack):
    """One group per Ansible role (what each play of site.yml targets), per subnet's SM and per profile."""
    topo = stack("ff2")
    inv = load(topo)
    assert list(group_hosts(inv, "svc_opensm")) == ["mgmt01", "mgmt03"]
    assert list(group_hosts(inv, "sm_z0")) == ["mgmt01"] and list(group_hosts(inv, "sm_z1")) == ["mgmt03"]
    assert list(group_hosts(inv, "svc_slurm_controller")) == ["ctl01"]
    assert list(group_hosts(load(stack("small")), "svc_slurm_controller")) == ["mgmt01"]
    for name, hosts in topo.services.groups.items():
        assert list(group_hosts(inv, name)) == list(hosts), name
    assert set(group_hosts(inv, "svc_slurm_client")) == {h.name for h in topo.hosts if h.role == "login"}
    assert "stor001" not in group_hosts(inv, "svc_munge")  # storage nodes run no Slurm daemon


def test_group_vars_all(stack):
    topo = stack("ff2")
    v = load(topo, "inventory/group_vars/all.yml")
    assert v["ffinfra_stack"] == "ff2"
    assert v["ffinfra_domain"] == "ff2.cluster"
    assert v["ffinfra_slurm_controller"] == "ctl01"
    assert v["ffinfra_qos"]["classes"] == {
        "hfreduce": {"sl": 1},
        "nccl": {"sl": 2},
        "storage": {"sl": 3},
        "other": {"sl": 0},
    }
    assert v["ffinfra_sysctl"] == sysctl_settings(topo.spec)
    assert (v["ffinfra_nofile"], v["ffinfra_memlock"]) == (1000000, "unlimited")
    assert v["ansible_python_interpreter"] == "/usr/bin/python3"
    # every role selects its files from the manifest with the groups the host is in
    assert "manifest.json" in v["ffinfra_manifest"] and v["ffinfra_groups"] == HOST_GROUPS and "host_" in HOST_GROUPS


def test_group_vars_per_node_group(stack):
    topo = stack("ff2")
    for g in ("gpu_z0", "gpu_z1"):
        assert load(topo, f"inventory/group_vars/{g}.yml") == {
            "ffinfra_role": "compute",
            "ffinfra_profile": "gpu-a100-pcie",
            "ffinfra_gpu_count": 8,
        }
    assert load(topo, "inventory/group_vars/storage.yml") == {
        "ffinfra_role": "storage",
        "ffinfra_profile": "storage-16nvme",
    }
    assert sorted(p for p in files(topo) if p.startswith("inventory/group_vars/")) == sorted(
        f"inventory/group_vars/{g}.yml" for g in ("all", "gpu_z0", "gpu_z1", "storage", "mgmt", "ctl", "login")
    )


def test_host_names_yaml_would_misread_stay_strings(edited):
    def edit(d):
        d["nodes"]["controller"]["hostnames"] = "yes"

    inv = load(edited("lab", edit))
    assert "yes" in group_hosts(inv, "controller")


def test_everything_goes_to_the_operator(stack):
    assert {(a.component, a.audience, a.dest) for a in render_inventory(stack("lab"))} == {
        ("inventory", "operator", "")
    }


def test_rendering_twice_gives_identical_text(stack):
    first, second = (render_inventory(stack("ff2")) for _ in range(2))
    assert first == second
