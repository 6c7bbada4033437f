"""Scheduler rules: partitions name real groups, one default, a controller that exists."""

from __future__ import annotations

from collections.abc import Iterator

from ffinfra.checks.registry import CheckContext, rule
from ffinfra.spec.findings import Finding, error


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
