"""The bandwidth pairing schedule: every leaf uplink carries traffic, in ceil(log2 L) rounds per zone."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ffinfra.analysis.pairing import leaf_rounds, schedule, uplink_coverage


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=2, max_value=300))
def test_leaf_rounds_are_logarithmic_matchings_that_include_every_leaf(leaves: int):
    rounds = leaf_rounds(leaves)
    assert len(rounds) == math.ceil(math.log2(leaves))
    seen: set[int] = set()
    for pairs in rounds:
        in_round = [leaf for pair in pairs for leaf in pair]
        assert len(in_round) == len(set(in_round)), "a leaf in two pairs of one round"
        assert all(0 <= i < leaves and 0 <= j < leaves and i != j for i, j in pairs)
        seen.update(in_round)
    assert seen == set(range(leaves))


def test_one_leaf_needs_no_round():
    assert leaf_rounds(1) == []


@pytest.mark.parametrize("stack", ["lab", "small", "ff2", "ff2-single"])
def test_every_uplink_of_every_leaf_carries_traffic(compiled_stack, stack: str):
    topo = compiled_stack(stack).topology
    rounds = schedule(topo)
    assert len(rounds) == max(math.ceil(math.log2(z.leaves)) for z in topo.zones)
    coverage = uplink_coverage(topo, rounds)
    uplinks = {z.name: z.uplinks for z in topo.zones}
    zone = {s.name: s.zone for s in topo.switches}
    missing = {leaf: sorted(set(range(uplinks[zone[leaf]])) - used) for leaf, used in coverage.items()}
    assert {leaf: m for leaf, m in missing.items() if m} == {}


@pytest.mark.parametrize("stack", ["lab", "ff2"])
def test_pairs_cross_leaves_and_use_each_port_once_per_round(compiled_stack, stack: str):
    topo = compiled_stack(stack).topology
    for rnd in schedule(topo):
        ports = [(p.host, p.nic, p.port) for pair in rnd.pairs for p in (pair.a, pair.b)]
        assert len(ports) == len(set(ports))
        assert all(pair.a.leaf != pair.b.leaf for pair in rnd.pairs)
        assert all(pair.a.zone == pair.b.zone for pair in rnd.pairs)


def test_ff2_first_round_tests_every_port_of_the_fabric(compiled_stack):
    topo = compiled_stack("ff2").topology
    first = schedule(topo)[0]
    assert len(first.pairs) * 2 == len(topo.host_ports)  # 40 full leaves per zone pair up completely
