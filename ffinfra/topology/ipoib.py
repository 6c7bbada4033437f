"""IPoIB addressing: one IP subnet per IB subnet.

IPoIB is a link layer of its own: two IB subnets (the zone-subnets design, one OpenSM per zone) are two broadcast
domains and cannot share one IP subnet. So on a fabric of several IB subnets, `network.ipoib.cidr` is split into
equal parts, one per zone in spec order, and a host's port in a zone takes its offset in that zone's part. A host's
name-ib address is its first port's; a dual-homed storage node has one address per zone, which is how 3FS tells
which of its NICs a client in either zone can reach (`[ib_devices] subnets`).
"""

from __future__ import annotations

import ipaddress
import math

from ffinfra.spec.models import ClusterSpec

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def zone_networks(spec: ClusterSpec) -> dict[str, Network]:
    """zone → its IPoIB network (all zones share the whole CIDR on a single-subnet fabric); {} without IPoIB."""
    if spec.network.ipoib is None:
        return {}
    whole = spec.network.ipoib.network
    zones = [z.name for z in spec.fabric.zones]
    if spec.fabric.design != "zone-subnets" or len(zones) < 2:
        return dict.fromkeys(zones, whole)
    bits = math.ceil(math.log2(len(zones)))
    if whole.prefixlen + bits > whole.max_prefixlen:
        return dict.fromkeys(zones, whole)  # too small to split: FF-NET-020 reports the pool
    parts = list(whole.subnets(prefixlen_diff=bits))
    return {z: parts[i] for i, z in enumerate(zones)}


def address(network: Network, offset: int) -> str:
    # Pool exhaustion is a check (FF-NET-020); here an out-of-range offset still yields a printable marker.
    if offset >= network.num_addresses:
        return f"<beyond {network}>"
    return str(network.network_address + offset)
