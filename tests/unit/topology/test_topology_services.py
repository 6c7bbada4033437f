"""Who runs what, decided once by the compiler (topology/services.py): each host's Ansible roles and daemons, and
the facts every consumer reads (controller, cluster name, Slurm nodes, 3FS cluster id)."""

from __future__ import annotations

import yaml

from ffinfra.compile import compile_stack
from ffinfra.render.placement import place
from ffinfra.render.slurm import partition_lines
from ffinfra.render.targets import render_all


def test_each_lab_host_runs_the_roles_of_what_it_is(compiled_stack):
    s = compiled_stack("lab").topology.services
    assert s.of("cn01").roles == (
        "common", "munge", "threefs_common", "threefs_fuse", "slurm_node", "bench_tools", "hfreduce",
    )  # fmt: skip
    # no Slurm daemon, so no munge either
    # st01 stands by for z0's SM (the lab's fabric.subnet_manager.standby_hosts)
    assert s.of("st01").roles == ("common", "opensm", "threefs_common", "threefs_storage", "bench_tools")
    # the first (here the only) mgmtd host: no management node, so the controller; it builds and bootstraps 3FS
    assert s.of("ctl01").roles == (
        "common", "munge", "opensm", "threefs_common", "fdb", "threefs_build", "threefs_monitor", "threefs_mgmtd",
        "threefs_meta", "threefs_bootstrap", "slurm_controller",
    )  # fmt: skip
    assert s.of("login01").roles == ("common", "munge", "slurm_client")  # no fabric port: no FUSE client


def test_daemons_follow_the_roles_and_ibsim_only_runs_on_a_simulated_fabric(compiled_stack):
    s = compiled_stack("lab").topology.services
    names = lambda host, sim: [d.process for d in s.of(host).daemons_on(sim)]  # noqa: E731
    assert names("cn01", True) == ["sshd", "munged", "slurmd"]
    assert names("st01", True) == ["sshd", "opensm"]  # the standby SM: no ibsim, the master's host has it
    assert names("ctl01", True) == ["sshd", "munged", "opensm", "ibsim", "slurmctld"]
    # 3FS's daemons need RDMA and FoundationDB: on a real fabric only
    assert names("ctl01", False) == [
        "sshd", "munged", "opensm", "fdbserver", "monitor_collector_main", "clickhouse-server", "mgmtd_main",
        "meta_main", "slurmctld",
    ]  # fmt: skip
    assert [d.process for d in s.of("st01").skipped_on(True)] == ["storage_main"]
    assert s.of("st01").skipped_on(False) == ()
    assert names("login01", True) == ["sshd", "munged"]
    assert {d.role for d in s.of("ctl01").daemons if d.process == "opensm"} == {"opensm"}
    # what systemd runs them as: the units the probe, the closing checks and the node suite ask about
    assert s.of("ctl01").units_on(True) == ("ssh", "munge", "ffinfra-opensm@z0", "ffinfra-ibsim", "slurmctld")


def test_facts_every_consumer_reads(compiled_stack):
    lab = compiled_stack("lab").topology.services
    assert (lab.slurm_controller, lab.slurm_cluster_name) == ("ctl01", "lab")
    assert compiled_stack("lab").topology.threefs.cluster_id == "lab"  # decided with the rest of 3FS's layout
    assert lab.slurm_nodes == ("cn01", "cn02", "cn03", "cn04") and lab.login_hosts == ("login01",)
    assert lab.sm_hosts == {"z0": "ctl01"}
    ff2 = compiled_stack("ff2").topology.services
    assert ff2.sm_hosts == {"z0": "mgmt01", "z1": "mgmt03"}
    assert ff2.slurm_controller == "ctl01"
    assert compiled_stack("small").topology.services.slurm_controller == "mgmt01"  # no controller node: management


def test_inventory_groups_place_roles_subnets_and_profiles(compiled_stack):
    topo = compiled_stack("ff2").topology
    g = topo.services.groups
    assert g["svc_opensm"] == ("mgmt01", "mgmt03") and g["sm_z0"] == ("mgmt01",) and g["sm_z1"] == ("mgmt03",)
    assert set(g["profile_gpu_a100_pcie"]) == {h.name for h in topo.hosts if h.profile_name == "gpu-a100-pcie"}
    for role in ("common", "munge", "opensm", "slurm_controller", "slurm_node", "slurm_client", "bench_tools"):
        assert g[f"svc_{role}"] == tuple(topo.services.hosts_running(role))


def test_a_partition_naming_a_storage_group_declares_no_storage_node(make_stack, stack_text):
    """The bug of two `compute_hosts`: slurm.conf left storage nodes out while up's verify waited for them."""
    data = yaml.safe_load(stack_text("lab"))
    data["scheduler"]["slurm"]["partitions"] = [{"name": "all", "groups": ["compute", "storage"], "default": True}]
    topo = compile_stack(make_stack(data)).topology
    assert topo.services.slurm_nodes == ("cn01", "cn02", "cn03", "cn04")
    assert partition_lines(topo)[0].nodes == "cn[01-04]"  # what slurm.conf declares = what verify waits for
    assert not topo.services.of("st01").runs("slurm_node")


def test_login_nodes_get_slurm_conf_and_munge_so_users_can_submit(compiled_stack):
    topo = compiled_stack("lab").topology
    placement = place(topo, render_all(topo))
    assert set(placement["login01"]["slurm_client"]) == {
        "/etc/slurm/slurm.conf",
        "/etc/slurm/gres.conf",
        "/etc/slurm/topology.conf",
    }
    assert "slurm_client" not in placement["cn01"] and "slurm_node" not in placement["login01"]
    assert not any(dest.startswith("/etc/slurm/") for files in placement["st01"].values() for dest in files)


def test_the_controller_named_in_the_spec_wins(make_stack, stack_text):
    data = yaml.safe_load(stack_text("lab"))
    data["scheduler"]["slurm"]["controller"] = "cn04"
    s = compile_stack(make_stack(data)).topology.services
    assert s.slurm_controller == "cn04"
    assert s.of("cn04").roles == (
        "common", "munge", "threefs_common", "threefs_fuse", "slurm_controller", "slurm_node", "bench_tools",
        "hfreduce",
    )  # fmt: skip
    assert not s.of("ctl01").runs("slurm_controller")
