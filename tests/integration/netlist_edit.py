"""Faults injected into an ibsim netlist (the simulated fabric's cables), shared by the fabric tests."""

from __future__ import annotations

import re

_HEADER = re.compile(r'^(?:Switch|Hca|Ca)\s+\d+\s+"([^"]+)"')
_CABLE = re.compile(r'^\[(\d+)\]\s+"([^"]+)"\[(\d+)\](.*)$')


def swap_ports(net: str, node: str, a: int, b: int) -> str:
    """The ibsim netlist with the cables in ports `a` and `b` of `node` swapped, on both ends of each cable."""
    peers: dict[int, tuple[str, int]] = {}
    cur = None
    for line in net.splitlines():
        if m := _HEADER.match(line):
            cur = m.group(1)
        elif cur == node and (m := _CABLE.match(line)) and int(m.group(1)) in (a, b):
            peers[int(m.group(1))] = (m.group(2), int(m.group(3)))
    assert set(peers) == {a, b}, f"{node} has no cables in ports {a} and {b}"
    other = {a: b, b: a}
    back = {peer: port for port, peer in peers.items()}  # a peer's end → which of our ports it is cabled to
    out = []
    for line in net.splitlines():
        if m := _HEADER.match(line):
            cur = m.group(1)
        elif (m := _CABLE.match(line)) and cur is not None:
            port, peer, peer_port, rest = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
            if cur == node and port in other:
                peer, peer_port = peers[other[port]]
                line = f'[{port}] "{peer}"[{peer_port}]{rest}'
            elif peer == node and (cur, port) in back:
                line = f'[{port}] "{node}"[{other[back[(cur, port)]]}]{rest}'
        out.append(line)
    return "\n".join(out) + ("\n" if net.endswith("\n") else "")
