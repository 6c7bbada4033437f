"""Scheduler rules: partitions name real groups, one default, a controller that exists."""

from __future__ import annotations

from collections.abc import Iterator

from ffinfra.checks.registry import CheckContext, rule
from ffinfra.spec.findings import Finding, error, warning


@rule("FF-SCHED-001", "FF-SCHED-002", "FF-SCHED-003")
def slurm_layout(ctx: CheckContext) -> Iterator[Finding]:
    """Slurm partitions reference node groups; at most one is default; the controller is a node."""
    s = ctx.spec.scheduler.slurm
    p = ("scheduler", "slurm")
    for i, part in enumerate(s.partitions):
        for j, g in enumerate(part.groups):
            if g not in ctx.spec.nodes:
                yield error(
                    "FF-SCHED-001",
                    (*p, "partitions", i, "groups", j),
                    f"unknown node group {g!r}",
                    f"groups: {', '.join(ctx.spec.nodes)}",
                )
    defaults = [i for i, part in enumerate(s.partitions) if part.default]
    if len(defaults) > 1:
        yield error("FF-SCHED-002", (*p, "partitions", defaults[1], "default"), "more than one default partition")
    names = {h.name for h in ctx.hosts}
    if s.controller is not None and s.controller not in names:
        yield error("FF-SCHED-003", (*p, "controller"), f"controller {s.controller!r} is not a node of this spec")
    if s.controller is None and not any(h.role in ("controller", "management") for h in ctx.hosts):
        yield error(
            "FF-SCHED-003",
            ("nodes",),
            "no controller or management node to run slurmctld",
            "add a node group with role controller or set scheduler.slurm.controller",
        )


@rule("FF-SCHED-004")
def partition_roles(ctx: CheckContext) -> Iterator[Finding]:
    """Partitions name groups whose hosts are Slurm nodes (compute role): other hosts run no slurmd."""
    for i, part in enumerate(ctx.spec.scheduler.slurm.partitions):
        for j, g in enumerate(part.groups):
            group = ctx.spec.nodes.get(g)
            if group is not None and group.role != "compute":
                yield warning(
                    "FF-SCHED-004",
                    ("scheduler", "slurm", "partitions", i, "groups", j),
                    f"group {g!r} has role {group.role}: only compute nodes run slurmd, so partition "
                    f"{part.name!r} gets none of its hosts",
                    "name compute groups only, or give the group role compute",
                )
