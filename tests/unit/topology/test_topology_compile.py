"""Compiler facts on the shipped stacks: sizes, cabling, placement, derivations, determinism."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from ffinfra.compile import compile_stack
from ffinfra.stack import find_stack
from ffinfra.topology.fattree import spread
from ffinfra.topology.invariants import check_invariants
from ffinfra.topology.model import Topology
from ffinfra.topology.nodes import group_counts


def used_ports(topo: Topology) -> Counter[tuple[str, ...]]:
    """(node, [nic,] port) → how many cables use it; host ends are per HCA, switch ends per switch."""
    used: Counter[tuple[str, ...]] = Counter()
    for link in topo.links:
        used[(link.a, link.a_nic, str(link.a_port)) if link.kind == "host" else (link.a, str(link.a_port))] += 1
        used[(link.b, str(link.b_port))] += 1
    return used


def test_ff2_has_two_fire_flyer_zones(compiled_stack) -> None:
    topo = compiled_stack("ff2").topology
    assert [(z.name, z.spines, z.leaves, z.uplinks, z.downlinks) for z in topo.zones] == [
        ("z0", 20, 40, 20, 20),
        ("z1", 20, 40, 20, 20),
    ]
    for z in topo.zones:
        assert len(topo.switches_in(z.name, "spine")) == 20
        assert len(topo.switches_in(z.name, "leaf")) == 40
        assert z.capacity == 800
        # 618 compute + 180 storage + 2 management HCAs: every one of the zone's 800 host ports
        # (the stack had 1,232 compute nodes, 798 ports per zone, until it was filled for an even ftree load)
        assert z.host_ports == 800
        assert sum(1 for p in topo.host_ports if p.zone == z.name) == 800
    assert len(topo.switches) == 120
    assert len(topo.hosts) == 1424
    assert Counter(h.role for h in topo.hosts) == {
        "compute": 1236,
        "storage": 180,
        "management": 4,
        "controller": 2,
        "login": 2,
    }
    assert [(s.name, s.zones, s.sm_host) for s in topo.subnets] == [
        ("z0", ("z0",), "mgmt01"),
        ("z1", ("z1",), "mgmt03"),
    ]


def test_ff2_storage_is_dual_homed(compiled_stack) -> None:
    topo = compiled_stack("ff2").topology
    storage = topo.hosts_with_role("storage")
    assert len(storage) == 180
    for h in storage:
        assert [(p.nic, p.zone) for p in h.ports] == [("mlx5_0", "z0"), ("mlx5_1", "z1")]
    for h in topo.hosts_with_role("compute", "management"):
        assert len(h.ports) == 1
    # compute splits into contiguous halves: gpu0001-0618 in z0, gpu0619-1236 in z1
    zones = [h.zone for h in topo.hosts_with_role("compute")]
    half = len(zones) // 2
    assert zones == ["z0"] * half + ["z1"] * half
    assert {h.name: h.zone for h in topo.hosts_with_role("management")} == {
        "mgmt01": "z0",
        "mgmt02": "z0",
        "mgmt03": "z1",
        "mgmt04": "z1",
    }


@pytest.mark.parametrize("name", ["lab", "small", "ff2", "ff2-single"])
def test_no_port_is_used_twice_and_every_port_exists(compiled_stack, name: str) -> None:
    topo = compiled_stack(name).topology
    used = used_ports(topo)
    assert max(used.values()) == 1
    radix = {s.name: s.radix for s in topo.switches}
    for link in topo.links:
        assert 1 <= link.b_port <= radix[link.b]
        if link.kind != "host":
            assert 1 <= link.a_port <= radix[link.a]
    for h in topo.hosts:
        for p in h.ports:
            assert p.leaf and p.leaf_port >= 1, f"{p.host} {p.nic} is not cabled"
            assert (p.host, p.nic, str(p.port)) in used
    assert check_invariants(topo) == []


@pytest.mark.parametrize("name", ["lab", "small", "ff2", "ff2-single"])
def test_leaves_have_their_uplinks_and_at_most_their_downlinks(compiled_stack, name: str) -> None:
    topo = compiled_stack(name).topology
    up: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for link in topo.links:
        if link.kind == "uplink":
            up[link.a].append((link.a_port, link.b, link.b_port))
    for z in topo.zones:
        spines = [s.name for s in topo.switches_in(z.name, "spine")]
        for leaf in topo.switches_in(z.name, "leaf"):
            ups = sorted(up[leaf.name])
            assert len(ups) == z.uplinks
            assert [p for p, _, _ in ups] == list(range(z.downlinks + 1, z.radix + 1))  # uplinks on the top ports
            per_spine = Counter(s for _, s, _ in ups)
            assert set(per_spine) == set(spines)  # a fat-tree: every leaf reaches every spine ...
            assert set(per_spine.values()) == {z.links_per_spine}  # ... with the same number of links
            hosts = topo.ports_by_leaf[leaf.name]
            assert 1 <= len(hosts) <= z.downlinks
            assert [p.leaf_port for p in hosts] == list(range(1, len(hosts) + 1))  # host ports from port 1 up


@pytest.mark.parametrize("name", ["lab", "small", "ff2", "ff2-single"])
def test_roles_spread_over_leaves_within_one(compiled_stack, name: str) -> None:
    topo = compiled_stack(name).topology
    role = {h.name: h.role for h in topo.hosts}
    for z in topo.zones:
        leaves = topo.switches_in(z.name, "leaf")
        per_role: dict[str, list[int]] = {r: [0] * len(leaves) for r in set(role.values())}
        for i, leaf in enumerate(leaves):
            for p in topo.ports_by_leaf[leaf.name]:
                per_role[role[p.host]][i] += 1
        for r, counts in per_role.items():
            assert max(counts) - min(counts) <= 1, (z.name, r, counts)
        totals = [len(topo.ports_by_leaf[leaf.name]) for leaf in leaves]
        assert max(totals) - min(totals) <= 1


def test_ff2_every_leaf_carries_its_share_of_storage(compiled_stack) -> None:
    """Paper §VI-A2: storage spreads over all leaves so storage traffic uses every leaf→spine link."""
    topo = compiled_stack("ff2").topology
    for z in topo.zones:
        for leaf in topo.switches_in(z.name, "leaf"):
            roles = Counter(topo.host_by_name[p.host].role for p in topo.ports_by_leaf[leaf.name])
            assert roles["storage"] in (4, 5)  # 180 over 40 leaves
            assert roles["compute"] in (15, 16)  # 618 over 40 leaves


def test_consecutive_compute_hosts_share_a_leaf(compiled_stack) -> None:
    topo = compiled_stack("ff2").topology
    leaf = topo.switches_in("z0", "leaf")[0]
    compute = [p.host for p in topo.ports_by_leaf[leaf.name] if topo.host_by_name[p.host].role == "compute"]
    assert compute == [f"gpu{i:04d}" for i in range(1, len(compute) + 1)]


def test_small_derives_four_storage_nodes_from_the_ratio(compiled_stack) -> None:
    c = compiled_stack("small")
    topo = c.topology
    assert [h.name for h in topo.hosts_with_role("storage")] == ["stor01", "stor02", "stor03", "stor04"]
    assert len(topo.hosts_with_role("compute")) == 32
    (z,) = topo.zones
    # 1.5:1 on 40 ports → 16 up, 24 down; 2 spines → 8 links each; 43 host ports → 2 leaves
    assert (z.spines, z.leaves, z.uplinks, z.links_per_spine, z.host_ports) == (2, 2, 16, 8, 32 + 4 * 2 + 2 + 1)


def test_storage_ratio_derivation_counts(stack_text, make_stack) -> None:
    small = compile_stack(make_stack(stack_text("small"))).spec
    counts, findings = group_counts(small)
    assert findings == []
    assert counts.derived_storage == {"storage": 4}
    assert counts.counts == {"gpu": 32, "storage": 4, "mgmt": 2, "login": 1}
    # bandwidth_fraction: 0.29 × 32 × 200 Gb/s ÷ 400 Gb/s per storage node = 4.64 → 5
    text = stack_text("small").replace("ratio: {compute_per_storage: 8}", "ratio: {bandwidth_fraction: 0.29}")
    spec = compile_stack(make_stack(text, name="bw")).spec
    assert group_counts(spec)[0].derived_storage == {"storage": 5}


def test_single_subnet_joins_zones_on_spare_spine_ports(compiled_stack) -> None:
    topo = compiled_stack("ff2-single").topology
    assert [(s.name, s.zones, s.sm_host) for s in topo.subnets] == [("fabric", ("z0", "z1"), "mgmt01")]
    inter = [link for link in topo.links if link.kind == "interzone"]
    assert len(inter) == 2
    spines = {s.name: s for s in topo.switches}
    for link in inter:
        a, b = spines[link.a], spines[link.b]
        assert (a.layer, b.layer) == ("spine", "spine")
        assert (a.zone, b.zone) == ("z0", "z1")
        za, zb = topo.zone_dims(a.zone), topo.zone_dims(b.zone)
        assert link.a_port > za.leaves * za.links_per_spine  # above the leaf-facing ports
        assert link.b_port > zb.leaves * zb.links_per_spine
    assert len({link.a for link in inter}) == 2  # spread over spines, not stacked on one


def test_inter_zone_links_respect_each_spines_budget_with_three_zones(stack_text, make_stack) -> None:
    """Regression: with 3+ zones every zone pair used to start again at spine 1, overrunning its radix."""
    text = (
        stack_text("lab")
        .replace("  radix: 4 ", "  radix: 8 ")
        .replace("  design: zone-subnets\n", "  design: single-subnet\n  inter_zone: {links: 1}\n")
        .replace("    - name: z0\n", "    - name: z0\n    - name: z1\n    - name: z2\n")
        .replace("hostnames: cn[01-04]", "hostnames: cn[01-68]")
    )
    topo = compile_stack(make_stack(text)).topology
    assert check_invariants(topo) == []
    inter = [link for link in topo.links if link.kind == "interzone"]
    assert len(inter) == 3
    ends = Counter([link.a for link in inter] + [link.b for link in inter])
    for z in topo.zones:
        assert z.interzone_ports_per_spine == 1
        for s in topo.switches_in(z.name, "spine"):
            assert ends[s.name] <= z.interzone_ports_per_spine
    assert max(used_ports(topo).values()) == 1


@pytest.mark.parametrize("name", ["lab", "small", "ff2", "ff2-single"])
def test_compile_is_deterministic(name: str) -> None:
    a = compile_stack(find_stack(name)).topology
    b = compile_stack(find_stack(name)).topology
    assert a == b
    assert a.spec_sha256 == b.spec_sha256 and len(a.spec_sha256) == 64


@pytest.mark.parametrize("name", ["lab", "small", "ff2", "ff2-single"])
def test_guids_names_and_addresses_are_unique(compiled_stack, name: str) -> None:
    topo = compiled_stack(name).topology
    guids = [s.guid for s in topo.switches] + [p.port_guid for p in topo.host_ports]
    assert len(guids) == len(set(guids))
    names = [s.name for s in topo.switches] + [h.name for h in topo.hosts]
    assert len(names) == len(set(names))
    assert len({h.mgmt_ip for h in topo.hosts}) == len(topo.hosts)
    assert len({h.ip_offset for h in topo.hosts}) == len(topo.hosts)


def test_ip_offsets_follow_the_spec(compiled_stack) -> None:
    topo = compiled_stack("ff2").topology
    h = topo.host_by_name
    assert (h["gpu0001"].mgmt_ip, h["gpu0001"].bmc_ip, h["gpu0001"].ipoib_ip) == ("10.0.4.1", "10.1.4.1", "10.2.4.1")
    assert h["stor001"].mgmt_ip == "10.0.1.1"
    assert h["mgmt01"].mgmt_ip == "10.0.0.11"
    lab = compiled_stack("lab").topology.host_by_name
    assert [lab[n].mgmt_ip for n in ("cn01", "st01", "ctl01")] == ["10.210.0.10", "10.210.0.14", "10.210.0.16"]


@pytest.mark.parametrize(
    ("counts", "leaves", "want"),
    [
        ({"compute": 8}, 4, {"compute": [2, 2, 2, 2]}),
        ({"compute": 5, "storage": 3}, 4, {"compute": [2, 1, 1, 1], "storage": [0, 1, 1, 1]}),
        (
            {"compute": 1, "storage": 1, "management": 1},
            3,
            {"compute": [1, 0, 0], "storage": [0, 1, 0], "management": [0, 0, 1]},
        ),
        ({"compute": 0}, 2, {"compute": [0, 0]}),
    ],
)
def test_spread_gives_floor_or_ceil_and_balances_totals(counts, leaves, want) -> None:
    got = spread(counts, leaves)
    assert got == want
    totals = [sum(per[i] for per in got.values()) for i in range(leaves)]
    assert max(totals) - min(totals) <= 1
