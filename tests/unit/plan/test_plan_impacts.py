"""One real spec edit per impact class, compiled on both sides and planned: the plan's impact, and the row that
carries it. Plus the things a plan must not do: report a change for an unchanged spec, for a default written out,
or 32 nodes removed and 32 added for a rename.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ffinfra.compile import compile_stack
from ffinfra.plan.impact import Impact
from ffinfra.plan.plan import Plan, Row, build_plan
from ffinfra.plan.report import headline
from ffinfra.plan.topo_diff import diff_topologies

PlanOf = Callable[..., Plan]


def sub(text: str, old: str, new: str) -> str:
    """Replace the one occurrence of `old` (an edit that silently matches nothing would test nothing)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


@pytest.fixture
def plan_of(tmp_path: Path, stack_text, write_stack) -> PlanOf:
    """plan_of('lab', edit) → the plan from stacks/lab to edit(its text); base= gives another base text."""
    n = iter(range(100))

    def make(stack: str, edit: Callable[[str], str], base: str | None = None, allow_destructive: bool = False) -> Plan:
        old = stack_text(stack) if base is None else base
        new = edit(old)
        d = tmp_path / f"case{next(n)}"
        a = compile_stack(write_stack(d / "old", old))
        b = compile_stack(write_stack(d / "new", new))
        return build_plan(a, b, "old", "new", allow_destructive=allow_destructive)

    return make


def carrier(plan: Plan, section: str, subject: str, regex: bool = False) -> Row:
    """The one row of `section` whose subject is `subject` (or, with regex=True, matches it)."""
    rows = [
        r
        for r in plan.rows
        if r.section == section and (re.fullmatch(subject, r.subject) if regex else r.subject == subject)
    ]
    assert len(rows) == 1, f"no single {section} row {subject!r} in {[(r.section, r.subject) for r in plan.rows]}"
    return rows[0]


def assert_carried(plan: Plan, impact: Impact, section: str, subject: str) -> Row:
    """The plan's impact is `impact`, and this row carries it."""
    assert plan.changed
    assert plan.impact is impact, f"plan impact {plan.impact.label}, expected {impact.label}: {plan.rows}"
    row = carrier(plan, section, subject)
    assert row.impact is impact
    assert row.action
    return row


# --------------------------------------------------------------------------------------------- no-op


def test_description_is_a_noop(plan_of):
    p = plan_of("lab", lambda t: sub(t, "description: one-zone", "description: One-zone"))
    assert_carried(p, Impact.NOOP, "spec", "description")
    assert not p.artifacts and p.topo.empty
    assert not p.refused


def test_acceptance_repeats_is_a_noop_that_changes_only_the_thresholds_file(plan_of):
    p = plan_of("lab", lambda t: sub(t, "repeats: 2", "repeats: 3"))
    assert_carried(p, Impact.NOOP, "spec", "acceptance.repeats")
    assert [a.path for a in p.artifacts] == ["acceptance/thresholds.json"]
    assert carrier(p, "artifact", "acceptance/thresholds.json").impact is Impact.NOOP


# --------------------------------------------------------------------------------------------- hot reload


def test_nccl_env_is_a_hot_reload_of_nccl_conf(plan_of):
    p = plan_of("small", lambda t: t + "nccl:\n  env: {NCCL_IB_TIMEOUT: '22'}\n")
    assert_carried(p, Impact.HOT_RELOAD, "spec", "nccl.env.NCCL_IB_TIMEOUT")
    row = assert_carried(p, Impact.HOT_RELOAD, "artifact", "nccl/gpu-a100-pcie/nccl.conf")
    assert "next job" in row.action
    (art,) = p.artifacts
    assert "+NCCL_IB_TIMEOUT=22" in art.diff


def test_a_new_hfreduce_simd_ceiling_is_a_new_build_rolled_through_the_compute_nodes(plan_of):
    p = plan_of("lab", lambda t: sub(t, "simd: avx512}", "simd: avx2}"))
    assert_carried(p, Impact.ROLLING_RESTART, "software", "hfreduce/lab-node")
    rows = {r.subject: r for r in p.rows}
    assert rows["hardware.lab-node.cpu.simd"].impact is Impact.HOT_RELOAD  # nothing else it feeds restarts
    assert "next job" in rows["hfreduce/lab-node/hfreduce.env"].action
    (art,) = [a for a in p.artifacts if a.path == "hfreduce/lab-node/hfreduce.env"]
    assert "+HFREDUCE_SIMD=avx2" in art.diff and "-avx2/python" in art.diff


def test_sysctl_is_a_hot_reload(plan_of):
    p = plan_of("lab", lambda t: t + "os:\n  sysctl: {vm.swappiness: 1}\n")
    assert_carried(p, Impact.HOT_RELOAD, "spec", "os.sysctl.vm.swappiness")
    row = assert_carried(p, Impact.HOT_RELOAD, "artifact", "os/sysctl.conf")
    assert "sysctl -p" in row.action


def test_slurm_partition_change_is_scontrol_reconfigure(plan_of):
    p = plan_of(
        "lab",
        lambda t: sub(t, "default: true}", "default: true, max_time: '1-00:00:00'}"),
    )
    assert_carried(p, Impact.HOT_RELOAD, "spec", "scheduler.slurm.partitions.lab.max_time")
    row = assert_carried(p, Impact.HOT_RELOAD, "artifact", "slurm/slurm.conf")
    assert "scontrol reconfigure" in row.action  # only PartitionName lines change: no restart


# --------------------------------------------------------------------------------------------- rolling restart


def test_memory_is_a_rolling_restart_for_realmemory(plan_of):
    p = plan_of("lab", lambda t: sub(t, "memory_gb: 2", "memory_gb: 4"))
    assert_carried(p, Impact.ROLLING_RESTART, "spec", "hardware.lab-node.memory_gb")
    row = assert_carried(p, Impact.ROLLING_RESTART, "artifact", "slurm/slurm.conf")
    assert "slurmctld" in row.action
    (art,) = [a for a in p.artifacts if a.path == "slurm/slurm.conf"]
    assert re.search(r"^-NodeName=cn\[01-04\] .*RealMemory=1024", art.diff, re.M)
    assert re.search(r"^\+NodeName=cn\[01-04\] .*RealMemory=\d+", art.diff, re.M)


def test_storage_sl_restarts_3fs_and_opensm_rereads_qos(plan_of):
    p = plan_of("lab", lambda t: t + "qos:\n  classes:\n    storage: {sl: 4, vl: 3, weight: 128}\n")
    assert_carried(p, Impact.ROLLING_RESTART, "spec", "qos.classes.storage.sl")
    # opensm.conf changes only in qos_sl2vl, which OpenSM re-reads on SIGHUP: no fabric re-route
    conf = carrier(p, "artifact", "opensm/z0/opensm.conf")
    assert conf.impact is Impact.HOT_RELOAD and "qos_sl2vl" in conf.action
    assert carrier(p, "artifact", "opensm/z0/qos-policy.conf").impact is Impact.HOT_RELOAD


# --------------------------------------------------------------------------------------------- rolling reboot


def test_provisioning_image_is_a_rolling_reboot(plan_of):
    p = plan_of("lab", lambda t: t + "provisioning:\n  image: {kernel_package: linux-image-6.1.0-99-amd64}\n")
    assert_carried(p, Impact.ROLLING_REBOOT, "spec", "provisioning.image.kernel_package")


def test_ip_offset_reboots_and_lists_every_readdressed_node(plan_of):
    p = plan_of("small", lambda t: sub(t, "ip_offset: 101", "ip_offset: 111"))
    assert carrier(p, "spec", "nodes.gpu.ip_offset").impact is Impact.ROLLING_REBOOT
    row = carrier(p, "topology", "32 node(s) re-addressed")
    assert row.impact is Impact.ROLLING_REBOOT
    assert row.change == "gpu[001-032]"
    assert row.details[0] == "gpu001: 10.20.0.101 → 10.20.0.111"
    assert len(row.details) == 32
    # addresses only: no node added, removed, renamed or re-cabled
    t = p.topo
    assert not (t.added or t.removed or t.renamed or t.moved or t.switches_added or t.cables_replugged)
    # The synthetic GUIDs derive from the address slot, so cn_guids.conf changes too and OpenSM must re-sweep;
    # with real GUIDs from an inventory CSV it would not. The plan's impact is the higher of the two.
    assert p.impact >= Impact.ROLLING_REBOOT


# --------------------------------------------------------------------------------------------- fabric re-route


def test_routing_engine_reroutes_the_fabric(plan_of):
    p = plan_of(
        "lab",
        lambda t: sub(t, "  subnet_manager:\n", "  subnet_manager:\n    routing_engine: updn\n"),
    )
    assert_carried(p, Impact.FABRIC_REROUTE, "spec", "fabric.subnet_manager.routing_engine")
    row = assert_carried(p, Impact.FABRIC_REROUTE, "artifact", "opensm/z0/opensm.conf")
    assert "restart OpenSM (routing_engine)" in row.action


def test_more_spines_add_switches_and_recable_by_switch_and_port(plan_of):
    p = plan_of("small", lambda t: sub(t, "{name: z0, spines: 2}", "{name: z0, spines: 4}"))
    assert_carried(p, Impact.FABRIC_REROUTE, "spec", "fabric.zones.z0.spines")
    sw = assert_carried(p, Impact.FABRIC_REROUTE, "topology", "2 switch(es) added")
    assert sw.change == "z0-sp[03-04]"
    cable_rows = [r for r in p.section("topology") if "cable(s)" in r.subject]
    assert cable_rows and all(r.impact is Impact.FABRIC_REROUTE for r in cable_rows)
    for r in cable_rows:
        for line in r.details:  # switch[port]: before → after, each side a port or "free"
            assert re.fullmatch(
                r"z0-(sp|lf)\d\d\[\d+\]: (z0-(sp|lf)\d\d\[\d+\]|free) → (z0-(sp|lf)\d\d\[\d+\]|free)", line
            )
    assert not p.topo.moved, "spines carry no hosts: no host port moves"


def test_a_moved_node_is_named_with_its_leaf_ports_before_and_after(plan_of, tmp_path, stack_text, write_stack):
    edit = lambda t: sub(t, "{name: z0, spines: 2}", "{name: z0, spines: 2, leaves: 3}")  # noqa: E731
    p = plan_of("small", edit)
    assert p.impact is Impact.FABRIC_REROUTE
    assert carrier(p, "topology", "1 switch(es) added").change == "z0-lf03"
    row = carrier(p, "topology", r"\d+ node\(s\) re-cabled", regex=True)
    assert row.impact is Impact.FABRIC_REROUTE
    assert p.topo.moved and len(row.details) == len(p.topo.moved)
    # each line names the host, its HCA port, and the leaf port before → after, as the two topologies have it
    old = compile_stack(write_stack(tmp_path / "o", stack_text("small"))).topology
    new = compile_stack(write_stack(tmp_path / "n", edit(stack_text("small")))).topology
    assert diff_topologies(old, new).moved == p.topo.moved
    for m, line in zip(p.topo.moved, row.details, strict=True):
        (a,) = [q for q in old.host_by_name[m.host].ports if (q.nic, q.port) == (m.nic, m.port)]
        (b,) = [q for q in new.host_by_name[m.host].ports if (q.nic, q.port) == (m.nic, m.port)]
        assert line == f"{m.host} {m.nic}[{m.port}]: {a.leaf}[{a.leaf_port}] → {b.leaf}[{b.leaf_port}]"
        assert (a.leaf, a.leaf_port) != (b.leaf, b.leaf_port)


# --------------------------------------------------------------------------------------------- 3FS data migration


def test_replication_migrates_3fs_data(plan_of):
    p = plan_of("small", lambda t: sub(t, "replication: 3", "replication: 2"))
    row = assert_carried(p, Impact.DATA_MIGRATION, "spec", "storage.threefs.replication")
    assert "chain table" in row.action
    assert not p.refused


def test_storage_ratio_adds_storage_nodes_and_migrates_data(plan_of):
    p = plan_of("small", lambda t: sub(t, "compute_per_storage: 8", "compute_per_storage: 4"))
    spec_row = carrier(p, "spec", "storage.ratio.compute_per_storage")
    assert spec_row.impact is None  # derived: the node changes carry it
    row = assert_carried(p, Impact.DATA_MIGRATION, "topology", "stor[05-08] added")
    assert row.change == "4 storage node(s) of storage in z0"
    assert all(
        re.fullmatch(r"stor0[5-8] \S+: mlx5_0→z0-lf\d\d\[\d+\], mlx5_1→z0-lf\d\d\[\d+\]", d) for d in row.details
    )


def test_storage_count_fills_a_reserved_port_and_migrates_data(plan_of, stack_text):
    base = sub(stack_text("lab"), "hostnames: st[01-02]", "hostnames: st[01-03]\n    count: 2")
    p = plan_of("lab", lambda t: sub(t, "count: 2", "count: 3"), base=base)
    assert carrier(p, "spec", "nodes.storage.count").impact is None
    row = assert_carried(p, Impact.DATA_MIGRATION, "topology", "st03 added")
    assert re.fullmatch(r"st03 \S+: mlx5_0→z0-lf\d\d\[\d+\]", row.details[0])
    assert not p.topo.moved and not p.topo.switches_added, "growing count moves no existing node"


# --------------------------------------------------------------------------------------------- destructive


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("chain_table_type: CR", "chain_table_type: EC", "storage.threefs.chain_table_type"),
        ("stripe_size: 16}", "stripe_size: 16, shuffle_method: g++10}", "storage.threefs.shuffle_method"),
    ],
    ids=["chain-table-type", "shuffle-method"],
)
def test_destructive_changes_are_refused_unless_allowed(plan_of, old, new, path):
    p = plan_of("small", lambda t: sub(t, old, new))
    assert_carried(p, Impact.DESTRUCTIVE, "spec", path)
    assert p.refused
    assert "Refused" in headline(p) and "--allow-destructive" in headline(p)
    allowed = plan_of("small", lambda t: sub(t, old, new), allow_destructive=True)
    assert allowed.impact is Impact.DESTRUCTIVE
    assert not allowed.refused
    assert "Refused" not in headline(allowed)


# --------------------------------------------------------------------------------------------- unsupported


def test_radix_is_unsupported_even_with_allow_destructive(plan_of):
    p = plan_of("lab", lambda t: sub(t, "radix: 4 ", "radix: 8 "), allow_destructive=True)
    assert_carried(p, Impact.UNSUPPORTED, "spec", "fabric.radix")
    assert p.refused and "cannot apply" in headline(p)


def test_stack_name_is_unsupported(plan_of):
    p = plan_of("lab", lambda t: sub(t, "name: lab\n", "name: lab2\n"), allow_destructive=True)
    assert_carried(p, Impact.UNSUPPORTED, "spec", "name")
    # the names that derive from it are reported under their own policies
    assert carrier(p, "spec", "scheduler.slurm.cluster_name").impact is Impact.DESTRUCTIVE
    assert carrier(p, "spec", "storage.threefs.cluster_id").impact is Impact.DESTRUCTIVE
    assert p.refused


def test_renaming_a_zone_is_unsupported_not_a_zone_removed_and_added(plan_of):
    p = plan_of("lab", lambda t: sub(t, "- name: z0", "- name: za"))
    row = assert_carried(p, Impact.UNSUPPORTED, "spec", "fabric.zones.z0.name")
    assert row.change == "z0 → za"
    assert [c.display_path for c in p.spec] == ["fabric.zones.z0.name"]


# --------------------------------------------------------------------------------------------- no change


def test_unchanged_spec_is_no_change_in_one_line(plan_of):
    p = plan_of("lab", lambda t: t)
    assert not p.changed and not p.rows
    assert p.impact is Impact.NOOP and not p.refused
    assert "\n" not in headline(p) and headline(p).startswith("No changes")


def test_comments_and_layout_are_no_change(plan_of):
    p = plan_of("lab", lambda t: "# a comment\n" + sub(t, "zones:\n    - name: z0\n", "zones: [{name: z0}]\n"))
    assert not p.changed


def test_writing_out_an_implied_default_is_no_change(plan_of):
    # ff2 storage is dual-homed by default (homing: all-zones); saying so changes nothing
    p = plan_of(
        "ff2", lambda t: sub(t, "profile: storage-16nvme\n", "profile: storage-16nvme\n    homing: all-zones\n")
    )
    assert not p.changed, [r.subject for r in p.rows]


def test_renamed_nodes_are_renamed_not_removed_and_added(plan_of):
    p = plan_of("small", lambda t: sub(t, "hostnames: gpu[001-032]", "hostnames: node[001-032]"))
    t = p.topo
    assert len(t.renamed) == 32 and not t.added and not t.removed and not t.moved
    assert (t.renamed[0][0].name, t.renamed[0][1].name) == ("gpu001", "node001")
    row = carrier(p, "topology", "32 node(s) renamed")
    assert row.change == "gpu[001-032] → node[001-032]"
    assert row.impact is Impact.ROLLING_REBOOT
    assert p.impact is Impact.ROLLING_REBOOT
    assert not [r for r in p.section("topology") if "added" in r.subject or "removed" in r.subject]
