"""Bandwidth pairing schedule: which HCA ports test against which, round by round, so every leaf uplink carries
traffic in few rounds.

Per zone, round r pairs leaf i with leaf i XOR 2^r (a hypercube / recursive-doubling pattern): ceil(log2 L)
rounds for L leaves, every leaf in at least one round, and leaf pairs at every "distance" of the zone. Within
a leaf pair, the k-th host port of the smaller leaf (in port order) pairs with the (k + r)-th of the other, both
ways, so each leaf sends to every host of its partner at once, and a sparse leaf meets other positions in other
rounds. OpenSM's ftree routes the k-th destination of a remote leaf
through uplink k mod U, so a partner with at least U hosts loads all U uplinks of a leaf in one round;
`uplink_coverage` computes that model so a test (or a report) can show which uplinks a schedule exercised.
A leaf alone in its zone pairs its own hosts (no uplink to test).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ffinfra.topology.model import HostPort, Topology
from ffinfra.topology.nodes import ROLE_ORDER

ALL_ROLES = tuple(ROLE_ORDER)


@dataclass(frozen=True, slots=True)
class Pair:
    a: HostPort
    b: HostPort

    def __str__(self) -> str:
        return f"{self.a.description} ({self.a.leaf}) ↔ {self.b.description} ({self.b.leaf})"


@dataclass
class Round:
    index: int
    pairs: list[Pair] = field(default_factory=list)
    leaf_pairs: list[tuple[str, str]] = field(default_factory=list)


def leaf_rounds(leaves: int) -> list[list[tuple[int, int]]]:
    """Leaf index pairs per round: round r pairs i with i XOR 2^r when that leaf exists."""
    if leaves < 2:
        return []
    out = []
    for r in range(math.ceil(math.log2(leaves))):
        bit = 1 << r
        out.append([(i, i ^ bit) for i in range(leaves) if i < (i ^ bit) < leaves])
    return out


def _ports_by_leaf(topo: Topology, zone: str, roles: tuple[str, ...]) -> list[tuple[str, list[HostPort]]]:
    role = {h.name: h.role for h in topo.hosts}
    return [
        (leaf.name, [p for p in topo.ports_by_leaf[leaf.name] if role[p.host] in roles])
        for leaf in topo.switches_in(zone, "leaf")
    ]


def zone_schedule(topo: Topology, zone: str, roles: tuple[str, ...] = ALL_ROLES) -> list[Round]:
    by_leaf = _ports_by_leaf(topo, zone, roles)
    rounds = []
    for r, leaf_pairs in enumerate(leaf_rounds(len(by_leaf))):
        rnd = Round(r)
        for i, j in leaf_pairs:
            (li, pi), (lj, pj) = by_leaf[i], by_leaf[j]
            rnd.leaf_pairs.append((li, lj))
            small, large = (pi, pj) if len(pi) <= len(pj) else (pj, pi)
            # The smaller leaf's k-th port meets the larger leaf's (k + r)-th: across rounds a sparse leaf
            # reaches different positions, hence different uplinks; the larger leaf's extra ports rest.
            rnd.pairs.extend(Pair(a, large[(k + r) % len(large)]) for k, a in enumerate(small) if large)
        rounds.append(rnd)
    if len(by_leaf) == 1:  # one leaf: pair its hosts with each other
        ports = by_leaf[0][1]
        half = len(ports) // 2
        rounds.append(Round(0, [Pair(a, b) for a, b in zip(ports[:half], ports[half:], strict=False)], []))
    return rounds


def schedule(topo: Topology, roles: tuple[str, ...] = ALL_ROLES) -> list[Round]:
    """All zones run side by side: round r of the cluster is round r of every zone."""
    merged: dict[int, Round] = {}
    for z in topo.zones:
        for rnd in zone_schedule(topo, z.name, roles):
            m = merged.setdefault(rnd.index, Round(rnd.index))
            m.pairs.extend(rnd.pairs)
            m.leaf_pairs.extend(rnd.leaf_pairs)
    return [merged[k] for k in sorted(merged)]


def uplink_coverage(topo: Topology, rounds: list[Round]) -> dict[str, set[int]]:
    """Uplink indexes (0..U-1) of each leaf that carry traffic under the schedule, in ftree's model: traffic
    from leaf X to the k-th CN port of leaf Y leaves X by uplink k mod U (both directions of each pair)."""
    position: dict[tuple[str, str, int], int] = {}
    for ports in topo.ports_by_leaf.values():
        for k, p in enumerate(sorted(ports, key=lambda q: q.leaf_port)):
            position[(p.host, p.nic, p.port)] = k
    uplinks = {z.name: z.uplinks for z in topo.zones}
    zone_of = {s.name: s.zone for s in topo.switches}
    used: dict[str, set[int]] = {s.name: set() for s in topo.switches if s.layer == "leaf"}
    for rnd in rounds:
        for pair in rnd.pairs:
            for src, dst in ((pair.a, pair.b), (pair.b, pair.a)):
                if src.leaf != dst.leaf:
                    used[src.leaf].add(position[(dst.host, dst.nic, dst.port)] % uplinks[zone_of[src.leaf]])
    return used
