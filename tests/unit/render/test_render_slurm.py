"""slurm.conf, gres.conf and topology.conf, read as Slurm 22.05 would read them."""

from __future__ import annotations

from collections import Counter

import pytest

from ffinfra.render.slurm import real_memory_mb, render_slurm
from ffinfra.spec.hostlist import expand


def files(topo) -> dict[str, str]:
    return {a.path.removeprefix("slurm/"): a.content for a in render_slurm(topo)}


def records(text: str, first_key: str) -> list[dict[str, str]]:
    """The `A=1 B=x` lines whose first key is first_key, as dicts."""
    out = []
    for line in text.splitlines():
        if line.startswith(first_key + "="):
            out.append(dict(part.split("=", 1) for part in line.split()))
    return out


def settings(text: str) -> dict[str, str]:
    """Single-key lines of slurm.conf (Key=Value), last one wins as in Slurm."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and " " not in line and "=" in line:
            k, v = line.split("=", 1)
            out[k] = v
    return out


# --------------------------------------------------------------------------------------------- slurm.conf


def test_ff2_slurm_conf_core_settings(stack):
    conf = settings(files(stack("ff2"))["slurm.conf"])
    assert conf["ClusterName"] == "ff2"
    assert conf["SlurmctldHost"] == "ctl01(10.0.0.21)"
    assert conf["AuthType"] == "auth/munge"
    assert conf["SelectType"] == "select/cons_tres"
    assert conf["SelectTypeParameters"] == "CR_Core_Memory"
    assert conf["GresTypes"] == "gpu"
    assert conf["TopologyPlugin"] == "topology/tree"
    assert conf["ProctrackType"] == "proctrack/linuxproc"
    assert conf["ReturnToService"] == "2"
    assert (conf["SlurmctldPort"], conf["SlurmdPort"]) == ("6817", "6818")
    assert conf["StateSaveLocation"] == "/var/spool/slurmctld"
    assert conf["SlurmdSpoolDir"] == "/var/spool/slurmd"
    assert conf["SlurmdPidFile"] == "/run/slurmd.pid"  # what Debian's slurmd systemd unit expects


def test_controller_defaults_to_first_controller_node_then_first_management_node(stack):
    assert settings(files(stack("lab"))["slurm.conf"])["SlurmctldHost"] == "ctl01(10.210.0.16)"
    assert settings(files(stack("small"))["slurm.conf"])["SlurmctldHost"] == "mgmt01(10.20.0.11)"


def test_cluster_name_from_spec_wins_over_stack_name(edited):
    topo = edited("lab", lambda d: d["scheduler"]["slurm"].update(cluster_name="lab2"))
    assert settings(files(topo)["slurm.conf"])["ClusterName"] == "lab2"


def test_node_lines_name_every_compute_host_once_and_nothing_else(stack):
    topo = stack("ff2")
    names = [n for r in records(files(topo)["slurm.conf"], "NodeName") for n in expand(r["NodeName"])]
    assert Counter(names) == Counter(h.name for h in topo.hosts_with_role("compute"))


def test_ff2_node_lines_are_one_per_zone_with_hardware_and_features(stack):
    nodes = records(files(stack("ff2"))["slurm.conf"], "NodeName")
    assert [n["NodeName"] for n in nodes] == ["gpu[0001-0618]", "gpu[0619-1236]"]
    assert [n["Features"] for n in nodes] == ["z0,gpu-z0,gpu", "z1,gpu-z1,gpu"]  # zone, group, the group's features
    for n in nodes:
        assert (n["CPUs"], n["Sockets"], n["CoresPerSocket"], n["ThreadsPerCore"]) == ("64", "2", "32", "1")
        assert n["Gres"] == "gpu:a100:8"
        assert int(n["RealMemory"]) == real_memory_mb(512)
        assert "NodeAddr" not in n  # names resolve through the rendered /etc/hosts


def test_group_features_follow_zone_and_group(edited):
    topo = edited("lab", lambda d: d["nodes"]["compute"].update(features=["cpu", "z0"]))
    (node,) = records(files(topo)["slurm.conf"], "NodeName")
    assert node["Features"] == "z0,compute,cpu"


@pytest.mark.parametrize(
    ("gb", "mb"),
    [(512, 512 * 1024 - 512 * 1024 * 5 // 100), (16, 16 * 1024 - 1024), (2, 1024), (1, 512)],
)
def test_real_memory_leaves_5_percent_or_1_gib_but_never_half(gb, mb):
    assert real_memory_mb(gb) == mb


def test_cpu_only_cluster_has_no_gres(stack):
    conf = files(stack("lab"))["slurm.conf"]
    assert "GresTypes" not in settings(conf)
    assert all("Gres" not in n for n in records(conf, "NodeName"))


def test_select_linear_has_no_cr_parameters(edited):
    topo = edited("lab", lambda d: d["scheduler"]["slurm"].update(select_type="select/linear"))
    conf = settings(files(topo)["slurm.conf"])
    assert conf["SelectType"] == "select/linear"
    assert "SelectTypeParameters" not in conf


def test_partitions_come_from_the_spec(stack):
    (part,) = records(files(stack("small"))["slurm.conf"], "PartitionName")
    assert part == {
        "PartitionName": "gpu",
        "Nodes": "gpu[001-032]",
        "Default": "YES",
        "MaxTime": "7-00:00:00",
        "State": "UP",
    }


def test_without_partitions_one_default_batch_partition_holds_all_compute_nodes(edited):
    topo = edited("lab", lambda d: d["scheduler"]["slurm"].update(partitions=[]))
    (part,) = records(files(topo)["slurm.conf"], "PartitionName")
    assert part["PartitionName"] == "batch"
    assert part["Default"] == "YES"
    assert expand(part["Nodes"]) == [h.name for h in topo.hosts_with_role("compute")]


def test_partition_nodes_are_only_compute_hosts_of_its_groups(edited):
    def edit(d):
        d["scheduler"]["slurm"]["partitions"] = [
            {"name": "all", "groups": ["compute", "storage"], "default": True},
            {"name": "stor", "groups": ["storage"], "max_time": "1:00:00"},
        ]

    parts = {p["PartitionName"]: p for p in records(files(edited("lab", edit))["slurm.conf"], "PartitionName")}
    assert parts["all"]["Nodes"] == "cn[01-04]"
    assert "Nodes" not in parts["stor"]  # storage hosts are not Slurm nodes
    assert (parts["stor"]["Default"], parts["stor"]["MaxTime"]) == ("NO", "1:00:00")


# --------------------------------------------------------------------------------------------- topology.conf


def switch_records(topo) -> list[dict[str, str]]:
    return records(files(topo)["topology.conf"], "SwitchName")


@pytest.mark.parametrize("name", ["lab", "small", "ff2", "ff2-single"])
def test_every_compute_host_appears_in_exactly_one_leaf_switch_line(stack, name):
    topo = stack(name)
    under = [n for s in switch_records(topo) if "Nodes" in s for n in expand(s["Nodes"])]
    assert Counter(under) == Counter(h.name for h in topo.hosts_with_role("compute"))


@pytest.mark.parametrize("name", ["lab", "small", "ff2", "ff2-single"])
def test_no_topology_line_has_both_nodes_and_switches_or_neither(stack, name):
    for s in switch_records(stack(name)):
        assert ("Nodes" in s) != ("Switches" in s), s


def test_a_host_sits_under_the_leaf_its_first_ib_port_is_cabled_to(stack):
    topo = stack("ff2")
    for s in switch_records(topo):
        for n in expand(s.get("Nodes", "")):
            assert topo.host_by_name[n].ports[0].leaf == s["SwitchName"]


def test_leaves_without_compute_hosts_are_left_out(stack):
    topo = stack("small")
    names = {s["SwitchName"] for s in switch_records(topo)}
    for leaf, ports in topo.ports_by_leaf.items():
        has_compute = any(topo.host_by_name[p.host].role == "compute" for p in ports)
        assert (leaf in names) == has_compute


def test_zone_switches_are_that_zones_leaf_lines(stack):
    recs = switch_records(stack("ff2"))
    leaves = [s["SwitchName"] for s in recs if "Nodes" in s]
    zones = {s["SwitchName"]: expand(s["Switches"]) for s in recs if s["SwitchName"] in ("z0", "z1")}
    assert zones["z0"] == [x for x in leaves if x.startswith("z0-")]
    assert zones["z1"] == [x for x in leaves if x.startswith("z1-")]
    assert len(zones["z0"]) == 40


def test_ff2_without_cross_zone_jobs_has_no_root_switch(stack):
    recs = switch_records(stack("ff2"))
    assert not [s for s in recs if s["SwitchName"] == "fabric"]
    # nothing lists the zone switches: each zone is a separate tree, so a job stays in one zone
    assert not [s for s in recs if "Switches" in s and set(expand(s["Switches"])) & {"z0", "z1"}]
    assert "confines each job to one zone" in files(stack("ff2"))["topology.conf"]


def test_ff2_with_cross_zone_jobs_has_a_root_over_both_zones(edited):
    topo = edited("ff2", lambda d: d["scheduler"]["slurm"].update(cross_zone_jobs=True))
    roots = [s for s in switch_records(topo) if s["SwitchName"] == "fabric"]
    assert roots == [{"SwitchName": "fabric", "Switches": "z[0-1]"}]
    assert expand(roots[0]["Switches"]) == ["z0", "z1"]


def test_one_zone_gets_a_root(stack):
    assert switch_records(stack("lab"))[-1] == {"SwitchName": "fabric", "Switches": "z0"}


# --------------------------------------------------------------------------------------------- gres.conf


def gres(topo) -> list[dict[str, str]]:
    return records(files(topo)["gres.conf"], "NodeName")


def test_gres_conf_cores_of_gpu0_on_ff2_are_0_31_and_of_gpu7_32_63(stack):
    lines = gres(stack("ff2"))
    assert lines[0]["File"] == "/dev/nvidia0"
    assert lines[0]["Cores"] == "0-31"
    assert lines[7]["File"] == "/dev/nvidia7"
    assert lines[7]["Cores"] == "32-63"


def test_gres_conf_has_one_file_per_line_for_every_gpu_of_every_compute_host(stack):
    topo = stack("ff2")
    lines = gres(topo)
    assert [ln["File"] for ln in lines] == [f"/dev/nvidia{i}" for i in range(8)]
    for ln in lines:
        assert (ln["Name"], ln["Type"]) == ("gpu", "a100")
        assert "," not in ln["File"]
        assert expand(ln["NodeName"]) == [h.name for h in topo.hosts_with_role("compute")]


def test_gres_links_mark_self_and_nvlink_peer(stack):
    links = [[int(x) for x in ln["Links"].split(",")] for ln in gres(stack("ff2"))]
    peers = {0: 1, 1: 0, 2: 3, 3: 2, 4: 5, 5: 4, 6: 7, 7: 6}
    for i, row in enumerate(links):
        assert len(row) == 8
        assert row[i] == -1
        assert row[peers[i]] > 0
        assert all(v == 0 for j, v in enumerate(row) if j not in (i, peers[i]))


def test_gpus_without_numa_split_evenly_over_numa_nodes(edited):
    def edit(d):
        gpus = d["hardware"]["gpu-a100-pcie"]["gpus"]
        del gpus["numa"]
        gpus["nvlink_pairs"] = []

    lines = gres(edited("small", edit))
    assert [ln["Cores"] for ln in lines] == ["0-31"] * 4 + ["32-63"] * 4
    assert all(ln["Links"].count("-1") == 1 and set(ln["Links"].split(",")) <= {"-1", "0"} for ln in lines)


def test_cpu_only_cluster_has_an_empty_gres_conf(stack):
    assert gres(stack("lab")) == []


# --------------------------------------------------------------------------------------------- all three


def test_every_slurm_role_installs_the_three_files_under_etc_slurm(stack):
    arts = render_slurm(stack("ff2"))
    roles = ("slurm_controller", "slurm_node", "slurm_client")
    assert {(a.path, a.dest, a.roles, a.group) for a in arts} == {
        ("slurm/slurm.conf", "/etc/slurm/slurm.conf", roles, "all"),
        ("slurm/gres.conf", "/etc/slurm/gres.conf", roles, "all"),
        ("slurm/topology.conf", "/etc/slurm/topology.conf", roles, "all"),
    }


@pytest.mark.parametrize("name", ["lab", "ff2"])
def test_rendering_twice_gives_identical_text(stack, name):
    assert files(stack(name)) == files(stack(name))


@pytest.mark.parametrize("name", ["lab", "small", "ff2"])
def test_every_file_starts_with_the_generated_header(stack, name):
    for text in files(stack(name)).values():
        assert text.startswith(f"# Generated by ffinfra from stack '{name}'")
