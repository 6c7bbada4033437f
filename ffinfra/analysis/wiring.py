"""The planned cabling of one subnet, as the routing checks need it: (node, port) → (node, port).

Built from the Topology (the source of truth), not by re-parsing the rendered netlist: a netlist that disagrees
with the plan must show up as a finding, not silently become the new expectation. (On a live fabric the acceptance
suite walks routes over the discovered cabling instead, discovered.py, and its cabling test reports how that
differs from this plan.)
Node names: switches by name ("z0-lf01"), CA ports by node description ("cn01 mlx5_0", as OpenSM and the
diagnostics print it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ffinfra.topology.model import HostPort, Subnet, Switch, Topology

Port = tuple[str, int]  # (node name, port number)


@dataclass(frozen=True)
class Wiring:
    adjacency: Mapping[Port, Port]  # both directions of every cable
    leaves: tuple[str, ...]
    spines: frozenset[str]
    switch_by_guid: Mapping[int, Switch] = field(default_factory=dict)
    ca_port_by_guid: Mapping[int, HostPort] = field(default_factory=dict)
    zone_of: Mapping[str, str] = field(default_factory=dict)  # switch name → zone (empty: all one zone)

    @property
    def switches(self) -> frozenset[str]:
        return frozenset(self.leaves) | self.spines

    def is_switch(self, node: str) -> bool:
        return node in self.leaves or node in self.spines

    def ports_of(self, switch: str) -> dict[int, Port]:
        return {p: peer for (n, p), peer in self.adjacency.items() if n == switch}

    def leaf_of(self, ca: Port) -> str | None:
        peer = self.adjacency.get(ca)
        return peer[0] if peer else None

    @classmethod
    def build(
        cls,
        cables: Iterable[tuple[Port, Port]],
        leaves: Iterable[str],
        spines: Iterable[str],
        zone_of: Mapping[str, str] | None = None,
    ) -> Wiring:
        """From (end, end) pairs; for hand-built test fabrics."""
        adj: dict[Port, Port] = {}
        for a, b in cables:
            for x, y in ((a, b), (b, a)):
                if x in adj and adj[x] != y:
                    raise ValueError(f"port {x} cabled twice: to {adj[x]} and {y}")
                adj[x] = y
        return cls(adj, tuple(leaves), frozenset(spines), zone_of=dict(zone_of or {}))


def ca_name(p: HostPort) -> str:
    return p.description


def subnet_wiring(topo: Topology, subnet: Subnet) -> Wiring:
    """The cables of one subnet's zones: host ↔ leaf, leaf ↔ spine, and interzone links between its zones."""
    zones = set(subnet.zones)
    switches = [s for s in topo.switches if s.zone in zones]
    names = {s.name for s in switches}
    ports = [p for p in topo.host_ports if p.zone in zones and p.leaf]
    by_hca = {(p.host, p.nic, p.port): p for p in ports}
    cables: list[tuple[Port, Port]] = []
    for link in topo.links:
        if link.kind == "host":
            hp = by_hca.get((link.a, link.a_nic, link.a_port))
            if hp is not None and link.b in names:
                cables.append(((ca_name(hp), hp.port), (link.b, link.b_port)))
        elif link.a in names and link.b in names:
            cables.append(((link.a, link.a_port), (link.b, link.b_port)))
    w = Wiring.build(
        cables,
        leaves=[s.name for s in switches if s.layer == "leaf"],
        spines=[s.name for s in switches if s.layer == "spine"],
    )
    return Wiring(
        w.adjacency,
        w.leaves,
        w.spines,
        switch_by_guid={s.guid: s for s in switches},
        ca_port_by_guid={p.port_guid: p for p in ports},
        zone_of={s.name: s.zone for s in switches},
    )
