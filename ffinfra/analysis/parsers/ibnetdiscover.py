"""ibnetdiscover topology output (also ibdiagnet's ibnetdiscover-format dump): nodes, their ports, and what each
port is cabled to, with the link's width and speed.

Accepts tabs or spaces, ibdiagnet's port labels (`[1](1/1/1)`, `[1](B9D0F0/0/0/1)(guid)`), records separated by
one or two blank lines, and LIDs present or not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ffinfra.analysis.parsers import ParseError

_NODE = re.compile(r'^(Switch|Ca|Hca|Rt)\s+(\d+)\s+"([^"]+)"\s*(?:#\s*"([^"]*)")?')
# [port](label)?(guid)? "peer"[peer port](peer guid)? # ... "peer desc"? ... WIDTHxSPEED
_PORT = re.compile(r'^\[(\d+)\](?:\([^)]*\))*\s+"([^"]+)"\[(\d+)\](?:\(([0-9a-fA-F]+)\))?\s*(?:#(.*))?$')
_LINK = re.compile(r"\b(\d+x)([A-Z]+\d*)\b\s*$")
_GUID_LINE = re.compile(r"^(switchguid|caguid|rtguid)=0x([0-9a-fA-F]+)")


@dataclass(frozen=True, slots=True)
class DiscoveredPort:
    port: int
    peer_id: str  # "S-<guid>" / "H-<guid>"
    peer_port: int
    width: str | None  # "4x"
    speed: str | None  # "HDR"


@dataclass
class DiscoveredNode:
    kind: str  # Switch | Ca | Rt
    node_id: str
    guid: int
    description: str
    nports: int
    ports: dict[int, DiscoveredPort] = field(default_factory=dict)


def parse_ibnetdiscover(text: str) -> dict[str, DiscoveredNode]:
    """Nodes by node id ("S-0002c9…", "H-…")."""
    nodes: dict[str, DiscoveredNode] = {}
    current: DiscoveredNode | None = None
    guid: int | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            current = None
            continue
        if m := _GUID_LINE.match(line):
            guid = int(m.group(2), 16)
            continue
        if m := _NODE.match(line):
            kind = "Ca" if m.group(1) == "Hca" else m.group(1)
            node_id = m.group(3)
            g = guid if guid is not None else _guid_from_id(node_id)
            current = DiscoveredNode(kind, node_id, g, m.group(4) or "", int(m.group(2)))
            nodes[node_id] = current
            guid = None
            continue
        if current is not None and line.startswith("["):
            m = _PORT.match(line)
            if m is None:
                raise ParseError(f"unreadable ibnetdiscover port line under {current.node_id}: {raw!r}")
            comment = m.group(5) or ""
            lk = _LINK.search(comment)
            port = DiscoveredPort(
                int(m.group(1)), m.group(2), int(m.group(3)), lk.group(1) if lk else None, lk.group(2) if lk else None
            )
            current.ports[port.port] = port
    if not nodes:
        raise ParseError("no nodes in ibnetdiscover output: is a subnet manager running, and the HCA up?")
    return nodes


def _guid_from_id(node_id: str) -> int:
    try:
        return int(node_id.split("-", 1)[1], 16)
    except (IndexError, ValueError):
        return 0
