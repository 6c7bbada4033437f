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
        standby = _standby(spec, by_name, zones, port.host)
        standby_port = next((p for p in standby.ports if p.zone in zones), None) if standby else None
        subnets.append(
            Subnet(
                sname,
                zones,
                port.host,
                port.port_guid,
                port.nodeid,
                standby.name if standby else None,
                standby_port.port_guid if standby_port else None,
            )
        )
    findings += _standby_findings(spec, by_name, subnets)
    return subnets, findings


def _standby(spec: ClusterSpec, by_name: dict[str, Host], zones: tuple[str, ...], master: str) -> Host | None:
    """The subnet's standby SM: the first standby host with a port in its zones, other than its master."""
    for name in spec.fabric.subnet_manager.standby_hosts:
        h = by_name.get(name)
        if h is not None and name != master and any(p.zone in zones for p in h.ports):
            return h
    return None


def _not_standing_by(name: str, h: Host | None, masters: set[str], used: set[str | None]) -> str:
    """Why a listed standby host stands by for no subnet ("" when it does)."""
    if h is None:
        return f"standby SM host {name!r} is not a node of this spec"
    if not h.ports:
        return f"standby SM host {name!r} has no InfiniBand port"
    if name in used:
        return ""
    if name in masters:
        return f"standby SM host {name!r} is a master SM already"
    return f"standby SM host {name!r} stands by for no subnet: another standby comes first in each of its subnets"


def _standby_findings(spec: ClusterSpec, by_name: dict[str, Host], subnets: list[Subnet]) -> list[Finding]:
    sm = spec.fabric.subnet_manager
    path = ("fabric", "subnet_manager", "standby_hosts")
    used = {sn.standby_host for sn in subnets}
    masters = {sn.sm_host for sn in subnets}
    out = []
    for i, name in enumerate(sm.standby_hosts):
        if why := _not_standing_by(name, by_name.get(name), masters, used):
            out.append(error("FF-SM-003", (*path, i), why, "one standby per subnet, on a host with a port in it"))
    if sm.standby_hosts and sm.sm_priority == 0:
        out.append(
            error(
                "FF-SM-003",
                ("fabric", "subnet_manager", "sm_priority"),
                "sm_priority 0 leaves no lower priority for the standby SMs: which SM is master would depend on GUIDs",
                "keep sm_priority at 1 or more (default 15)",
            )
        )
    return out
