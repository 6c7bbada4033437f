"""The issue's acceptance scenario: 40 compute nodes added to zone z0 of Fire-Flyer 2.

The base is stacks/ff2 with `count: 578` on gpu-z0 (gpu[0001-0618]): 578 nodes installed, leaf ports reserved for
the other 40. The new side is stacks/ff2 itself. Because the ports were reserved, the plan shows the 40 new nodes
with their leaf ports and nothing else in the fabric moves: no node re-cabled, no switch added.

Why the impact is a fabric re-route: OpenSM's cn_guids.conf lists every host CA, so it gains 40 GUIDs, and ftree
recomputes every route on the heavy sweep that follows. The node row itself is a rolling restart: Slurm 22.05
learns new nodes only when slurmctld restarts (then slurmd starts on them).
"""

from __future__ import annotations

import json
import re

import pytest

from ffinfra.compile import compile_stack
from ffinfra.plan.impact import Impact
from ffinfra.plan.plan import Plan, build_plan
from ffinfra.plan.report import markdown, to_json
from ffinfra.spec import hostlist

RANGE = "    hostnames: gpu[0001-0618]"
NEW = [f"gpu{i:04d}" for i in range(579, 619)]


@pytest.fixture(scope="module")
def growth(tmp_path_factory, stack_text, write_stack) -> Plan:
    text = stack_text("ff2")
    lines = text.splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.startswith(RANGE)]
    assert len(at) == 1, "stacks/ff2 has no gpu-z0 group with hostnames gpu[0001-0618]"
    base = "".join([*lines[: at[0] + 1], "    count: 578\n", *lines[at[0] + 1 :]])
    d = tmp_path_factory.mktemp("ff2-growth")
    old = compile_stack(write_stack(d / "base" / "ff2", base))
    new = compile_stack(write_stack(d / "new" / "ff2", text))
    return build_plan(old, new, "origin/main:stacks/ff2/cluster.yaml", "stacks/ff2/cluster.yaml")


def _names(diff: str, sign: str) -> set[str]:
    """Every hostname in the diff's added (+) or removed (-) lines, hostlist expressions expanded."""
    out: set[str] = set()
    for line in diff.splitlines():
        if line.startswith(sign) and not line.startswith(sign * 3):
            for expr in re.findall(r"gpu(?:\[[0-9,\-]+\]|\d{4})", line):
                out.update(hostlist.expand(expr))
    return out


def test_the_spec_change_is_the_count(growth: Plan):
    assert [(c.display_path, c.old, c.new) for c in growth.spec] == [
        ("nodes.gpu-z0.count", 578, 618)
    ]  # an unset count reads as the hostlist size


def test_forty_nodes_added_in_z0_with_their_leaf_ports(growth: Plan):
    t = growth.topo
    assert [h.name for h in t.added] == NEW
    assert {h.zone for h in t.added} == {"z0"} and {h.group for h in t.added} == {"gpu-z0"}
    (row,) = [r for r in growth.section("topology") if r.subject.endswith(" added")]
    assert row.subject == "gpu[0579-0618] added"
    assert row.change == "40 compute node(s) of gpu-z0 in z0"
    assert row.impact is Impact.ROLLING_RESTART and "slurmctld" in row.action
    assert len(row.details) == 40
    for name, line in zip(NEW, row.details, strict=True):
        assert re.fullmatch(rf"{name} 10\.0\.\d+\.\d+: mlx5_0→z0-lf\d\d\[\d+\]", line), line
    # every new port is a distinct leaf port, one the base had reserved (so it was free)
    ports = [(p.leaf, p.leaf_port) for h in t.added for p in h.ports]
    assert len(set(ports)) == 40


def test_nothing_else_in_the_fabric_moves(growth: Plan):
    t = growth.topo
    assert not t.moved, "no existing node is re-cabled"
    assert not (t.switches_added or t.switches_removed)
    assert not (t.removed or t.renamed or t.readdressed or t.changed_profile)
    assert not (t.cables_removed or t.cables_replugged)
    assert len(t.cables_added) == 40  # one per new HCA port, explained by the node row
    assert [r.subject for r in growth.section("topology")] == ["gpu[0579-0618] added"]


def test_slurm_files_list_the_new_nodes(growth: Plan):
    arts = {a.path: a for a in growth.artifacts}
    for path in ("slurm/slurm.conf", "slurm/topology.conf"):
        assert path in arts, f"{path} should change"
        added, removed = _names(arts[path].diff, "+"), _names(arts[path].diff, "-")
        assert set(NEW) <= added, f"{path}: new nodes missing from the + lines"
        assert not set(NEW) & removed
        assert arts[path].impact is Impact.ROLLING_RESTART
    assert "+SwitchName=z0-lf40 Nodes=gpu[0604-0618]" in arts["slurm/topology.conf"].diff.splitlines()


def test_opensm_compute_node_list_changes_and_sets_the_impact(growth: Plan):
    arts = {a.path: a for a in growth.artifacts}
    cn = arts["opensm/z0/cn_guids.conf"]
    assert (cn.kind, cn.lines_added, cn.lines_removed) == ("changed", 40, 0)
    assert cn.impact is Impact.FABRIC_REROUTE and "heavy sweep" in cn.action
    assert "opensm/z1/cn_guids.conf" not in arts, "zone z1 is another subnet: untouched"
    assert growth.impact is Impact.FABRIC_REROUTE
    assert not growth.refused


def test_markdown_is_short_with_the_per_node_lines_folded(growth: Plan):
    md = markdown(growth)
    table = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| |")]
    assert len(table) < 20, f"{len(table)} summary rows"
    assert "| topology | gpu[0579-0618] added | 40 compute node(s) of gpu-z0 in z0 |" in md
    assert "**Impact: fabric re-route**" in md
    start = md.index("<details><summary>gpu[0579-0618] added: 40 item(s)</summary>")
    end = md.index("</details>", start)
    for name in NEW:  # each node's line is inside the fold, and nowhere else
        assert md.count(f"{name} ") == 1 and start < md.index(f"{name} ") < end
    assert len(md) < 8000
    assert md.index("| spec |") < start


def test_json_lists_the_new_nodes_with_ports(growth: Plan):
    data = json.loads(to_json(growth))
    assert data["impact"] == "fabric-reroute"
    assert [n["name"] for n in data["topology"]["nodes_added"]] == NEW
    assert all(n["ports"][0]["leaf"].startswith("z0-lf") for n in data["topology"]["nodes_added"])
    assert data["topology"]["ports_moved"] == [] and data["topology"]["switches_added"] == []
