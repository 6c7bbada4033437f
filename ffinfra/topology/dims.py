"""Size each zone's two-layer fat-tree: leaves, spines and uplinks, given in the spec or derived.

Fire-Flyer 2: 40-port switches at 1:1 → 20 uplinks and 20 host ports per leaf, one link to each of 20 spines,
at most 40 leaves → 800 host ports per zone (paper §III-B).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from ffinfra.spec.models import ClusterSpec
from ffinfra.topology.model import Host, ReservedPort, ZoneDims


def leaf_uplinks(spec: ClusterSpec) -> int:
    f = spec.fabric
    if f.leaf_uplinks is not None:
        return f.leaf_uplinks
    # down:up = oversubscription → up = radix / (1 + o), rounded down so hosts never lack a port
    return max(1, math.floor(f.radix / (1 + f.oversubscription)))


def interzone_ports_per_spine(spec: ClusterSpec, spines: int) -> int:
    f = spec.fabric
    if f.design != "single-subnet" or f.inter_zone.level != "spine" or spines == 0:
        return 0
    others = len(f.zones) - 1
    return math.ceil(f.inter_zone.links * others / spines)


def zone_dims(spec: ClusterSpec, hosts: list[Host], reserved: Sequence[ReservedPort] = ()) -> list[ZoneDims]:
    """Each zone's sizes. Leaves are derived from the zone's host ports, reserved ones included, so that
    installing a reserved node later never changes the switches."""
    f = spec.fabric
    installed = Counter(p.zone for h in hosts for p in h.ports)
    per_zone = installed + Counter(r.zone for r in reserved)
    up = leaf_uplinks(spec)
    down = max(0, f.radix - up)
    out = []
    for i, z in enumerate(f.zones):
        spines = z.spines if z.spines is not None else up
        host_ports = per_zone.get(z.name, 0)
        leaves = z.leaves if z.leaves is not None else max(1, math.ceil(host_ports / down) if down else 1)
        out.append(
            ZoneDims(
                name=z.name,
                index=i,
                spines=spines,
                leaves=leaves,
                uplinks=up,
                downlinks=down,
                host_ports=host_ports,
                interzone_ports_per_spine=interzone_ports_per_spine(spec, spines),
                radix=f.radix,
                installed_ports=installed.get(z.name, 0),
            )
        )
    return out
