"""Topology changes: nodes added, removed, renamed, moved or re-addressed; switches added or removed; cables
plugged, unplugged or re-plugged — each by switch and port, so a technician can act on it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ffinfra.topology.model import Host, Link, Topology

PortKey = tuple[str, int]  # (switch, port)
Peer = tuple[str, str, int]  # (node, label: the node or "host nic", port)


@dataclass(frozen=True, slots=True)
class HostMove:
    host: str
    nic: str
    port: int
    old: str  # "z0-lf01[3]" or "-" when the port was not cabled
    new: str


@dataclass(frozen=True, slots=True)
class CableChange:
    switch: str
    port: int
    old: str  # the peer before ("gpu0001 mlx5_0[1]"), "" when the port was free
    new: str  # the peer after, "" when the port is free now
    old_node: str = ""  # the host or switch at the other end before / after
    new_node: str = ""


@dataclass
class TopologyDiff:
    added: list[Host] = field(default_factory=list)
    removed: list[Host] = field(default_factory=list)
    renamed: list[tuple[Host, Host]] = field(default_factory=list)  # (old, new): same group and address slot
    moved: list[HostMove] = field(default_factory=list)  # hosts present in both, a port on another leaf/port
    readdressed: list[tuple[Host, Host]] = field(default_factory=list)
    changed_profile: list[tuple[Host, Host]] = field(default_factory=list)
    switches_added: list[str] = field(default_factory=list)
    switches_removed: list[str] = field(default_factory=list)
    cables_added: list[CableChange] = field(default_factory=list)  # a free port gets a cable
    cables_removed: list[CableChange] = field(default_factory=list)
    cables_replugged: list[CableChange] = field(default_factory=list)  # a port now goes somewhere else

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.added,
                self.removed,
                self.renamed,
                self.moved,
                self.readdressed,
                self.changed_profile,
                self.switches_added,
                self.switches_removed,
                self.cables_added,
                self.cables_removed,
                self.cables_replugged,
            )
        )


def _where(leaf: str, port: int) -> str:
    return f"{leaf}[{port}]" if leaf else "-"


def _cable_map(topo: Topology, rename: dict[str, str]) -> dict[PortKey, Peer]:
    """Every cabled switch port → what is at the other end. Hosts are named by their *new* names so a plain
    rename does not read as every cable re-plugged."""
    out: dict[PortKey, Peer] = {}

    def host_end(link: Link) -> Peer:
        name = rename.get(link.a, link.a)
        return (name, f"{name} {link.a_nic}", link.a_port)

    for link in topo.links:
        if link.kind == "host":
            out[(link.b, link.b_port)] = host_end(link)
        else:
            out[(link.b, link.b_port)] = (link.a, link.a, link.a_port)
            out[(link.a, link.a_port)] = (link.b, link.b, link.b_port)
    return out


def diff_topologies(old: Topology, new: Topology) -> TopologyDiff:
    d = TopologyDiff()
    old_hosts, new_hosts = old.host_by_name, new.host_by_name
    gone = [h for h in old.hosts if h.name not in new_hosts]
    came = [h for h in new.hosts if h.name not in old_hosts]
    # A rename keeps the node's identity: its MAC when the inventory knows it, else its group and address slot.
    by_identity = {(h.mac or f"{h.group}#{h.ip_offset}"): h for h in came}
    rename: dict[str, str] = {}
    for h in gone:
        twin = by_identity.get(h.mac or f"{h.group}#{h.ip_offset}")
        if twin is not None and twin.role == h.role:
            d.renamed.append((h, twin))
            rename[h.name] = twin.name
    renamed_new = {n for n in rename.values()}
    d.removed = [h for h in gone if h.name not in rename]
    d.added = [h for h in came if h.name not in renamed_new]

    for h_old in old.hosts:
        h_new = new_hosts.get(rename.get(h_old.name, h_old.name))
        if h_new is None:
            continue
        if (h_old.mgmt_ip, h_old.bmc_ip, h_old.ipoib_ip) != (h_new.mgmt_ip, h_new.bmc_ip, h_new.ipoib_ip):
            d.readdressed.append((h_old, h_new))
        if h_old.profile_name != h_new.profile_name:
            d.changed_profile.append((h_old, h_new))
        new_ports = {(p.nic, p.port): p for p in h_new.ports}
        for p in h_old.ports:
            q = new_ports.pop((p.nic, p.port), None)
            before, after = _where(p.leaf, p.leaf_port), _where(q.leaf, q.leaf_port) if q else "-"
            if before != after:
                d.moved.append(HostMove(h_new.name, p.nic, p.port, before, after))
        for (nic, port), q in sorted(new_ports.items()):
            d.moved.append(HostMove(h_new.name, nic, port, "-", _where(q.leaf, q.leaf_port)))

    old_sw, new_sw = set(old.switch_by_name), set(new.switch_by_name)
    d.switches_added = sorted(new_sw - old_sw)
    d.switches_removed = sorted(old_sw - new_sw)

    before, after = _cable_map(old, rename), _cable_map(new, {})
    for key in sorted(set(before) | set(after)):
        b, a = before.get(key), after.get(key)
        if b == a:
            continue
        change = CableChange(key[0], key[1], _peer(b), _peer(a), b[0] if b else "", a[0] if a else "")
        if b is None:
            d.cables_added.append(change)
        elif a is None:
            d.cables_removed.append(change)
        else:
            d.cables_replugged.append(change)
    return d


def _peer(p: Peer | None) -> str:
    return f"{p[1]}[{p[2]}]" if p else ""
