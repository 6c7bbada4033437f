"""The batches a rolling change goes through: which hosts are taken out of service together, in which order, and
why. Decided from the topology alone (and the chain table 3FS serves), so `ffinfra plan`, `upgrade --dry-run` and
the run itself show the same batches; jobs still running on a batch's nodes are waited for when it is drained.

    plan = plan_batches(fleet_of(topo), ["cn01", "cn02", "st01", "ctl01"], chains)
    plan.batches[0]    → Batch(1, "canary", ("cn01",), "...")
    plan.lower_bound   → the fewest batches any plan under the same rules could have

The rules, in the order the batches run:
1. canary: `upgrades.canary` compute nodes alone, first, so a bad change stops after one node;
2. each standby subnet manager's host, alone (fabric.subnet_manager.standby_hosts): before any master, so that
   a master that restarts has its standby, already changed, to take over the subnet;
3. the Slurm controller, alone (slurmctld keeps its state; running jobs survive its restart);
4. each master subnet manager's host, alone (meanwhile its standby manages the subnet; without a standby the
   fabric keeps its routes, unswept, while OpenSM restarts);
5. compute nodes: at most `upgrades.max_unavailable` of a zone's compute nodes at once (a count, or a percentage
   of the zone's compute nodes, rounded down, at least 1); zones go side by side;
6. storage nodes: never two that share a 3FS chain (a chain keeps all but one replica), at most max_unavailable
   of the storage nodes (where 3FS runs, each batch's gate waits for its chains to be complete again before the
   next: apply/chain_gate.py);
7. every other host (login, management) together: they hold no capacity and no replica.

Lower bound: the batches of each rule are counted apart (each runs after the one before), and for each rule the
fewest possible are: 1 canary, 1 per standby SM host, 1 controller, 1 per master SM host, max over zones of
ceil(changed compute nodes of the zone / its limit), 1 for the others; for storage, the chromatic number of the
"shares a chain" graph with classes of at most the limit — computed exactly where the search finishes (storage sets
up to a few dozen nodes), else bounded below by the largest clique found and ceil(nodes / limit). The planner's
storage batches are an optimal colouring where the search finishes, else a DSatur colouring.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ffinfra.topology.chains import ChainTable
from ffinfra.topology.model import Topology

KINDS = ("canary", "standby-sm", "controller", "subnet-manager", "compute", "storage", "other")
SEARCH_BUDGET = 200_000  # colouring steps before the exact search gives up and DSatur's answer stands


@dataclass(frozen=True, slots=True)
class Batch:
    index: int  # 1-based, in run order
    kind: str  # one of KINDS
    hosts: tuple[str, ...]
    why: str  # the rule that shaped it
    reboot: tuple[str, ...] = ()  # the hosts of the batch that reboot after their roles are applied

    @property
    def reboot_note(self) -> str:
        if not self.reboot:
            return ""
        return " + reboot" if self.reboot == self.hosts else f" + reboot {', '.join(self.reboot)}"


@dataclass(frozen=True)
class BatchPlan:
    batches: tuple[Batch, ...]
    bound: tuple[tuple[str, int, str], ...]  # (rule, fewest batches it needs, why): the lower bound's parts
    limits: dict[str, int] = field(default_factory=dict)  # zone (and "storage") → nodes down at once

    @property
    def lower_bound(self) -> int:
        return sum(n for _, n, _ in self.bound)

    def lines(self, most: int | None = None) -> list[str]:
        """The order, a line per batch (the first `most` batches), for `plan` and `upgrade --dry-run`."""
        out = [f"{len(self.batches)} batch(es); no plan under these rules has fewer than {self.lower_bound}:"]
        out += [f"  {rule}: {n} ({why})" for rule, n, why in self.bound]
        for b in self.batches[:most]:
            out.append(f"{b.index:>3}. {b.kind:<14} {', '.join(b.hosts)}{b.reboot_note}  ({b.why})")
        if most is not None and len(self.batches) > most:
            out.append(f"… {len(self.batches) - most} more batch(es): `ffinfra plan --details` lists all")
        return out


def unavailable(rule: int | str, total: int) -> int:
    """max_unavailable for a group of `total` nodes: a count, or 'N%' of them rounded down, at least 1."""
    if isinstance(rule, int):
        return max(1, rule)
    return max(1, total * int(rule.rstrip("%")) // 100)


def conflicts(chains: ChainTable, node_ids: Iterable[int]) -> dict[int, set[int]]:
    """node id → the other node ids (of `node_ids`) it shares at least one chain with."""
    wanted = set(node_ids)
    out: dict[int, set[int]] = {n: set() for n in wanted}
    for chain in chains.chains:
        members = [t.node_id for t in chain.targets if t.node_id in wanted]
        for a in members:
            out[a].update(m for m in members if m != a)
    return out


@dataclass(frozen=True)
class Colouring:
    classes: list[list[int]]
    proven: bool  # no colouring has fewer classes
    clique: int  # the largest clique found: a lower bound, as is ceil(nodes / cap)

    def lower_bound(self, nodes: int, cap: int) -> int:
        return len(self.classes) if self.proven else max(self.clique, math.ceil(nodes / cap))


def colour(nodes: Sequence[int], adj: dict[int, set[int]], cap: int, budget: int = SEARCH_BUDGET) -> Colouring:
    """Classes of pairwise non-adjacent nodes, each of at most `cap`, as few as found. DSatur first; then a
    DSatur-ordered branch and bound looks for fewer until it runs out of `budget` steps."""
    best = _dsatur(nodes, adj, cap)
    clique = _clique_bound(nodes, adj)
    lower = max(clique, math.ceil(len(nodes) / cap) if nodes else 0)
    if len(best) <= lower:
        return Colouring(best, True, clique)
    found, proven = _search(nodes, adj, cap, len(best) - 1, lower, budget)
    return Colouring(found if found is not None else best, proven, clique)


def _dsatur(nodes: Sequence[int], adj: dict[int, set[int]], cap: int) -> list[list[int]]:
    colour_of: dict[int, int] = {}
    classes: list[list[int]] = []
    left = list(nodes)
    while left:
        # most distinct colours among neighbours, then most uncoloured neighbours, then node order
        def key(n: int) -> tuple[int, int]:
            return (
                len({colour_of[m] for m in adj[n] if m in colour_of}),
                sum(1 for m in adj[n] if m not in colour_of),
            )

        n = max(left, key=key)
        left.remove(n)
        taken = {colour_of[m] for m in adj[n] if m in colour_of}
        c = next((i for i, cl in enumerate(classes) if i not in taken and len(cl) < cap), len(classes))
        if c == len(classes):
            classes.append([])
        classes[c].append(n)
        colour_of[n] = c
    return classes


def _clique_bound(nodes: Sequence[int], adj: dict[int, set[int]]) -> int:
    """The largest clique a greedy search finds from every start node: a lower bound on the colours."""
    best = 1 if nodes else 0
    for start in nodes:
        clique = [start]
        for n in sorted(adj[start], key=lambda m: -len(adj[m])):
            if all(n in adj[c] for c in clique):
                clique.append(n)
        best = max(best, len(clique))
    return best


def _search(
    nodes: Sequence[int], adj: dict[int, set[int]], cap: int, target: int, lower: int, budget: int
) -> tuple[list[list[int]] | None, bool]:
    """Branch and bound: the fewest classes ≤ target, down to `lower`. (best found or None, search completed)."""
    order = sorted(nodes, key=lambda n: -len(adj[n]))
    best: list[list[int]] | None = None
    steps = 0
    classes: list[list[int]] = []

    def place(i: int, limit: int) -> bool:
        nonlocal steps
        steps += 1
        if steps > budget:
            raise TimeoutError
        if i == len(order):
            return True
        n = order[i]
        for cl in classes:
            if len(cl) < cap and not any(m in adj[n] for m in cl):
                cl.append(n)
                if place(i + 1, limit):
                    return True
                cl.pop()
        if len(classes) < limit:  # a new class; trying one new class is enough (they are interchangeable)
            classes.append([n])
            if place(i + 1, limit):
                return True
            classes.pop()
        return False

    k = target
    try:
        while k >= lower:
            classes = []
            if not place(0, k):
                return best, True  # k colours are impossible: the last found (k + 1) is optimal
            best = [list(c) for c in classes]
            k = len(best) - 1
        return best, True
    except TimeoutError:
        return best, False


@dataclass(frozen=True)
class Fleet:
    """What the planner needs of a cluster (fleet_of reads it from the topology)."""

    order: tuple[str, ...]  # every host, in topology order
    controller: str  # runs slurmctld
    sm_subnets: dict[str, tuple[str, ...]]  # host → the subnets it runs the master OpenSM of
    compute_zone: dict[str, str]  # every compute (Slurm) node → its zone
    storage_id: dict[str, int]  # every 3FS storage host → its node id in the chain table
    max_unavailable: int | str
    canary: int
    sm_standby: dict[str, tuple[str, ...]] = field(default_factory=dict)  # host → the subnets it stands by for


def fleet_of(topo: Topology) -> Fleet:
    svc = topo.services
    zone = {h.name: h.zone for h in topo.hosts}
    sms: dict[str, list[str]] = {}
    for subnet, host in sorted(svc.sm_hosts.items()):
        sms.setdefault(host, []).append(subnet)
    standby: dict[str, list[str]] = {}
    for subnet, host in sorted(svc.sm_standby.items()):
        standby.setdefault(host, []).append(subnet)
    return Fleet(
        order=tuple(h.name for h in topo.hosts),
        controller=svc.slurm_controller,
        sm_subnets={h: tuple(v) for h, v in sms.items()},
        compute_zone={h: zone[h] for h in svc.slurm_nodes},
        storage_id={n.host: n.node_id for n in topo.threefs.storage} if topo.threefs else {},
        max_unavailable=topo.spec.upgrades.max_unavailable,
        canary=topo.spec.upgrades.canary,
        sm_standby={h: tuple(v) for h, v in standby.items()},
    )


def plan_batches(
    fleet: Fleet,
    hosts: Iterable[str],
    chains: ChainTable | None = None,
    reboot: Iterable[str] = (),
    controller_first: bool = False,
) -> BatchPlan:
    """The batches for a change that touches `hosts` (names of the fleet, any order); those of `reboot` (a subset)
    are rebooted in their batch once their roles are applied. `controller_first`: the controller's batch runs
    before the canary (a new Slurm: slurmctld must be at least as new as every slurmd)."""
    order = {h: i for i, h in enumerate(fleet.order)}
    rebooting = set(reboot)
    changing = sorted(set(hosts) | rebooting, key=order.__getitem__)

    def kind(h: str) -> str:
        if h in fleet.sm_standby:  # before the controller too: a master SM may run there
            return "standby-sm"
        if h == fleet.controller:
            return "controller"
        if h in fleet.sm_subnets:
            return "subnet-manager"
        if h in fleet.storage_id:
            return "storage"
        return "compute" if h in fleet.compute_zone else "other"

    groups: dict[str, list[str]] = {k: [] for k in KINDS}
    for h in changing:
        groups[kind(h)].append(h)

    zone_total: dict[str, int] = {}
    for z in fleet.compute_zone.values():
        zone_total[z] = zone_total.get(z, 0) + 1
    limits = {z: unavailable(fleet.max_unavailable, n) for z, n in zone_total.items()}
    batches: list[tuple[str, tuple[str, ...], str]] = []
    bound: list[tuple[str, int, str]] = []
    zone_of = fleet.compute_zone

    # 1. canary: the first compute nodes of one zone, alone (never more than the zone's limit)
    canary = groups["compute"][: fleet.canary]
    if canary:
        zone = zone_of[canary[0]]
        canary = [h for h in canary if zone_of[h] == zone][: limits[zone]]
        batches.append(("canary", tuple(canary), f"upgrades.canary: {len(canary)} compute node(s) first, alone"))
        bound.append(("canary", 1, "it runs alone"))
    # 2-4. each standby SM, the controller, then each master SM, alone
    for h in groups["standby-sm"]:
        subnets = ", ".join(fleet.sm_standby[h])
        batches.append(("standby-sm", (h,), f"the standby SM of {subnets}: before its master, one at a time"))
    if groups["standby-sm"]:
        bound.append(("standby SMs", len(groups["standby-sm"]), "one host at a time"))
    for h in groups["controller"]:
        batches.append(("controller", (h,), "the Slurm controller, alone: slurmctld keeps its state"))
        bound.append(("controller", 1, "it runs alone"))
    for h in groups["subnet-manager"]:
        subnets = ", ".join(fleet.sm_subnets[h])
        backed = [s for s in fleet.sm_subnets[h] if any(s in v for v in fleet.sm_standby.values())]
        meanwhile = f"; its standby manages {', '.join(backed)} meanwhile" if backed else ""
        batches.append(("subnet-manager", (h,), f"the master SM of {subnets}: one at a time{meanwhile}"))
    if groups["subnet-manager"]:
        bound.append(("subnet managers", len(groups["subnet-manager"]), "one host at a time"))
    # 4. compute: zones side by side, each at most its limit
    rest = [h for h in groups["compute"] if h not in canary]
    per_zone: dict[str, list[str]] = {}
    for h in rest:
        per_zone.setdefault(zone_of[h], []).append(h)
    rounds = max((math.ceil(len(v) / limits[z]) for z, v in per_zone.items()), default=0)
    for r in range(rounds):
        members = tuple(h for z, v in per_zone.items() for h in v[r * limits[z] : (r + 1) * limits[z]])
        caps = ", ".join(f"{z} ≤ {limits[z]}" for z in per_zone)
        batches.append(("compute", members, f"upgrades.max_unavailable per zone: {caps}"))
    if rounds:
        worst = max(per_zone, key=lambda z: math.ceil(len(per_zone[z]) / limits[z]))
        bound.append(("compute", rounds, f"zone {worst}: {len(per_zone[worst])} nodes, {limits[worst]} at a time"))
    # 5. storage: a colouring of the "shares a chain" graph
    storage = groups["storage"]
    if storage:
        cap = unavailable(fleet.max_unavailable, len(fleet.storage_id))
        limits["storage"] = cap
        ids = [fleet.storage_id[h] for h in storage]
        host_of = {fleet.storage_id[h]: h for h in storage}
        adj = conflicts(chains, ids) if chains is not None else {i: set() for i in ids}
        c = colour(ids, adj, cap)
        for cl in sorted(c.classes, key=lambda cl: min(order[host_of[n]] for n in cl)):
            members = tuple(sorted((host_of[n] for n in cl), key=order.__getitem__))
            batches.append(("storage", members, f"no two share a 3FS chain; ≤ {cap} storage nodes at a time"))
        why = (
            f"the fewest sets of nodes sharing no chain, ≤ {cap} each"
            if c.proven
            else f"{c.clique} nodes share chains pairwise; {len(ids)} nodes, ≤ {cap} at a time"
        )
        bound.append(("storage", c.lower_bound(len(ids), cap), why))
    # 6. everything else together
    if groups["other"]:
        batches.append(("other", tuple(groups["other"]), "no capacity or replica to keep: together"))
        bound.append(("other hosts", 1, "they go together"))
    if controller_first:
        at = next((i for i, b in enumerate(batches) if b[0] == "controller"), None)
        if at is not None:
            kind, hs, why = batches.pop(at)
            batches.insert(0, (kind, hs, why + "; first: a new Slurm runs slurmctld before any slurmd"))
    numbered = tuple(
        Batch(i + 1, k, hs, why, tuple(h for h in hs if h in rebooting)) for i, (k, hs, why) in enumerate(batches)
    )
    return BatchPlan(numbered, tuple(bound), limits)
