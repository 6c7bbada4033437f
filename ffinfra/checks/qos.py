"""QoS rules: traffic classes map to lanes that exist, and each class is told apart by its SL."""

from __future__ import annotations

from collections.abc import Iterator

from ffinfra.checks.registry import CheckContext, rule
from ffinfra.spec.findings import Finding, error, info, warning


@rule("FF-QOS-001", "FF-QOS-002", "FF-QOS-003")
def traffic_classes(ctx: CheckContext) -> Iterator[Finding]:
    """Each class's VL is below max_vls; SLs are distinct; shared VLs are noted."""
    q = ctx.spec.qos
    if not q.enabled:
        return
    classes = q.classes.model_dump()
    by_sl: dict[int, str] = {}
    by_vl: dict[int, str] = {}
    for name, c in classes.items():
        p = ("qos", "classes", name)
        if c["vl"] >= q.max_vls:
            yield error(
                "FF-QOS-001",
                (*p, "vl"),
                f"VL {c['vl']} but max_vls is {q.max_vls} (lanes 0..{q.max_vls - 1})",
                "lower the VL or raise qos.max_vls (HDR switches offer 8 data VLs)",
            )
        if c["sl"] in by_sl:
            yield warning(
                "FF-QOS-002",
                (*p, "sl"),
                f"SL {c['sl']} is also {by_sl[c['sl']]}'s: the fabric cannot tell the two classes apart",
            )
        by_sl.setdefault(c["sl"], name)
        if c["vl"] in by_vl:
            yield info(
                "FF-QOS-003", (*p, "vl"), f"shares VL {c['vl']} with {by_vl[c['vl']]}: no isolation between them"
            )
        by_vl.setdefault(c["vl"], name)
