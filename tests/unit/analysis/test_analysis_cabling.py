"""Discovered cabling (OpenSM's opensm-subnet.lst, captured from a lab run) against the lab plan."""

from __future__ import annotations

import pytest
from ibsim_samples import captured, captured_topology

from ffinfra.analysis.cabling import compare_cabling, parse_subnet_lst
from ffinfra.analysis.wiring import subnet_wiring


@pytest.fixture(scope="module")
def wiring():
    topo = captured_topology()
    return subnet_wiring(topo, topo.subnets[0])


@pytest.fixture(scope="module")
def links():
    links, bad = parse_subnet_lst(captured("opensm-subnet_lab.lst"))
    assert bad == []
    return links


def test_parse(links) -> None:
    assert len(links) == 30  # 15 cables, each listed from both ends
    sm = next(x for x in links if x.a.name == "ctl01 mlx5_0")  # "CA-SM": the SM's own port
    assert sm.a.kind == "CA" and sm.a.port_guid == 0x0002C91000001001 and sm.a.port == 1
    assert sm.b.kind == "SW" and sm.b.name == "z0-lf03" and sm.b.port == 2
    assert (sm.width, sm.state, sm.speed) == ("4x", "ACT", "50")


def test_matches_the_plan(links, wiring) -> None:
    r = compare_cabling(links, wiring, "4x")
    assert r.ok, r.problems
    assert (r.planned, r.discovered) == (15, 15)


def test_missing_extra_inactive_and_width(links, wiring) -> None:
    kept = [x for x in links if {x.a.name, x.b.name} != {"z0-lf01", "z0-sp02"}]
    r = compare_cabling(kept, wiring, "2x")
    assert r.missing == ["z0-lf01[4] ↔ z0-sp02[1]"]
    assert len(r.wrong_width) == 14 and "4x (expected 2x)" in r.wrong_width[0]
    moved = [
        type(x)(x.a, type(x.b)(x.b.kind, x.b.node_guid, x.b.port_guid, x.b.name, 9), x.width, "DOWN", x.speed)
        if x.a.name == "cn01 mlx5_0"
        else x
        for x in links
        if x.b.name != "cn01 mlx5_0"
    ]
    r = compare_cabling(moved, wiring, "4x")
    assert r.missing == ["cn01 mlx5_0[1] ↔ z0-lf01[1]"]
    assert r.extra == ["cn01 mlx5_0[1] ↔ z0-lf01[9]"]
    assert r.not_active == ["cn01 mlx5_0[1] ↔ z0-lf01[9] DOWN"]
    assert len(r.problems) == 3
