"""The other stack commands that touch nodes: `up --dry-run`, `down` and `status`. Each returns data; the CLI
draws it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ffinfra.apply.applied import plan_against_applied
from ffinfra.apply.build import require_writable_stack
from ffinfra.apply.provider import NodeStatus, Progress, nodes_from_topology, quiet
from ffinfra.apply.providers import fabric_is_simulated, get_provider
from ffinfra.apply.record import drift
from ffinfra.compile import Compiled
from ffinfra.plan.plan import Plan
from ffinfra.render.placement import place
from ffinfra.render.targets import render_all
from ffinfra.runtime.lock import lock_holder, stack_lock
from ffinfra.runtime.paths import StackPaths
from ffinfra.runtime.runs import utc_now
from ffinfra.runtime.secrets import remove_secrets
from ffinfra.runtime.state import StackState, load_state, save_state


@dataclass
class DryRun:
    plan: Plan | None  # what `up` would enforce; refused plans included (up would stop there)
    nodes: list[tuple[str, str, str, str]]  # (host, role, address, keep | create | remove)
    secrets_missing: bool
    artifacts: int
    drift: dict[str, list[str]]  # host → recorded-vs-rendered differences (what the apply would change)
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # host → the roles it runs


def dry_run(c: Compiled, provider_kind: str, allow_destructive: bool = False) -> DryRun:
    """What `up` would do, touching nothing: no lock, no node, no file."""
    topo = c.topology
    paths = StackPaths(c.stack.dir)
    provider = get_provider(provider_kind, topo.name, paths.state_dir, topo)
    state = load_state(paths.state_json)
    status = provider.status()
    nodes = [
        (n.name, n.role, n.address, "keep" if (s := status.get(n.name)) and s.state == "running" else "create")
        for n in nodes_from_topology(topo)
    ]
    nodes += [(gone, "", "", "remove") for gone in sorted(set(status) - {h.name for h in topo.hosts})]
    artifacts = render_all(topo)
    return DryRun(
        plan=plan_against_applied(c, state, allow_destructive),
        nodes=nodes,
        secrets_missing=not paths.secrets.exists(),
        artifacts=len(artifacts),
        drift=drift(place(topo, artifacts), state),
        roles={h: s.roles for h, s in topo.services.hosts.items()},
    )


def down(c: Compiled, provider_kind: str, purge: bool, progress: Progress = quiet) -> tuple[list[str], list[str]]:
    """Destroy the nodes; returns (destroyed, leftovers). The lock keeps a running `up` or `test` from racing it.
    The applied spec goes with the nodes: the next `up` is a new cluster, with no plan to enforce."""
    require_writable_stack(c.stack)
    topo = c.topology
    paths = StackPaths(c.stack.dir)
    provider = get_provider(provider_kind, topo.name, paths.state_dir, topo)
    with stack_lock(paths.lock, "ffinfra down"):
        done = provider.destroy(progress)
        paths.rollout_journal.unlink(missing_ok=True)  # a rolling change of nodes that are gone is over
        if paths.state_json.exists():
            state = load_state(paths.state_json)
            state.hosts = {}
            state.applied = None
            state.applied_inputs = {}
            state.verified_at = None
            state.destroyed_at = utc_now()
            save_state(paths.state_json, state)
        if purge:
            remove_secrets(paths.secrets)
            paths.state_json.unlink(missing_ok=True)
    return done, provider.leftovers()


@dataclass
class StackStatus:
    nodes: dict[str, NodeStatus]
    drift: dict[str, list[str]]
    state: StackState
    lock_pid: int | None
    roles: dict[str, tuple[str, ...]]  # host → the roles it runs (topology/services.py)
    daemons: dict[str, tuple[str, ...]]  # host → the daemons it should run


def stack_status(c: Compiled, provider_kind: str) -> StackStatus:
    topo = c.topology
    paths = StackPaths(c.stack.dir)
    provider = get_provider(provider_kind, topo.name, paths.state_dir, topo)
    state = load_state(paths.state_json)
    sim = fabric_is_simulated(provider_kind)
    return StackStatus(
        nodes=provider.status(),
        drift=drift(place(topo, render_all(topo)), state),
        state=state,
        lock_pid=lock_holder(paths.lock),
        roles={h: s.roles for h, s in topo.services.hosts.items()},
        daemons={h: tuple(d.process for d in s.daemons_on(sim)) for h, s in topo.services.hosts.items()},
    )
