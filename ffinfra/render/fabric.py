"""The expected fabric: an ibnetdiscover-format cabling plan, an ibsim netlist and a cabling sheet (CSV).

All three list the same cables from the Topology. The cabling sheet also lists the leaf ports reserved for nodes
not installed yet (cable kind `reserved`, with the future host's name) so they can be pre-cabled; the other two
list installed cables only (ibsim needs both ends present). The ibnetdiscover file is what `ffinfra test` compares
a discovered fabric against; the netlist lets ibsim run the same fabric on a machine without InfiniBand.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ffinfra.render.artifact import Artifact
from ffinfra.render.env import header, render
from ffinfra.topology.model import HostPort, Topology

# ibsim enable masks (ib-probe §2.1): width 2 = 4x, 16 = 2x; speed 7 = SDR|DDR|QDR; extspeed 1 FDR, 2 EDR, 4 HDR.
SIM_LINK = {"EDR": (2, 2), "HDR100": (16, 4), "HDR": (2, 4), "NDR200": (16, 4), "NDR": (2, 4), "XDR": (2, 4)}
WIDTH = {"EDR": "4x", "HDR100": "2x", "HDR": "4x", "NDR200": "2x", "NDR": "4x", "XDR": "4x"}
SPEED = {"EDR": "EDR", "HDR100": "HDR", "HDR": "HDR", "NDR200": "NDR", "NDR": "NDR", "XDR": "XDR"}


@dataclass(frozen=True, slots=True)
class PortLine:
    port: int
    peer_id: str
    peer_port: int
    peer_desc: str
    peer_port_guid: int | None  # set when the peer is a CA


@dataclass(frozen=True, slots=True)
class NodeRecord:
    kind: str  # Switch | Ca
    nports: int
    node_id: str
    desc: str
    guid: int
    ports: tuple[PortLine, ...]
    own_port_guid: dict[int, int] | None = None  # CA: port → port GUID


def node_records(topo: Topology) -> list[NodeRecord]:
    """Every switch and HCA with its cabled ports, both ends of each link, in a stable order."""
    sw = topo.switch_by_name
    hca_ports: dict[tuple[str, str], list[HostPort]] = defaultdict(list)
    for p in topo.host_ports:
        hca_ports[(p.host, p.nic)].append(p)
    by_switch: dict[str, list[PortLine]] = defaultdict(list)
    for link in topo.links:
        b = sw[link.b]
        if link.kind == "host":
            p = next(q for q in hca_ports[(link.a, link.a_nic)] if q.port == link.a_port)
            by_switch[b.name].append(PortLine(link.b_port, p.nodeid, p.port, p.description, p.port_guid))
        else:
            a = sw[link.a]
            by_switch[b.name].append(PortLine(link.b_port, a.nodeid, link.a_port, a.name, None))
            by_switch[a.name].append(PortLine(link.a_port, b.nodeid, link.b_port, b.name, None))
    records: list[NodeRecord] = []
    for s in topo.switches:
        lines = tuple(sorted(by_switch[s.name], key=lambda x: x.port))
        records.append(NodeRecord("Switch", s.radix, s.nodeid, s.name, s.guid, lines))
    for (host, _nic), ports in hca_ports.items():
        lines = tuple(
            PortLine(p.port, sw[p.leaf].nodeid, p.leaf_port, p.leaf, None) for p in sorted(ports, key=lambda q: q.port)
        )
        first = ports[0]
        nports = topo.spec.hardware[topo.host_by_name[host].profile_name].ib_nics[first.nic_index].ports
        own = {p.port: p.port_guid for p in ports}
        records.append(NodeRecord("Ca", nports, first.nodeid, first.description, first.node_guid, lines, own))

    return records


def render_fabric(topo: Topology) -> list[Artifact]:
    rate = topo.spec.fabric.link_rate
    width_mask, ext = SIM_LINK[rate]
    records = node_records(topo)
    hdr = header("#", topo.name)
    ctx = {"hdr": hdr, "records": records, "topo": topo, "link": f"{WIDTH[rate]}{SPEED[rate]}"}
    cables = []
    for link in topo.links:
        a_name = f"{link.a} {link.a_nic}" if link.kind == "host" else link.a
        cables.append((link.zone, link.b, link.b_port, a_name, link.a_port, link.kind))
    for r in topo.reserved:  # ports held for nodes not installed yet: technicians may pre-cable them
        cables.append((r.zone, r.leaf, r.leaf_port, f"{r.host} {r.nic}", r.port, "reserved"))
    cables.sort(key=lambda c: (c[1], c[2]))
    return [
        Artifact(
            "fabric/ibsim.net",
            render("fabric/ibsim.net.j2", **ctx, width=width_mask, extspeed=ext),
            "fabric",
        ),
        Artifact("fabric/expected.ibnetdiscover", render("fabric/ibnetdiscover.j2", **ctx), "fabric"),
        Artifact(
            "fabric/cabling.csv",
            render("fabric/cabling.csv.j2", cables=cables, rate=ctx["link"]),
            "fabric",
        ),
    ]
