"""A discovered fabric (ibnetdiscover) against the cabling plan, by switch name and port, so a technician
knows which cable to touch: missing cables, cables in the wrong port, cables the plan does not have, and links
that trained at the wrong width or speed."""

from __future__ import annotations

from dataclasses import dataclass, field

from ffinfra.analysis.parsers.ibnetdiscover import DiscoveredNode
from ffinfra.render.fabric import SPEED, WIDTH
from ffinfra.topology.model import Topology

End = tuple[str, int]  # (name, port): switch name, or "host nic" for an HCA


@dataclass
class FabricDiff:
    planned: int = 0
    found: int = 0
    missing: list[str] = field(default_factory=list)
    miswired: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    wrong_link: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.miswired or self.unexpected or self.wrong_link)

    def problems(self) -> list[str]:
        out = []
        for items, what in (
            (self.missing, "missing cable"),
            (self.miswired, "cable in the wrong port"),
            (self.unexpected, "cable not in the plan"),
            (self.wrong_link, "link at the wrong width or speed"),
        ):
            out += [f"{what}: {item}" for item in items]
        return out


def _fmt(e: End) -> str:
    return f"{e[0]}[{e[1]}]"


def diff_fabric(
    topo: Topology, discovered: dict[str, DiscoveredNode], zones: tuple[str, ...] | None = None
) -> FabricDiff:
    """Compare switch ports of `zones` (default: all) as planned and as discovered."""
    rate = topo.spec.fabric.link_rate
    width, speed = WIDTH[rate], SPEED[rate]
    names: dict[str, str] = {s.nodeid: s.name for s in topo.switches}
    for p in topo.host_ports:
        names[p.nodeid] = p.description
    in_zone = {s.name for s in topo.switches if zones is None or s.zone in zones}
    planned: dict[End, End] = {}
    for link in topo.links:
        a: End = (f"{link.a} {link.a_nic}" if link.kind == "host" else link.a, link.a_port)
        b: End = (link.b, link.b_port)
        if link.b in in_zone or link.a in in_zone:
            planned[b] = a
            if link.kind != "host":
                planned[a] = b
    seen: dict[End, tuple[End, str | None, str | None]] = {}
    for node in discovered.values():
        if node.kind != "Switch":
            continue
        me = names.get(node.node_id, f"?{node.description or node.node_id}")
        if me not in in_zone and not me.startswith("?"):
            continue
        for port in node.ports.values():
            peer = (names.get(port.peer_id, f"?{port.peer_id}"), port.peer_port)
            seen[(me, port.port)] = (peer, port.width, port.speed)
    d = FabricDiff(planned=len({frozenset((k, v)) for k, v in planned.items()}))
    reported: set[frozenset[End]] = set()
    missing: list[tuple[End, End]] = []
    for end, want in sorted(planned.items()):
        if frozenset((end, want)) in reported:
            continue
        reported.add(frozenset((end, want)))
        got = seen.get(end)
        if got is None:
            missing.append((end, want))
            continue
        peer, w, s = got
        if peer != want:
            d.miswired.append(f"{_fmt(end)} connects to {_fmt(peer)}, the plan says {_fmt(want)}")
            reported.add(frozenset((end, peer)))
            continue
        d.found += 1
        if (w and w != width) or (s and s != speed):
            d.wrong_link.append(f"{_fmt(end)} ↔ {_fmt(want)} runs {w}{s}, planned {width}{speed}")
    unexpected: list[tuple[End, End]] = []
    for end, (peer, _w, _s) in sorted(seen.items()):
        if end not in planned and frozenset((end, peer)) not in reported:
            reported.add(frozenset((end, peer)))
            unexpected.append((end, peer))
    # A cable plugged into a free port instead of its planned one reads as "moved", not missing + unexpected.
    for end, want in missing:
        moved = next(((e, p) for e, p in unexpected if want in (p, e) and end[0] in (e[0], p[0])), None)
        if moved is not None:
            unexpected.remove(moved)
            where = moved[0] if moved[1] == want else moved[1]
            d.miswired.append(f"{_fmt(want)} is in {_fmt(where)}, the plan says {_fmt(end)}")
        else:
            d.missing.append(f"{_fmt(end)} should connect to {_fmt(want)}: the port is empty")
    d.unexpected = [f"{_fmt(e)} connects to {_fmt(p)}, which the plan leaves free" for e, p in unexpected]
    return d
