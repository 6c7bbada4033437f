"""The Pulumi program under Pulumi's own mocks (pulumi.runtime.set_mocks): what it registers for lab and ff2, and
what the engine would make of a spec change: the dynamic providers' own diff between two runs of the program."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from pulumi_mocks import changed, provider_of, registered, run_program, steps

from ffinfra.apply.pulumi.graph import CLUSTER, GROUP, NODE, ROLE, ZONE
from ffinfra.apply.pulumi.resources import NodeProvider, RoleProvider
from ffinfra.compile import compile_stack


@pytest.fixture(scope="module")
def lab_run(compiled_stack):
    return registered(compiled_stack("lab"))


@pytest.fixture(scope="module")
def ff2_run(compiled_stack):
    return registered(compiled_stack("ff2"), "baremetal")


def by_name(run):
    return {r.name: r for r in run.values()}


def edited(tmp_path: Path, stack_text, write_stack, stack: str, old: str, new: str, name: str = "new"):
    text = stack_text(stack)
    assert text.count(old) == 1, old  # an edit that matches nothing would test nothing
    return compile_stack(write_stack(tmp_path / name / stack, text.replace(old, new)))


def test_lab_registers_components_nodes_and_role_applications(lab_run, compiled_stack):
    counts = Counter(r.type for r in lab_run.values())
    assert counts == {CLUSTER: 1, ZONE: 1, GROUP: 4, NODE: 8, ROLE: 26}
    assert len(compiled_stack("lab").topology.hosts) == 8


def test_ff2_registers_every_node_under_its_zone_and_group(ff2_run, compiled_stack):
    topo = compiled_stack("ff2").topology
    counts = Counter(r.type for r in ff2_run.values())
    assert counts[ZONE] == 2 and counts[NODE] == len(topo.hosts) and counts[GROUP] == 9
    urn_of = {r.name: urn for urn, r in ff2_run.items()}
    regs = by_name(ff2_run)
    for h in topo.hosts:
        node = regs[h.name]
        assert node.parent == urn_of[f"{h.zone}/{h.group}"]
        assert regs[f"{h.zone}/{h.group}"].parent == urn_of[h.zone]
        assert node.inputs["bmc_url"] == h.bmc_url and node.inputs["mac"] == (h.mac or "")
    assert all(regs[z].parent == urn_of["ff2"] for z in ("z0", "z1"))


def test_dependencies_reach_the_monitor_as_urns(lab_run):
    urn_of = {r.name: urn for urn, r in lab_run.items()}
    slurm_node = by_name(lab_run)["z0/compute/slurm_node"]
    assert {urn_of[n] for n in ("cn01", "cn02", "cn03", "cn04", "z0/controller/slurm_controller")} <= set(
        slurm_node.dependencies
    )
    fuse = by_name(lab_run)["z0/compute/threefs_fuse"]
    assert urn_of["z0/controller/threefs_bootstrap"] in fuse.dependencies


def test_protect_and_retain_reach_the_monitor(lab_run):
    regs = by_name(lab_run)
    assert regs["cn01"].protect and not regs["cn01"].retain_on_delete
    assert regs["z0/storage/threefs_storage"].protect and regs["z0/storage/threefs_storage"].retain_on_delete
    assert not regs["z0/compute/common"].protect


def test_each_dynamic_resource_carries_its_provider(lab_run):
    regs = by_name(lab_run)
    assert isinstance(provider_of(regs["cn01"]), NodeProvider)
    assert isinstance(provider_of(regs["z0/compute/common"]), RoleProvider)


def test_the_program_exports_the_applied_spec_and_the_counts(compiled_stack):
    from ffinfra.apply.applied import applied_record

    c = compiled_stack("lab")
    applied = applied_record(c, "20261201T000000Z").model_dump(mode="json")
    outputs = run_program(c, applied=applied).outputs
    assert outputs["applied"]["spec_sha256"] == c.topology.spec_sha256 == applied["spec_sha256"]
    assert outputs["applied"]["spec"]["name"] == "lab"
    assert outputs["resources"][NODE] == 8


def test_the_same_spec_twice_changes_nothing(lab_run, compiled_stack):
    assert changed(steps(lab_run, registered(compiled_stack("lab")))) == {}


def test_a_changed_artifact_updates_exactly_the_applications_that_install_it(
    lab_run, tmp_path, stack_text, write_stack
):
    # a partition's time limit is in slurm.conf, which the three Slurm roles install; nothing else changes
    new = edited(tmp_path, stack_text, write_stack, "lab", "default: true}", "default: true, max_time: '1-00:00:00'}")
    assert changed(steps(lab_run, registered(new))) == {
        "z0/controller/slurm_controller": "update",
        "z0/compute/slurm_node": "update",
        "z0/login/slurm_client": "update",
    }


def test_a_changed_build_updates_only_its_role(lab_run, tmp_path, stack_text, write_stack):
    new = edited(tmp_path, stack_text, write_stack, "lab", "simd: avx512}", "simd: avx2}")
    s = changed(steps(lab_run, registered(new)))
    assert s == {"z0/compute/hfreduce": "update"}


def test_a_node_made_anew_is_an_update_of_the_roles_on_it_and_only_there(lab_run, compiled_stack):
    from ffinfra.apply.pulumi.graph import changed_hosts

    assert by_name(lab_run)["z0/compute/common"].inputs["nodes"] == dict.fromkeys(("cn01", "cn02", "cn03", "cn04"), "1")
    again = registered(compiled_stack("lab"), incarnations={"cn02": "2"})
    s = changed(steps(lab_run, again))
    assert s == dict.fromkeys(
        [f"z0/compute/{r}" for r in ("common", "munge", "threefs_common", "threefs_fuse", "slurm_node",
                                     "bench_tools", "hfreduce")], "update"
    )  # fmt: skip
    old, new = by_name(lab_run)["z0/compute/slurm_node"].inputs, by_name(again)["z0/compute/slurm_node"].inputs
    assert changed_hosts(old, new) == ["cn02"]


def test_a_node_added_is_one_create(tmp_path, stack_text, write_stack, ff2_run, compiled_stack):
    # gpu-z0 with one node fewer installed, then the shipped ff2: gpu0618 joins
    base = edited(
        tmp_path, stack_text, write_stack, "ff2", "zone: z0\n    features: [gpu]", "zone: z0\n    count: 617\n"
        "    features: [gpu]", "base"
    )  # fmt: skip
    s = steps(registered(base, "baremetal"), ff2_run)
    creates = [urn for urn, step in s.items() if step == "create"]
    assert [u.rsplit("::", 1)[1] for u in creates] == ["gpu0618"]
    # the others only see their files change (slurm.conf, /etc/hosts name the new node): updates, no other node
    assert all(step in ("same", "update") for urn, step in s.items() if urn not in creates)
    assert not [n for n, step in changed(s).items() if step != "create" and "/" not in n]


def test_a_destructive_change_is_refused(lab_run, tmp_path, stack_text, write_stack):
    new = edited(tmp_path, stack_text, write_stack, "lab", "  slurm:\n    partitions", "  slurm:\n    cluster_name: "
                 "other\n    partitions")  # fmt: skip
    s = changed(steps(lab_run, registered(new)))
    assert s["z0/controller/slurm_controller"] == "refused"


def test_a_destructive_change_with_allow_destructive_is_a_replace(tmp_path, stack_text, write_stack, compiled_stack):
    old = registered(compiled_stack("lab"), allow_destructive=True)
    new = edited(tmp_path, stack_text, write_stack, "lab", "  slurm:\n    partitions", "  slurm:\n    cluster_name: "
                 "other\n    partitions")  # fmt: skip
    s = changed(steps(old, registered(new, allow_destructive=True)))
    assert s["z0/controller/slurm_controller"] == "replace"


def test_a_node_changing_role_is_refused(lab_run, tmp_path, stack_text, write_stack):
    new = edited(tmp_path, stack_text, write_stack, "lab", "role: login", "role: compute")
    assert changed(steps(lab_run, registered(new)))["login01"] == "refused"


def test_a_removed_node_is_one_delete(tmp_path, stack_text, write_stack, ff2_run):
    smaller = edited(
        tmp_path, stack_text, write_stack, "ff2", "zone: z0\n    features: [gpu]", "zone: z0\n    count: 617\n"
        "    features: [gpu]"
    )  # fmt: skip
    s = steps(ff2_run, registered(smaller, "baremetal"))
    assert [u.rsplit("::", 1)[1] for u, step in s.items() if step == "delete"] == ["gpu0618"]
