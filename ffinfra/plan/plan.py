"""A Plan: every change between two compiled stacks as rows, each with its impact and the action it needs.

Rows come in three sections: spec (what the author edited), topology (what that does to nodes, switches and
cables) and artifacts (which rendered files change, for whom). The plan's impact is the highest row's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace

from ffinfra.compile import Compiled
from ffinfra.plan.artifact_diff import ArtifactChange, diff_artifacts
from ffinfra.plan.batches import BatchPlan, fleet_of, plan_batches
from ffinfra.plan.impact import Impact
from ffinfra.plan.software import Software, builds_of, changed_software
from ffinfra.plan.spec_diff import SpecChange, diff_specs
from ffinfra.plan.topo_diff import CableChange, TopologyDiff, diff_topologies
from ffinfra.render.artifact import Artifact
from ffinfra.render.placement import place
from ffinfra.render.targets import render_all
from ffinfra.render.threefs_chains import RESIZE_CHAINS, RESIZE_CREATE, RESIZE_REMOVE
from ffinfra.spec.hostlist import compress
from ffinfra.topology.model import Host, Topology
from ffinfra.topology.threefs import ETC_DIR as ETC


@dataclass(frozen=True, slots=True)
class Row:
    section: str  # spec | topology | software | artifact
    subject: str  # what changed, short: a YAML path, "gpu[0579-0618] added", a file path
    change: str  # old → new, or a count
    impact: Impact | None  # None: derived (the topology/artifact rows carry it)
    action: str
    details: tuple[str, ...] = ()  # per-item lines (leaf ports, cables) for folded sections


@dataclass
class Plan:
    stack: str
    old_label: str
    new_label: str
    spec: list[SpecChange]
    topo: TopologyDiff
    artifacts: list[ArtifactChange]
    rows: list[Row] = field(default_factory=list)
    allow_destructive: bool = False
    # the batches of the rolling part (files whose change restarts daemons or reboots nodes), in run order
    batches: BatchPlan | None = None
    software: list[Software] = field(default_factory=list)  # builds that differ from the applied ones

    @property
    def changed(self) -> bool:
        return bool(self.rows)

    @property
    def impact(self) -> Impact:
        return max((r.impact for r in self.rows if r.impact is not None), default=Impact.NOOP)

    @property
    def refused(self) -> bool:
        """Destructive changes without --allow-destructive, or anything ffinfra cannot apply in place."""
        i = self.impact
        return i >= Impact.UNSUPPORTED or (i >= Impact.DESTRUCTIVE and not self.allow_destructive)

    def section(self, name: str) -> list[Row]:
        return [r for r in self.rows if r.section == name]


def _fmt(value: object) -> str:
    if value is None:
        return "∅"
    text = str(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "…"


def _spec_rows(changes: list[SpecChange], has_effect: bool) -> list[Row]:
    rows = []
    for c in changes:
        pol = c.policy
        impact = pol.impact if pol else Impact.UNSUPPORTED
        action = pol.action if pol else "no update policy for this field: ffinfra cannot tell what it does"
        if impact is None and not has_effect:
            impact, action = Impact.NOOP, "no effect on the compiled cluster"
        change = {"added": f"+ {_fmt(c.new)}", "removed": f"- {_fmt(c.old)}"}.get(
            c.kind, f"{_fmt(c.old)} → {_fmt(c.new)}"
        )
        rows.append(Row("spec", c.display_path, change, impact, action))
    return rows


_HOST_ADDED = {
    "compute": (Impact.ROLLING_RESTART, "restart slurmctld so Slurm 22.05 knows the nodes, then start their slurmd"),
    "storage": (Impact.DATA_MIGRATION, "new 3FS targets join the chain table: data rebalances onto them"),
}
_HOST_REMOVED = {
    "compute": (Impact.ROLLING_RESTART, "drain the nodes, then restart slurmctld without them"),
    "storage": (Impact.DATA_MIGRATION, "offline their 3FS targets first: chains re-replicate their data"),
}
_OTHER = (Impact.ROLLING_RESTART, "provision the nodes; restart the services that list them")


def _host_groups(hosts: list[Host]) -> dict[tuple[str, str, str], list[Host]]:
    out: dict[tuple[str, str, str], list[Host]] = defaultdict(list)
    for h in hosts:
        out[(h.group, h.role, h.zone)].append(h)
    return out


def _ports(h: Host) -> str:
    return ", ".join(f"{p.nic}→{p.leaf}[{p.leaf_port}]" for p in h.ports) or "no IB port"


def _cables(changes: list[CableChange]) -> tuple[str, ...]:
    return tuple(f"{c.switch}[{c.port}]: {c.old or 'free'} → {c.new or 'free'}" for c in changes)


def _topology_rows(d: TopologyDiff) -> list[Row]:
    rows: list[Row] = []
    for (group, role, zone), hosts in _host_groups(d.added).items():
        impact, action = _HOST_ADDED.get(role, _OTHER)
        rows.append(
            Row(
                "topology",
                f"{compress(h.name for h in hosts)} added",
                f"{len(hosts)} {role} node(s) of {group} in {zone}",
                impact,
                action,
                tuple(f"{h.name} {h.mgmt_ip}: {_ports(h)}" for h in hosts),
            )
        )
    for (group, role, zone), hosts in _host_groups(d.removed).items():
        impact, action = _HOST_REMOVED.get(role, _OTHER)
        rows.append(
            Row(
                "topology",
                f"{compress(h.name for h in hosts)} removed",
                f"{len(hosts)} {role} node(s) of {group} in {zone}",
                impact,
                action,
                tuple(f"{h.name}: frees {_ports(h)}" for h in hosts),
            )
        )
    if d.renamed:
        rows.append(
            Row(
                "topology",
                f"{len(d.renamed)} node(s) renamed",
                f"{compress(o.name for o, _ in d.renamed)} → {compress(n.name for _, n in d.renamed)}",
                Impact.ROLLING_REBOOT,
                "re-provision each node under its new name, a batch at a time",
                tuple(f"{o.name} → {n.name}" for o, n in d.renamed),
            )
        )
    moved_hosts = sorted({m.host for m in d.moved})
    if moved_hosts:
        rows.append(
            Row(
                "topology",
                f"{len(moved_hosts)} node(s) re-cabled",
                f"{len(d.moved)} HCA port(s) move: {compress(moved_hosts)}",
                Impact.FABRIC_REROUTE,
                "re-plug each port as listed; OpenSM re-sweeps",
                tuple(f"{m.host} {m.nic}[{m.port}]: {m.old} → {m.new}" for m in d.moved),
            )
        )
    if d.readdressed:
        rows.append(
            Row(
                "topology",
                f"{len(d.readdressed)} node(s) re-addressed",
                compress(n.name for _, n in d.readdressed),
                Impact.ROLLING_REBOOT,
                "re-address and reboot a batch at a time",
                tuple(f"{n.name}: {o.mgmt_ip} → {n.mgmt_ip}" for o, n in d.readdressed),
            )
        )
    if d.changed_profile:
        rows.append(
            Row(
                "topology",
                f"{len(d.changed_profile)} node(s) change hardware profile",
                compress(n.name for _, n in d.changed_profile),
                Impact.ROLLING_REBOOT,
                "drain, swap hardware, re-provision a batch at a time",
                tuple(f"{n.name}: {o.profile_name} → {n.profile_name}" for o, n in d.changed_profile),
            )
        )
    for verb, names in (("added", d.switches_added), ("removed", d.switches_removed)):
        if names:
            rows.append(
                Row(
                    "topology",
                    f"{len(names)} switch(es) {verb}",
                    compress(names),
                    Impact.FABRIC_REROUTE,
                    f"{'install and cable' if verb == 'added' else 'uncable and remove'} them; OpenSM re-sweeps",
                    tuple(names),
                )
            )
    # Cables that the node and switch rows above do not already explain.
    explained = {h.name for h in d.added} | {h.name for h in d.removed} | {m.host for m in d.moved}
    explained_sw = set(d.switches_added) | set(d.switches_removed)

    def unexplained(cs: list[CableChange]) -> list[CableChange]:
        skip = explained | explained_sw
        return [c for c in cs if c.switch not in explained_sw and not ({c.old_node, c.new_node} & skip)]

    for verb, cs in (
        ("plugged", unexplained(d.cables_added)),
        ("unplugged", unexplained(d.cables_removed)),
        ("re-plugged", unexplained(d.cables_replugged)),
    ):
        if cs:
            rows.append(
                Row(
                    "topology",
                    f"{len(cs)} cable(s) {verb}",
                    f"on {compress(sorted({c.switch for c in cs}))}",
                    Impact.FABRIC_REROUTE,
                    "re-cable as listed (switch[port]: before → after); OpenSM re-sweeps",
                    _cables(cs),
                )
            )
    return rows


def _artifact_rows(changes: list[ArtifactChange]) -> list[Row]:
    return [
        Row(
            "artifact",
            c.path,
            f"{c.kind}, +{c.lines_added}/-{c.lines_removed} lines → {c.audience}",
            c.impact,
            c.action,
        )
        for c in changes
    ]


TIB = 2**40


def threefs_rows(old: Topology, new: Topology) -> list[Row]:
    """The 3FS steps of a storage change, in the order they must run: replicas are added and synced before any is
    removed, so no chain ever serves with fewer targets than its replication."""
    r = new.chain_resize
    if r is None or (not r.moves and not r.new_chains) or old.chain_table is None:
        return []
    t = new.threefs
    assert t is not None
    nvme = new.spec.hardware[new.host_by_name[t.storage[0].host].profile_name].nvme
    per_target = nvme.size_tb * 1e12 / new.spec.storage.threefs.targets_per_disk
    created = len({m.into.target_id for m in r.moves}) + sum(len(c.targets) for c in r.new_chains)
    removed = len({m.out.target_id for m in r.moves})
    moved_chains = len({m.chain_id for m in r.moves})
    bytes_ = len(r.moves) * per_target
    added = sorted(set(r.table.node_ids) - set(old.chain_table.node_ids))
    gone = sorted(set(old.chain_table.node_ids) - set(r.table.node_ids))
    what = ", ".join(
        x
        for x in (f"+{len(added)} storage node(s)" if added else "", f"-{len(gone)} storage node(s)" if gone else "")
        if x
    )
    steps = [
        f"1. create-target × {created} on the nodes that receive replicas ({ETC}/chains/{RESIZE_CREATE})",
        f"2. upload-chains {ETC}/chains/{RESIZE_CHAINS}: {moved_chains} existing chain(s) get their new target "
        "beside the old one"
        + (f"; then the {len(r.new_chains)} new chain(s) ({ETC}/chains/generated_chains.csv)" if r.new_chains else ""),
        f"3. wait until every new target is SERVING-UPTODATE ({len(r.moves)} replica(s) sync, up to "
        f"{_size(bytes_)} if the targets are full)",
        "4. upload-chain-table with the new chains" if r.new_chains else "4. chain table unchanged (no new chain)",
        f"5. offline-target and remove-target × {removed} replaced target(s) ({ETC}/chains/{RESIZE_REMOVE}); "
        "upload-chains generated_chains.csv (the chains without them)",
    ]
    if gone:
        steps.append(f"6. only then stop storage_main on {compress(h for h, i in _storage_hosts(old) if i in gone)}")
    steps += [f"   {m.chain_id}: {m.out.target_id} (node {m.out.node_id}) → {m.into.target_id} (node {m.into.node_id})"
              for m in r.moves]  # fmt: skip
    return [
        Row(
            "topology",
            "3FS chains",
            f"{what}: {len(r.new_chains)} new chain(s), {len(r.moves)} replica(s) of {moved_chains} chain(s) move "
            f"(up to {_size(bytes_)})",
            Impact.DATA_MIGRATION,
            "the 3FS steps below, in order; no chain drops below its replicas",
            tuple(steps),
        )
    ]


def _size(n: float) -> str:
    return f"{n / TIB:.1f} TiB" if n >= TIB else f"{n / 2**30:.1f} GiB"


def _storage_hosts(topo: Topology) -> list[tuple[str, int]]:
    return [(n.host, n.node_id) for n in topo.threefs.storage] if topo.threefs else []


def _software_rows(changes: list[Software]) -> list[Row]:
    return [
        Row(
            "software",
            s.component,
            f"{s.old} → {s.new}",
            Impact.ROLLING_RESTART,
            s.action,
            tuple(s.hosts),
        )
        for s in changes
    ]


def build_plan(
    old: Compiled,
    new: Compiled,
    old_label: str,
    new_label: str,
    allow_destructive: bool = False,
    old_builds: dict[str, str] | None = None,
) -> Plan:
    """The plan from `old` to `new`. `old_builds`: the builds the cluster runs (state.json), when they can differ
    from what `old` compiles to now (a newer ffinfra brings new sources); by default `old`'s own."""
    spec = diff_specs(old.spec, new.spec)
    new_topo = new.topology
    if old.topology.chain_table is not None and new_topo.base_chains is None:
        # the new chains grow or shrink from the old ones: same chain ids, few replicas move
        new_topo = replace(new_topo, base_chains=old.topology.chain_table)
    topo = diff_topologies(old.topology, new_topo)
    old_files, new_files = render_all(old.topology), render_all(new_topo)
    arts = diff_artifacts(old_files, new_files)
    software = changed_software(builds_of(old.topology) if old_builds is None else old_builds, new_topo)
    rows = (
        _spec_rows(spec, has_effect=bool(arts) or not topo.empty or bool(software))
        + _topology_rows(topo)
        + threefs_rows(old.topology, new_topo)
        + _software_rows(software)
        + _artifact_rows(arts)
    )
    batches = rolling_batches(
        arts,
        old.topology,
        old_files,
        new_topo,
        new_files,
        reboot_hosts(spec, topo, new_topo),
        [h for s in software for h in s.hosts],
        controller_first=any(s.component == "slurm" for s in software),  # Slurm upgrades slurmctld first
    )
    return Plan(new.topology.name, old_label, new_label, spec, topo, arts, rows, allow_destructive, batches, software)


# File changes that restart a daemon host by host. A fabric re-route restarts OpenSM (only opensm/ files are
# judged so): its SM hosts go one at a time too, each subnet's standby before its master.
ROLLING = (Impact.ROLLING_RESTART, Impact.ROLLING_REBOOT, Impact.FABRIC_REROUTE)


def rolling_hosts(
    changes: list[ArtifactChange], old: Topology, old_files: list[Artifact], new: Topology, new_files: list[Artifact]
) -> list[str]:
    """The hosts of the new topology that install (or installed) a file whose change restarts or reboots (or
    restarts OpenSM for a re-route)."""
    paths = {c.path for c in changes if c.impact in ROLLING}
    hosts: set[str] = set()
    for topo, files in ((old, old_files), (new, new_files)):
        for host, roles in place(topo, [a for a in files if a.path in paths]).items():
            if roles:
                hosts.add(host)
    return [h.name for h in new.hosts if h.name in hosts]


def reboot_hosts(spec: list[SpecChange], d: TopologyDiff, new: Topology) -> list[str]:
    """The hosts of the new topology that reboot: re-addressed, given another hardware profile, or of a profile
    (or an image) whose change the policy says needs a reboot. Renamed nodes are re-provisioned, not rebooted."""
    out = {n.name for _, n in d.readdressed} | {n.name for _, n in d.changed_profile}
    for c in spec:
        if c.policy is None or c.policy.impact != Impact.ROLLING_REBOOT:
            continue
        if c.path[0] == "hardware" and len(c.path) > 2:  # a part of a profile changed: its nodes
            out |= {h.name for h in new.hosts if h.profile_name == c.path[1]}
        elif c.path[0] == "provisioning":  # the image: every node boots the new one
            out |= {h.name for h in new.hosts}
    return [h.name for h in new.hosts if h.name in out]


def rolling_batches(
    changes: list[ArtifactChange],
    old: Topology,
    old_files: list[Artifact],
    new: Topology,
    new_files: list[Artifact],
    reboot: tuple[str, ...] | list[str] = (),
    rebuilt: tuple[str, ...] | list[str] = (),  # hosts that get a new build (plan/software.py)
    controller_first: bool = False,
) -> BatchPlan | None:
    hosts = [*rolling_hosts(changes, old, old_files, new, new_files), *rebuilt]
    if not hosts and not reboot:
        return None
    resize = new.chain_resize
    return plan_batches(fleet_of(new), hosts, resize.table if resize else None, reboot, controller_first)
