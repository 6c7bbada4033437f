"""Storage rules: enough storage nodes for the replication, disks for 3FS targets, real service hosts."""

from __future__ import annotations

from collections.abc import Iterator

from ffinfra.checks.registry import CheckContext, rule
from ffinfra.spec import hostlist
from ffinfra.spec.findings import Finding, error, warning
from ffinfra.spec.models import HOSTLIST_HINT


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
    for key in ("mgmtd_hosts", "meta_hosts"):
        expr = getattr(t, key)
        if expr is None:
            continue
        try:
            unknown = [n for n in hostlist.expand(expr) if n not in names]
        except hostlist.HostlistError as exc:  # a typo's range is counted and refused, never expanded
            hint = HOSTLIST_HINT if isinstance(exc, hostlist.HostlistTooLarge) else ""
            yield error("FF-STO-005", (*p, key), str(exc), hint)
            continue
        if unknown:
            yield error("FF-STO-005", (*p, key), f"not nodes of this spec: {hostlist.compress(unknown)}")
