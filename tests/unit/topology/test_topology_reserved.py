"""Reserved ports: a group's hostlist is its planned range and `count` installs the first N, so growing moves nothing.

ff2 with gpu-z0 at `count: 578` (40 nodes short of its 618-name range) against the shipped ff2 (all 618) is the
reference case: same switches, same uplinks, every host on the same leaf port, and the 40 reserved ports of the
smaller spec are exactly where the 40 new hosts plug in.
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from ffinfra.compile import compile_stack
from ffinfra.render.fabric import render_fabric
from ffinfra.topology.invariants import check_invariants
from ffinfra.topology.model import Topology
from ffinfra.topology.nodes import group_counts
from ffinfra.topology.summary import summarize


def with_count(text: str, hostnames: str, count: int) -> str:
    """The spec text with `count: COUNT` added to the group whose hostnames line is `hostnames`."""
    line = f"    hostnames: {hostnames}"
    m = re.search(re.escape(line) + r"[^\n]*\n", text)
    assert m, f"no group with hostnames {hostnames}"
    return text[: m.end()] + f"    count: {count}\n" + text[m.end() :]


def placement(topo: Topology) -> dict[str, tuple[object, ...]]:
    """Host → where it is: zone, addresses and every IB port's (nic, port, zone, leaf, leaf port, GUID)."""
    return {
        h.name: (
            h.zone,
            h.mgmt_ip,
            h.bmc_ip,
            h.ipoib_ip,
            tuple((p.nic, p.port, p.zone, p.leaf, p.leaf_port, p.node_guid) for p in h.ports),
        )
        for h in topo.hosts
    }


@pytest.fixture(scope="module")
def grown(stack_text, write_stack, compiled_stack, tmp_path_factory) -> tuple[Topology, Topology]:
    """(ff2 with gpu-z0 at count 578, shipped ff2 with all 618)."""
    text = with_count(stack_text("ff2"), "gpu[0001-0618]", 578)
    small = compile_stack(write_stack(tmp_path_factory.mktemp("grow"), text)).topology
    return small, compiled_stack("ff2").topology


def test_growing_gpu_z0_moves_no_host_and_no_switch(grown) -> None:
    small, full = grown
    before, after = placement(small), placement(full)
    assert len(before) == 1424 - 40 and len(after) == 1424
    moved = [name for name in before if before[name] != after[name]]
    assert moved == []
    assert small.switches == full.switches
    assert [lk for lk in small.links if lk.kind != "host"] == [lk for lk in full.links if lk.kind != "host"]
    assert set(small.links) < set(full.links)  # only host cables are added
    assert [(z.name, z.spines, z.leaves, z.host_ports) for z in small.zones] == [
        (z.name, z.spines, z.leaves, z.host_ports) for z in full.zones
    ]
    assert [(z.installed_ports, z.reserved_ports) for z in small.zones] == [(760, 40), (800, 0)]
    assert [(z.installed_ports, z.reserved_ports) for z in full.zones] == [(800, 0), (800, 0)]


def test_reserved_ports_are_where_the_new_hosts_plug_in(grown) -> None:
    small, full = grown
    new = {h.name for h in full.hosts} - {h.name for h in small.hosts}
    assert new == {f"gpu{i:04d}" for i in range(579, 619)}
    plugged = {(p.host, p.nic, p.port, p.zone, p.leaf, p.leaf_port) for n in new for p in full.host_by_name[n].ports}
    held = {(r.host, r.nic, r.port, r.zone, r.leaf, r.leaf_port) for r in small.reserved}
    assert len(held) == len(small.reserved) == 40
    assert held == plugged
    assert {(r.group, r.role) for r in small.reserved} == {("gpu-z0", "compute")}
    assert full.reserved == ()
    first = min(small.reserved, key=lambda r: r.host)
    assert (first.host, first.leaf, first.leaf_port) == ("gpu0579", "z0-lf38", 6)  # after gpu0578 on port 5


def test_reserved_ports_are_free_and_counted_in_the_balance(grown) -> None:
    small, _ = grown
    assert check_invariants(small) == []
    cabled = {(lk.b, lk.b_port) for lk in small.links}
    assert not any((r.leaf, r.leaf_port) in cabled for r in small.reserved)
    # slots (used + reserved) per leaf stay balanced; the installed compute nodes alone are not, by design
    assert small.roles_per_leaf("z0")["compute"] == [16] * 18 + [15] * 22
    installed = [
        sum(1 for p in small.ports_by_leaf[leaf.name] if small.host_by_name[p.host].role == "compute")
        for leaf in small.switches_in("z0", "leaf")
    ]
    assert sum(installed) == 578 and installed[-2:] == [0, 0]


def test_a_reserved_port_on_a_cabled_port_breaks_an_invariant(grown) -> None:
    small, _ = grown
    host_link = next(lk for lk in small.links if lk.kind == "host" and lk.b.startswith("z0-"))
    bad = replace(small.reserved[0], leaf=host_link.b, leaf_port=host_link.b_port)
    broken = replace(small, reserved=(bad, *small.reserved[1:]))
    assert "FF-TOPO-007" in {f.code for f in check_invariants(broken)}
    twice = replace(small, reserved=(small.reserved[0], *small.reserved))
    assert any("reserved twice" in f.message for f in check_invariants(twice))


def test_group_counts_reserve_the_hostlist_only_with_an_explicit_count(grown, compiled_stack) -> None:
    small, _ = grown
    counts, _ = group_counts(small.spec)
    assert counts.counts["gpu-z0"] == 578 and counts.reserved["gpu-z0"] == 618 and counts.pending("gpu-z0") == 40
    assert counts.reserved["gpu-z1"] == counts.counts["gpu-z1"] == 618
    # small: the storage count derived from the ratio reserves nothing beyond it (the hostlist names what exists)
    derived, _ = group_counts(compiled_stack("small").spec)
    assert derived.counts["storage"] == derived.reserved["storage"] == 4
    assert compiled_stack("small").topology.reserved == ()


def test_cabling_sheet_lists_reserved_ports_and_the_netlists_do_not(grown) -> None:
    small, _ = grown
    files = {a.path: a.content for a in render_fabric(small)}
    rows = [line.split(",") for line in files["fabric/cabling.csv"].splitlines()[1:] if line]
    reserved = [r for r in rows if r[5] == "reserved"]
    assert len(reserved) == 40
    assert ["z0", "z0-lf38", "6", "gpu0579 mlx5_0", "1", "reserved", "4xHDR"] in reserved
    assert len(rows) == len(small.links) + 40
    assert "gpu0579" not in files["fabric/ibsim.net"]
    assert "gpu0579" not in files["fabric/expected.ibnetdiscover"]


def test_summary_says_used_reserved_and_free(grown) -> None:
    small, full = grown
    z0, z1 = summarize(small).zones
    assert (z0.host_ports_used, z0.host_ports_reserved, z0.host_ports_free, z0.host_ports_total) == (760, 40, 0, 800)
    assert (z1.host_ports_used, z1.host_ports_reserved, z1.host_ports_free) == (800, 0, 0)
    assert summarize(small).to_dict()["zones"][0]["host_ports_reserved"] == 40
    assert summarize(full).zones[0].host_ports_reserved == 0


TWO_ZONES = """\
version: 1
name: split
hardware:
  node:
    cpu: {cores_per_socket: 2}
    memory_gb: 2
    nics:
      - {device: mlx5_0, kind: infiniband, rate_gbps: 200}
      - {device: eth0, kind: ethernet, rate_gbps: 10}
nodes:
  compute: {role: compute, hostnames: "cn[01-12]", count: COUNT, profile: node}
  mgmt: {role: management, hostnames: "mgmt[01-02]", profile: node}
fabric:
  radix: 8
  design: single-subnet
  inter_zone: {links: 1}
  zones: [{name: z0}, {name: z1}]
network:
  management: {cidr: 10.0.0.0/24}
storage:
  threefs: {enabled: false}
"""


def test_unpinned_groups_split_over_zones_by_their_planned_range(make_stack) -> None:
    """cn[01-12] over two zones: cn01-06 in z0 and cn07-12 in z1 whatever the count, so growing never moves one."""
    topos = {
        n: compile_stack(make_stack(TWO_ZONES.replace("COUNT", str(n)), name=f"c{n}")).topology for n in (3, 8, 12)
    }
    for n, topo in topos.items():
        zone = {h.name: h.zone for h in topo.hosts_with_role("compute")}
        assert zone == {f"cn{i:02d}": "z0" if i <= 6 else "z1" for i in range(1, n + 1)}
        assert [z.host_ports for z in topo.zones] == [7, 7]  # 6 compute + 1 management, reserved included
        assert check_invariants(topo) == []
    placed = {n: placement(t) for n, t in topos.items()}
    for small, big in ((3, 8), (8, 12), (3, 12)):
        assert all(placed[big][h] == where for h, where in placed[small].items()), (small, big)
        assert topos[small].switches == topos[big].switches
