"""Pure checks of programmed LFTs against the planned cabling (ib-probe §5.2, §5.3).

- walk: from every leaf to every CA LID, follow the LFTs hop by hop over the cables. It must end at the CA port
  that owns the LID; a missing LFT entry or an uncabled out-port is unreachable, more than `max_hops` switches a
  loop. "SUBNET UP" plus "ftree tables configured" does not imply this (ib-probe §6: 57,760 holes, no error).
- balance: per leaf, the remote CA destinations counted per uplink *port* (parallel links count separately)
  must differ by at most `max_spread`; local destinations must leave by their host port; and each destination
  should be reached through the same spine from every leaf (the fat-tree "one spine per destination" property).

Inputs are plain data (Wiring, {switch: {lid: port}}, {lid: (ca, port)}), so tests can hand-build them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from ffinfra.analysis.wiring import Port, Wiring

MAX_HOPS = 16
Lfts = Mapping[str, Mapping[int, int]]


@dataclass
class WalkReport:
    walks: int = 0
    delivered: int = 0
    unreachable: int = 0
    loops: int = 0
    misdelivered: int = 0
    hops: dict[int, int] = field(default_factory=dict)  # switches traversed → number of walks
    examples: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.walks > 0 and self.delivered == self.walks

    @property
    def problems(self) -> list[str]:
        p = []
        if self.walks == 0:
            p.append("no leaf→CA walks (no leaves or no CA LIDs)")
        for n, what in (
            (self.unreachable, "unreachable"),
            (self.loops, "looping"),
            (self.misdelivered, "misdelivered"),
        ):
            if n:
                p.append(f"{n} of {self.walks} leaf→CA routes {what}")
        return p

    def summary(self) -> str:
        hist = " ".join(f"{h}:{n}" for h, n in sorted(self.hops.items()))
        return (
            f"{self.delivered}/{self.walks} leaf→CA routes delivered, {self.unreachable} unreachable, "
            f"{self.loops} loops, {self.misdelivered} misdelivered; switch hops {{{hist}}}"
        )


def walk_one(
    wiring: Wiring, lfts: Lfts, start: str, lid: int, want: Port, max_hops: int = MAX_HOPS
) -> tuple[str, int, str]:
    """Follow `lid` from switch `start`. Returns (outcome, switches traversed, detail); outcome is
    delivered | unreachable | loop | misdelivered."""
    cur = start
    path = [start]
    for hops in range(1, max_hops + 1):
        table = lfts.get(cur)
        if table is None:
            return "unreachable", hops, f"no LFT for switch {cur}"
        out = table.get(lid)
        if out is None:
            return "unreachable", hops, f"{cur} has no entry for LID {lid}"
        peer = wiring.adjacency.get((cur, out))
        if peer is None:
            return "unreachable", hops, f"{cur} sends LID {lid} to port {out}, which is not cabled"
        if wiring.is_switch(peer[0]):
            cur = peer[0]
            path.append(cur)
            continue
        if peer != want:
            return "misdelivered", hops, f"LID {lid} for {want[0]}[{want[1]}] arrives at {peer[0]}[{peer[1]}]"
        return "delivered", hops, ""
    return "loop", max_hops + 1, f"LID {lid} from {start}: more than {max_hops} switches ({' → '.join(path[:6])} …)"


def walk(
    wiring: Wiring, lfts: Lfts, dests: Mapping[int, Port], max_hops: int = MAX_HOPS, max_examples: int = 5
) -> WalkReport:
    r = WalkReport()
    hops: Counter[int] = Counter()
    for leaf in wiring.leaves:
        for lid, want in dests.items():
            outcome, n, detail = walk_one(wiring, lfts, leaf, lid, want, max_hops)
            r.walks += 1
            if outcome == "delivered":
                r.delivered += 1
                hops[n] += 1
                continue
            if outcome == "unreachable":
                r.unreachable += 1
            elif outcome == "loop":
                r.loops += 1
            else:
                r.misdelivered += 1
            if len(r.examples) < max_examples:
                r.examples.append(f"{leaf} → {want[0]}[{want[1]}]: {outcome}: {detail}")
    r.hops = dict(sorted(hops.items()))
    return r


@dataclass
class LeafLoad:
    leaf: str
    per_uplink: dict[int, int]  # uplink port → remote CA destinations routed out of it
    allowed: int = 1  # aggregate max-min this leaf may show (see check_balance)

    @property
    def spread(self) -> int:
        return max(self.per_uplink.values()) - min(self.per_uplink.values()) if self.per_uplink else 0


@dataclass
class BalanceReport:
    max_spread_allowed: int = 1  # per (leaf, destination leaf) pair
    leaves: int = 0
    loads: list[LeafLoad] = field(default_factory=list)
    uplink_load: dict[int, int] = field(default_factory=dict)  # destinations per uplink → number of uplinks
    pairs: int = 0  # (leaf, remote leaf) pairs checked
    pair_max_spread: int = 0
    imbalanced_pairs: int = 0
    multi_spine_dests: int = 0  # destinations different leaves reach through different spines
    local_misrouted: int = 0  # a leaf's own hosts not sent straight out of their host port
    off_uplink: int = 0  # remote destinations sent out of a port that does not lead to a switch
    cross_zone_routes: int = 0  # (leaf, destination) pairs in different zones of one subnet: reported, not judged
    cross_zone_load: dict[int, int] = field(default_factory=dict)  # cross-zone destinations per uplink → uplinks
    examples: list[str] = field(default_factory=list)

    @property
    def imbalanced(self) -> list[LeafLoad]:
        return [ld for ld in self.loads if ld.spread > ld.allowed]

    @property
    def max_spread(self) -> int:
        return max((ld.spread for ld in self.loads), default=0)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problems(self) -> list[str]:
        p = []
        if self.imbalanced_pairs:
            p.append(
                f"{self.imbalanced_pairs} of {self.pairs} leaf pairs spread one leaf's hosts unevenly over the other "
                f"leaf's uplinks (max-min up to {self.pair_max_spread} > {self.max_spread_allowed})"
            )
        if bad := self.imbalanced:
            worst = max(bad, key=lambda ld: ld.spread - ld.allowed)
            counts = [worst.per_uplink[k] for k in sorted(worst.per_uplink)]
            p.append(
                f"{len(bad)} of {self.leaves} leaves spread destinations unevenly over their uplinks "
                f"({worst.leaf}: max-min {worst.spread} > {worst.allowed}: {counts})"
            )
        if self.multi_spine_dests:
            p.append(f"{self.multi_spine_dests} destinations are reached through more than one spine")
        if self.local_misrouted:
            p.append(f"{self.local_misrouted} local destinations do not leave by their host port")
        if self.off_uplink:
            p.append(f"{self.off_uplink} remote destinations leave a leaf by a port that does not lead to a switch")
        return p

    def summary(self) -> str:
        load = " ".join(f"{d}dst×{n}" for d, n in sorted(self.uplink_load.items()))
        s = (
            f"{self.leaves} leaves; per leaf pair max-min {self.pair_max_spread} (allowed {self.max_spread_allowed}); "
            f"per leaf max-min {self.max_spread} (allowed {max((ld.allowed for ld in self.loads), default=0)}); "
            f"uplink load {{{load}}}; {self.multi_spine_dests} multi-spine destinations"
        )
        if self.cross_zone_routes:
            xz = " ".join(f"{d}dst×{n}" for d, n in sorted(self.cross_zone_load.items()))
            s += f"; cross-zone: {self.cross_zone_routes} routes, load per uplink {{{xz}}}"
        return s


def check_balance(
    wiring: Wiring, lfts: Lfts, dests: Mapping[int, Port], max_spread: int = 1, max_examples: int = 5
) -> BalanceReport:
    """Uplink balance of every leaf.

    Blocking criteria:
    - per (leaf L, remote leaf X): X's CA ports counted per uplink port of L differ by at most `max_spread`.
      This is what a fat-tree routing guarantees, and what a dead, missing or miscabled uplink breaks.
    - per leaf L, all remote destinations counted per uplink port: max-min at most
      max(`max_spread`, number of remote leaves whose CA count is not a multiple of L's uplinks).
      OpenSM's ftree deals each remote leaf's CAs out round-robin from the same first spine, so with uneven
      leaves (ff2: 2 of 40 leaves have 19 hosts, 20 spines) the remainders pile up: 19 × 39 + 1 × 37 is a
      healthy ftree result, though 18 × 39 + 2 × 38 would be ideal. With the pair criterion met this holds.
    - each destination is reached through one spine from every leaf; a leaf's own hosts leave by their host
      port; remote destinations leave by a port cabled to a switch.
    Only destinations in the leaf's own zone are judged (wiring.zone_of): in a single subnet of several zones,
    cross-zone traffic funnels through the few interzone links by design; its load is reported.
    """
    r = BalanceReport(max_spread_allowed=max_spread)
    spines_of: dict[int, set[str]] = defaultdict(set)
    load_hist: Counter[int] = Counter()
    cross_hist: Counter[int] = Counter()
    leaf_of = {lid: wiring.leaf_of(ca) for lid, ca in dests.items()}
    zone_of = wiring.zone_of

    def example(msg: str) -> None:
        if len(r.examples) < max_examples:
            r.examples.append(msg)

    for leaf in wiring.leaves:
        table = lfts.get(leaf)
        if table is None:
            continue  # the walk reports it
        ports = wiring.ports_of(leaf)
        uplinks = {p: peer for p, peer in ports.items() if wiring.is_switch(peer[0])}
        if not uplinks:
            continue
        counts = dict.fromkeys(sorted(uplinks), 0)
        cross = dict.fromkeys(sorted(uplinks), 0)
        zone = zone_of.get(leaf)
        per_pair: dict[str | None, dict[int, int]] = defaultdict(dict.fromkeys(counts, 0).copy)
        remote_per_leaf: Counter[str | None] = Counter()
        for lid, ca in dests.items():
            other = leaf_of[lid]
            if zone_of.get(other or "") != zone:
                r.cross_zone_routes += 1
                if (out := table.get(lid)) in cross:
                    cross[out] += 1
                continue
            if other != leaf:
                remote_per_leaf[other] += 1
            out = table.get(lid)
            if out is None:
                continue
            if other == leaf:
                if ports.get(out) != ca:
                    r.local_misrouted += 1
                    example(f"{leaf}: local {ca[0]}[{ca[1]}] (LID {lid}) goes out of port {out}")
            elif out in uplinks:
                counts[out] += 1
                per_pair[leaf_of[lid]][out] += 1
                spines_of[lid].add(uplinks[out][0])
            else:
                r.off_uplink += 1
                example(f"{leaf}: remote {ca[0]}[{ca[1]}] (LID {lid}) goes out of non-uplink port {out}")
        for other, pc in sorted(per_pair.items(), key=lambda kv: str(kv[0])):
            r.pairs += 1
            spread = max(pc.values()) - min(pc.values())
            r.pair_max_spread = max(r.pair_max_spread, spread)
            if spread > max_spread:
                r.imbalanced_pairs += 1
                example(f"{leaf} → CAs on {other}: per uplink port {[pc[p] for p in sorted(pc)]}")
        uneven = sum(1 for n in remote_per_leaf.values() if n % len(uplinks))
        load = LeafLoad(leaf, counts, allowed=max(max_spread, uneven))
        r.leaves += 1
        r.loads.append(load)
        load_hist.update(counts.values())
        if any(cross.values()):
            cross_hist.update(cross.values())
        if load.spread > load.allowed:
            example(f"{leaf}: destinations per uplink port {[counts[p] for p in sorted(counts)]}")
    for lid, spines in sorted(spines_of.items()):
        if len(spines) > 1:
            r.multi_spine_dests += 1
            ca = dests[lid]
            example(f"{ca[0]}[{ca[1]}] (LID {lid}) is reached through {len(spines)} spines: {sorted(spines)[:4]}")
    r.uplink_load = dict(sorted(load_hist.items()))
    r.cross_zone_load = dict(sorted(cross_hist.items()))
    return r
