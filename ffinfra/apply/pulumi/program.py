"""The Pulumi program: graph.py's resources registered with Pulumi, parents and dependencies included.

    program(graph, applied)()    the inline program the Automation API runs (engine.py), and the tests run under
                                 pulumi.runtime.set_mocks

It exports what the engine reads back before the next run: the spec it applied (`applied`, the record state.json
keeps for the default engine, once every resource is done), so the plan refuses an unsupported or destructive
change before Pulumi starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from ffinfra.apply.pulumi.graph import NODE, ROLE, ResourceGraph, ResourceSpec
from ffinfra.apply.pulumi.resources import Node, RoleApplication


class Component(pulumi.ComponentResource):
    """The cluster, a zone or a node group: it groups its children in `pulumi preview` and `stack history`."""

    def __init__(self, r: ResourceSpec, opts: pulumi.ResourceOptions | None):
        super().__init__(r.type, r.name, dict(r.inputs), opts)
        self.register_outputs(dict(r.inputs))


def register(graph: ResourceGraph) -> dict[str, pulumi.Resource]:
    """Every resource of the graph, in its order (parents first): name → the Pulumi resource."""
    made: dict[str, pulumi.Resource] = {}
    for r in graph.resources:
        opts = pulumi.ResourceOptions(
            parent=made[r.parent] if r.parent else None,
            depends_on=[made[d] for d in r.depends_on] or None,
            protect=r.protect,
            retain_on_delete=r.retain_on_delete,
            replace_on_changes=list(r.replace_keys) or None,
            delete_before_replace=bool(r.replace_keys) or None,
        )
        if r.type == NODE:
            made[r.name] = Node(r.name, dict(r.inputs), opts)
        elif r.type == ROLE:
            nodes = {h: made[h].incarnation for h in r.node_refs}  # type: ignore[attr-defined]
            made[r.name] = RoleApplication(r.name, {**r.inputs, "nodes": nodes}, opts)
        else:
            made[r.name] = Component(r, opts)
    return made


def program(graph: ResourceGraph, applied: dict[str, Any]) -> Callable[[], None]:
    def run() -> None:
        made = register(graph)
        # `applied` resolves once every node and role application is created or updated: a run that fails part
        # way does not record its spec as the one the cluster runs (the default engine's state.json rule)
        ids = [r.id for r in made.values() if isinstance(r, pulumi.CustomResource)]
        pulumi.export("applied", pulumi.Output.all(*ids).apply(lambda _: applied))
        pulumi.export("resources", graph.counts())

    return run
