"""What `ffinfra show` reports: counts, port use, bandwidths and ratios, computed from the Topology only."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from ffinfra.topology.model import Topology


@dataclass
class ZoneSummary:
    name: str
    subnet: str
    sm_host: str
    spines: int
    leaves: int
    uplinks_per_leaf: int
    links_per_spine: int
    host_ports_used: int  # cabled to installed nodes
    host_ports_total: int
    spine_ports_used: int
    spine_ports_total: int
    bisection_gbps: int  # per direction: half the hosts talking to the other half
    oversubscription: str
    roles_per_leaf: dict[str, tuple[int, int]]  # role → (min, max) ports on one leaf
    nodes_by_group: dict[str, int]
    host_ports_reserved: int = 0  # held free for hostlist names beyond their group's `count`

    @property
    def host_ports_free(self) -> int:
        return self.host_ports_total - self.host_ports_used - self.host_ports_reserved


@dataclass
class Summary:
    stack: str
    description: str
    design: str
    link: str
    switch: str
    nodes_by_group: dict[str, int]
    nodes_by_role: dict[str, int]
    gpus: int
    switches: int
    cables: int
    zones: list[ZoneSummary]
    cross_zone: str
    cross_zone_gbps: int
    storage_nodes: int
    compute_nodes: int
    storage_ratio_nodes: float
    storage_ratio_bandwidth: float
    storage_raw_tb: float
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def summarize(topo: Topology) -> Summary:
    spec = topo.spec
    f = spec.fabric
    rate = f.rate_gbps
    hosts = topo.hosts
    by_group = Counter(h.group for h in hosts)
    by_role = Counter(h.role for h in hosts)
    gpus = sum((topo.profile(h).gpus.count if topo.profile(h).gpus else 0) for h in hosts)
    spine_ports_used: Counter[str] = Counter()
    for link in topo.links:
        if link.kind == "uplink":
            spine_ports_used[link.b] += 1
        elif link.kind == "interzone":
            spine_ports_used[link.a] += 1
            spine_ports_used[link.b] += 1
    zones = []
    for z in topo.zones:
        spines = topo.switches_in(z.name, "spine")
        per_leaf = topo.roles_per_leaf(z.name)
        groups = Counter(h.group for h in hosts if any(p.zone == z.name for p in h.ports))
        total_up = z.leaves * z.uplinks
        zones.append(
            ZoneSummary(
                name=z.name,
                subnet=topo.subnet_of_zone(z.name).name,
                sm_host=topo.subnet_of_zone(z.name).sm_host,
                spines=z.spines,
                leaves=z.leaves,
                uplinks_per_leaf=z.uplinks,
                links_per_spine=z.links_per_spine,
                host_ports_used=z.installed_ports,
                host_ports_total=z.capacity,
                spine_ports_used=sum(spine_ports_used[s.name] for s in spines),
                spine_ports_total=z.spines * f.radix,
                bisection_gbps=min(z.installed_ports, total_up) // 2 * rate,
                oversubscription=f"{z.downlinks}:{z.uplinks}",
                roles_per_leaf={r: (min(c), max(c)) for r, c in sorted(per_leaf.items())},
                nodes_by_group=dict(groups),
                host_ports_reserved=z.reserved_ports,
            )
        )
    if len(f.zones) == 1:
        cross = "single zone"
        cross_gbps = 0
    elif f.design == "zone-subnets":
        cross = "none: each zone is its own subnet; storage nodes have a NIC in every zone"
        cross_gbps = 0
    else:
        n = f.inter_zone.links
        cross = f"{n} spine-level link(s) between each pair of zones, one subnet"
        cross_gbps = n * rate
    storage = [h for h in hosts if h.role == "storage"]
    compute = [h for h in hosts if h.role == "compute"]

    def ib_bw(hs: list) -> int:
        return sum(n.rate_gbps * n.ports for h in hs for n in topo.profile(h).ib_nics)

    sbw, cbw = ib_bw(storage), ib_bw(compute)
    raw_tb = sum(topo.profile(h).nvme.count * topo.profile(h).nvme.size_tb for h in storage)
    notes = []
    unplaced = [h.name for h in hosts if not h.ports]
    if unplaced:
        more = "…" if len(unplaced) > 4 else ""
        notes.append(f"{len(unplaced)} node(s) without an IB port (Ethernet only): {', '.join(unplaced[:4])}{more}")
    return Summary(
        stack=topo.name,
        description=spec.description,
        design=f.design,
        link=f"{f.link_rate} ({rate} Gb/s)",
        switch=f"{f.switch_model}, {f.radix} ports",
        nodes_by_group=dict(by_group),
        nodes_by_role=dict(by_role),
        gpus=gpus,
        switches=len(topo.switches),
        cables=len(topo.links),
        zones=zones,
        cross_zone=cross,
        cross_zone_gbps=cross_gbps,
        storage_nodes=len(storage),
        compute_nodes=len(compute),
        storage_ratio_nodes=round(len(storage) / len(compute), 4) if compute else 0.0,
        storage_ratio_bandwidth=round(sbw / cbw, 4) if cbw else 0.0,
        storage_raw_tb=round(raw_tb, 2),
        notes=notes,
    )
