"""Ethernet addressing rules: pools large enough, gateways inside their subnets."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from ffinfra.checks.registry import CheckContext, rule
from ffinfra.spec.findings import Finding, error
from ffinfra.topology.ipoib import zone_networks


@rule("FF-NET-020", "FF-NET-021")
def address_pools(ctx: CheckContext) -> Iterator[Finding]:
    """Every subnet has an address for every node; gateways lie inside their subnet."""
    net = ctx.spec.network
    if not ctx.hosts:
        return
    last = max(h.ip_offset for h in ctx.hosts)
    worst = max(ctx.hosts, key=lambda h: h.ip_offset)
    for key in ("management", "bmc", "ipoib"):
        sub = getattr(net, key)
        if sub is None:
            continue
        n = sub.network
        # IPoIB on several IB subnets: each zone has its own part of the CIDR (topology/ipoib.py)
        parts = len(set(zone_networks(ctx.spec).values())) if key == "ipoib" else 1
        usable_last = n.num_addresses // parts - 2  # network and broadcast addresses are not hosts
        if last > usable_last:
            yield error(
                "FF-NET-020",
                ("network", key, "cidr"),
                f"{sub.cidr} has {max(0, usable_last)} host addresses"
                + (f" in each of its {parts} zone parts" if parts > 1 else "")
                + f" but {worst.name} needs offset {last}",
                f"widen the subnet (≥ /{max(1, 32 - (last + 2).bit_length() - (parts - 1).bit_length())}) "
                "or lower ip_offset values",
            )
        if sub.gateway:
            try:
                inside = ipaddress.ip_address(sub.gateway) in n
            except ValueError:
                inside = False
            if not inside:
                yield error("FF-NET-021", ("network", key, "gateway"), f"gateway {sub.gateway} is not in {sub.cidr}")
