"""Build the cabled fabric: switches, host placement on leaves, leaf↔spine and inter-zone links.

Placement follows the paper's §VI-A2 practice: every leaf carries its share of each node type (storage,
compute, management), so storage traffic spreads over all leaf→spine links. Within a leaf, ports are filled in
role order (compute first) and, per role, in host order, so consecutive hostnames share a leaf (Slurm locality).
Wiring: leaf port D+u (u = 0..U-1) goes to spine u mod S; spine ports 1..L·k face the leaves (k links per leaf).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from ffinfra.spec.models import ClusterSpec
from ffinfra.topology.model import Host, HostPort, Link, ReservedPort, Switch, ZoneDims
from ffinfra.topology.nodes import ROLE_ORDER

Slot = HostPort | ReservedPort  # a leaf port planned for a node: cabled (installed) or held free (reserved)

SPINE_KIND = 0x01
LEAF_KIND = 0x02


def switch_guid(oui: int, kind: int, zone_index: int, index: int) -> int:
    return (oui << 40) | (kind << 32) | (zone_index << 24) | index


def build_switches(spec: ClusterSpec, dims: list[ZoneDims]) -> list[Switch]:
    oui = int(spec.fabric.guid_oui, 16)
    f = spec.fabric
    out: list[Switch] = []
    for z in dims:
        width = max(2, len(str(max(z.spines, z.leaves))))
        for layer, tag, kind, count in (("spine", "sp", SPINE_KIND, z.spines), ("leaf", "lf", LEAF_KIND, z.leaves)):
            for i in range(1, count + 1):
                guid = switch_guid(oui, kind, z.index, i)
                out.append(Switch(f"{z.name}-{tag}{i:0{width}d}", guid, z.name, layer, i, f.radix, f.switch_model))
    return out


def spread(counts: dict[str, int], leaves: int) -> dict[str, list[int]]:
    """Per role, how many ports each leaf gets: floor or ceil of the even share.

    The leftover ports of each role continue where the previous role's leftovers stopped, so per-leaf totals
    differ by at most one: the fullest leaf holds ceil(total / leaves) ports.
    """
    out: dict[str, list[int]] = {}
    cursor = 0
    for role, n in counts.items():
        base, extra = divmod(n, leaves)
        per = [base] * leaves
        for k in range(extra):
            per[(cursor + k) % leaves] += 1
        cursor = (cursor + extra) % leaves
        out[role] = per
    return out


def place_and_wire(
    spec: ClusterSpec,
    dims: list[ZoneDims],
    hosts: list[Host],
    switches: list[Switch],
    reserved: Sequence[ReservedPort] = (),
) -> tuple[list[Host], list[Link], list[ReservedPort]]:
    """Place host ports on leaves and cable the fabric; reserved ports get a leaf port each, left uncabled.

    Placement runs over slots: every name of each group's planned range (installed or reserved), in hostlist
    order. A slot's leaf port depends only on the planned sizes, so installing a reserved node fills its slot and
    moves nothing else.
    """
    leaves_by_zone: dict[str, list[Switch]] = defaultdict(list)
    spines_by_zone: dict[str, list[Switch]] = defaultdict(list)
    for s in switches:
        (leaves_by_zone if s.layer == "leaf" else spines_by_zone)[s.zone].append(s)

    # Slots of each zone by role, port-major (every node's first port before any second port) so a node's
    # second port in the same zone lands on another leaf. Within a group, installed nodes come first (they are
    # the first names of its range), then the reserved ones.
    nodes = _planned_nodes(spec, hosts, reserved)
    max_ports = max((len(ports) for _, ports in nodes), default=0)
    by_zone_role: dict[str, dict[str, list[Slot]]] = {z.name: {r: [] for r in ROLE_ORDER} for z in dims}
    for k in range(max_ports):
        for role, ports in nodes:
            if k < len(ports):
                by_zone_role[ports[k].zone][role].append(ports[k])

    placed: dict[tuple[str, str, int], HostPort] = {}
    held: list[ReservedPort] = []
    links: list[Link] = []
    for z in dims:
        leaves = leaves_by_zone[z.name]
        roles = by_zone_role[z.name]
        shares = spread({r: len(ps) for r, ps in roles.items()}, len(leaves))
        cursors = dict.fromkeys(ROLE_ORDER, 0)
        for li, leaf in enumerate(leaves):
            port_no = 1
            for role in ROLE_ORDER:
                take = shares[role][li]
                for p in roles[role][cursors[role] : cursors[role] + take]:
                    if isinstance(p, ReservedPort):
                        held.append(replace(p, leaf=leaf.name, leaf_port=port_no))  # kept free for the node
                    else:
                        placed[(p.host, p.nic, p.port)] = replace(p, leaf=leaf.name, leaf_port=port_no)
                        links.append(Link(p.host, p.port, leaf.name, port_no, "host", z.name, a_nic=p.nic))
                    port_no += 1
                cursors[role] += take
        spines = spines_by_zone[z.name]
        k = z.links_per_spine
        for li, leaf in enumerate(leaves):
            for u in range(z.uplinks):
                s = u % len(spines)
                links.append(
                    Link(
                        leaf.name, z.downlinks + u + 1, spines[s].name, li * k + u // len(spines) + 1, "uplink", z.name
                    )
                )
    links.extend(_interzone_links(spec, dims, spines_by_zone))
    new_hosts = [
        replace(h, ports=tuple(placed[(p.host, p.nic, p.port)] for p in h.ports)) if h.ports else h for h in hosts
    ]
    return new_hosts, links, held


def _planned_nodes(
    spec: ClusterSpec, hosts: list[Host], reserved: Sequence[ReservedPort]
) -> list[tuple[str, tuple[Slot, ...]]]:
    """(role, ports) of every planned node in spec order: each group's installed hosts, then its reserved names."""
    installed: dict[str, list[Host]] = defaultdict(list)
    for h in hosts:
        installed[h.group].append(h)
    pending: dict[str, dict[str, list[ReservedPort]]] = defaultdict(dict)
    for r in reserved:
        pending[r.group].setdefault(r.host, []).append(r)
    out: list[tuple[str, tuple[Slot, ...]]] = []
    for g in dict.fromkeys([*spec.nodes, *installed, *pending]):
        out.extend((h.role, h.ports) for h in installed.get(g, ()))
        out.extend((ports[0].role, tuple(ports)) for ports in pending.get(g, {}).values())
    return out


def _interzone_links(spec: ClusterSpec, dims: list[ZoneDims], spines_by_zone: dict[str, list[Switch]]) -> list[Link]:
    f = spec.fabric
    if f.design != "single-subnet" or f.inter_zone.links == 0 or f.inter_zone.level != "spine":
        return []
    next_port = {s.name: z.leaves * z.links_per_spine + 1 for z in dims for s in spines_by_zone[z.name]}
    # Round-robin over each zone's spines across all its peer zones (not restarting at spine 1 for every pair),
    # so no spine carries more than ceil(links × (zones - 1) / spines) inter-zone ports, as dims.py budgets.
    turn = {z.name: 0 for z in dims}
    out: list[Link] = []
    for i, za in enumerate(dims):
        for zb in dims[i + 1 :]:
            sa, sb = spines_by_zone[za.name], spines_by_zone[zb.name]
            for _ in range(f.inter_zone.links):
                a, b = sa[turn[za.name] % len(sa)], sb[turn[zb.name] % len(sb)]
                turn[za.name] += 1
                turn[zb.name] += 1
                out.append(Link(a.name, next_port[a.name], b.name, next_port[b.name], "interzone", za.name))
                next_port[a.name] += 1
                next_port[b.name] += 1
    return out
