"""The cabling OpenSM discovered (its opensm-subnet.lst dump) against the planned cabling.

OpenSM writes `<dump_files_dir>/opensm-subnet.lst` on every sweep, one line per link end (so each cable twice):

    { CA Ports:01 SystemGUID:… NodeGUID:0002c91000050000 PortGUID:0002c91000050001 VenID:000000 DevID:0000
      Rev:000000A1 {gpu0256 mlx5_0} LID:0004 PN:01 } { SW Ports:28 … NodeGUID:0002c90200000010 PortGUID:…
      Rev:000000A1 {z0-lf16} LID:033E PN:10 } PHY=4x LOG=ACT SPD=50

(one line in the file; Ports, LID and PN are hexadecimal). Comparing it with the Topology catches a netlist
that disagrees with the plan directly, where the routing checks only see its side effects (or nothing: one of
five parallel leaf-spine links missing leaves ftree's balance looking healthy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ffinfra.analysis.wiring import Port, Wiring, ca_name

END_RE = re.compile(
    r"\{ (CA|SW|RT)(?:-SM)? Ports:[0-9A-Fa-f]+ .*?NodeGUID:([0-9A-Fa-f]+) PortGUID:([0-9A-Fa-f]+) .*?"
    r"\{(.*)\} LID:([0-9A-Fa-f]+) PN:([0-9A-Fa-f]+) \}"
)
STATE_RE = re.compile(r"PHY=(\S+) LOG=(\S+) SPD=(\S+)")


@dataclass(frozen=True, slots=True)
class LinkEnd:
    kind: str  # CA | SW | RT (the SM's own port is listed as "CA-SM")
    node_guid: int
    port_guid: int
    name: str
    port: int


@dataclass(frozen=True, slots=True)
class DiscoveredLink:
    a: LinkEnd
    b: LinkEnd
    width: str  # PHY=4x
    state: str  # LOG=ACT
    speed: str  # SPD=50 (Gb/s per lane)


def parse_subnet_lst(text: str) -> tuple[list[DiscoveredLink], list[str]]:
    """Pure: links from opensm-subnet.lst, and the lines that did not parse."""
    links: list[DiscoveredLink] = []
    bad: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        # the two ends are "{ … }" groups split at "} { "; node descriptions are themselves in braces
        left, sep, right = line.partition(" } { ")
        m1 = END_RE.match(f"{left} }}") if sep else None
        m2 = END_RE.match(f"{{ {right.rsplit(' } ', 1)[0]} }}") if sep else None
        st = STATE_RE.search(line)
        if not (m1 and m2 and st):
            bad.append(line)
            continue
        a, b = (
            LinkEnd(m.group(1), int(m.group(2), 16), int(m.group(3), 16), m.group(4), int(m.group(6), 16))
            for m in (m1, m2)
        )
        links.append(DiscoveredLink(a, b, st.group(1), st.group(2), st.group(3)))
    return links, bad


@dataclass
class CablingReport:
    planned: int = 0
    discovered: int = 0
    missing: list[str] = field(default_factory=list)  # planned cables OpenSM did not find
    extra: list[str] = field(default_factory=list)  # cables found that the plan does not have
    not_active: list[str] = field(default_factory=list)
    wrong_width: list[str] = field(default_factory=list)
    unparsed: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problems(self) -> list[str]:
        p = []
        for items, what in (
            (self.missing, "planned cable(s) not discovered"),
            (self.extra, "discovered cable(s) not in the plan"),
            (self.not_active, "link(s) not active"),
            (self.wrong_width, "link(s) at the wrong width"),
        ):
            if items:
                p.append(f"{len(items)} {what}: {', '.join(items[:5])}")
        if self.unparsed:
            p.append(f"{self.unparsed} unparsed opensm-subnet.lst line(s)")
        return p

    def summary(self) -> str:
        return f"{self.discovered}/{self.planned} planned cables discovered, {len(self.extra)} unplanned"


def _fmt(cable: frozenset[Port]) -> str:
    a, b = sorted(cable)
    return f"{a[0]}[{a[1]}] ↔ {b[0]}[{b[1]}]"


def compare_cabling(links: list[DiscoveredLink], wiring: Wiring, width: str | None = None) -> CablingReport:
    """Planned cables of `wiring` vs discovered `links` (each cable may appear once or twice)."""

    def name(e: LinkEnd) -> Port:
        if e.kind == "SW" and (sw := wiring.switch_by_guid.get(e.node_guid)):
            return (sw.name, e.port)
        if e.kind == "CA" and (hp := wiring.ca_port_by_guid.get(e.port_guid)):
            return (ca_name(hp), hp.port)
        return (f"?{e.name} {e.node_guid:#018x}", e.port)

    planned = {frozenset((a, b)) for a, b in wiring.adjacency.items()}
    found: dict[frozenset[Port], DiscoveredLink] = {}
    for link in links:
        found.setdefault(frozenset((name(link.a), name(link.b))), link)
    r = CablingReport(planned=len(planned))
    r.discovered = len(planned & found.keys())
    r.missing = [_fmt(c) for c in sorted(planned - found.keys(), key=sorted)]
    r.extra = [_fmt(c) for c in sorted(found.keys() - planned, key=sorted)]
    for cable, link in sorted(found.items(), key=lambda kv: sorted(kv[0])):
        if link.state != "ACT":
            r.not_active.append(f"{_fmt(cable)} {link.state}")
        if width and link.width.lower() != width.lower():
            r.wrong_width.append(f"{_fmt(cable)} {link.width} (expected {width})")
    return r
