"""The resource graph the Pulumi engine registers, decided without Pulumi: which resources, under which parent,
after which others, protected or retained, and what a diff of their inputs makes of a change."""

from __future__ import annotations

import fnmatch

import pytest

from ffinfra.apply.pulumi.graph import (
    CLUSTER,
    GROUP,
    IDENTITY,
    IDENTITY_EXCLUDED,
    NODE,
    ROLE,
    STATEFUL,
    ZONE,
    build_graph,
    changed_hosts,
    diff_inputs,
)
from ffinfra.plan import policy
from ffinfra.plan.impact import Impact
from ffinfra.render.placement import place
from ffinfra.render.targets import render_all
from ffinfra.topology.services import ROLES


@pytest.fixture(scope="module")
def lab(compiled_stack):
    return build_graph(compiled_stack("lab"), "lab", "/stacks/lab")


@pytest.fixture(scope="module")
def ff2(compiled_stack):
    return build_graph(compiled_stack("ff2"), "baremetal", "/stacks/ff2")


def test_lab_has_one_cluster_one_zone_a_group_per_node_group_and_a_node_per_host(lab, compiled_stack):
    topo = compiled_stack("lab").topology
    assert lab.counts() == {CLUSTER: 1, ZONE: 1, GROUP: 4, NODE: len(topo.hosts), ROLE: 26}


def test_ff2_has_both_zones_and_every_node(ff2, compiled_stack):
    topo = compiled_stack("ff2").topology
    counts = ff2.counts()
    assert counts[ZONE] == 2 and counts[NODE] == len(topo.hosts) == 1424
    # a group per (zone, node group): gpu-z0 and gpu-z1 in one zone each, the dual-homed storage in its primary zone
    assert sorted(r.name for r in ff2.of_type(GROUP)) == sorted({f"{h.zone}/{h.group}" for h in topo.hosts})


def test_every_resource_hangs_under_its_zone_and_group(ff2, compiled_stack):
    topo = compiled_stack("ff2").topology
    by = ff2.by_name()
    for r in ff2.resources:
        if r.type == CLUSTER:
            assert r.parent is None
        elif r.type == ZONE:
            assert r.parent == topo.name
        elif r.type == GROUP:
            assert by[r.parent].type == ZONE
        else:
            assert by[r.parent].type == GROUP
    for h in topo.hosts:
        assert by[h.name].parent == f"{h.zone}/{h.group}"
    # parents come before their children: Pulumi needs the parent registered first
    seen: set[str] = set()
    for r in ff2.resources:
        assert r.parent is None or r.parent in seen
        seen.add(r.name)


def test_a_role_application_waits_for_its_nodes_and_for_the_role_before_it(lab):
    by = lab.by_name()
    slurm_node = by["z0/compute/slurm_node"]
    assert {"cn01", "cn02", "cn03", "cn04"} <= set(slurm_node.depends_on)
    assert "z0/controller/slurm_controller" in slurm_node.depends_on
    order = {role: i for i, role in enumerate(ROLES)}
    for r in lab.of_type(ROLE):
        for dep in r.depends_on:
            if by[dep].type == ROLE:
                assert order[by[dep].inputs["role"]] < order[r.inputs["role"]], (r.name, dep)


def test_role_inputs_are_the_sha256_of_every_file_the_role_installs_on_each_host(lab, compiled_stack):
    topo = compiled_stack("lab").topology
    placement = place(topo, render_all(topo))
    for r in lab.of_type(ROLE):
        role = r.inputs["role"]
        for host, files in r.inputs["hosts"].items():
            assert files == {dest: a.sha256 for dest, a in placement[host].get(role, {}).items()}
    assert lab.by_name()["z0/compute/hfreduce"].inputs["software"]  # the HFReduce build it installs


def test_stateful_applications_are_protected_and_retained(lab):
    by = lab.by_name()
    for name in ("z0/controller/fdb", "z0/controller/threefs_meta", "z0/storage/threefs_storage"):
        assert by[name].protect and by[name].retain_on_delete and by[name].replace_keys == ("identity",)
    ctl = by["z0/controller/slurm_controller"]
    assert ctl.protect and not ctl.retain_on_delete  # its queue is lost on a new cluster name, not on a removal
    assert not by["z0/compute/common"].protect and not by["z0/compute/common"].retain_on_delete
    assert all(n.protect and n.replace_keys == ("role", "provider") for n in lab.of_type(NODE))


def test_allow_destructive_lifts_protection(compiled_stack):
    g = build_graph(compiled_stack("lab"), "lab", "/x", allow_destructive=True)
    assert not any(r.protect for r in g.resources)
    assert any(r.retain_on_delete for r in g.resources)  # retention is not a refusal: it stays


def test_every_destructive_spec_field_is_carried_by_a_replace_key():
    """A field the plan calls destructive must replace a protected resource, or Pulumi would update in place."""
    carried = [p for paths in IDENTITY.values() for p in paths] + ["nodes.*.role"]
    for path, impact, _ in policy._TABLE:
        if impact is not Impact.DESTRUCTIVE or path in IDENTITY_EXCLUDED:
            continue
        if path == "storage.threefs.enabled":  # 3FS appears or goes: creates or (retained) deletes, never a replace
            continue
        base = path.removesuffix(".**")
        assert any(fnmatch.fnmatch(base, c) or base == c for c in carried), path
    assert set(IDENTITY) >= STATEFUL


def test_the_diff_names_changed_keys_and_which_replace():
    old = {"role": "compute", "address": "10.0.0.1", "stack_dir": "/a", "__provider": "x", "state": "running"}
    assert diff_inputs(old, {**old, "stack_dir": "/b", "__provider": "y", "state": None}, ("role",)).changed == ()
    moved = diff_inputs(old, {**old, "address": "10.0.0.2"}, ("role",))
    assert moved.changed == ("address",) and moved.replaces == ()
    reroled = diff_inputs(old, {**old, "role": "storage"}, ("role",))
    assert reroled.replaces == ("role",)


def test_an_update_runs_the_role_only_where_its_files_changed():
    old = {"hosts": {"a": {"/f": "1"}, "b": {"/f": "1"}}, "software": {}}
    assert changed_hosts(old, {"hosts": {"a": {"/f": "1"}, "b": {"/f": "2"}}, "software": {}}) == ["b"]
    assert changed_hosts(old, {"hosts": {**old["hosts"], "c": {"/f": "1"}}, "software": {}}) == ["c"]
    # a new build concerns every host of the application
    assert changed_hosts(old, {**old, "software": {"slurm": "23.02"}}) == ["a", "b"]
    # a node made anew (a new incarnation) needs its roles again, its neighbours do not
    made = {**old, "nodes": {"a": "1", "b": "1"}}
    assert changed_hosts(made, {**made, "nodes": {"a": "1", "b": "2"}}) == ["b"]


def test_the_graph_is_deterministic(compiled_stack):
    a = build_graph(compiled_stack("lab"), "lab", "/x")
    b = build_graph(compiled_stack("lab"), "lab", "/x")
    assert a == b
