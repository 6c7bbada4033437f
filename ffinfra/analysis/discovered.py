"""The cabling ibnetdiscover found, in the plan's names: the wiring the routing checks walk.

OpenSM routes the cables that exist. Walking its tables over the planned cables instead turns one cable in the
wrong port into routing failures that name no cable: with cn01 and st01 swapped on a leaf, "8 of 28 routes
misdelivered" and "local destinations do not leave by their host port", where OpenSM routed correctly. So the
routing checks walk the discovered wiring, and only the cabling check (fabric_diff) compares it with the plan.

Switches are named by GUID and CA ports by (node id, port), as the plan has them. A node the plan does not have
cannot be named, so a walk over it would not be faithful: `unknown` lists such nodes, and the checks stand aside.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from ffinfra.analysis.parsers.ibnetdiscover import DiscoveredNode
from ffinfra.analysis.wiring import Port, Wiring, ca_name
from ffinfra.topology.model import HostPort, Switch


@dataclass(frozen=True)
class DiscoveredWiring:
    wiring: Wiring  # the cables that exist, named after the plan
    unknown: tuple[str, ...]  # discovered nodes or ports the plan does not have ("?S-0002c9… (desc)")
    differs: bool  # the discovered cables are not exactly the planned ones
    same_switch_links: bool  # every pair of switches has as many links as planned (whatever the ports)


def _switch_links(w: Wiring) -> Counter[frozenset[str]]:
    """Links per pair of switches, each cable once."""
    return Counter(
        frozenset((a[0], b[0])) for a, b in w.adjacency.items() if w.is_switch(a[0]) and w.is_switch(b[0]) and a < b
    )


def discovered_wiring(plan: Wiring, nodes: Mapping[str, DiscoveredNode]) -> DiscoveredWiring:
    """The cables of `nodes` (parse_ibnetdiscover) as a Wiring in the names of the planned `plan`."""
    switch_by_id: dict[str, Switch] = {s.nodeid: s for s in plan.switch_by_guid.values()}
    ca_by_end: dict[tuple[str, int], HostPort] = {(p.nodeid, p.port): p for p in plan.ca_port_by_guid.values()}
    unknown: dict[str, None] = {}

    def name(node_id: str, port: int) -> Port | None:
        if sw := switch_by_id.get(node_id):
            return (sw.name, port)
        if hp := ca_by_end.get((node_id, port)):
            return (ca_name(hp), hp.port)
        node = nodes.get(node_id)
        unknown[f"?{node_id}" + (f" ({node.description})" if node and node.description else "")] = None
        return None

    adjacency: dict[Port, Port] = {}
    for node in nodes.values():
        for p in node.ports.values():
            me, peer = name(node.node_id, p.port), name(p.peer_id, p.peer_port)
            if me is not None and peer is not None:
                adjacency[me] = peer
                adjacency[peer] = me
    found = {n for n, _ in adjacency}
    wiring = Wiring(
        adjacency,
        tuple(lf for lf in plan.leaves if lf in found),
        frozenset(sp for sp in plan.spines if sp in found),
        switch_by_guid={g: s for g, s in plan.switch_by_guid.items() if s.name in found},
        ca_port_by_guid={g: p for g, p in plan.ca_port_by_guid.items() if (ca_name(p), p.port) in adjacency},
        zone_of=plan.zone_of,
    )
    return DiscoveredWiring(
        wiring,
        tuple(unknown),
        differs=dict(adjacency) != dict(plan.adjacency),
        same_switch_links=_switch_links(wiring) == _switch_links(plan),
    )
