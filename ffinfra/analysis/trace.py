"""`ibtracert <src-lid> <dst-lid>`: the path a packet takes, as the switches themselves forward it.

From ca {0x0002c91000000a00} portnum 1 lid 4-4 "cn01 mlx5_0"
[1] -> switch port {0x0002c90200000001}[1] lid 3-3 "z0-lf01"
[3] -> switch port {0x0002c90100000001}[1] lid 2-2 "z0-sp01"
[2] -> switch port {0x0002c90200000002}[3] lid 11-11 "z0-lf02"
[1] -> ca port {0x0002c91000000b01}[1] lid 5-5 "cn02 mlx5_0"
To ca {0x0002c91000000b00} portnum 1 lid 5-5 "cn02 mlx5_0"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

FROM_RE = re.compile(r'^From (ca|switch) \{(0x[0-9a-fA-F]+)\} portnum (\d+) lid (\d+)-\d+ "(.*)"\s*$')
HOP_RE = re.compile(r'^\[(\d+)\] -> (switch|ca) port \{(0x[0-9a-fA-F]+)\}\[(\d+)\] lid (\d+)-\d+ "(.*)"\s*$')
TO_RE = re.compile(r'^To (ca|switch) \{(0x[0-9a-fA-F]+)\} portnum (\d+) lid (\d+)-\d+ "(.*)"\s*$')


@dataclass(frozen=True, slots=True)
class Hop:
    out_port: int  # port it left the previous node by
    kind: str  # switch | ca
    guid: int  # switch node GUID or CA port GUID
    in_port: int
    lid: int
    name: str


@dataclass
class Trace:
    src_lid: int
    dst_lid: int
    rc: int = 0
    source: str = ""
    dest: str = ""
    hops: list[Hop] = field(default_factory=list)
    error: str = ""

    @property
    def switches(self) -> list[str]:
        return [h.name for h in self.hops if h.kind == "switch"]

    @property
    def reached(self) -> bool:
        return self.rc == 0 and bool(self.dest) and not self.error

    def __str__(self) -> str:
        if not self.reached:
            return f"LID {self.src_lid} → {self.dst_lid}: failed ({self.error or f'rc {self.rc}'})"
        return " → ".join([self.source, *(f"{h.name}[{h.in_port}]" for h in self.hops)])


def parse_ibtracert(text: str, src_lid: int = 0, dst_lid: int = 0) -> Trace:
    t = Trace(src_lid, dst_lid)
    for line in text.splitlines():
        if m := FROM_RE.match(line):
            t.source = m.group(5)
        elif m := HOP_RE.match(line):
            t.hops.append(
                Hop(int(m.group(1)), m.group(2), int(m.group(3), 16), int(m.group(4)), int(m.group(5)), m.group(6))
            )
        elif m := TO_RE.match(line):
            t.dest = m.group(5)
    return t
