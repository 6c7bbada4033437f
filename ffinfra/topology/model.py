"""The Topology: the one source of truth every renderer reads.

Plain frozen dataclasses (fast to build for 100k GPUs), in deterministic order. Indices are built once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from ffinfra.spec.models import ClusterSpec, HardwareProfile
from ffinfra.topology.chains import ChainTable, Resize, place_chains, resize, same_shape

if TYPE_CHECKING:  # services.py and threefs.py build on the records below
    from ffinfra.topology.hfreduce import HfreduceLayout
    from ffinfra.topology.services import Services
    from ffinfra.topology.threefs import ThreeFsLayout

Layer = Literal["spine", "leaf"]
LinkKind = Literal["host", "uplink", "interzone"]


@dataclass(frozen=True, slots=True)
class Switch:
    name: str  # z0-sp01, z0-lf01
    guid: int
    zone: str
    layer: Layer
    index: int  # 1-based within zone and layer
    radix: int
    model: str

    @property
    def nodeid(self) -> str:
        """Node id used in netlists: the ibnetdiscover convention S-<guid>."""
        return f"S-{self.guid:016x}"


@dataclass(frozen=True, slots=True)
class HostPort:
    """One IB port of one HCA of a host, and where it is cabled."""

    host: str
    nic: str  # mlx5_0
    nic_index: int  # 0-based among the host's IB NICs
    port: int  # 1-based port on the HCA
    node_guid: int  # HCA node GUID
    zone: str
    leaf: str = ""  # filled by placement
    leaf_port: int = 0

    @property
    def port_guid(self) -> int:
        # ibsim and ConnectX: port p of an HCA with node GUID G has GUID G + p
        return self.node_guid + self.port

    @property
    def nodeid(self) -> str:
        return f"H-{self.node_guid:016x}"

    @property
    def description(self) -> str:
        return f"{self.host} {self.nic}"


@dataclass(frozen=True, slots=True)
class ReservedPort:
    """A leaf port held for a node of a group's hostlist that is not installed yet (`count` below the hostlist).

    Placement gives every name of the hostlist a slot, installed or not, so raising `count` only fills reserved
    ports: no installed node moves. The cabling sheet lists these ports so they can be pre-cabled.
    """

    host: str  # the name the node will have
    group: str
    role: str
    nic: str  # mlx5_0
    nic_index: int
    port: int  # 1-based port on the HCA
    zone: str
    leaf: str = ""  # filled by placement
    leaf_port: int = 0


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    group: str
    role: str
    profile_name: str
    zone: str  # primary zone: the zone of its first IB port, or its assigned zone
    index: int  # global 0-based order in the spec
    ip_offset: int
    mgmt_ip: str
    bmc_ip: str | None
    ipoib_ip: str | None
    mac: str | None
    bmc_address: str | None  # the inventory's cell, as written
    bmc_url: str | None  # topology/bmc.py: redfish://…, ipmi://…; None without a BMC
    serial: str | None
    ports: tuple[HostPort, ...]
    features: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Link:
    """One cable. `a` is the lower layer end (host or leaf), `b` the upper (leaf or spine)."""

    a: str  # node name (hostname for hosts, switch name)
    a_port: int
    b: str
    b_port: int
    kind: LinkKind
    zone: str  # for interzone links: the zone of `a`
    a_nic: str = ""  # HCA device for host links


@dataclass(frozen=True, slots=True)
class ZoneDims:
    """Sizing of one zone's two-layer fat-tree: given in the spec or derived from it."""

    name: str
    index: int
    spines: int
    leaves: int
    uplinks: int  # per leaf
    downlinks: int  # per leaf: radix - uplinks
    host_ports: int  # IB host ports placed in this zone: installed plus reserved (what sizes the leaves)
    interzone_ports_per_spine: int
    radix: int
    installed_ports: int  # the host ports actually cabled now (nodes within their group's `count`)

    @property
    def reserved_ports(self) -> int:
        """Ports held free for hostlist names beyond `count`."""
        return self.host_ports - self.installed_ports

    @property
    def links_per_spine(self) -> int:
        return self.uplinks // self.spines if self.spines else 0

    @property
    def capacity(self) -> int:
        return self.leaves * self.downlinks

    @property
    def max_hosts_per_leaf(self) -> int:
        return -(-self.host_ports // self.leaves) if self.leaves else 0


@dataclass(frozen=True, slots=True)
class Subnet:
    """One IB subnet: one SM, its zones. zone-subnets design → one per zone."""

    name: str  # z0 or "fabric"
    zones: tuple[str, ...]
    sm_host: str
    sm_port_guid: int
    sm_nodeid: str
    standby_host: str | None = None  # fabric.subnet_manager.standby_hosts: takes over while the master is down
    standby_port_guid: int | None = None  # the standby's port in this subnet (its OpenSM binds there: -g)


@dataclass
class Topology:
    spec: ClusterSpec
    zones: tuple[ZoneDims, ...]
    hosts: tuple[Host, ...]
    switches: tuple[Switch, ...]
    links: tuple[Link, ...]
    subnets: tuple[Subnet, ...]
    services: Services  # who runs which role and daemon (topology/services.py)
    spec_sha256: str = ""
    reserved: tuple[ReservedPort, ...] = ()  # free leaf ports held for nodes not installed yet, placed
    threefs: ThreeFsLayout | None = None  # 3FS services, ids, addresses, disks (topology/threefs.py)
    hfreduce: HfreduceLayout | None = None  # HFReduce's builds per profile and their settings (topology/hfreduce.py)
    # The chain table the cluster serves now (the stack's state, or the plan's old side): the chains are resized
    # from it, keeping chain ids and moving few replicas, instead of placed anew.
    base_chains: ChainTable | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def profile(self, host: Host) -> HardwareProfile:
        return self.spec.hardware[host.profile_name]

    @cached_property
    def chain_resize(self) -> Resize | None:
        """3FS's chains over the storage nodes (topology/chains.py), as a change from `base_chains` (no change
        when there is none). Placed on first use, not at compile: about 0.7 s for Fire-Flyer 2's 180 × 16
        disks, which only the 3FS renderer and the plan need."""
        t = self.threefs
        s = self.spec.storage.threefs
        if t is None or not t.disks or len(t.storage) < s.replication:
            return None
        ids = [n.node_id for n in t.storage]
        base = self.base_chains
        if base is not None and same_shape(base, s.replication, len(t.disks), s.targets_per_disk):
            return resize(base, ids)
        return Resize(place_chains(ids, len(t.disks), s.replication, s.targets_per_disk), (), ())

    @property
    def chain_table(self) -> ChainTable | None:
        r = self.chain_resize
        return r.table if r else None

    @cached_property
    def host_by_name(self) -> dict[str, Host]:
        return {h.name: h for h in self.hosts}

    @cached_property
    def switch_by_name(self) -> dict[str, Switch]:
        return {s.name: s for s in self.switches}

    @cached_property
    def host_ports(self) -> tuple[HostPort, ...]:
        return tuple(p for h in self.hosts for p in h.ports)

    def switches_in(self, zone: str, layer: Layer | None = None) -> list[Switch]:
        return [s for s in self.switches if s.zone == zone and (layer is None or s.layer == layer)]

    def hosts_in_group(self, group: str) -> list[Host]:
        return [h for h in self.hosts if h.group == group]

    def hosts_with_role(self, *roles: str) -> list[Host]:
        return [h for h in self.hosts if h.role in roles]

    @cached_property
    def ports_by_leaf(self) -> dict[str, list[HostPort]]:
        out: dict[str, list[HostPort]] = {s.name: [] for s in self.switches if s.layer == "leaf"}
        for p in self.host_ports:
            out.setdefault(p.leaf, []).append(p)  # an uncabled port (leaf "") must not crash the checks
        for ports in out.values():
            ports.sort(key=lambda p: p.leaf_port)
        return out

    @cached_property
    def reserved_by_leaf(self) -> dict[str, list[ReservedPort]]:
        out: dict[str, list[ReservedPort]] = {s.name: [] for s in self.switches if s.layer == "leaf"}
        for r in self.reserved:
            out.setdefault(r.leaf, []).append(r)
        for ports in out.values():
            ports.sort(key=lambda r: r.leaf_port)
        return out

    def roles_per_leaf(self, zone: str) -> dict[str, list[int]]:
        """Role → host slots (used plus reserved ports) on each leaf of the zone, in leaf order (placement
        balance, `show`)."""
        leaves = self.switches_in(zone, "leaf")
        role = {h.name: h.role for h in self.hosts}
        out: dict[str, list[int]] = {}
        for i, leaf in enumerate(leaves):
            for p in self.ports_by_leaf[leaf.name]:
                out.setdefault(role[p.host], [0] * len(leaves))[i] += 1
            for r in self.reserved_by_leaf.get(leaf.name, ()):
                out.setdefault(r.role, [0] * len(leaves))[i] += 1
        return out

    def zone_dims(self, zone: str) -> ZoneDims:
        return next(z for z in self.zones if z.name == zone)

    def subnet_of_zone(self, zone: str) -> Subnet:
        return next(s for s in self.subnets if zone in s.zones)
