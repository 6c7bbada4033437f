"""The discovered wiring, named after the plan, on fabrics captured from ibsim with one cabling fault each
(tests/data/ibsim/*_lab_<fault>.*): OpenSM routed the cables that exist, so its tables walk cleanly over the
discovered wiring, where a walk over the planned one reports routing failures that are cabling faults."""

from __future__ import annotations

import pytest
from ibsim_samples import captured, captured_topology

from ffinfra.analysis.discovered import discovered_wiring
from ffinfra.analysis.lft import name_tables, parse_dump_fts
from ffinfra.analysis.parsers.ibnetdiscover import parse_ibnetdiscover
from ffinfra.analysis.routing import check_balance, walk
from ffinfra.analysis.wiring import Wiring, subnet_wiring

FAULTS = ("swapped_hosts", "swapped_uplinks", "missing_uplink")


@pytest.fixture(scope="module")
def plan() -> Wiring:
    topo = captured_topology()
    return subnet_wiring(topo, topo.subnets[0])


def _suffix(fault: str) -> str:
    return "lab" if fault == "healthy" else f"lab_{fault}"


def _found(plan: Wiring, fault: str):
    return discovered_wiring(plan, parse_ibnetdiscover(captured(f"ibnetdiscover_{_suffix(fault)}.txt")))


def _tables(wiring: Wiring, fault: str):
    return name_tables(parse_dump_fts(captured(f"dump_fts_{_suffix(fault)}.txt")), wiring)


def test_a_fabric_cabled_as_planned_is_the_planned_wiring(plan):
    found = _found(plan, "healthy")
    assert not found.differs and found.same_switch_links and found.unknown == ()
    assert found.wiring.adjacency == plan.adjacency
    assert found.wiring.leaves == plan.leaves and found.wiring.spines == plan.spines
    assert found.wiring.switch_by_guid == plan.switch_by_guid and found.wiring.ca_port_by_guid == plan.ca_port_by_guid


def test_swapped_host_cables_are_wired_where_they_are(plan):
    w = _found(plan, "swapped_hosts").wiring
    assert w.adjacency[("z0-lf01", 1)] == ("st01 mlx5_0", 1) and w.adjacency[("cn01 mlx5_0", 1)] == ("z0-lf01", 2)
    assert plan.adjacency[("z0-lf01", 1)] == ("cn01 mlx5_0", 1)


@pytest.mark.parametrize(
    ("fault", "same_switch_links"), [("swapped_hosts", True), ("swapped_uplinks", True), ("missing_uplink", False)]
)
def test_a_cabling_fault_differs_from_the_plan_and_only_a_missing_uplink_changes_the_switch_links(
    plan, fault, same_switch_links
):
    found = _found(plan, fault)
    assert found.differs and found.unknown == ()
    assert found.same_switch_links is same_switch_links


@pytest.mark.parametrize("fault", FAULTS)
def test_opensm_routed_the_discovered_fabric_so_every_route_walks_over_it(plan, fault):
    found = _found(plan, fault)
    t = _tables(found.wiring, fault)
    assert t.problems == []
    rep = walk(found.wiring, t.lfts, t.dests)
    assert rep.ok and rep.delivered == rep.walks == 28, rep.examples


@pytest.mark.parametrize("fault", ("swapped_hosts", "swapped_uplinks"))
def test_with_cables_swapped_on_a_leaf_the_uplinks_stay_balanced_over_the_discovered_fabric(plan, fault):
    found = _found(plan, fault)
    t = _tables(found.wiring, fault)
    assert check_balance(found.wiring, t.lfts, t.dests).problems == []


def test_the_planned_wiring_would_blame_routing_for_swapped_host_cables(plan):
    """Why the routing checks walk the discovered wiring: over the planned one, OpenSM's correct tables fail."""
    t = _tables(plan, "swapped_hosts")
    assert walk(plan, t.lfts, t.dests).problems == ["8 of 28 leaf→CA routes misdelivered"]
    assert check_balance(plan, t.lfts, t.dests).problems == ["2 local destinations do not leave by their host port"]


def test_tables_that_do_not_fit_the_discovered_fabric_still_fail_the_walk(plan):
    """Routes programmed for the planned cabling (no new sweep after the swap) misdeliver over the real one."""
    found = _found(plan, "swapped_hosts")
    t = _tables(found.wiring, "healthy")
    rep = walk(found.wiring, t.lfts, t.dests)
    assert rep.misdelivered == 8 and not rep.ok
    assert "z0-lf01 → cn01 mlx5_0[1]: misdelivered: LID 4 for cn01 mlx5_0[1] arrives at st01 mlx5_0[1]" in rep.examples


def test_a_node_the_plan_does_not_have_is_listed_as_unknown(plan):
    """A leaf swapped for a switch of another GUID: its cables cannot be named, so they are not in the wiring."""
    text = captured("ibnetdiscover_lab.txt").replace("S-0002c90200000004", "S-00000000000000aa")
    found = discovered_wiring(plan, parse_ibnetdiscover(text.replace('# "z0-lf04"', '# "stray"')))
    assert found.unknown == ("?S-00000000000000aa (stray)",)
    assert "z0-lf04" not in found.wiring.leaves and ("cn04 mlx5_0", 1) not in found.wiring.adjacency
    assert found.differs and not found.same_switch_links
