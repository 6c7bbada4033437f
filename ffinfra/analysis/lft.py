"""Linear forwarding tables from `dump_fts`, parsed, then named after the planned Topology.

dump_fts output (infiniband-diags 44, ib-probe §5.1):

    Unicast lids [0x0-0xd] of switch DR path slid 0; dlid 0; 0,1,3,4 guid 0x0002c90200000004 (z0-lf04):
      Lid  Out   Destination
           Port     Info
    0x0001 004 : (Channel Adapter portguid 0x0002c91000001001: 'ctl01 mlx5_0')
    13 valid lids dumped
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ffinfra.analysis.wiring import Port, Wiring, ca_name

HEADER_RE = re.compile(r"^Unicast lids \[.*\] of switch .*guid (0x[0-9a-fA-F]+) \((.*)\):\s*$")
ENTRY_RE = re.compile(
    r"^(0x[0-9a-fA-F]+) (\d+) : \((Switch|Channel Adapter|Router) portguid (0x[0-9a-fA-F]+): '(.*)'\)\s*$"
)
SKIP_RE = re.compile(r"^\s*(Lid\s+Out\s+Destination|Port\s+Info|\d+ valid lids dumped)\s*$")

CA = "Channel Adapter"


@dataclass(frozen=True, slots=True)
class LidInfo:
    lid: int
    port_guid: int
    kind: str  # Switch | Channel Adapter | Router
    name: str  # node description


@dataclass
class FtsDump:
    lfts: dict[int, dict[int, int]] = field(default_factory=dict)  # switch guid → {lid: out port}
    switch_names: dict[int, str] = field(default_factory=dict)  # switch guid → description
    lids: dict[int, LidInfo] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)  # one LID named as two different ports
    unparsed: list[str] = field(default_factory=list)  # lines matching no known shape (format drift)

    @property
    def entries(self) -> int:
        return sum(len(t) for t in self.lfts.values())


def parse_dump_fts(text: str) -> FtsDump:
    """Pure: dump_fts text → per-switch LFTs and the LID → port map."""
    d = FtsDump()
    table: dict[int, int] | None = None
    for line in text.splitlines():
        if not line.strip() or SKIP_RE.match(line):
            continue
        if m := HEADER_RE.match(line):
            guid = int(m.group(1), 16)
            d.switch_names[guid] = m.group(2)
            table = d.lfts.setdefault(guid, {})
            continue
        if (m := ENTRY_RE.match(line)) and table is not None:
            lid, port = int(m.group(1), 16), int(m.group(2))
            info = LidInfo(lid, int(m.group(4), 16), m.group(3), m.group(5))
            table[lid] = port
            old = d.lids.setdefault(lid, info)
            if old.port_guid != info.port_guid:
                d.conflicts.append(f"LID {lid} is {old.port_guid:#018x} ({old.name}) and {info.port_guid:#018x}")
            continue
        d.unparsed.append(line)
    return d


@dataclass
class RoutingTables:
    """A dump in the Topology's names: what the routing checks consume."""

    lfts: dict[str, dict[int, int]]  # switch name → {lid: out port}
    dests: dict[int, Port]  # CA LID → the planned CA port it must reach
    lid_of: dict[Port, int]
    problems: list[str] = field(default_factory=list)


def name_tables(dump: FtsDump, wiring: Wiring, max_examples: int = 5) -> RoutingTables:
    """Map switch GUIDs and CA port GUIDs to the plan; report switches/ports the dump and the plan disagree on."""
    problems: list[str] = list(dump.conflicts[:max_examples])
    lfts: dict[str, dict[int, int]] = {}
    unknown_sw = []
    for guid, table in dump.lfts.items():
        sw = wiring.switch_by_guid.get(guid)
        if sw is None:
            unknown_sw.append(f"{guid:#018x} ({dump.switch_names.get(guid, '?')})")
            continue
        lfts[sw.name] = table
    if unknown_sw:
        problems.append(f"{len(unknown_sw)} switch(es) not in the plan: {', '.join(unknown_sw[:max_examples])}")
    missing_sw = sorted(s.name for s in wiring.switch_by_guid.values() if s.name not in lfts)
    if missing_sw:
        problems.append(f"{len(missing_sw)} planned switch(es) not in dump_fts: {', '.join(missing_sw[:max_examples])}")
    dests: dict[int, Port] = {}
    lid_of: dict[Port, int] = {}
    unknown_ca = []
    for lid, info in sorted(dump.lids.items()):
        if info.kind != CA:
            continue
        hp = wiring.ca_port_by_guid.get(info.port_guid)
        if hp is None:
            unknown_ca.append(f"LID {lid} {info.port_guid:#018x} ({info.name})")
            continue
        port = (ca_name(hp), hp.port)
        if port in lid_of:
            problems.append(f"{port[0]} port {port[1]} has two LIDs: {lid_of[port]} and {lid}")
        dests[lid] = port
        lid_of[port] = lid
    if unknown_ca:
        problems.append(f"{len(unknown_ca)} CA port(s) not in the plan: {', '.join(unknown_ca[:max_examples])}")
    no_lid = sorted(
        f"{ca_name(p)} port {p.port}" for p in wiring.ca_port_by_guid.values() if (ca_name(p), p.port) not in lid_of
    )
    if no_lid:
        problems.append(f"{len(no_lid)} planned CA port(s) have no LID: {', '.join(no_lid[:max_examples])}")
    if dump.unparsed:
        problems.append(f"{len(dump.unparsed)} unparsed dump_fts line(s), e.g. {dump.unparsed[0]!r}")
    return RoutingTables(lfts, dests, lid_of, problems)
