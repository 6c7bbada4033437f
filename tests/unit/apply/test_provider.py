"""Lab naming (short, unique, per stack), the nodes a topology asks for, drift, and the no-root error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ffinfra.apply.lab import LabProvider, RootRequired, require_root
from ffinfra.apply.lab.naming import IFNAMSIZ, netns_name, switch_name, veth_name
from ffinfra.apply.provider import Provider, gateway_address, nodes_from_topology
from ffinfra.apply.secrets import StackSecrets
from ffinfra.apply.up import connection_inventory, drift, expected_per_host, target_hosts
from ffinfra.compile import compile_stack
from ffinfra.render.targets import render_all
from ffinfra.stack import find_stack


@pytest.fixture(scope="module")
def lab():
    return compile_stack(find_stack("lab")).topology


def test_names_are_short_and_readable() -> None:
    assert netns_name("lab", "cn01") == "ff-lab-cn01"
    assert switch_name("lab") == "ffsw-lab"
    assert veth_name("cn01") == "v-cn01"


@pytest.mark.parametrize("stack", ["lab", "lab16", "a-very-long-stack-name-indeed"])
def test_names_fit_ifnamsiz_and_are_unique(stack: str) -> None:
    hosts = [f"node-with-a-long-name-{i:03d}" for i in range(200)] + ["cn01", "sw"]
    names = [netns_name(stack, h) for h in hosts] + [switch_name(stack)]
    assert all(len(n) <= IFNAMSIZ for n in names)
    assert len(set(names)) == len(names)
    veths = [veth_name(h) for h in hosts]
    assert all(len(v) <= IFNAMSIZ for v in veths) and len(set(veths)) == len(veths)


def test_names_differ_between_stacks() -> None:
    long_a, long_b = "stack-number-one", "stack-number-two"
    assert netns_name(long_a, "cn01") != netns_name(long_b, "cn01")
    assert switch_name(long_a) != switch_name(long_b)


def test_nodes_from_topology(lab) -> None:
    nodes = nodes_from_topology(lab)
    assert [n.name for n in nodes] == ["cn01", "cn02", "cn03", "cn04", "st01", "st02", "ctl01"]
    assert nodes[0].address == "10.210.0.10" and nodes[0].prefixlen == 24 and nodes[0].interface == "eth0"
    gw = gateway_address(lab)
    assert gw == "10.210.0.254" and gw not in {n.address for n in nodes}


def test_lab_provider_satisfies_the_protocol(tmp_path: Path, lab) -> None:
    p = LabProvider("lab", tmp_path / "lab", lab)
    assert isinstance(p, Provider)
    assert p.status() == {} and p.access() == {}


def test_root_error_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(RootRequired, match=r"lab provider needs root.*sudo"):
        require_root()


def test_targets_and_drift(lab) -> None:
    assert target_hosts(lab, "host:ctl01") == ["ctl01"]
    assert target_hosts(lab, "role:compute") == ["cn01", "cn02", "cn03", "cn04"]
    assert target_hosts(lab, "operator") == []
    arts = render_all(lab)
    exp = expected_per_host(lab, arts)
    assert "opensm" in exp["ctl01"] and "opensm" not in exp["cn01"]
    assert exp["cn01"]["slurm"]["slurm/slurm.conf"] == next(a.sha256 for a in arts if a.path == "slurm/slurm.conf")
    assert drift(lab, arts, {"hosts": {}})["cn01"] == ["never applied"]
    state = {"hosts": {h: {"roles": {r: {"artifacts": f} for r, f in roles.items()}} for h, roles in exp.items()}}
    assert all(d == [] for d in drift(lab, arts, state).values())
    state["hosts"]["cn01"]["roles"]["slurm"]["artifacts"]["slurm/slurm.conf"] = "0" * 64
    state["hosts"]["old01"] = {"roles": {}}
    d = drift(lab, arts, state)
    assert d["cn01"] == ["slurm/slurm.conf changed"] and d["old01"] == ["no longer in the spec"]


def test_connection_inventory_verifies_host_keys(tmp_path: Path) -> None:
    import yaml

    s = StackSecrets(tmp_path / "secrets")
    v = yaml.safe_load(connection_inventory(s))["all"]["vars"]
    assert v["ansible_user"] == "root"
    assert v["ansible_ssh_common_args"] == f"-F {s.ssh_config.resolve()}"
    assert v["ansible_host_key_checking"] is True
    assert "StrictHostKeyChecking=no" not in str(v)
