"""IB subnets and their subnet managers: one per zone (zone-subnets) or one for the fabric (single-subnet)."""

from __future__ import annotations

from ffinfra.spec.findings import Finding, error
from ffinfra.spec.models import ClusterSpec
from ffinfra.topology.model import Host, HostPort, Subnet

SM_ROLE_PREFERENCE = ("management", "controller", "login", "storage", "compute")


def subnet_zones(spec: ClusterSpec) -> list[tuple[str, tuple[str, ...]]]:
    zones = tuple(z.name for z in spec.fabric.zones)
    if spec.fabric.design == "single-subnet":
        return [("fabric", zones)]
    return [(z, (z,)) for z in zones]


def choose_subnet_managers(spec: ClusterSpec, hosts: list[Host]) -> tuple[list[Subnet], list[Finding]]:
    findings: list[Finding] = []
    wanted = spec.fabric.subnet_manager.hosts
    by_name = {h.name: h for h in hosts}
    path = ("fabric", "subnet_manager", "hosts")
    for i, name in enumerate(wanted):
        if name not in by_name:
            findings.append(error("FF-SM-001", (*path, i), f"SM host {name!r} is not a node of this spec"))
        elif not by_name[name].ports:
            findings.append(
                error(
                    "FF-SM-001",
                    (*path, i),
                    f"SM host {name!r} has no InfiniBand port",
                    "an SM needs an HCA in the subnet it manages",
                )
            )
    subnets: list[Subnet] = []
    for sname, zones in subnet_zones(spec):
        port: HostPort | None = None
        for name in wanted:
            h = by_name.get(name)
            port = next((p for p in h.ports if p.zone in zones), None) if h else None
            if port:
                break
        if port is None:
            for role in SM_ROLE_PREFERENCE:
                port = next((p for h in hosts if h.role == role for p in h.ports if p.zone in zones), None)
                if port:
                    break
        if port is None:
            findings.append(
                error("FF-SM-002", ("fabric", "zones"), f"subnet {sname!r} has no host with an IB port for its SM")
            )
            continue
        subnets.append(Subnet(sname, zones, port.host, port.port_guid, port.nodeid))
    return subnets, findings
