"""Run the Pulumi program under Pulumi's own mocks (pulumi.runtime.set_mocks) and read back what it registered.

`registered(compiled)` runs program.register() against a MockMonitor that keeps every RegisterResource request
(type, name, parent URN, dependency URNs, protect, retainOnDelete, inputs). `steps(old, new)` then does what the
Pulumi engine does between two runs: a URN only in the new run is a create, only in the old one a delete, and one in
both asks its dynamic provider's diff (the same class the resource serialises) whether it is the same, an update
or a replace; a replace of a protected resource is refused, as the engine refuses it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import dill
import pulumi
from pulumi.runtime.mocks import MockMonitor, Mocks, set_mocks

from ffinfra.apply.pulumi.graph import NODE, ROLE, build_graph
from ffinfra.apply.pulumi.program import program
from ffinfra.compile import Compiled


@dataclass(frozen=True)
class Registration:
    urn: str
    type: str
    name: str
    parent: str  # the parent's URN ("" for the stack)
    dependencies: tuple[str, ...]
    protect: bool
    retain_on_delete: bool
    inputs: dict[str, Any]


class _Mocks(Mocks):
    def __init__(self, incarnations: dict[str, str] | None = None) -> None:
        self.incarnations = incarnations or {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        # the state a provider's create would return: its inputs, and a node's incarnation ("1" unless told)
        state = dict(args.inputs)
        if args.typ == NODE:
            state["incarnation"] = self.incarnations.get(args.name, "1")
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


class _Recorder(MockMonitor):
    def __init__(self, mocks: _Mocks) -> None:
        super().__init__(mocks)
        self.seen: dict[str, Registration] = {}
        self.outputs: dict[str, Any] = {}  # the stack's exports, resolved

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
            self.seen[response.urn] = Registration(
                response.urn,
                request.type,
                request.name,
                request.parent,
                tuple(request.dependencies),
                request.protect,
                request.retainOnDelete,
                dict(inputs),
            )
        return response


def run_program(
    c: Compiled, provider: str = "lab", allow_destructive: bool = False, incarnations: dict[str, str] | None = None,
    applied: dict[str, Any] | None = None,
) -> _Recorder:  # fmt: skip
    """The program for this compiled stack under the mocks; the monitor holds what it registered and exported."""
    graph = build_graph(c, provider, str(c.stack.dir), allow_destructive=allow_destructive)
    mocks = _Mocks(incarnations)
    monitor = _Recorder(mocks)
    set_mocks(mocks, project="ffinfra", stack=c.topology.name, preview=False, monitor=monitor)

    @pulumi.runtime.test  # returns once every registration has reached the monitor, and the exports resolved
    def run() -> Any:
        program(graph, applied or {"spec": {}})()
        exports = pulumi.runtime.get_root_resource().outputs  # type: ignore[union-attr]
        return pulumi.Output.from_input(exports).apply(monitor.outputs.update)

    run()
    return monitor


def registered(
    c: Compiled, provider: str = "lab", allow_destructive: bool = False, incarnations: dict[str, str] | None = None
) -> dict[str, Registration]:
    """URN → what the program registered for this compiled stack (the whole program: resources and outputs).
    `incarnations`: nodes the (mock) provider made anew, with their new incarnation."""
    return run_program(c, provider, allow_destructive, incarnations).seen


def provider_of(reg: Registration) -> Any:
    """The provider the resource carries: Pulumi's serialised `__provider`, loaded back as Pulumi's own runtime
    would (base64 of dill; Pulumi marks it secret, which the mocks keep as {signature: ..., value: ...})."""
    value = reg.inputs["__provider"]
    if isinstance(value, dict):
        value = value["value"]
    return dill.loads(base64.b64decode(value))


def steps(old: dict[str, Registration], new: dict[str, Registration]) -> dict[str, str]:
    """URN → create | update | replace | delete | same | refused for every dynamic resource."""
    out: dict[str, str] = {}
    for urn, reg in new.items():
        if reg.type not in (NODE, ROLE):
            continue
        if urn not in old:
            out[urn] = "create"
            continue
        before = old[urn]
        d = provider_of(reg).diff(f"{reg.name}-id", before.inputs, reg.inputs)
        if d.replaces:
            out[urn] = "refused" if before.protect or reg.protect else "replace"
        else:
            out[urn] = "update" if d.changes else "same"
    for urn, reg in old.items():
        if reg.type in (NODE, ROLE) and urn not in new:
            out[urn] = "delete"
    return out


def changed(s: dict[str, str]) -> dict[str, str]:
    return {urn.rsplit("::", 1)[1]: step for urn, step in s.items() if step != "same"}
