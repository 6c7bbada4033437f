"""The compiled stack as a Pulumi resource graph, without Pulumi: what `--engine pulumi` registers, decided here
once, so tests and docs read it without the SDK.

    Cluster <stack>                                   component
    └─ Zone <zone>                                    component: the zone's switches and subnet
       └─ NodeGroup <zone>/<group>                    component: the group's nodes in that zone
          ├─ Node <host>                              dynamic: the provider's node (lab namespace, BMC + boot)
          └─ RoleApplication <zone>/<group>/<role>    dynamic: one Ansible role on those nodes, keyed by the
                                                      sha256 of every file it installs there

A role application depends on its group's nodes and on the applications of the role before it in play order
(topology/services.py ROLES), so Pulumi runs the roles in the order site.yml does. Its inputs are, per host, the
install path → sha256 of the role's files (render/placement.py) and the builds of the software it installs: a
changed file is an update of exactly the applications that install it, and nothing else moves.

Impact classes map onto Pulumi's two kinds of change: a destructive change (plan/policy.py) is a *replace* of
the resource that holds the state (a node's role, a 3FS or Slurm identity), and such resources are `protect`ed,
so Pulumi refuses it unless --allow-destructive; everything milder is an in-place *update*. A stateful role's
application is `retainOnDelete`: taking it out of the spec never stops a 3FS storage or metadata service that
still holds data (the data moves first; plan: "3FS data migration").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ffinfra.compile import Compiled
from ffinfra.plan.software import software_hosts
from ffinfra.render.placement import Placement, place
from ffinfra.render.targets import render_all
from ffinfra.topology.services import ROLES, SLURM_ROLES, THREEFS_ROLES

CLUSTER = "ffinfra:cluster:Cluster"
ZONE = "ffinfra:cluster:Zone"
GROUP = "ffinfra:cluster:NodeGroup"
# Dynamic resources get Pulumi's type pulumi-python:dynamic/<module>:<name> (pulumi.dynamic.Resource)
NODE = "pulumi-python:dynamic/ffinfra:Node"
ROLE = "pulumi-python:dynamic/ffinfra:RoleApplication"

# The spec values whose change re-creates a role's state (plan/policy.py: DESTRUCTIVE). A change of any is a
# replace of the role's applications, which are protected. tests/unit/apply/pulumi/test_graph.py checks that every
# destructive policy path is carried by a role here (or by the node's own `role`).
_THREEFS_ID = (
    "storage.threefs.cluster_id",
    "storage.threefs.chain_table_type",
    "storage.threefs.chunk_size_kib",
    "storage.threefs.stripe_size",
    "storage.threefs.shuffle_method",
)
IDENTITY: dict[str, tuple[str, ...]] = {
    "slurm_controller": ("scheduler.slurm.cluster_name", "scheduler.slurm.controller"),
    "fdb": ("storage.threefs.cluster_id", "storage.threefs.fdb"),
    "threefs_mgmtd": _THREEFS_ID,
    "threefs_meta": _THREEFS_ID,
    "threefs_bootstrap": _THREEFS_ID,
    "threefs_storage": (*_THREEFS_ID, "storage.threefs.disk_device"),
}
# fdb.version and fdb.package_url are rolling upgrades, not a new FoundationDB
IDENTITY_EXCLUDED = ("storage.threefs.fdb.version", "storage.threefs.fdb.package_url")
# Roles whose daemons hold data that outlives them: their applications are retainOnDelete.
STATEFUL = frozenset({"fdb", "threefs_mgmtd", "threefs_meta", "threefs_storage"})

# The node inputs whose change is destructive: nodes.*.role (the node is re-provisioned, its data lost), and
# another provider (the node is made anew elsewhere).
NODE_REPLACE = ("role", "provider")
# What a diff never compares: where the stack lives on this machine is not a property of the cluster, and the
# outputs the operations add (a node's state, the run folder of a role's last apply) are not inputs.
UNCOMPARED = ("stack_dir", "state", "run", "incarnation")

# Which roles install each kind of software (plan/software.py's components)
_SOFTWARE_ROLES = {
    "hfreduce": ("hfreduce",),
    "slurm": SLURM_ROLES,
    "opensm": ("opensm",),
    "threefs": THREEFS_ROLES,
}


@dataclass(frozen=True)
class ResourceSpec:
    """One resource of the program: what program.py registers, and what the tests and docs read."""

    type: str
    name: str  # logical name, unique in the stack
    parent: str | None = None  # the parent's name
    depends_on: tuple[str, ...] = ()
    inputs: Mapping[str, Any] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False
    replace_keys: tuple[str, ...] = ()  # inputs whose change is a replace (destructive); the rest update
    # a role application's hosts: program.py adds their Nodes' incarnations as the input `nodes`, so a node made
    # anew is an update of the roles on it
    node_refs: tuple[str, ...] = ()

    @property
    def component(self) -> bool:
        return self.type in (CLUSTER, ZONE, GROUP)


@dataclass(frozen=True)
class ResourceGraph:
    stack: str
    resources: tuple[ResourceSpec, ...]

    def by_name(self) -> dict[str, ResourceSpec]:
        return {r.name: r for r in self.resources}

    def of_type(self, type_: str) -> list[ResourceSpec]:
        return [r for r in self.resources if r.type == type_]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.resources:
            out[r.type] = out.get(r.type, 0) + 1
        return out


def _get(tree: Any, path: str) -> Any:
    for part in path.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree


def identity_of(spec_json: dict[str, Any], role: str) -> dict[str, Any]:
    out = {}
    for path in IDENTITY.get(role, ()):
        value = _get(spec_json, path)
        if isinstance(value, dict):
            prefix = path + "."
            value = {k: v for k, v in value.items() if prefix + k not in IDENTITY_EXCLUDED}
        out[path] = value
    return out


def build_graph(
    c: Compiled,
    provider: str,
    stack_dir: str,
    *,
    allow_destructive: bool = False,
    placement: Placement | None = None,
) -> ResourceGraph:
    """Every resource of the stack, parents before children, in a stable order."""
    topo = c.topology
    placement = placement if placement is not None else place(topo, render_all(topo))
    spec_json = c.spec.model_dump(mode="json")
    software = software_hosts(topo)
    protect = not allow_destructive
    out: list[ResourceSpec] = [ResourceSpec(CLUSTER, topo.name, inputs={"hosts": len(topo.hosts)})]

    zone_of_subnet = {z: s.name for s in topo.subnets for z in s.zones}
    zone_names = [z.name for z in topo.zones]
    zone_names += sorted({h.zone for h in topo.hosts} - set(zone_names))  # hosts outside the fabric's zones
    dims = {z.name: z for z in topo.zones}
    # Role applications in play order, across groups: each waits for the role before it wherever it ran.
    last_role_apps: list[str] = []
    groups: dict[tuple[str, str], list[Any]] = {}
    for h in topo.hosts:
        groups.setdefault((h.zone, h.group), []).append(h)

    for zone in zone_names:
        d = dims.get(zone)
        switches = sorted(s.name for s in topo.switches if s.zone == zone)
        out.append(
            ResourceSpec(
                ZONE,
                zone,
                parent=topo.name,
                inputs={
                    "subnet": zone_of_subnet.get(zone, ""),
                    "spines": d.spines if d else 0,
                    "leaves": d.leaves if d else 0,
                    "switches": switches,
                },
            )
        )
        for (z, group), hosts in groups.items():
            if z != zone:
                continue
            gname = f"{zone}/{group}"
            out.append(ResourceSpec(GROUP, gname, parent=zone, inputs={"group": group, "hosts": len(hosts)}))
            for h in hosts:
                out.append(
                    ResourceSpec(
                        NODE,
                        h.name,
                        parent=gname,
                        inputs=_node_inputs(c, h, provider, stack_dir),
                        protect=protect,
                        replace_keys=NODE_REPLACE,
                    )
                )
    for role in ROLES:
        apps: list[str] = []
        for (zone, group), hosts in groups.items():
            files = {h.name: _files(placement, h.name, role) for h in hosts if topo.services.of(h.name).runs(role)}
            if not files:
                continue
            name = f"{zone}/{group}/{role}"
            identity = identity_of(spec_json, role)
            inputs: dict[str, Any] = {
                "stack": topo.name,
                "role": role,
                "hosts": files,
                "software": _software(software, role, set(files)),
                "stack_dir": stack_dir,
                "provider": provider,
            }
            if identity:
                inputs["identity"] = identity
            out.append(
                ResourceSpec(
                    ROLE,
                    name,
                    parent=f"{zone}/{group}",
                    depends_on=(*(h.name for h in hosts if h.name in files), *last_role_apps),
                    inputs=inputs,
                    protect=protect and bool(identity),
                    retain_on_delete=role in STATEFUL,
                    replace_keys=("identity",) if identity else (),
                    node_refs=tuple(files),
                )
            )
            apps.append(name)
        if apps:
            last_role_apps = apps
    return ResourceGraph(topo.name, tuple(out))


def _node_inputs(c: Compiled, h: Any, provider: str, stack_dir: str) -> dict[str, Any]:
    mgmt = c.spec.network.management
    inputs: dict[str, Any] = {
        "stack": c.topology.name,
        "name": h.name,
        "role": h.role,
        "group": h.group,
        "profile": h.profile_name,
        "address": h.mgmt_ip,
        "network": str(mgmt.cidr),
        "interface": c.spec.network.management_interface or "eth0",
        "stack_dir": stack_dir,
        "provider": provider,
    }
    if provider == "baremetal":
        inputs |= {"mac": h.mac or "", "bmc_url": h.bmc_url or ""}
    return inputs


def _files(placement: Placement, host: str, role: str) -> dict[str, str]:
    return {dest: a.sha256 for dest, a in placement.get(host, {}).get(role, {}).items()}


def _software(software: dict[str, tuple[str, tuple[str, ...]]], role: str, hosts: set[str]) -> dict[str, str]:
    return {
        name: build
        for name, (build, on) in sorted(software.items())
        if role in _SOFTWARE_ROLES.get(name.split("/")[0], ()) and hosts & set(on)
    }


# -- the diff every dynamic resource answers Pulumi with ------------------------------------------------------


@dataclass(frozen=True)
class Diff:
    changed: tuple[str, ...]  # input keys that differ (UNCOMPARED never count)
    replaces: tuple[str, ...]  # of those, the ones that re-create the resource

    @property
    def changes(self) -> bool:
        return bool(self.changed)


def diff_inputs(olds: Mapping[str, Any], news: Mapping[str, Any], replace_keys: tuple[str, ...]) -> Diff:
    """What Pulumi shows for a dynamic resource: the keys that differ, and which of them force a replace.
    Pulumi's own bookkeeping (`__provider`, `__`-prefixed) and where the stack lives here are not compared."""
    keys = sorted((set(olds) | set(news)) - set(UNCOMPARED))
    changed = tuple(k for k in keys if not k.startswith("__") and _canonical(olds.get(k)) != _canonical(news.get(k)))
    return Diff(changed, tuple(k for k in changed if k in replace_keys))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def changed_hosts(olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """The hosts of a role application whose files or software differ, or whose node was made anew (its
    incarnation, in `nodes`): where an update runs the role. New software (a build) concerns every host."""
    old_hosts = olds.get("hosts") or {}
    new_hosts = news.get("hosts") or {}
    if _canonical(olds.get("software")) != _canonical(news.get("software")):
        return sorted(new_hosts)
    old_nodes, new_nodes = olds.get("nodes") or {}, news.get("nodes") or {}
    return sorted(
        h
        for h, files in new_hosts.items()
        if _canonical(old_hosts.get(h)) != _canonical(files) or old_nodes.get(h) != new_nodes.get(h)
    )
