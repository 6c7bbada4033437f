"""3FS chain placement, decided once: which storage targets form each replication chain.

    table = place_chains(node_ids=[10001, ..., 10180], disks=16, replication=2, targets_per_disk=6)
    table.chains[0]            → Chain(chain_id=1000100001, disk=0, targets=(Target(10001, 0, ...), ...))
    pair_counts(table)         → {(10001, 10002): 1, ...}: the chains each pair of nodes shares

Our own algorithm, not upstream's integer program (which needs minutes at 25 nodes and finds nothing at 60): each
disk index gets its own design, so that over the whole cluster every pair of storage nodes shares as close to the
same number of chains as possible (when a node fails, its chains recover from every peer evenly). Upstream repeats
one design on every disk, which on Fire-Flyer's 180 nodes would make the pairs that share a chain share 16 and
all others none.

1. Greedy: disk by disk, each chain takes the node with the most targets left to place, then the nodes that share
   the fewest chains with those already in it (over every disk so far).
2. Repair: while a pair shares more chains than the ideal rounded up, or fewer than rounded down, swap one node
   between two chains of the same disk (a swap keeps every node's targets per disk), choosing among a sample of
   the swaps that move that pair towards the ideal the one that lowers Σ (shared − ideal)² most, and now and then
   one that raises it a little (seeded: the same input always gives the same chains).

For replication 2 and 3 (3FS's CR chains), property tests hold every pair within 1 of the ideal, Fire-Flyer's
180 × 16 × 6 included, in about 0.7 s (2 replicas) and 2 s (3); the one exception, 3 replicas with an ideal near
1 (a near-perfect packing or covering of triples), may leave under 1% of pairs at 2 or at 0. Wider chains are
placed the same way, best effort: their spread is what `pair_counts` shows.

A placed table holds data, so it changes only by `grow` (new nodes; existing chains keep their ids, a few replicas
move) and `shrink` (removed nodes' replicas move), each move a `ReplicaMove`: create and add the new target, let it
sync, then take the old one offline and remove it, so no chain ever serves with fewer than its replicas.

Numbering is upstream's (deploy/data_placement/src/setup/gen_chain_table.py), so admin_cli and 3FS's tools read
the result as their own (tp: target prefix, cp: chain prefix, both 10 by default):

    target id = ((tp·1,000,000 + node_id)·1,000 + disk + 1)·100 + target_index + 1     (TargetId: uint64)
    chain id  = (cp·1,000 + disk + 1)·100,000 + chain_index                            (ChainId: uint32)

An id that does not fit its field, or a chain index, disk or target index that would spill into the next field,
is refused with the limit named.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from ffinfra.errors import FfinfraError

UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
MAX_CHAINS_PER_DISK = 99_999  # chain_index is the last 5 digits of the chain id
MAX_DISKS = 999  # disk + 1 is 3 digits of both ids
MAX_TARGETS_PER_DISK = 99  # target_index + 1 is the last 2 digits of the target id
MAX_NODE_ID = 999_999  # the node id is 6 digits of the target id


# The chain table a cluster serves, kept in its stack folder once `up` uploaded it (upstream's generated_chains.csv
# format). The compiler reads it back: the chains then change only by `resize` from it. Commit it with the spec, so
# that `ffinfra plan --base REF` of a pull request resizes from the same table.
APPLIED_CHAINS = "threefs/chains.csv"


class ChainPlacementError(FfinfraError):
    """Chains cannot be placed as asked (the message says which limit and which value)."""


@dataclass(frozen=True, slots=True)
class Target:
    node_id: int
    disk: int  # 0-based disk index on the node
    index: int  # 0-based target index on that disk
    target_id: int


@dataclass(frozen=True, slots=True)
class Chain:
    chain_id: int
    disk: int
    targets: tuple[Target, ...]  # in node order: the chain's replicas


@dataclass(frozen=True)
class ChainTable:
    replication: int
    disks: int
    targets_per_disk: int
    node_ids: tuple[int, ...]
    chains: tuple[Chain, ...]  # by chain id
    target_prefix: int = 10
    chain_prefix: int = 10


def target_id(node_id: int, disk: int, index: int, prefix: int = 10) -> int:
    return ((prefix * 1_000_000 + node_id) * 1_000 + disk + 1) * 100 + index + 1


def chain_id(disk: int, index: int, prefix: int = 10) -> int:
    """`index` is 1-based, as upstream numbers chains within a disk."""
    return (prefix * 1_000 + disk + 1) * 100_000 + index


def check_limits(
    node_ids: Sequence[int], disks: int, replication: int, targets_per_disk: int, target_prefix: int, chain_prefix: int
) -> None:
    """Refuse a placement whose ids would not fit 3FS's fields or would run into each other."""
    v = len(node_ids)
    if replication < 1:
        raise ChainPlacementError(f"replication must be at least 1 (got {replication})")
    if v < replication:
        raise ChainPlacementError(f"{replication} replicas need {replication} storage nodes; there are {v}")
    if len(set(node_ids)) != v:
        raise ChainPlacementError("storage node ids must be distinct")
    if not 1 <= disks <= MAX_DISKS:
        raise ChainPlacementError(f"disks per node must be 1 to {MAX_DISKS} (3 digits of the ids); got {disks}")
    if not 1 <= targets_per_disk <= MAX_TARGETS_PER_DISK:
        raise ChainPlacementError(
            f"targets per disk must be 1 to {MAX_TARGETS_PER_DISK} (2 digits of the target id); got {targets_per_disk}"
        )
    if (v * targets_per_disk) % replication:
        ok = [t for t in range(1, MAX_TARGETS_PER_DISK + 1) if (v * t) % replication == 0][:4]
        raise ChainPlacementError(
            f"{v} nodes × {targets_per_disk} targets per disk is not a multiple of replication {replication}: "
            f"chains cannot take every target; targets per disk that work: {', '.join(map(str, ok))}, ..."
        )
    per_disk = v * targets_per_disk // replication
    if per_disk > MAX_CHAINS_PER_DISK:
        raise ChainPlacementError(
            f"{per_disk} chains per disk: more than {MAX_CHAINS_PER_DISK} (5 digits of the chain id)"
        )
    bad = [n for n in node_ids if not 0 <= n <= MAX_NODE_ID]
    if bad:
        raise ChainPlacementError(f"node id {bad[0]} does not fit the 6 digits the target id gives it")
    top_chain = chain_id(disks - 1, per_disk, chain_prefix)
    if chain_prefix < 0 or top_chain > UINT32_MAX:
        raise ChainPlacementError(
            f"chain id {top_chain} (chain prefix {chain_prefix}, {disks} disks) overflows 3FS's ChainId (uint32, at "
            f"most {UINT32_MAX}): the chain prefix must be at most {(UINT32_MAX // 100_000 - disks) // 1_000}"
        )
    top_target = target_id(max(node_ids), disks - 1, targets_per_disk - 1, target_prefix)
    if target_prefix < 0 or top_target > UINT64_MAX:
        raise ChainPlacementError(f"target id {top_target} overflows 3FS's TargetId (uint64)")


# -- the design ---------------------------------------------------------------------------------------------


def ideal_shared(v: int, disks: int, replication: int, targets_per_disk: int) -> float:
    """Chains each pair of nodes would share if every pair shared the same number."""
    if v < 2:
        return 0.0
    return disks * targets_per_disk * (replication - 1) / (v - 1)


def design(v: int, disks: int, k: int, r: int, max_swaps: int | None = None) -> list[list[tuple[int, ...]]]:
    """Per disk, its chains as k-tuples of node indices (0..v-1, ascending): every node in exactly r chains of
    every disk, pair counts over all disks as close to the ideal as the repair gets them."""
    pair = [[0] * v for _ in range(v)]
    disks_blocks: list[list[list[int]]] = []
    b = v * r // k
    for d in range(disks):
        left = [r] * v
        blocks: list[list[int]] = []
        for i in range(b):
            # the node with the most targets left opens the chain; rotate ties by disk and chain so each disk
            # starts its designs elsewhere
            top = max(left)
            start = (d * 7919 + i) % v
            first = next(x for x in (*range(start, v), *range(start)) if left[x] == top)
            block = [first]
            for _ in range(k - 1):
                best = None
                best_key: tuple[int, int, int] | None = None
                for x in range(v):
                    if left[x] == 0 or x in block:
                        continue
                    key = (sum(pair[x][y] for y in block), -left[x], (x - start) % v)
                    if best_key is None or key < best_key:
                        best, best_key = x, key
                if best is None:
                    raise ChainPlacementError(f"cannot complete chain {i + 1} of disk {d}: no node has targets left")
                block.append(best)
            for x in block:
                left[x] -= 1
            for x, y in combinations(block, 2):
                pair[x][y] += 1
                pair[y][x] += 1
            blocks.append(block)
        disks_blocks.append(blocks)
    _repair(disks_blocks, pair, v, ideal_shared(v, disks, k, r), max_swaps)
    return [[tuple(sorted(bl)) for bl in blocks] for blocks in disks_blocks]


def _repair(
    disks_blocks: list[list[list[int]]],
    pair: list[list[int]],
    v: int,
    ideal: float,
    max_swaps: int | None,
    original: dict[tuple[int, int], frozenset[int]] | None = None,
    move_cost: float = 0.0,
    bounds: tuple[int, int] | None = None,
):
    """Swap nodes between chains of one disk until every pair shares between the ideal rounded down and rounded up.
    Each step takes an off pair, looks at a sample of the swaps that would move it towards the ideal, and makes the
    one that lowers Σ (shared − ideal)² most; now and then (seeded, so the result is the same every time) one that
    raises it a little, which gets the search out of dead ends a strict descent stops in.

    `original`: (disk, chain index) → the members a chain that holds data had; each member a swap takes out of
    such a chain costs `move_cost` (a replica copied), each one it puts back saves it. `bounds`: the pair counts
    to reach, when not the ideal rounded down and up."""
    original = original or {}
    lo, hi = bounds or (math.floor(ideal), math.ceil(ideal))
    steps = max_swaps if max_swaps is not None else 50 * sum(len(b) for b in disks_blocks) + 20_000
    rng = random.Random(v * 1_000_003 + len(disks_blocks))
    where: dict[int, set[tuple[int, int]]] = {x: set() for x in range(v)}  # node → its (disk, chain index)
    for d, blocks in enumerate(disks_blocks):
        for i, bl in enumerate(blocks):
            for x in bl:
                where[x].add((d, i))
    bad = {(x, y) for x in range(v) for y in range(x + 1, v) if not lo <= pair[x][y] <= hi}

    def changes(bi: list[int], bj: list[int], a: int, b: int) -> Counter[tuple[int, int]]:
        change: Counter[tuple[int, int]] = Counter()
        for y in bi:
            if y != a:
                change[(min(a, y), max(a, y))] -= 1
                change[(min(b, y), max(b, y))] += 1
        for w in bj:
            if w != b:
                change[(min(b, w), max(b, w))] -= 1
                change[(min(a, w), max(a, w))] += 1
        return change

    def cost_change(change: Counter[tuple[int, int]]) -> float:
        return sum((pair[p][q] + c - ideal) ** 2 - (pair[p][q] - ideal) ** 2 for (p, q), c in change.items() if c)

    def moved_change(d: int, i: int, j: int, a: int, b: int) -> int:
        """Replicas moved away from their data (out of `original`) after the swap, minus before."""
        n = 0
        for blk, out, into in ((i, a, b), (j, b, a)):
            orig = original.get((d, blk))
            if orig is not None:
                n += (out in orig) - (into in orig)
        return n

    def moves(x: int, y: int) -> list[tuple[int, int, int, int, int]]:
        out = []
        if pair[x][y] > hi:  # move x or y out of a chain they share
            for d, i in where[x] & where[y]:
                bi = disks_blocks[d][i]
                for a in (x, y):
                    for _ in range(8):
                        j = rng.randrange(len(disks_blocks[d]))
                        bj = disks_blocks[d][j]
                        if j != i and a not in bj:
                            out += [(d, i, j, a, b) for b in bj if b not in bi]
        else:  # bring y into a chain of x's, in exchange for another of its nodes (a sample of x's chains)
            mine = sorted(where[x])
            for _ in range(8):
                d, i = mine[rng.randrange(len(mine))]
                bi = disks_blocks[d][i]
                if y in bi:
                    continue
                for dd, j in where[y]:
                    if dd == d and x not in disks_blocks[d][j]:
                        bj = disks_blocks[d][j]
                        out += [(d, i, j, a, y) for a in bi if a != x and a not in bj]
        return out

    temperature = 0.5
    for step in range(steps):
        if not bad:
            return
        x, y = rng.choice(sorted(bad)) if step % 64 == 0 or len(bad) < 64 else next(iter(bad))
        options = moves(x, y)
        if not options:
            continue
        rng.shuffle(options)
        best, best_cost = None, math.inf
        for mv in options[:24]:
            d, i, j, a, b = mv
            ch = changes(disks_blocks[d][i], disks_blocks[d][j], a, b)
            c = cost_change(ch) + (move_cost * moved_change(d, i, j, a, b) if original else 0.0)
            if c < best_cost:
                best, best_cost, best_ch = mv, c, ch
        if best is None:
            continue
        if best_cost >= 0 and rng.random() >= math.exp(-best_cost / max(temperature, 1e-3)):
            continue
        d, i, j, a, b = best
        _swap(disks_blocks[d][i], disks_blocks[d][j], pair, a, b)
        where[a].discard((d, i))
        where[a].add((d, j))
        where[b].discard((d, j))
        where[b].add((d, i))
        for p, q in best_ch:
            if lo <= pair[p][q] <= hi:
                bad.discard((p, q))
            else:
                bad.add((p, q))
        temperature *= 0.9995


def _swap(bi: list[int], bj: list[int], pair: list[list[int]], a: int, b: int) -> None:
    """a (in bi) and b (in bj) trade places."""
    _swap_into(bi, pair, a, b)
    _swap_into(bj, pair, b, a)


# -- the table ----------------------------------------------------------------------------------------------


def chain_table(
    designs: Sequence[Sequence[Sequence[int]]],
    node_ids: Sequence[int],
    targets_per_disk: int,
    *,
    target_prefix: int = 10,
    chain_prefix: int = 10,
) -> ChainTable:
    """Number a design the way upstream does: chains in design order on each disk, each node's targets on a disk
    in the order of the chains they join."""
    if not designs:
        raise ChainPlacementError("no disks")
    k = len(designs[0][0]) if designs[0] else 0
    check_limits(node_ids, len(designs), k, targets_per_disk, target_prefix, chain_prefix)
    chains: list[Chain] = []
    for disk, blocks in enumerate(designs):
        used = [0] * len(node_ids)
        for i, block in enumerate(blocks, start=1):
            targets = []
            for x in sorted(block):
                targets.append(Target(node_ids[x], disk, used[x], target_id(node_ids[x], disk, used[x], target_prefix)))
                used[x] += 1
            chains.append(Chain(chain_id(disk, i, chain_prefix), disk, tuple(targets)))
        over = [node_ids[x] for x, n in enumerate(used) if n != targets_per_disk]
        if over:
            raise ChainPlacementError(f"disk {disk}: node {over[0]} has {used[node_ids.index(over[0])]} targets, "
                                      f"not {targets_per_disk}")  # fmt: skip
    return ChainTable(k, len(designs), targets_per_disk, tuple(node_ids), tuple(chains), target_prefix, chain_prefix)


def place_chains(
    node_ids: Sequence[int],
    disks: int,
    replication: int,
    targets_per_disk: int,
    *,
    target_prefix: int = 10,
    chain_prefix: int = 10,
) -> ChainTable:
    check_limits(node_ids, disks, replication, targets_per_disk, target_prefix, chain_prefix)
    blocks = design(len(node_ids), disks, replication, targets_per_disk)
    return chain_table(blocks, node_ids, targets_per_disk, target_prefix=target_prefix, chain_prefix=chain_prefix)


def pair_counts(table: ChainTable) -> dict[tuple[int, int], int]:
    """(node, node) → chains the two share, for every pair of storage nodes (0 included)."""
    out = dict.fromkeys(combinations(sorted(table.node_ids), 2), 0)
    for ch in table.chains:
        for a, b in combinations(sorted(t.node_id for t in ch.targets), 2):
            out[(a, b)] += 1
    return out


# -- growth -------------------------------------------------------------------------------------------------

MOVE_COST = 0.25  # a replica copied weighs this against Σ (shared − ideal)²: balance first, then fewest moves


@dataclass(frozen=True, slots=True)
class ReplicaMove:
    """One replica of a chain that holds data moves: `into` is created and joins the chain, syncs, and only then
    `out` is taken offline and removed, so the chain never has fewer serving targets than its replication."""

    chain_id: int
    out: Target
    into: Target


@dataclass(frozen=True)
class Resize:
    """A change of the storage nodes: the table after it, the chains it creates, and the replicas it moves."""

    table: ChainTable  # after: the old chains (same ids) with their new members, then the new chains
    new_chains: tuple[Chain, ...]  # created whole, on targets that hold no data yet
    moves: tuple[ReplicaMove, ...]  # replicas of existing chains that move to another node


def grow(table: ChainTable, new_node_ids: Sequence[int], move_cost: float = MOVE_COST) -> Resize:
    """Add storage nodes to a placed cluster: every new node gets its targets per disk, existing chains keep their
    ids, and few of their replicas move. Every pair of nodes ends between the new ideal rounded down and the
    larger of the new ideal rounded up and the most any pair shared before (old pairs are not re-shuffled)."""
    old = list(table.node_ids)
    added = list(new_node_ids)
    if not added:
        return Resize(table, (), ())
    clash = sorted(set(old) & set(added))
    if clash:
        raise ChainPlacementError(f"storage node {clash[0]} is already in the chain table")
    nodes = old + added
    k, r, disks = table.replication, table.targets_per_disk, table.disks
    check_limits(nodes, disks, k, r, table.target_prefix, table.chain_prefix)
    index = {n: x for x, n in enumerate(nodes)}
    v, a = len(nodes), len(added)
    by_disk: list[list[Chain]] = [[] for _ in range(disks)]
    for c in table.chains:
        by_disk[c.disk].append(c)
    disks_blocks = [[[index[t.node_id] for t in c.targets] for c in chains] for chains in by_disk]
    original = {(d, i): frozenset(bl) for d, blocks in enumerate(disks_blocks) for i, bl in enumerate(blocks)}
    pair = [[0] * v for _ in range(v)]
    for blocks in disks_blocks:
        for bl in blocks:
            for x, y in combinations(bl, 2):
                pair[x][y] += 1
                pair[y][x] += 1
    rng = random.Random(v * 7_919 + a)
    n_old = len(old)
    for blocks in disks_blocks:
        left = dict.fromkeys(range(n_old, v), r)
        n_old_blocks = len(blocks)
        for _ in range(a * r // k):
            # A new chain opens with the new node with most targets left; its other members are old nodes, each
            # displaced from an existing chain by another new node (one replica moves). A new node's partners are
            # then mostly old nodes, as balance over the grown cluster wants, and few replicas move: (k-1)/k of the
            # new targets, not the re-shuffle a fresh placement would be.
            y0 = max(left, key=lambda y: (left[y], -y))
            block = [y0]
            left[y0] -= 1
            for _slot in range(k - 1):
                best: tuple[float, int, int, int] | None = None
                for _try in range(24):
                    i = rng.randrange(n_old_blocks)
                    bl = blocks[i]
                    x = bl[rng.randrange(k)]
                    if x >= n_old or x in block:
                        continue
                    movers = [y for y, n in left.items() if n and y not in bl]  # it goes into bl, not block
                    if not movers:
                        continue
                    y = min(movers, key=lambda y: (sum(pair[y][z] for z in bl if z != x), -left[y], y))
                    score = sum(pair[x][z] for z in block) + sum(pair[y][z] for z in bl if z != x) - left[y] / (r + 1)
                    if best is None or score < best[0]:
                        best = (score, i, x, y)
                if best is None:  # the sample found nothing: every chain of this disk, the new ones too (no data)
                    best = next(
                        (
                            (0.0, i, x, y)
                            for i in range(len(blocks))
                            for x in blocks[i]
                            if x not in block and (x < n_old or i >= n_old_blocks)
                            for y, n in left.items()
                            if n and y not in blocks[i]
                        ),
                        None,
                    )
                if best is None:  # no old chain to take from: a new node joins directly
                    free = [y for y, n in left.items() if n and y not in block]
                    if not free:
                        raise ChainPlacementError("cannot fill a new chain: too few storage nodes with targets left")
                    y = min(free, key=lambda y: (sum(pair[y][z] for z in block), -left[y], y))
                    block.append(y)
                    left[y] -= 1
                    continue
                _, i, x, y = best
                _swap_into(blocks[i], pair, x, y)
                block.append(x)
                left[y] -= 1
            for p, q in combinations(block, 2):
                pair[p][q] += 1
                pair[q][p] += 1
            blocks.append(block)
        if any(left.values()):
            raise ChainPlacementError("new storage nodes were left with targets in no chain")
    ideal = ideal_shared(v, disks, k, r)
    # Pairs of old nodes may stay as they were: moving data only to shave a pair the old ideal allowed would cost
    # copies and buy nothing. New nodes' pairs must reach the new ideal.
    old_max = max((c for c in pair_counts(table).values()), default=0)
    _repair(
        disks_blocks, pair, v, ideal, None, original, move_cost, (math.floor(ideal), max(math.ceil(ideal), old_max))
    )
    return _number_growth(table, nodes, by_disk, disks_blocks)


def _swap_into(bl: list[int], pair: list[list[int]], out: int, into: int) -> None:
    for y in bl:
        if y != out:
            pair[out][y] -= 1
            pair[y][out] -= 1
            pair[into][y] += 1
            pair[y][into] += 1
    bl[bl.index(out)] = into


class _FreshTargets:
    """New targets for a placed table: a node's next free index on a disk. A removed target's id is never handed
    out again (3FS may still know it)."""

    def __init__(self, table: ChainTable):
        self.prefix = table.target_prefix
        self.next: dict[tuple[int, int], int] = {}
        for c in table.chains:
            for t in c.targets:
                self.next[(t.node_id, t.disk)] = max(self.next.get((t.node_id, t.disk), 0), t.index + 1)

    def take(self, node: int, disk: int) -> Target:
        i = self.next.get((node, disk), 0)
        if i >= MAX_TARGETS_PER_DISK:
            raise ChainPlacementError(f"node {node} disk {disk}: target index {i + 1} does not fit 2 digits")
        self.next[(node, disk)] = i + 1
        return Target(node, disk, i, target_id(node, disk, i, self.prefix))


def _number_growth(
    table: ChainTable, nodes: list[int], by_disk: list[list[Chain]], disks_blocks: list[list[list[int]]]
) -> Resize:
    """Ids for the grown design: kept targets keep theirs, a node's new targets take its next free index."""
    cp = table.chain_prefix
    fresh = _FreshTargets(table)
    chains: list[Chain] = []
    new_chains: list[Chain] = []
    moves: list[ReplicaMove] = []
    for d, blocks in enumerate(disks_blocks):
        olds = by_disk[d]
        for i, bl in enumerate(blocks):
            members = sorted(nodes[x] for x in bl)
            if i < len(olds):
                c = olds[i]
                kept = {t.node_id: t for t in c.targets}
                targets = [kept.get(n) or fresh.take(n, d) for n in members]
                gone = [t for t in c.targets if t.node_id not in members]
                came = [t for t in targets if t.node_id not in kept]
                moves += [ReplicaMove(c.chain_id, o, n) for o, n in zip(gone, came, strict=True)]
                chains.append(Chain(c.chain_id, d, tuple(targets)))
            else:
                nc = Chain(chain_id(d, i + 1, cp), d, tuple(fresh.take(n, d) for n in members))
                chains.append(nc)
                new_chains.append(nc)
    grown = ChainTable(table.replication, table.disks, table.targets_per_disk, tuple(nodes),
                       tuple(sorted(chains, key=lambda c: c.chain_id)), table.target_prefix, cp)  # fmt: skip
    return Resize(grown, tuple(new_chains), tuple(moves))


def shrink(table: ChainTable, removed_node_ids: Sequence[int]) -> Resize:
    """Take storage nodes out of a placed cluster. Chains hold data, so none is dropped: every replica on a removed
    node moves to a remaining node that is not in its chain yet, the least loaded on that disk first, then the one
    that shares the fewest chains with the chain's other members. Then, disk by disk, a replica whose destination
    is the most loaded node is sent to the least loaded one instead (nothing has moved yet, so that costs nothing)
    until they differ by at most one, or no chain allows it."""
    gone = set(removed_node_ids)
    unknown = sorted(gone - set(table.node_ids))
    if unknown:
        raise ChainPlacementError(f"storage node {unknown[0]} is not in the chain table")
    nodes = [n for n in table.node_ids if n not in gone]
    if len(nodes) < table.replication:
        raise ChainPlacementError(
            f"{table.replication} replicas need {table.replication} storage nodes; {len(nodes)} would remain"
        )
    pair: Counter[tuple[int, int]] = Counter()
    for c in table.chains:
        for p, q in combinations(sorted(t.node_id for t in c.targets if t.node_id not in gone), 2):
            pair[(p, q)] += 1
    load: Counter[tuple[int, int]] = Counter(
        (t.node_id, c.disk) for c in table.chains for t in c.targets if t.node_id not in gone
    )
    # 1. where each removed replica goes: (chain, the target leaving) → the node taking it
    dest: dict[tuple[int, Target], int] = {}
    members: dict[int, set[int]] = {}
    for ci, c in enumerate(table.chains):
        members[ci] = {t.node_id for t in c.targets if t.node_id not in gone}
        for out in (t for t in c.targets if t.node_id in gone):
            y = min(
                (n for n in nodes if n not in members[ci]),
                key=lambda n: (load[(n, c.disk)], sum(pair[(min(n, m), max(n, m))] for m in members[ci]), n),
            )
            for m in members[ci]:
                pair[(min(y, m), max(y, m))] += 1
            members[ci].add(y)
            load[(y, c.disk)] += 1
            dest[(ci, out)] = y
    # 2. even out each disk's load among the destinations
    for d in range(table.disks):
        while True:
            per = {n: load[(n, d)] for n in nodes}
            hi, lo = max(per, key=lambda n: (per[n], -n)), min(per, key=lambda n: (per[n], n))
            if per[hi] - per[lo] <= 1:
                break
            key = next(
                (k for k, y in dest.items() if y == hi and table.chains[k[0]].disk == d and lo not in members[k[0]]),
                None,
            )
            if key is None:
                break
            members[key[0]] -= {hi}
            members[key[0]].add(lo)
            load[(hi, d)] -= 1
            load[(lo, d)] += 1
            dest[key] = lo
    # 3. the new targets, in chain order
    fresh = _FreshTargets(table)
    chains: list[Chain] = []
    moves: list[ReplicaMove] = []
    for ci, c in enumerate(table.chains):
        targets = [t for t in c.targets if t.node_id not in gone]
        for out in (t for t in c.targets if t.node_id in gone):
            into = fresh.take(dest[(ci, out)], c.disk)
            targets.append(into)
            moves.append(ReplicaMove(c.chain_id, out, into))
        chains.append(Chain(c.chain_id, c.disk, tuple(sorted(targets, key=lambda t: t.node_id))))
    after = ChainTable(table.replication, table.disks, table.targets_per_disk, tuple(nodes), tuple(chains),
                       table.target_prefix, table.chain_prefix)  # fmt: skip
    return Resize(after, (), tuple(moves))


def resize(base: ChainTable, node_ids: Sequence[int]) -> Resize:
    """From the placed table `base` to one over `node_ids`: removed nodes' replicas move out first (`shrink`),
    then new nodes join (`grow`). Chain ids and every unmoved replica stay."""
    keep = set(node_ids)
    removed = [n for n in base.node_ids if n not in keep]
    added = [n for n in node_ids if n not in set(base.node_ids)]
    first = shrink(base, removed) if removed else Resize(base, (), ())
    if not added:
        return first
    second = grow(first.table, added)
    return Resize(second.table, second.new_chains, first.moves + second.moves)


def same_shape(table: ChainTable, replication: int, disks: int, targets_per_disk: int) -> bool:
    """Whether `table` can be resized into the spec's chains (else the chains are placed anew: a data migration)."""
    return (table.replication, table.disks, table.targets_per_disk) == (replication, disks, targets_per_disk)


def table_from_chains_csv(text: str) -> ChainTable:
    """A chain table back from upstream's generated_chains.csv (what ffinfra records once it was uploaded): node,
    disk and target index come out of each target id, the prefixes out of the ids themselves."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("ChainId,"):
        raise ChainPlacementError("not a generated_chains.csv: the first line must be the ChainId,TargetId,... header")
    k = len(lines[0].split(",")) - 1
    chains: list[Chain] = []
    prefixes: set[tuple[int, int]] = set()
    for n, line in enumerate(lines[1:], start=2):
        try:
            ids = [int(x) for x in line.split(",")]
        except ValueError:
            raise ChainPlacementError(f"line {n}: not a row of integer ids: {line!r}") from None
        if len(ids) != k + 1:
            raise ChainPlacementError(f"line {n}: {len(ids) - 1} targets, the header has {k}")
        cid, tids = ids[0], ids[1:]
        targets = []
        for tid in tids:
            index, disk = tid % 100 - 1, (tid // 100) % 1_000 - 1
            node, tp = (tid // 100_000) % 1_000_000, tid // 100_000 // 1_000_000
            targets.append(Target(node, disk, index, tid))
            prefixes.add((tp, cid // 100_000 // 1_000))
        if len({t.disk for t in targets}) != 1 or (cid // 100_000) % 1_000 - 1 != targets[0].disk:
            raise ChainPlacementError(f"line {n}: chain {cid} and its targets name different disks")
        chains.append(Chain(cid, targets[0].disk, tuple(targets)))
    if len(prefixes) != 1:
        raise ChainPlacementError("the chains use more than one target or chain id prefix")
    ((tp, cp),) = prefixes
    return ChainTable(
        replication=k,
        disks=max(c.disk for c in chains) + 1,
        targets_per_disk=max(t.index for c in chains for t in c.targets) + 1,
        node_ids=tuple(sorted({t.node_id for c in chains for t in c.targets})),
        chains=tuple(chains),
        target_prefix=tp,
        chain_prefix=cp,
    )
