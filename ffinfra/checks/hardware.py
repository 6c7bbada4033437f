"""Hardware profile rules: per-GPU lists match the GPU count, NUMA nodes exist, NVLink pairs are real GPUs and
exist where HFReduce is told to use them."""

from __future__ import annotations

from collections.abc import Iterator

from ffinfra.checks.registry import CheckContext, rule
from ffinfra.spec.findings import Finding, error


@rule("FF-HW-001", "FF-HW-002", "FF-HW-003")
def profile_consistency(ctx: CheckContext) -> Iterator[Finding]:
    """GPU lists have one entry per GPU; NUMA ids exist; NVLink pairs join two distinct GPUs once."""
    for name, prof in ctx.spec.hardware.items():
        p = ("hardware", name)
        numa = prof.cpu.numa
        g = prof.gpus
        if g is not None:
            for key in ("pci", "numa", "root_ports"):
                values = getattr(g, key)
                if values is not None and len(values) != g.count:
                    yield error(
                        "FF-HW-001", (*p, "gpus", key), f"{len(values)} entries for {g.count} GPUs", "one per GPU"
                    )
            for i, n in enumerate(g.numa or []):
                if n >= numa:
                    yield error("FF-HW-002", (*p, "gpus", "numa", i), f"NUMA node {n} but the CPU has {numa}")
            seen: set[int] = set()
            for i, (a, b) in enumerate(g.nvlink_pairs):
                if a == b or not (0 <= a < g.count and 0 <= b < g.count) or a in seen or b in seen:
                    yield error(
                        "FF-HW-003",
                        (*p, "gpus", "nvlink_pairs", i),
                        f"pair ({a}, {b}) must join two distinct GPUs 0..{g.count - 1}, each in one pair",
                        "NVLink Bridges join GPUs in pairs (paper §III-A)",
                    )
                seen.update((a, b))
        for i, nic in enumerate(prof.nics):
            if nic.numa >= numa:
                yield error("FF-HW-002", (*p, "nics", i, "numa"), f"NUMA node {nic.numa} but the CPU has {numa}")


@rule("FF-HW-004")
def nvlink_pairs_for_hfreduce(ctx: CheckContext) -> Iterator[Finding]:
    """hfreduce.nvlink: true needs a compute profile whose GPUs declare NVLink pairs."""
    if ctx.spec.hfreduce.nvlink is not True:
        return
    compute = {h.profile_name for h in ctx.hosts if h.role == "compute"}
    paired = [n for n in sorted(compute) if (g := ctx.spec.hardware[n].gpus) is not None and g.nvlink_pairs]
    if not paired:
        yield error(
            "FF-HW-004",
            ("hfreduce", "nvlink"),
            "HFReduce's NVLink-pair variant is asked for, but no compute node's hardware profile declares "
            "gpus.nvlink_pairs",
            "list the bridged pairs in the compute profile (Fire-Flyer 2: [[0, 1], [2, 3], [4, 5], [6, 7]]), or drop "
            "hfreduce.nvlink: it follows the profile by default",
        )
