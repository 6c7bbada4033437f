"""Lab naming (short, unique, per stack), the nodes a topology asks for, drift, and the no-root error."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ffinfra.apply.lab import LabProvider, RootRequired, require_root
from ffinfra.apply.lab.naming import IFNAMSIZ, netns_name, switch_name, veth_name
from ffinfra.apply.provider import Provider, gateway_address, nodes_from_topology
from ffinfra.apply.record import drift, record_hosts
from ffinfra.apply.up import connection_vars
from ffinfra.compile import compile_stack
from ffinfra.render.placement import place
from ffinfra.render.targets import render_all
from ffinfra.runtime.secrets import StackSecrets
from ffinfra.runtime.state import HostState, StackState
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
    assert [n.name for n in nodes] == ["cn01", "cn02", "cn03", "cn04", "st01", "st02", "ctl01", "login01"]
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


def test_recorded_drift(lab) -> None:
    """`status` and `up --dry-run` compare what would be installed now with what state.json records."""
    placement = place(lab, render_all(lab))
    assert drift(placement, StackState())["cn01"] == ["never applied"]
    state = StackState()
    record_hosts(state, lab, placement, [h.name for h in lab.hosts], "lab", {}, "r1", {})
    assert all(d == [] for d in drift(placement, state).values())
    state.hosts["cn01"].roles["slurm_node"].files["/etc/slurm/slurm.conf"] = "0" * 64
    state.hosts["old01"] = HostState()
    d = drift(placement, state)
    assert d["cn01"] == ["/etc/slurm/slurm.conf changed"] and d["old01"] == ["no longer in the spec"]


def test_ansible_reaches_the_nodes_with_host_keys_checked(tmp_path: Path) -> None:
    s = StackSecrets(tmp_path / "secrets")
    v = connection_vars(s)["all"]["vars"]
    assert v["ansible_user"] == "root"
    assert v["ansible_ssh_common_args"] == f"-F {s.ssh_config.resolve()}"
    assert v["ansible_host_key_checking"] is True
    assert "StrictHostKeyChecking=no" not in str(v)


@pytest.mark.skipif(os.geteuid() != 0, reason="creates a real network namespace (root)")
def test_leftovers_names_the_hashed_namespaces_of_a_long_stack_name(tmp_path: Path, lab) -> None:
    """`down` checks leftovers by name, not by prefix: a long stack name hashes its namespace names."""
    import subprocess

    stack = "a-very-long-stack-name-indeed"
    ns = netns_name(stack, "cn01")
    assert not ns.startswith(f"ff-{stack}-")
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        left = LabProvider(stack, tmp_path / "lab", lab).leftovers()
        assert left == [f"netns {ns} (cn01)"]
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
    assert LabProvider(stack, tmp_path / "lab", lab).leftovers() == []
