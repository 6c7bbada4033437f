"""Node groups → hosts: names, zones, addresses, GUIDs. Cabling comes later (fattree.py).

Cross-references that the models cannot check alone (unknown profile, unknown zone, storage ratio) are
reported here as findings; a group that cannot be resolved is left out so the remaining checks still run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ffinfra.spec import hostlist
from ffinfra.spec.findings import Finding, error
from ffinfra.spec.models import ClusterSpec, NodeGroupSpec
from ffinfra.topology.bmc import bmc_host_ip, bmc_url
from ffinfra.topology.facts import NodeFacts
from ffinfra.topology.ipoib import address, zone_networks
from ffinfra.topology.model import Host, HostPort, ReservedPort

ROLE_ORDER = ("compute", "storage", "management", "controller", "login")
CA_KIND = 0x10  # GUID space tag for HCAs; switches use 0x01 (spine) and 0x02 (leaf)


@dataclass(frozen=True, slots=True)
class GroupCounts:
    """How many nodes each group has installed (after storage derivation), and how many it reserves ports for.

    A group's hostlist is its planned range; an explicit `count` installs the first COUNT names now and reserves
    leaf ports for the rest, so raising `count` later only fills reserved ports. Without `count` (and for a storage
    count derived from storage.ratio, where the hostlist only names what is available) nothing is reserved.
    """

    counts: dict[str, int]  # installed nodes
    derived_storage: dict[str, int]
    reserved: dict[str, int]  # nodes placement, zone split and zone sizing plan for: installed + reserved

    def pending(self, group: str) -> int:
        """Nodes of the group's range that are not installed yet."""
        return self.reserved.get(group, 0) - self.counts.get(group, 0)


def _ib_bw(spec: ClusterSpec, group: NodeGroupSpec) -> int:
    prof = spec.hardware.get(group.profile)
    return sum(n.rate_gbps * n.ports for n in prof.ib_nics) if prof else 0


def group_counts(spec: ClusterSpec) -> tuple[GroupCounts, list[Finding]]:
    counts, derived, findings = _installed_counts(spec)
    reserved = {}
    for gname, g in spec.nodes.items():
        # count given: the whole hostlist is planned; otherwise the installed count is the plan.
        reserved[gname] = len(hostlist.expand(g.hostnames)) if g.count is not None else counts[gname]
    return GroupCounts(counts, derived, reserved), findings


def _installed_counts(spec: ClusterSpec) -> tuple[dict[str, int], dict[str, int], list[Finding]]:
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    derived: dict[str, int] = {}
    for gname, g in spec.nodes.items():
        names = len(hostlist.expand(g.hostnames))
        if g.count is not None and g.count > names:
            findings.append(
                error(
                    "FF-NODE-008",
                    ("nodes", gname, "count"),
                    f"count {g.count} but hostnames {g.hostnames!r} names only {names} nodes",
                    "widen the hostlist range or lower count",
                )
            )
        counts[gname] = min(g.count, names) if g.count is not None else names

    ratio = spec.storage.ratio
    if ratio is None:
        return counts, derived, findings
    storage_groups = [n for n, g in spec.nodes.items() if g.role == "storage"]
    path = ("storage", "ratio")
    if not storage_groups:
        findings.append(error("FF-STO-001", path, "a storage ratio is set but no node group has role storage"))
        return counts, derived, findings
    open_groups = [n for n in storage_groups if spec.nodes[n].count is None]
    if len(open_groups) != 1 or len(storage_groups) != 1:
        findings.append(
            error(
                "FF-STO-001",
                path,
                "storage.ratio derives the count of exactly one storage group, which must not set `count`",
                f"remove `count` from {storage_groups[0]!r} or remove storage.ratio",
            )
        )
        return counts, derived, findings
    sg = open_groups[0]
    compute = [n for n, g in spec.nodes.items() if g.role == "compute"]
    n_compute = sum(counts[n] for n in compute)
    if ratio.compute_per_storage is not None:
        need = math.ceil(n_compute / ratio.compute_per_storage)
        how = f"{n_compute} compute nodes ÷ {ratio.compute_per_storage:g}"
    else:
        assert ratio.bandwidth_fraction is not None
        per_node = _ib_bw(spec, spec.nodes[sg])
        if per_node == 0:
            findings.append(
                error(
                    "FF-STO-001",
                    (*path, "bandwidth_fraction"),
                    f"storage profile {spec.nodes[sg].profile!r} has no InfiniBand NIC, so no bandwidth to share",
                )
            )
            return counts, derived, findings
        compute_bw = sum(_ib_bw(spec, spec.nodes[n]) * counts[n] for n in compute)
        need = math.ceil(ratio.bandwidth_fraction * compute_bw / per_node)
        how = f"{ratio.bandwidth_fraction:g} × {compute_bw} Gb/s compute ÷ {per_node} Gb/s per storage node"
    available = len(hostlist.expand(spec.nodes[sg].hostnames))
    if need < 1:
        findings.append(error("FF-STO-001", path, f"the ratio gives {need} storage nodes ({how})"))
    elif need > available:
        findings.append(
            error(
                "FF-STO-001",
                path,
                f"the ratio needs {need} storage nodes ({how}) but {spec.nodes[sg].hostnames!r} names {available}",
                f"widen nodes.{sg}.hostnames",
            )
        )
    else:
        counts[sg] = need
        derived[sg] = need
    return counts, derived, findings


def default_homing(spec: ClusterSpec, group: NodeGroupSpec) -> str:
    if group.homing:
        return group.homing
    # Fire-Flyer 2: storage has one NIC in each zone so every GPU node reaches it without crossing zones.
    if group.role == "storage" and spec.fabric.design == "zone-subnets" and len(spec.fabric.zones) > 1:
        return "all-zones"
    return "zone"


def resolve_hosts(
    spec: ClusterSpec, counts: GroupCounts, facts: dict[str, NodeFacts]
) -> tuple[list[Host], list[Finding]]:
    """Expand every group into hosts with zones, addresses and GUIDs, ports not yet cabled."""
    findings: list[Finding] = []
    zones = [z.name for z in spec.fabric.zones]
    net = spec.network
    mgmt_net = net.management.network
    bmc_net = net.bmc.network if net.bmc else None  # SubnetSpec.network parses the CIDR on every call
    ipoib_nets = zone_networks(spec)  # one per IB subnet (topology/ipoib.py)
    oui = int(spec.fabric.guid_oui, 16)
    hosts: list[Host] = []
    offsets = group_offsets(spec)
    index = 0
    for gname, g in spec.nodes.items():
        path = ("nodes", gname)
        offset = offsets[gname]
        n = counts.counts[gname]
        planned = counts.reserved.get(gname, n)  # the zone split follows the planned range, not the installed part
        prof = spec.hardware.get(g.profile)
        if prof is None:
            findings.append(
                error(
                    "FF-NODE-006",
                    (*path, "profile"),
                    f"unknown hardware profile {g.profile!r}",
                    f"known profiles: {', '.join(sorted(spec.hardware))}",
                )
            )
            continue
        if g.zone is not None and g.zone not in zones:
            findings.append(
                error("FF-NET-014", (*path, "zone"), f"unknown zone {g.zone!r}", f"zones: {', '.join(zones)}")
            )
            continue
        homing = default_homing(spec, g)
        ib = prof.ib_nics
        names = hostlist.expand(g.hostnames)[:n]
        for j, name in enumerate(names):
            f = facts.get(name)
            home = _home_zone(g.zone, homing, zones, j, planned)
            ho = offset + j
            ports: list[HostPort] = []
            k = 0
            for ni, nic in enumerate(ib):
                guid = (oui << 40) | (CA_KIND << 32) | ((ho & 0xFFFFFF) << 8) | (ni << 4)
                if f and ni < len(f.ib_guids):
                    guid = f.ib_guids[ni]
                for p in range(1, nic.ports + 1):
                    ports.append(HostPort(name, nic.device, ni, p, guid, home or zones[k % len(zones)]))
                    k += 1
            mgmt_ip = f.mgmt_ip if f and f.mgmt_ip else address(mgmt_net, ho)
            # the CSV's BMC host when it is an address, else the BMC network's address for this offset
            bmc_ip = bmc_host_ip(f.bmc_address if f else None) or (
                address(bmc_net, ho) if bmc_net is not None else None
            )
            hosts.append(
                Host(
                    name=name,
                    group=gname,
                    role=g.role,
                    profile_name=g.profile,
                    zone=ports[0].zone if ports else (home or zones[0]),
                    index=index,
                    ip_offset=ho,
                    mgmt_ip=mgmt_ip,
                    bmc_ip=bmc_ip,
                    ipoib_ip=address(ipoib_nets[ports[0].zone if ports else (home or zones[0])], ho)
                    if ipoib_nets
                    else None,
                    mac=f.mac if f else None,
                    bmc_address=f.bmc_address if f else None,
                    bmc_url=bmc_url(f.bmc_address if f else None, bmc_ip, spec.provisioning.bmc_protocol),
                    serial=f.serial if f else None,
                    ports=tuple(ports),
                    features=tuple(g.features),
                )
            )
            index += 1
    return hosts, findings


def group_offsets(spec: ClusterSpec) -> dict[str, int]:
    """Host offset of each group's first node in every subnet: its ip_offset, or right after the previous group's
    whole hostlist (so a group's addresses cover its planned range, reserved names included)."""
    out: dict[str, int] = {}
    next_offset = spec.network.management.first_host
    for gname, g in spec.nodes.items():
        out[gname] = g.ip_offset if g.ip_offset is not None else next_offset
        next_offset = out[gname] + len(hostlist.expand(g.hostnames))
    return out


def reserve_ports(spec: ClusterSpec, counts: GroupCounts) -> list[ReservedPort]:
    """The IB ports of every planned but not yet installed node (hostlist names beyond `count`), not yet placed.

    Each gets the zone it would get as an installed node, so installing it later changes nothing else. Groups that
    cannot be resolved (unknown profile or zone) are skipped here; resolve_hosts reports them.
    """
    zones = [z.name for z in spec.fabric.zones]
    out: list[ReservedPort] = []
    for gname, g in spec.nodes.items():
        n = counts.counts.get(gname, 0)
        planned = counts.reserved.get(gname, n)
        prof = spec.hardware.get(g.profile)
        if planned <= n or prof is None or (g.zone is not None and g.zone not in zones):
            continue
        homing = default_homing(spec, g)
        names = hostlist.expand(g.hostnames)[:planned]
        for j in range(n, planned):
            home = _home_zone(g.zone, homing, zones, j, planned)
            k = 0
            for ni, nic in enumerate(prof.ib_nics):
                for p in range(1, nic.ports + 1):
                    out.append(ReservedPort(names[j], gname, g.role, nic.device, ni, p, home or zones[k % len(zones)]))
                    k += 1
    return out


def _home_zone(pinned: str | None, homing: str, zones: list[str], j: int, n: int) -> str | None:
    """The zone of all of a node's ports, or None for all-zones homing (port k goes to zone k)."""
    if pinned is not None:
        return pinned
    if homing == "all-zones":
        return None
    return zones[j * len(zones) // n]  # unpinned groups split into contiguous blocks, one per zone
