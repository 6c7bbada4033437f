"""Node identity rules: hostnames, MACs, IPs and GUIDs are unique; the inventory CSV names real nodes."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

from ffinfra.checks.registry import CheckContext, rule
from ffinfra.spec import hostlist
from ffinfra.spec.findings import Finding, error, warning
from ffinfra.spec.load import Location
from ffinfra.topology.nodes import group_offsets


def _dupes(items: list[tuple[str, str]]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for value, owner in items:
        seen.setdefault(value, []).append(owner)
    return {v: owners for v, owners in seen.items() if len(owners) > 1}


def _planned_names(ctx: CheckContext) -> dict[str, list[str]]:
    """Group → the names of its hostlist that are reserved (planned beyond `count`, not installed yet)."""
    out: dict[str, list[str]] = {}
    for gname, g in ctx.spec.nodes.items():
        n = ctx.counts.counts.get(gname, 0)
        planned = ctx.counts.reserved.get(gname, n)
        if planned > n:
            out[gname] = hostlist.expand(g.hostnames)[n:planned]
    return out


def _group_path(ctx: CheckContext, host: str) -> tuple[str | int, ...]:
    g = next((h.group for h in ctx.hosts if h.name == host), None)
    return ("nodes", g, "hostnames") if g else ("nodes",)


@rule("FF-NODE-001", "FF-NODE-002", "FF-NODE-003", "FF-NODE-004")
def unique_identities(ctx: CheckContext) -> Iterator[Finding]:
    """Hostnames, MACs, IP addresses and IB GUIDs are each unique across the cluster."""
    by_name: dict[str, str] = {}
    for h in ctx.hosts:
        if h.name in by_name and by_name[h.name] != h.group:
            yield error(
                "FF-NODE-001",
                ("nodes", h.group, "hostnames"),
                f"hostname {h.name} is also in group {by_name[h.name]}",
                "hostlists of different groups must not overlap",
            )
        elif h.name in by_name:
            yield error("FF-NODE-001", ("nodes", h.group, "hostnames"), f"hostname {h.name} appears twice")
        by_name[h.name] = h.group
    planned = _planned_names(ctx)
    for gname, names in planned.items():
        for name in names:
            if name in by_name:
                yield error(
                    "FF-NODE-001",
                    ("nodes", gname, "hostnames"),
                    f"hostname {name}, reserved in {gname} (beyond its count), is also in group {by_name[name]}",
                    "hostlists of different groups must not overlap, reserved names included",
                )
            by_name.setdefault(name, gname)
    for mac, owners in _dupes([(h.mac, h.name) for h in ctx.hosts if h.mac]).items():
        yield error("FF-NODE-002", _group_path(ctx, owners[1]), f"MAC {mac} is shared by {', '.join(owners)}")
    ips: list[tuple[str, str]] = []
    for h in ctx.hosts:
        ips.append((h.mgmt_ip, f"{h.name} (management)"))
        # BMCs on one address with their own ports (emulators, virtualbmc) are told apart by their URL below
        if h.bmc_ip and not _has_port(h.bmc_url):
            ips.append((h.bmc_ip, f"{h.name} (bmc)"))
        if h.ipoib_ip:
            ips.append((h.ipoib_ip, f"{h.name} (ipoib)"))
    used_offsets = {h.ip_offset: h.name for h in ctx.hosts}
    offsets = group_offsets(ctx.spec)
    for gname, names in planned.items():
        first = ctx.counts.counts.get(gname, 0)
        for j, name in enumerate(names, start=first):
            ho = offsets[gname] + j
            if ho in used_offsets:
                yield error(
                    "FF-NODE-003",
                    ("nodes", gname, "ip_offset" if ctx.spec.nodes[gname].ip_offset is not None else "hostnames"),
                    f"{name}, reserved in {gname} (beyond its count), would get host offset {ho}, "
                    f"which {used_offsets[ho]} has",
                    "groups' ip_offset ranges overlap: each group's range covers its whole hostlist",
                )
            used_offsets.setdefault(ho, name)
    for ip, owners in sorted(_dupes(ips).items()):
        yield error(
            "FF-NODE-003",
            _group_path(ctx, owners[1].split()[0]),
            f"address {ip} is given to {', '.join(owners)}",
            "groups' ip_offset ranges overlap, or the inventory CSV repeats an address",
        )
    for url, owners in sorted(_dupes([(h.bmc_url, h.name) for h in ctx.hosts if h.bmc_url]).items()):
        yield error(
            "FF-NODE-003",
            _group_path(ctx, owners[1]),
            f"BMC {url} is given to {', '.join(owners)}",
            "each node has its own BMC: check the inventory CSV's bmc_address column",
        )
    guids = [(f"0x{p.port_guid:016x}", f"{p.host}/{p.nic}") for h in ctx.hosts for p in h.ports]
    for g, owners in sorted(_dupes(guids).items()):
        yield error(
            "FF-NODE-004", _group_path(ctx, owners[1].split("/")[0]), f"GUID {g} is used by {', '.join(owners)}"
        )


@rule("FF-NODE-005", "FF-NODE-010")
def inventory_rows(ctx: CheckContext) -> Iterator[Finding]:
    """Every inventory CSV row names a node of the spec, with one GUID per IB NIC."""
    if not ctx.facts:
        return
    hosts = {h.name: h for h in ctx.hosts}
    file = ctx.facts_file or "inventory.csv"
    for name, f in ctx.facts.items():
        h = hosts.get(name)
        if h is None:
            yield _at(
                error("FF-NODE-005", ("inventory", "csv"), f"row for {name!r}, which no node group names"),
                Location(file, f.line, 1),
            )
            continue
        nics = len(ctx.spec.hardware[h.profile_name].ib_nics)
        if f.ib_guids and len(f.ib_guids) != nics:
            yield _at(
                warning(
                    "FF-NODE-010",
                    ("inventory", "csv"),
                    f"{name} lists {len(f.ib_guids)} GUID(s) for {nics} IB NIC(s); the rest are synthetic",
                ),
                Location(file, f.line, 1),
            )


def _at(f: Finding, loc: Location) -> Finding:
    return Finding(f.code, f.severity, f.path, f.message, f.hint, loc)


@rule("FF-NODE-009")
def compute_has_fabric(ctx: CheckContext) -> Iterator[Finding]:
    """Compute and storage nodes have an InfiniBand NIC."""
    for gname, g in ctx.spec.nodes.items():
        prof = ctx.spec.hardware.get(g.profile)
        if prof is not None and g.role in ("compute", "storage") and not prof.ib_nics:
            yield warning(
                "FF-NODE-009",
                ("nodes", gname, "profile"),
                f"{g.role} group {gname} uses profile {g.profile!r}, which has no InfiniBand NIC: "
                "it is left off the fabric",
            )


def _has_port(url: str | None) -> bool:
    return bool(url and "://" in url and urlsplit(url).port)
