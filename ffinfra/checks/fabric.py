"""Fabric rules: port budgets against the radix, zone capacity, OpenSM ftree preconditions, zone joins."""

from __future__ import annotations

from collections.abc import Iterator

from ffinfra.checks.registry import CheckContext, rule
from ffinfra.spec.findings import Finding, error, info, warning
from ffinfra.topology.dims import leaf_uplinks
from ffinfra.topology.model import ZoneDims

FF2_HINT = "Fire-Flyer 2: 40-port switches, 20 spines + 40 leaves → 800 host ports per zone"


def _ports(z: ZoneDims) -> str:
    """A zone's host ports as the rules judge them: installed plus reserved (hostlist names beyond `count`)."""
    if z.reserved_ports:
        return f"{z.host_ports} host ports ({z.reserved_ports} reserved for hostlist names beyond `count`)"
    return f"{z.host_ports} host ports"


def _zone_path(ctx: CheckContext, i: int) -> tuple[str | int, ...]:
    return ("fabric", "zones", i)


@rule("FF-NET-001", "FF-NET-002", "FF-NET-003", "FF-NET-013", "FF-NET-016")
def port_budgets(ctx: CheckContext) -> Iterator[Finding]:
    """Leaf and spine ports fit the radix, hosts fit their zone, every leaf carries hosts.

    Host ports are counted with the ones reserved for hostlist names beyond `count`: a group's whole range must
    fit, so raising `count` later never needs more switches.
    """
    f = ctx.spec.fabric
    for z in ctx.dims:
        p = _zone_path(ctx, z.index)
        if z.installed_ports == 0:
            if z.host_ports:
                yield error(
                    "FF-NET-013",
                    p,
                    f"zone {z.name!r} has no installed hosts, only {z.host_ports} reserved port(s)",
                    "install at least one node there (raise `count`) before its switches",
                )
            else:
                yield error(
                    "FF-NET-013", p, f"zone {z.name!r} has no hosts", "pin a node group to it or remove the zone"
                )
            continue
        if z.uplinks >= f.radix:
            yield error(
                "FF-NET-001",
                ("fabric", "leaf_uplinks"),
                f"{z.uplinks} uplinks leave no host port on a {f.radix}-port leaf",
            )
            continue
        if z.host_ports > z.capacity:
            yield error(
                "FF-NET-002",
                (*p, "leaves") if ctx.spec.fabric.zones[z.index].leaves else p,
                f"zone {z.name!r} has {_ports(z)} but {z.leaves} leaves × {z.downlinks} down ports = {z.capacity}",
                f"add leaves (spines allow "
                f"{max(0, f.radix - z.interzone_ports_per_spine) // max(1, z.links_per_spine)}),"
                f" move nodes to another zone, or add a zone. {FF2_HINT}",
            )
        max_leaves = max(0, f.radix - z.interzone_ports_per_spine) // z.links_per_spine if z.links_per_spine else 0
        if f.zones[z.index].leaves is None and z.links_per_spine and z.leaves > max_leaves:
            # Leaves are derived from the hosts: more hosts than the spines can carry leaves for means the zone
            # is full, as above (FF-NET-003 below then says what it costs the spines).
            yield error(
                "FF-NET-002",
                p,
                f"zone {z.name!r} has {_ports(z)} but its {z.spines} spines take at most "
                f"{max_leaves} leaves × {z.downlinks} down ports = {max_leaves * z.downlinks}",
                f"move nodes to another zone, or add a zone. {FF2_HINT}",
            )
        spine_ports = z.leaves * z.links_per_spine + z.interzone_ports_per_spine
        if z.spines and spine_ports > f.radix:
            yield error(
                "FF-NET-003",
                p,
                f"each spine of {z.name!r} needs {spine_ports} ports ({z.leaves} leaves × {z.links_per_spine}"
                + (f" + {z.interzone_ports_per_spine} inter-zone" if z.interzone_ports_per_spine else "")
                + f") > radix {f.radix}",
                f"at most {(f.radix - z.interzone_ports_per_spine) // max(1, z.links_per_spine)} leaves per zone; "
                f"split the zone. {FF2_HINT}",
            )
        if z.host_ports and z.leaves > z.host_ports:
            yield error(
                "FF-NET-016",
                (*p, "leaves"),
                f"{z.leaves} leaves for {_ports(z)} leaves some leaves without hosts",
                "OpenSM's ftree ranks a leaf by its compute nodes; an empty leaf breaks the fat-tree shape",
            )


@rule("FF-NET-007", "FF-NET-011", "FF-NET-012", "FF-NET-019")
def fat_tree_shape(ctx: CheckContext) -> Iterator[Finding]:
    """Every leaf reaches every spine with the same number of links; spines all carry traffic."""
    f = ctx.spec.fabric
    for z in ctx.dims:
        p = _zone_path(ctx, z.index)
        if z.spines > z.uplinks or z.uplinks % z.spines:
            yield error(
                "FF-NET-007",
                (*p, "spines") if f.zones[z.index].spines else ("fabric", "leaf_uplinks"),
                f"{z.uplinks} uplinks per leaf cannot reach {z.spines} spines evenly",
                "a two-layer fat-tree needs uplinks = k × spines (ftree requires symmetric port groups)",
            )
        elif z.host_ports and z.max_hosts_per_leaf < z.spines:
            yield warning(
                "FF-NET-011",
                p,
                f"leaves of {z.name!r} carry at most {z.max_hosts_per_leaf} hosts but have {z.spines} spines: "
                "ftree assigns destinations by index, so some spines carry no traffic",
                "fewer spines or more hosts per leaf",
            )
    for z in ctx.dims:
        if not z.host_ports or not z.leaves or z.spines > z.uplinks or z.uplinks % z.spines:
            continue
        # OpenSM's ftree deals each remote leaf's hosts round-robin from the first uplink, so every leaf whose
        # host count is not a multiple of the uplinks adds its remainder to the same first uplinks.
        lo, extra = divmod(z.host_ports, z.leaves)
        partial = (extra if (lo + 1) % z.uplinks else 0) + ((z.leaves - extra) if lo % z.uplinks else 0)
        skew = partial if partial < z.leaves else partial - 1  # partial leaves a leaf sees, besides itself
        if skew > 1 and z.max_hosts_per_leaf >= z.spines:
            yield info(
                "FF-NET-019",
                _zone_path(ctx, z.index),
                f"{partial} leaves of {z.name!r} hold a host count that is not a multiple of {z.uplinks} uplinks: "
                f"ftree loads some uplinks with up to {skew} more destinations than others",
                "fill leaves to a multiple of the uplinks (Fire-Flyer 2: 20 hosts per leaf) for equal uplink loads",
            )
    if f.leaf_uplinks is not None and "oversubscription" in ctx.spec.fabric.model_fields_set:
        derived = leaf_uplinks(ctx.spec.model_copy(update={"fabric": f.model_copy(update={"leaf_uplinks": None})}))
        if derived != f.leaf_uplinks:
            yield warning(
                "FF-NET-012",
                ("fabric", "leaf_uplinks"),
                f"leaf_uplinks {f.leaf_uplinks} overrides oversubscription {f.oversubscription:g} "
                f"(which gives {derived})",
                "set only one of them",
            )


@rule("FF-NET-004")
def storage_homing(ctx: CheckContext) -> Iterator[Finding]:
    """Dual-homed storage needs one IB port per zone; separate subnets need storage in every zone."""
    f = ctx.spec.fabric
    nz = len(f.zones)
    for gname, g in ctx.spec.nodes.items():
        prof = ctx.spec.hardware.get(g.profile)
        if prof is None:
            continue
        homing = g.homing or ("all-zones" if g.role == "storage" and f.design == "zone-subnets" and nz > 1 else "zone")
        if homing == "all-zones" and prof.ib_ports < nz:
            yield error(
                "FF-NET-004",
                ("nodes", gname, "homing"),
                f"{gname} reaches all {nz} zones but profile {g.profile!r} has {prof.ib_ports} IB port(s)",
                "give the profile one InfiniBand NIC per zone (Fire-Flyer 2 storage: 2 × CX6)",
            )
        if g.role == "storage" and homing == "zone" and f.design == "zone-subnets" and nz > 1:
            yield error(
                "FF-NET-004",
                ("nodes", gname, "homing"),
                f"storage group {gname} sits in one zone, but zones are separate subnets: "
                "nodes in the other zones could not reach it",
                "use homing: all-zones with one NIC per zone, or design: single-subnet",
            )


@rule("FF-NET-005", "FF-NET-009", "FF-NET-010")
def zone_joins(ctx: CheckContext) -> Iterator[Finding]:
    """How zones are joined: spine-level links in one subnet, nothing between separate subnets."""
    f = ctx.spec.fabric
    iz = f.inter_zone
    if f.design == "zone-subnets":
        if iz.links:
            yield error(
                "FF-NET-010",
                ("fabric", "inter_zone", "links"),
                "switch links between zones would merge the zones' subnets under one SM",
                "zone-subnets joins zones only through dual-homed storage; set links: 0 or design: single-subnet",
            )
        return
    if len(f.zones) > 1 and iz.level == "leaf":
        yield error(
            "FF-NET-005",
            ("fabric", "inter_zone", "level"),
            "leaf-level inter-zone links in one subnet: OpenSM's ftree and updn report success while most "
            "cross-zone routes are missing (ib-probe §6: 57,760 of 121,600 leaf→CA routes absent)",
            "join zones at the spine level (level: spine) or make each zone its own subnet",
        )
    if len(f.zones) > 1 and iz.links == 0:
        yield error(
            "FF-NET-009",
            ("fabric", "inter_zone", "links"),
            "zones share one subnet but no link joins them: cross-zone nodes are unreachable",
            "set inter_zone.links (Fire-Flyer 2: 'a limited number of links')",
        )


@rule("FF-NET-006", "FF-NET-008", "FF-NET-017")
def opensm_preconditions(ctx: CheckContext) -> Iterator[Finding]:
    """OpenSM ftree preconditions: LMC 0, every host CA in the compute-node set."""
    sm = ctx.spec.fabric.subnet_manager
    engines = sm.routing_engine.split(",")
    p = ("fabric", "subnet_manager")
    if "ftree" in engines and sm.lmc != 0:
        yield error(
            "FF-NET-006",
            (*p, "lmc"),
            f"lmc {sm.lmc}: OpenSM's ftree supports only LMC 0 and silently falls back to "
            f"{engines[1] if len(engines) > 1 else 'minhop'}",
            "set lmc: 0",
        )
    roles_with_ib = {h.role for h in ctx.hosts if h.ports}
    if "storage" in roles_with_ib and "storage" not in sm.cn_roles and "ftree" in engines:
        yield error(
            "FF-NET-008",
            (*p, "cn_roles"),
            "storage is not in the compute-node set: ftree does not guarantee storage↔storage routes "
            "(3FS chain replication needs them)",
            "add storage to cn_roles",
        )
    missing = sorted(roles_with_ib - set(sm.cn_roles) - {"storage"})
    if missing and "ftree" in engines:
        yield warning(
            "FF-NET-008",
            (*p, "cn_roles"),
            f"roles {missing} have IB ports but are not in cn_guid_file: routes between them are not guaranteed",
        )
    if engines[0] not in ("ftree", "updn"):
        yield info(
            "FF-NET-017",
            (*p, "routing_engine"),
            f"{engines[0]} routing on a fat-tree: minhop/dnup can form credit loops across zones (ib-probe §6)",
        )


@rule("FF-NET-018")
def nic_rates(ctx: CheckContext) -> Iterator[Finding]:
    """Host HCAs run at the fabric's link rate."""
    rate = ctx.spec.fabric.rate_gbps
    for name, prof in ctx.spec.hardware.items():
        for i, nic in enumerate(prof.nics):
            if nic.kind == "infiniband" and nic.rate_gbps != rate:
                yield warning(
                    "FF-NET-018",
                    ("hardware", name, "nics", i, "rate_gbps"),
                    f"{nic.device} runs at {nic.rate_gbps} Gb/s but the fabric is {ctx.spec.fabric.link_rate} "
                    f"({rate} Gb/s): links train to the slower end",
                )


# InfiniBand P_Keys (IBA vol. 1, Partitioning): 16 bits, of which the top one is the membership bit (1 full,
# 0 limited) and the low 15 are the partition key; a key of 0 is invalid, 0x7fff is the default partition (NVIDIA's
# WinOF-2 docs: "PKey's valid values are 0x1 - 0x7fff"). OpenSM tells partitions apart by those 15 bits
# alone and is quiet about what it does with the rest (linux-rdma/opensm, opensm/osm_prtn.c, osm_prtn_make_new):
#   - it clears the membership bit; a key that is then 0 (0x0000 or 0x8000, which IBA reserves as invalid) makes
#     OpenSM pick a free key of its own, so the partition gets a key nobody configured;
#   - a key that is already defined merges the new partition into the old one ("Duplicated partition definition …
#     Will use it", logged only at verbose level), so two partitions sharing a key are one, with no isolation;
#   - the default partition is always 0x7fff (osm_prtn_make_default), whatever partitions.conf says.
PKEY_KEY_BITS = 0x7FFF
DEFAULT_PARTITION_KEY = 0x7FFF


def _key(pkey: str) -> int:
    return int(pkey, 16) & PKEY_KEY_BITS


@rule("FF-NET-022", "FF-NET-023")
def partition_keys(ctx: CheckContext) -> Iterator[Finding]:
    """P_Keys are valid, the default partition's is 0x7fff, and no two partitions share one."""
    parts = ctx.spec.fabric.partitions
    p = ("fabric", "partitions")
    if _key(parts.default_pkey) != DEFAULT_PARTITION_KEY:
        yield error(
            "FF-NET-022",
            (*p, "default_pkey"),
            f"default_pkey {parts.default_pkey}: OpenSM always keys the default partition 0x7fff, so this would "
            "define a second partition named Default",
            "set default_pkey: 0x7fff (0xffff is the same partition) or leave it out",
        )
    defaults = {DEFAULT_PARTITION_KEY, _key(parts.default_pkey)}
    for name in ("compute", "storage"):
        pkey = getattr(parts, f"{name}_pkey")
        if _key(pkey) == 0:
            yield error(
                "FF-NET-022",
                (*p, f"{name}_pkey"),
                f"{name}_pkey {pkey} is not a valid P_Key: its 15-bit key is 0 (IBA reserves 0x0000 and 0x8000); "
                "OpenSM would give the partition a key of its own choosing",
                "pick a key from 0x0001 to 0x7ffe",
            )
        elif _key(pkey) in defaults:
            yield error(
                "FF-NET-023",
                (*p, f"{name}_pkey"),
                f"{name}_pkey {pkey} is the default partition's key: OpenSM merges the {name} partition into the "
                "default one, which every port is in, so nothing is isolated",
                "pick a key from 0x0001 to 0x7ffe that no other partition uses",
            )
    compute, storage = _key(parts.compute_pkey), _key(parts.storage_pkey)
    if compute == storage and compute != 0 and compute not in defaults:
        yield error(
            "FF-NET-023",
            (*p, "storage_pkey"),
            f"storage_pkey {parts.storage_pkey} and compute_pkey {parts.compute_pkey} are one partition (keys compare "
            "on their low 15 bits; the top bit only marks membership): OpenSM merges them, each port keeping only "
            "the membership of the last line naming it, so compute ports end as limited members that cannot reach "
            "each other",
            "give each partition its own key, e.g. compute 0x0010 and storage 0x0020",
        )
