"""3FS chain placement: upstream's numbering and file formats byte for byte, ids that overflow are refused, and our
own design puts every target in one chain and spreads the chains evenly over pairs of nodes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ffinfra.render.threefs_chains import chain_files
from ffinfra.topology.chains import (
    UINT32_MAX,
    ChainPlacementError,
    chain_id,
    chain_table,
    grow,
    ideal_shared,
    pair_counts,
    place_chains,
    shrink,
    target_id,
)

UPSTREAM = Path(__file__).resolve().parents[2] / "data" / "3fs-placement"


def _incidence(chains_csv: str) -> tuple[list[list[tuple[int, ...]]], list[int], int, int, int]:
    """(per-disk designs as node indices, node ids, targets per disk, target prefix, chain prefix) read back from
    upstream's generated_chains.csv."""
    rows = [line.split(",") for line in chains_csv.splitlines()[1:]]
    nodes = sorted({(int(t) // 100_000) % 1_000_000 for r in rows for t in r[1:]})
    disks: dict[int, list[tuple[int, ...]]] = {}
    per_node: dict[tuple[int, int], int] = {}
    for r in rows:
        cid = int(r[0])
        disk = (cid // 100_000) % 1_000 - 1
        members = tuple(nodes.index((int(t) // 100_000) % 1_000_000) for t in r[1:])
        disks.setdefault(disk, []).append(members)
        for x in members:
            per_node[(disk, x)] = per_node.get((disk, x), 0) + 1
    tp = int(rows[0][1]) // 100_000 // 1_000_000
    cp = int(rows[0][0]) // 100_000 // 1_000
    return [disks[d] for d in sorted(disks)], nodes, max(per_node.values()), tp, cp


@pytest.mark.parametrize("case", ["cr-v5-k3-r6-d2", "cr-v8-k2-r7-d2"])
def test_upstream_files_are_rebuilt_byte_for_byte_from_their_own_incidence(case: str) -> None:
    folder = UPSTREAM / case
    designs, nodes, per_disk, tp, cp = _incidence((folder / "generated_chains.csv").read_text())
    table = chain_table(designs, nodes, per_disk, target_prefix=tp, chain_prefix=cp)
    files = chain_files(table)
    assert sorted(files) == sorted(p.name for p in folder.glob("*.*") if p.suffix in (".csv", ".txt"))
    for name, content in files.items():
        assert content == (folder / name).read_text(), name


def test_numbering_is_upstreams() -> None:
    assert target_id(10001, 0, 0, prefix=1) == 101000100101
    assert target_id(10005, 1, 5, prefix=1) == 101000500206
    assert chain_id(0, 1, prefix=9) == 900100001
    assert chain_id(1, 28) == 1000200028


def test_a_chain_id_that_overflows_uint32_is_refused_with_the_limit() -> None:
    nodes = list(range(10001, 10011))
    assert chain_id(15, 99_999, prefix=42) <= UINT32_MAX  # 42 fits with 16 disks
    place_chains(nodes, 2, 2, 2, chain_prefix=42)
    with pytest.raises(ChainPlacementError, match=r"overflows 3FS's ChainId \(uint32.*at most 42"):
        place_chains(nodes, 16, 2, 2, chain_prefix=43)


@pytest.mark.parametrize(
    ("nodes", "disks", "k", "r", "match"),
    [
        (5, 2, 2, 3, "not a multiple of replication 2.*targets per disk that work: 2, 4"),
        (2, 1, 3, 3, "3 replicas need 3 storage nodes; there are 2"),
        (4, 1, 2, 100, "targets per disk must be 1 to 99"),
        (4, 1000, 2, 2, "disks per node must be 1 to 999"),
    ],
)
def test_impossible_placements_say_why(nodes: int, disks: int, k: int, r: int, match: str) -> None:
    with pytest.raises(ChainPlacementError, match=match):
        place_chains(list(range(10001, 10001 + nodes)), disks, k, r)


def _check_structure(table, v: int, disks: int, k: int, r: int) -> None:
    assert len(table.chains) == disks * v * r // k
    assert [c.chain_id for c in table.chains] == sorted(c.chain_id for c in table.chains)
    seen = set()
    for c in table.chains:
        nodes = [t.node_id for t in c.targets]
        assert len(c.targets) == k and len(set(nodes)) == k and nodes == sorted(nodes)
        assert all(t.disk == c.disk for t in c.targets)
        for t in c.targets:
            assert t.target_id not in seen
            seen.add(t.target_id)
    # every target of every disk of every node is in exactly one chain
    assert len(seen) == v * disks * r


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    v=st.integers(3, 40),
    disks=st.integers(1, 12),
    k=st.integers(2, 3),
    r=st.integers(1, 12),
)
def test_every_target_in_one_chain_and_pairs_share_chains_evenly(v: int, disks: int, k: int, r: int) -> None:
    """Replication 2 and 3 (what 3FS's CR chains use): every pair within 1 of the ideal. The one known exception,
    written down here rather than hidden: 3 replicas whose ideal is near 1 ask for a near-perfect packing (every
    pair at most once) or covering (every pair at least once) of triples, and the search can end with a few pairs
    at 2 or at 0; those stay under 1% of the pairs."""
    assume(k <= v and (v * r) % k == 0)  # placements check_limits refuses are tested on their own
    table = place_chains(list(range(10001, 10001 + v)), disks, k, r)
    _check_structure(table, v, disks, k, r)
    ideal = ideal_shared(v, disks, k, r)
    counts = list(pair_counts(table).values())
    assert sum(counts) == len(table.chains) * k * (k - 1) // 2
    off = [c for c in counts if abs(c - ideal) > 1]
    if k == 3 and 0.85 < ideal < 1.25:
        assert max(counts) <= 2 and len(off) <= max(1, len(counts) // 100), (len(off), len(counts), ideal)
    else:
        assert not off, (min(counts), max(counts), ideal)


@pytest.mark.parametrize("k", [2, 3])
def test_fire_flyer_sized_placement_is_balanced(k: int) -> None:
    """ff2's storage: 180 nodes × 16 disks × 6 targets per disk. Upstream's model repeats one design on every
    disk, so the pairs that share a chain would share 16; here every pair is within 1 of the ideal."""
    v, disks, r = 180, 16, 6
    table = place_chains(list(range(10001, 10001 + v)), disks, k, r)
    _check_structure(table, v, disks, k, r)
    ideal = ideal_shared(v, disks, k, r)
    assert all(abs(c - ideal) <= 1 for c in pair_counts(table).values())


def test_the_same_input_places_the_same_chains() -> None:
    a = place_chains(list(range(10001, 10031)), 4, 3, 6)
    b = place_chains(list(range(10001, 10031)), 4, 3, 6)
    assert a == b


def _check_growth(before, g, added: list[int]) -> None:
    from collections import Counter

    from ffinfra.topology.chains import ideal_shared as ideal_of

    table = g.table
    k, r, disks = table.replication, table.targets_per_disk, table.disks
    v = len(table.node_ids)
    assert table.node_ids == before.node_ids + tuple(added)
    # every node, old and new, has its targets per disk, each target in one chain
    per = Counter((t.node_id, c.disk) for c in table.chains for t in c.targets)
    assert set(per.values()) == {r} and len(per) == v * disks
    ids = [t.target_id for c in table.chains for t in c.targets]
    assert len(ids) == len(set(ids))
    # existing chains keep their ids; a target that stays keeps its id; new chains come after
    old_by_id = {c.chain_id: c for c in before.chains}
    new_by_id = {c.chain_id: c for c in table.chains}
    assert set(old_by_id) <= set(new_by_id)
    assert {c.chain_id for c in g.new_chains} == set(new_by_id) - set(old_by_id)
    moved = Counter(m.chain_id for m in g.moves)
    for cid, c in old_by_id.items():
        now = new_by_id[cid]
        assert len(now.targets) == k
        stayed = set(c.targets) & set(now.targets)
        assert len(stayed) == k - moved[cid]  # a moved replica is the only kind of change
    for m in g.moves:
        assert m.out in old_by_id[m.chain_id].targets and m.into in new_by_id[m.chain_id].targets
        assert m.out.target_id not in ids  # removed, and its id is not handed out again
    # new nodes reach the new ideal; old pairs stay within what they shared before. As for placement, 3 replicas
    # with an ideal near 1 ask every pair to share a chain with about as many chains as pairs (a covering); there
    # a few pairs (at most 1 in 20 here, and in tiny clusters 2 of 15) may share none.
    ideal = ideal_of(v, disks, k, r)
    hi = max(math.ceil(ideal), max(pair_counts(before).values()))
    counts = list(pair_counts(table).values())
    assert max(counts) <= hi
    short = [n for n in counts if n < math.floor(ideal)]
    if k == 3 and ideal < 1.25:
        assert min(counts) >= math.floor(ideal) - 1 and len(short) <= max(2, len(counts) // 20)
    else:
        assert not short, (min(counts), ideal)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(v=st.integers(3, 30), a=st.integers(1, 8), disks=st.integers(1, 8), k=st.integers(2, 3), r=st.integers(1, 8))
def test_growth_places_new_nodes_moving_few_replicas(v: int, a: int, disks: int, k: int, r: int) -> None:
    assume(k <= v and (v * r) % k == 0 and ((v + a) * r) % k == 0)
    before = place_chains(list(range(10001, 10001 + v)), disks, k, r)
    added = list(range(20001, 20001 + a))
    g = grow(before, added)
    _check_growth(before, g, added)
    # one replica moves per new-node target placed into an existing chain: at most (k-1)/k of the new targets,
    # plus what balance needs
    assert len(g.new_chains) == disks * a * r // k


@pytest.mark.parametrize("k", [2, 3])
def test_fire_flyer_grows_by_20_storage_nodes(k: int) -> None:
    before = place_chains(list(range(10001, 10181)), 16, k, 6)
    added = list(range(10181, 10201))
    g = grow(before, added)
    _check_growth(before, g, added)
    new_targets = 20 * 16 * 6
    assert len(g.moves) == new_targets * (k - 1) // k  # ff2: 960 (2 replicas) or 1,280 (3) replicas move


def test_growing_by_a_node_already_there_is_refused() -> None:
    before = place_chains(list(range(10001, 10011)), 2, 2, 2)
    with pytest.raises(ChainPlacementError, match="storage node 10003 is already in the chain table"):
        grow(before, [10003])


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(v=st.integers(4, 30), a=st.integers(1, 4), disks=st.integers(1, 6), k=st.integers(2, 3), r=st.integers(1, 8))
def test_shrink_moves_exactly_the_removed_nodes_replicas_and_spreads_them(
    v: int, a: int, disks: int, k: int, r: int
) -> None:
    from collections import Counter

    assume(k <= v - a and (v * r) % k == 0)
    before = place_chains(list(range(10001, 10001 + v)), disks, k, r)
    removed = list(range(10001 + v - a, 10001 + v))
    s = shrink(before, removed)
    after = s.table
    assert after.node_ids == before.node_ids[: v - a] and s.new_chains == ()
    assert [c.chain_id for c in after.chains] == [c.chain_id for c in before.chains]  # no chain is dropped
    for c in after.chains:
        nodes = [t.node_id for t in c.targets]
        assert len(nodes) == k and len(set(nodes)) == k and not set(nodes) & set(removed)
    # exactly the replicas that were on removed nodes move, each to a remaining node
    assert len(s.moves) == a * disks * r
    assert {m.out.node_id for m in s.moves} <= set(removed) and not {m.into.node_id for m in s.moves} & set(removed)
    ids = [t.target_id for c in after.chains for t in c.targets]
    assert len(ids) == len(set(ids))
    # the remaining nodes share the load evenly on every disk
    load = Counter((t.node_id, c.disk) for c in after.chains for t in c.targets)
    for d in range(disks):
        per = [load[(n, d)] for n in after.node_ids]
        assert max(per) - min(per) <= 1, (d, per)


def test_shrink_refuses_unknown_nodes_and_too_few_left() -> None:
    before = place_chains(list(range(10001, 10005)), 1, 3, 3)
    with pytest.raises(ChainPlacementError, match="storage node 20001 is not in the chain table"):
        shrink(before, [20001])
    with pytest.raises(ChainPlacementError, match="3 replicas need 3 storage nodes; 2 would remain"):
        shrink(before, [10001, 10002])


# -- the applied table, recorded and read back ------------------------------------------------------------------


@pytest.mark.parametrize("sample", ["cr-v5-k3-r6-d2", "cr-v8-k2-r7-d2"])
def test_a_recorded_table_reads_back_to_the_same_chains(sample: str) -> None:
    from ffinfra.render.threefs_chains import chains_csv
    from ffinfra.topology.chains import table_from_chains_csv

    text = (
        Path(__file__).resolve().parents[2] / "data" / "3fs-placement" / sample / "generated_chains.csv"
    ).read_text()
    table = table_from_chains_csv(text)
    assert chains_csv(table) == text
    k, r = int(sample.split("-k")[1][0]), int(sample.split("-r")[1][0])
    assert (table.replication, table.targets_per_disk, table.disks) == (k, r, 2)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "not a generated_chains.csv"),
        ("ChainId,TargetId\n1000100001,x\n", "line 2: not a row of integer ids"),
        ("ChainId,TargetId,TargetId\n1000100001,1001000100101\n", "line 2: 1 targets, the header has 2"),
        ("ChainId,TargetId\n1000100001,1001000100201\n", "chain 1000100001 and its targets name different disks"),
    ],
)
def test_a_damaged_recorded_table_is_refused_with_its_line(text: str, error: str) -> None:
    from ffinfra.topology.chains import table_from_chains_csv

    with pytest.raises(ChainPlacementError, match=error):
        table_from_chains_csv(text)
