"""Reachability walk and balance check on hand-built LFTs: 2 spines, 2 leaves, 2 hosts per leaf.

    s1      s2          leaf port 3 → s1, port 4 → s2; spine port n → leaf n
   /  \\    /  \\
  l1    l2              l1: a[1]=port 1, b[1]=port 2;  l2: c[1]=port 1, d[1]=port 2
"""

from __future__ import annotations

import copy

import pytest

from ffinfra.analysis.routing import check_balance, walk, walk_one
from ffinfra.analysis.wiring import Wiring

LID = {"a": 1, "b": 2, "c": 3, "d": 4}
DESTS = {lid: (h, 1) for h, lid in LID.items()}


@pytest.fixture
def wiring() -> Wiring:
    cables = [
        (("a", 1), ("l1", 1)),
        (("b", 1), ("l1", 2)),
        (("c", 1), ("l2", 1)),
        (("d", 1), ("l2", 2)),
        (("l1", 3), ("s1", 1)),
        (("l1", 4), ("s2", 1)),
        (("l2", 3), ("s1", 2)),
        (("l2", 4), ("s2", 2)),
    ]
    return Wiring.build(cables, leaves=["l1", "l2"], spines=["s1", "s2"])


@pytest.fixture
def lfts() -> dict[str, dict[int, int]]:
    """A healthy ftree-like routing: a, c via s1; b, d via s2."""
    return {
        "l1": {1: 1, 2: 2, 3: 3, 4: 4},
        "l2": {1: 3, 2: 4, 3: 1, 4: 2},
        "s1": {1: 1, 2: 1, 3: 2, 4: 2},
        "s2": {1: 1, 2: 1, 3: 2, 4: 2},
    }


def test_healthy(wiring, lfts) -> None:
    w = walk(wiring, lfts, DESTS)
    assert w.ok and w.walks == 8 and w.delivered == 8
    assert w.hops == {1: 4, 3: 4}
    assert w.problems == [] and w.examples == []
    b = check_balance(wiring, lfts, DESTS)
    assert b.ok, b.problems
    assert b.leaves == 2 and b.pairs == 2 and b.pair_max_spread == 0
    assert b.uplink_load == {1: 4}  # every uplink carries one remote destination
    assert b.multi_spine_dests == 0


def test_missing_entry_is_unreachable(wiring, lfts) -> None:
    del lfts["s1"][3]
    w = walk(wiring, lfts, DESTS)
    assert w.unreachable == 1 and w.delivered == 7 and not w.ok
    assert "s1 has no entry for LID 3" in w.examples[0]
    assert w.problems == ["1 of 8 leaf→CA routes unreachable"]


def test_loop(wiring, lfts) -> None:
    lfts["s1"][3] = 1  # back down to l1, which sends it up again
    outcome, hops, detail = walk_one(wiring, lfts, "l1", 3, ("c", 1))
    assert outcome == "loop" and hops == 17
    assert "l1 → s1 → l1" in detail
    w = walk(wiring, lfts, DESTS)
    assert w.loops == 1 and w.unreachable == 0 and not w.ok  # from l2, c is local: only l1's walk loops


def test_uncabled_port_and_missing_switch(wiring, lfts) -> None:
    lfts["l1"][3] = 9
    outcome, _, detail = walk_one(wiring, lfts, "l1", 3, ("c", 1))
    assert outcome == "unreachable" and "port 9, which is not cabled" in detail
    del lfts["s2"]
    outcome, hops, detail = walk_one(wiring, lfts, "l1", 4, ("d", 1))
    assert (outcome, hops, detail) == ("unreachable", 2, "no LFT for switch s2")


def test_misdelivered(wiring, lfts) -> None:
    lfts["l2"][3] = 2  # c's LID goes to d
    w = walk(wiring, lfts, DESTS)
    assert w.misdelivered == 2  # from l1 (via s1 → l2) and from l2 itself
    assert "arrives at d[1]" in w.examples[0]


def test_all_on_one_uplink_is_imbalanced(wiring, lfts) -> None:
    lfts["l1"][4] = 3  # l1 sends both c and d up through s1
    lfts["s1"][4] = 2
    assert walk(wiring, lfts, DESTS).ok  # still reachable …
    b = check_balance(wiring, lfts, DESTS)
    assert not b.ok  # … but not balanced
    assert b.imbalanced_pairs == 1 and b.pair_max_spread == 2
    assert [ld.per_uplink for ld in b.loads if ld.leaf == "l1"] == [{3: 2, 4: 0}]
    assert b.multi_spine_dests == 0  # d is remote to l1 only, so it still has one spine
    assert "1 of 2 leaf pairs spread one leaf's hosts unevenly" in b.problems[0]
    assert b.examples[0] == "l1 → CAs on l2: per uplink port [2, 0]"


def test_multi_spine_destination() -> None:
    # three leaves: l1 reaches e via s1, l2 via s2
    cables = [
        (("a", 1), ("l1", 1)),
        (("b", 1), ("l2", 1)),
        (("e", 1), ("l3", 1)),
        (("l1", 3), ("s1", 1)),
        (("l1", 4), ("s2", 1)),
        (("l2", 3), ("s1", 2)),
        (("l2", 4), ("s2", 2)),
        (("l3", 3), ("s1", 3)),
        (("l3", 4), ("s2", 3)),
    ]
    w = Wiring.build(cables, ["l1", "l2", "l3"], ["s1", "s2"])
    dests = {1: ("a", 1), 2: ("b", 1), 5: ("e", 1)}
    lfts = {
        "l1": {1: 1, 2: 4, 5: 3},
        "l2": {1: 3, 2: 1, 5: 4},
        "l3": {1: 3, 2: 4, 5: 1},
        "s1": {1: 1, 2: 2, 5: 3},
        "s2": {1: 1, 2: 2, 5: 3},
    }
    assert walk(w, lfts, dests).ok
    b = check_balance(w, lfts, dests)
    assert b.multi_spine_dests == 1
    assert "1 destinations are reached through more than one spine" in b.problems
    assert "e[1] (LID 5) is reached through 2 spines" in b.examples[0]


def test_local_destination_out_of_the_wrong_port(wiring, lfts) -> None:
    lfts["l1"][1] = 2  # a's LID out of b's host port
    b = check_balance(wiring, lfts, DESTS)
    assert b.local_misrouted == 1
    assert "l1: local a[1] (LID 1) goes out of port 2" in b.examples
    assert walk(wiring, lfts, DESTS).misdelivered == 2  # from l1, and from l2 via s1 → l1


def test_local_destination_sent_up_loops(wiring, lfts) -> None:
    lfts["l1"][1] = 3  # an LFT is per destination: s1 sends it back down, l1 sends it up again
    w = walk(wiring, lfts, DESTS)
    assert w.loops == 2 and check_balance(wiring, lfts, DESTS).local_misrouted == 1


def test_uneven_leaves_allow_aggregate_spread() -> None:
    """ftree deals each remote leaf's CAs from the first spine: two 1-host leaves both land on s1."""
    cables = [(("h0", 1), ("l0", 1)), (("h1", 1), ("l1", 1)), (("h2", 1), ("l2", 1))]
    for i in range(3):
        cables += [((f"l{i}", 3), ("s1", i + 1)), ((f"l{i}", 4), ("s2", i + 1))]
    w = Wiring.build(cables, ["l0", "l1", "l2"], ["s1", "s2"])
    dests = {10: ("h0", 1), 11: ("h1", 1), 12: ("h2", 1)}
    up_s1 = {10: 3, 11: 3, 12: 3}
    lfts = {f"l{i}": {**up_s1, 10 + i: 1} for i in range(3)}
    lfts |= {"s1": {10: 1, 11: 2, 12: 3}, "s2": {10: 1, 11: 2, 12: 3}}
    b = check_balance(w, lfts, dests)
    assert b.max_spread == 2 and all(ld.allowed == 2 for ld in b.loads)
    assert b.ok, b.problems


def test_walk_report_copy_is_independent(wiring, lfts) -> None:
    before = copy.deepcopy(lfts)
    walk(wiring, lfts, DESTS)
    check_balance(wiring, lfts, DESTS)
    assert lfts == before


def test_cross_zone_destinations_are_reported_not_judged() -> None:
    """One subnet, two zones joined spine to spine: all cross-zone traffic on the interzone spines."""
    cables = [(("a", 1), ("l1", 1)), (("b", 1), ("l2", 1))]
    cables += [(("l1", 3), ("s1", 1)), (("l1", 4), ("s2", 1)), (("l2", 3), ("t1", 1)), (("l2", 4), ("t2", 1))]
    cables += [(("s1", 9), ("t1", 9))]
    zone = {"l1": "z0", "s1": "z0", "s2": "z0", "l2": "z1", "t1": "z1", "t2": "z1"}
    w = Wiring.build(cables, ["l1", "l2"], ["s1", "s2", "t1", "t2"], zone_of=zone)
    dests = {1: ("a", 1), 2: ("b", 1)}
    lfts = {"l1": {1: 1, 2: 3}, "l2": {1: 3, 2: 1}, "s1": {1: 1, 2: 9}, "t1": {1: 9, 2: 1}}
    wr = walk(w, lfts, dests)
    assert wr.ok and wr.hops == {1: 2, 4: 2}
    b = check_balance(w, lfts, dests)
    assert b.ok, b.problems
    assert b.cross_zone_routes == 2 and b.cross_zone_load == {0: 2, 1: 2}
    assert "cross-zone: 2 routes" in b.summary()
