"""Storage rules: enough storage nodes for the replication, disks for 3FS targets, real service hosts."""

from __future__ import annotations

from collections.abc import Iterator

from ffinfra.checks.registry import CheckContext, rule
from ffinfra.spec import hostlist
from ffinfra.spec.findings import Finding, error, warning
from ffinfra.spec.models import HOSTLIST_HINT
from ffinfra.topology.chains import ChainPlacementError, check_limits
from ffinfra.topology.threefs import CORE_PORTS, META_PORT, MGMTD_PORT, storage_node_ids


@rule("FF-STO-002", "FF-STO-003", "FF-STO-004", "FF-STO-005")
def threefs_layout(ctx: CheckContext) -> Iterator[Finding]:
    """3FS has storage nodes with NVMe, at least `replication` of them, and known mgmtd/meta hosts."""
    t = ctx.spec.storage.threefs
    if not t.enabled:
        return
    p = ("storage", "threefs")
    storage = [h for h in ctx.hosts if h.role == "storage"]
    if not storage:
        yield error("FF-STO-004", (*p, "enabled"), "3FS is enabled but no node group has role storage")
        return
    if len(storage) < t.replication:
        yield error(
            "FF-STO-002",
            (*p, "replication"),
            f"replication {t.replication} needs at least {t.replication} storage nodes, there are {len(storage)}",
        )
    elif len(storage) < 2:
        yield warning("FF-STO-002", (*p, "replication"), "3FS chain tables need at least 2 storage services")
    for _gname, g in ctx.spec.nodes.items():
        prof = ctx.spec.hardware.get(g.profile)
        if g.role == "storage" and prof is not None and prof.nvme.count == 0:
            yield error(
                "FF-STO-003",
                ("hardware", g.profile, "nvme", "count"),
                f"storage profile {g.profile!r} has no NVMe disks for 3FS targets",
            )
    names = {h.name for h in ctx.hosts}
    for key in ("mgmtd_hosts", "meta_hosts", "fuse_hosts", "fdb.hosts", "monitor.host", "build.host"):
        sub, _, leaf = key.rpartition(".")
        expr = getattr(getattr(t, sub) if sub else t, leaf)
        if expr is None:
            continue
        at = (*p, *key.split("."))
        try:
            unknown = [n for n in hostlist.expand(expr) if n not in names]
        except hostlist.HostlistError as exc:  # a typo's range is counted and refused, never expanded
            hint = HOSTLIST_HINT if isinstance(exc, hostlist.HostlistTooLarge) else ""
            yield error("FF-STO-005", at, str(exc), hint)
            continue
        if unknown:
            yield error("FF-STO-005", at, f"not nodes of this spec: {hostlist.compress(unknown)}")


@rule("FF-STO-006", "FF-STO-007", "FF-STO-008", "FF-STO-009", "FF-STO-010", "FF-STO-011")
def threefs_fabric_and_ids(ctx: CheckContext) -> Iterator[Finding]:
    """3FS has IPoIB addresses, one disk count, chain ids that fit, free ports and stable storage node ids."""
    t = ctx.spec.storage.threefs
    storage = [h for h in ctx.hosts if h.role == "storage"]
    if not t.enabled or not storage:
        return
    p = ("storage", "threefs")
    if ctx.spec.network.ipoib is None:
        yield error(
            "FF-STO-006",
            ("network",),
            "3FS is enabled but network.ipoib is not set: 3FS addresses its RDMA services by their IPoIB addresses",
            "add network.ipoib: {cidr: ...}, or set storage.threefs.enabled: false",
        )
    counts = {ctx.spec.hardware[h.profile_name].nvme.count for h in storage if h.profile_name in ctx.spec.hardware}
    if len(counts) > 1:
        yield error(
            "FF-STO-007",
            (*p, "enabled"),
            f"storage nodes have different NVMe counts ({', '.join(map(str, sorted(counts)))}): 3FS's chain table "
            "numbers targets by disk index, the same on every node",
            "give every storage profile the same nvme.count",
        )
    elif counts and min(counts) > 0 and len(storage) >= t.replication:
        try:  # the node count, disks and targets decide the limits; ids 0..n-1 stand in for the real ones
            check_limits(range(len(storage)), min(counts), t.replication, t.targets_per_disk, 10, 10)
        except ChainPlacementError as exc:
            yield error("FF-STO-008", (*p, "targets_per_disk"), str(exc))
    if t.monitor.clickhouse_port in CORE_PORTS.values() or t.monitor.clickhouse_port in (MGMTD_PORT, META_PORT):
        yield error(
            "FF-STO-009",
            (*p, "monitor", "clickhouse_port"),
            f"port {t.monitor.clickhouse_port} is where 3FS's own services listen (RDMA 8000/8001, TCP 9000/9001)",
            "keep the default 19000, or another free port",
        )
    if t.chain_table_type == "EC":
        yield warning(
            "FF-STO-011",
            (*p, "chain_table_type"),
            "EC: ffinfra writes the chain files in upstream's CR format, checked against upstream's CR output only",
            "check the chain table with upstream's gen_chain_table.py --chain_table_type EC before uploading it",
        )
    _, by_position = storage_node_ids([h.name for h in storage])
    if by_position:
        yield warning(
            "FF-STO-010",
            ("nodes",),
            "the storage node names do not end in distinct numbers: their 3FS node ids follow their order in the "
            "spec, so removing one in the middle would renumber the rest (and their targets)",
            "name storage nodes with distinct trailing numbers (stor001, stor002, ...)",
        )
