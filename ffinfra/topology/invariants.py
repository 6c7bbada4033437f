"""Properties every compiled fabric must have. A violation is a compiler bug, reported as FF-TOPO findings.

Kept separate from checks/ (which judge the user's spec) so tests can run them on any generated topology.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque

from ffinfra.spec.findings import Finding, error
from ffinfra.topology.model import Topology


def check_invariants(topo: Topology) -> list[Finding]:
    out: list[Finding] = []
    used: Counter[tuple[str, int]] = Counter()
    for link in topo.links:
        used[(link.b, link.b_port)] += 1
        if link.kind != "host":
            used[(link.a, link.a_port)] += 1
    for (node, port), n in used.items():
        if n > 1:
            out.append(error("FF-TOPO-001", ("fabric",), f"{node} port {port} is cabled {n} times"))
    radix = {sw.name: sw.radix for sw in topo.switches}  # one pass: a scan of `used` per switch is quadratic
    for node, port in used:
        if node in radix and not 1 <= port <= radix[node]:
            out.append(error("FF-TOPO-002", ("fabric",), f"{node} port {port} is outside 1..{radix[node]}"))
    per_leaf_up: Counter[str] = Counter(link.a for link in topo.links if link.kind == "uplink")
    for z in topo.zones:
        for leaf in topo.switches_in(z.name, "leaf"):
            if per_leaf_up[leaf.name] != z.uplinks:
                out.append(
                    error(
                        "FF-TOPO-003", ("fabric",), f"{leaf.name} has {per_leaf_up[leaf.name]} uplinks, not {z.uplinks}"
                    )
                )
            slots = len(topo.ports_by_leaf[leaf.name]) + len(topo.reserved_by_leaf.get(leaf.name, ()))
            if slots > z.downlinks:
                out.append(error("FF-TOPO-003", ("fabric",), f"{leaf.name} has more host slots than down ports"))
    for p in topo.host_ports:
        if not p.leaf:
            out.append(error("FF-TOPO-004", ("nodes",), f"{p.host} {p.nic} port {p.port} is not cabled"))
    out.extend(_reserved(topo, used))
    out.extend(_balance(topo))
    out.extend(_reachability(topo))
    return out


def _reserved(topo: Topology, used: Counter[tuple[str, int]]) -> list[Finding]:
    """Every reserved port sits on a free down port of a leaf in its zone, once, for a node not installed."""
    out: list[Finding] = []
    leaves = {s.name: s for s in topo.switches if s.layer == "leaf"}
    held: Counter[tuple[str, int]] = Counter((r.leaf, r.leaf_port) for r in topo.reserved)
    for r in topo.reserved:
        what = f"reserved port for {r.host} {r.nic} port {r.port}"
        leaf = leaves.get(r.leaf)
        if leaf is None or leaf.zone != r.zone:
            out.append(error("FF-TOPO-007", ("nodes",), f"{what} is not on a leaf of zone {r.zone}"))
        elif not 1 <= r.leaf_port <= topo.zone_dims(r.zone).downlinks:
            out.append(error("FF-TOPO-007", ("nodes",), f"{what} is {r.leaf} port {r.leaf_port}, not a down port"))
        elif used[(r.leaf, r.leaf_port)]:
            out.append(error("FF-TOPO-007", ("nodes",), f"{what} collides with a cable on {r.leaf} port {r.leaf_port}"))
        elif held[(r.leaf, r.leaf_port)] > 1:
            out.append(error("FF-TOPO-007", ("nodes",), f"{r.leaf} port {r.leaf_port} is reserved twice"))
        if r.host in topo.host_by_name:
            out.append(error("FF-TOPO-007", ("nodes",), f"{what}, but {r.host} is installed"))
    return out


def _balance(topo: Topology) -> list[Finding]:
    """Each node type spreads evenly over the leaves of its zone (paper §VI-A2): counts differ by ≤ 1. Judged on
    slots (used plus reserved ports), so a partly installed group is balanced once its range is full."""
    out: list[Finding] = []
    for z in topo.zones:
        for r, counts in topo.roles_per_leaf(z.name).items():
            if max(counts) - min(counts) > 1:
                out.append(
                    error("FF-TOPO-005", ("nodes",), f"{r} ports spread unevenly over {z.name} leaves: {counts}")
                )
    return out


def _reachability(topo: Topology) -> list[Finding]:
    """Within each subnet, the cable graph connects every host port to every other."""
    adj: dict[str, set[str]] = defaultdict(set)
    for link in topo.links:
        a = f"{link.a}/{link.a_nic}" if link.kind == "host" else link.a
        adj[a].add(link.b)
        adj[link.b].add(a)
    out: list[Finding] = []
    for sn in topo.subnets:
        ports = [f"{p.host}/{p.nic}" for p in topo.host_ports if p.zone in sn.zones]
        if not ports:
            continue
        seen = {ports[0]}
        queue = deque([ports[0]])
        while queue:
            for nxt in adj[queue.popleft()]:
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        missing = [p for p in ports if p not in seen]
        if missing:
            out.append(
                error(
                    "FF-TOPO-006",
                    ("fabric",),
                    f"subnet {sn.name}: {len(missing)} host ports unreachable, e.g. {missing[0]}",
                )
            )
    return out
