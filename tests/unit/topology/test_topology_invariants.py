"""check_invariants catches each kind of broken fabric (so the property tests' `== []` means something)."""

from __future__ import annotations

from dataclasses import replace

from ffinfra.topology.invariants import check_invariants
from ffinfra.topology.model import Topology


def codes(topo: Topology) -> set[str]:
    return {f.code for f in check_invariants(topo)}


def test_shipped_stacks_are_clean(compiled_stack) -> None:
    for name in ("lab", "small", "ff2", "ff2-single"):
        assert check_invariants(compiled_stack(name).topology) == []


def test_a_port_cabled_twice(compiled_stack) -> None:
    topo = compiled_stack("lab").topology
    up = next(link for link in topo.links if link.kind == "uplink")
    assert "FF-TOPO-001" in codes(replace(topo, links=(*topo.links, replace(up, a_port=up.a_port))))


def test_a_port_beyond_the_radix(compiled_stack) -> None:
    topo = compiled_stack("lab").topology
    links = tuple(replace(lk, b_port=99) if lk.kind == "uplink" and lk.b_port == 1 else lk for lk in topo.links)
    assert "FF-TOPO-002" in codes(replace(topo, links=links))


def test_a_leaf_missing_an_uplink_is_also_cut_off(compiled_stack) -> None:
    topo = compiled_stack("lab").topology
    leaf = topo.switches_in("z0", "leaf")[0].name
    links = tuple(lk for lk in topo.links if not (lk.kind == "uplink" and lk.a == leaf))
    assert codes(replace(topo, links=links)) >= {"FF-TOPO-003", "FF-TOPO-006"}


def test_an_uncabled_host_port(compiled_stack) -> None:
    topo = compiled_stack("lab").topology
    h = topo.hosts[0]
    broken = replace(h, ports=tuple(replace(p, leaf="", leaf_port=0) for p in h.ports))
    hosts = (broken, *topo.hosts[1:])
    assert "FF-TOPO-004" in codes(
        Topology(topo.spec, topo.zones, hosts, topo.switches, topo.links, topo.subnets, topo.services)
    )


def test_roles_piled_on_one_leaf(compiled_stack) -> None:
    topo = compiled_stack("small").topology
    first = topo.switches_in("z0", "leaf")[0].name
    hosts = tuple(
        replace(h, ports=tuple(replace(p, leaf=first) for p in h.ports)) if h.role == "storage" else h
        for h in topo.hosts
    )
    assert "FF-TOPO-005" in codes(replace(topo, hosts=hosts))
