"""`ffinfra up` and `ffinfra upgrade` of a running stack: a change taken through the plan's rolling batches.

    plan     the plan from the applied spec (state.json) to this one, refused as `up` refuses; its batches
             (plan/batches.py) are the ones `plan` and `upgrade --dry-run` show
    batches  each batch through apply/rollout.py: Slurm nodes drained with a reason naming the change, their
             jobs allowed to finish, `up` limited to the batch (the roles whose files changed, those hosts),
             the hosts that must reboot rebooted (the provider's reboot; the lab's is a reboot of the node's
             systemd), the health gate (the batch's files in place and its daemons running; a Slurm node
             not down), resumed; all journaled in stacks/<name>/state/rollout.json
    finish   a plain `up` over the whole stack: what needs no batch (hot reloads, the operator's files), the
             applied spec recorded, and `up`'s closing checks; then the journal is removed

A change with no rolling part is a plain `up`. `ffinfra up` of a stack applied before comes here too (unless
--all-at-once); `ffinfra upgrade` differs only in refusing a stack that was never brought up.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from ffinfra.apply.applied import plan_against_applied
from ffinfra.apply.chain_gate import batch_chains, wait_for_chains
from ffinfra.apply.events import Reporter, Silent
from ffinfra.apply.probe import probe_hosts
from ffinfra.apply.provider import Provider
from ffinfra.apply.providers import fabric_is_simulated, get_provider
from ffinfra.apply.rollout import RolloutOptions, abort, finish, run_rollout, start_or_resume
from ffinfra.apply.slurm_nodes import SlurmNodes
from ffinfra.apply.up import PlanRefused, UpOptions, UpResult, up
from ffinfra.compile import Compiled
from ffinfra.errors import OperationalError, UserError
from ffinfra.plan.plan import Plan
from ffinfra.render.placement import installed_files, place
from ffinfra.render.targets import render_all
from ffinfra.runtime.journal import load_journal
from ffinfra.runtime.paths import StackPaths
from ffinfra.runtime.secrets import StackSecrets
from ffinfra.runtime.ssh import Remote
from ffinfra.runtime.state import load_state
from ffinfra.topology.threefs import ADMIN_CLI

REBOOT_SETTLE_S = 120.0


class _BatchReporter:
    """What a batch's `up` reports, trimmed for the rolling change's lines: its failures and what it runs."""

    def __init__(self, outer: Reporter):
        self.outer = outer

    def phase(self, name: str) -> None:
        pass

    def host(self, host: str, phase: str, status: str, task: str = "") -> None:
        self.outer.host(host, phase, status, task)

    def line(self, text: str) -> None:
        if text.startswith("running "):
            self.outer.line(f"  {text}")

    def plan(self, plan: Plan) -> None:
        pass


class StackCluster:
    """The Cluster (apply/rollout.py) of a running stack."""

    def __init__(self, c: Compiled, opts: UpOptions, reporter: Reporter, remote: Remote, provider: Provider):
        self.c, self.opts, self.reporter, self.remote, self.provider = c, opts, reporter, remote, provider
        svc = c.topology.services
        self.slurm = SlurmNodes(remote, svc.slurm_controller)
        self.slurm_nodes = set(svc.slurm_nodes)
        self.sim = fabric_is_simulated(opts.provider)
        self._files: dict[str, dict[str, str]] | None = None  # what every host must have: for the health gates

    def _must_have(self) -> dict[str, dict[str, str]]:
        if self._files is None:
            self._files = installed_files(place(self.c.topology, render_all(self.c.topology)))
        return self._files

    def _in_slurm(self, hosts: Sequence[str]) -> list[str]:
        return [h for h in hosts if h in self.slurm_nodes]

    def drain(self, hosts: Sequence[str], reason: str) -> None:
        self.slurm.drain(self._in_slurm(hosts), reason)

    def busy(self, hosts: Sequence[str]) -> list[str]:
        return self.slurm.busy(self._in_slurm(hosts))

    def requeue(self, hosts: Sequence[str]) -> None:
        self.slurm.requeue(self._in_slurm(hosts))

    def resume(self, hosts: Sequence[str]) -> None:
        if self._in_slurm(hosts):
            self.slurm.resume(self._in_slurm(hosts))

    def apply(self, hosts: Sequence[str]) -> None:
        opts = replace(self.opts, limit=list(hosts), verify=False, within_rollout=True)
        result = up(self.c, opts, _BatchReporter(self.reporter))
        if not result.ok:
            f = result.failure
            detail = f"{f.host}: {f.task}: {f.error} (log {f.log})" if f else "see the run's log"
            raise OperationalError(f"applying batch {', '.join(hosts)} failed on {detail}")

    def reboot(self, hosts: Sequence[str]) -> None:
        """The provider reboots the hosts side by side; then Slurm is given REBOOT_SETTLE_S to hear from their
        slurmd again (ReturnToService=2 takes a rebooted node back as it was: drained)."""
        with ThreadPoolExecutor(max_workers=max(1, min(len(hosts), 16))) as pool:
            for _ in pool.map(self.provider.reboot, hosts):
                pass
        for h in hosts:
            self.remote.forget(h)  # its SSH connection ended with the old boot
        slurm = self._in_slurm(hosts)
        deadline = time.monotonic() + REBOOT_SETTLE_S
        while slurm and time.monotonic() < deadline:
            if all(s.responding for s in self.slurm.states(slurm).values()):
                return
            time.sleep(1.0)

    def _chains_complete(self, hosts: Sequence[str]) -> list[str]:
        """A storage batch: its nodes' 3FS chains complete again (apply/chain_gate.py), where 3FS runs."""
        topo = self.c.topology
        layout, table = topo.threefs, topo.chain_table
        if self.sim or layout is None or table is None:  # a simulated fabric starts no 3FS service
            return []
        ids = [n.node_id for n in layout.storage if n.host in hosts]
        if not ids:
            return []
        chains = batch_chains(table, ids)

        def list_chains() -> str:
            r = self.remote.run(layout.admin_host, f"{ADMIN_CLI} list-chains", timeout=120)
            return r.stdout if r.ok else f"{r.stdout}\n{r.stderr}"

        timeout = topo.spec.upgrades.resync_timeout_s
        problems = wait_for_chains(list_chains, chains, table.replication, timeout, say=self.reporter.line)
        return [f"3FS after {timeout} s: {p}" for p in problems[:5]]

    def health(self, kind: str, hosts: Sequence[str]) -> list[str]:
        """The batch's files are in place and its daemons run; then, where 3FS runs, its storage nodes' chains are
        complete again; a Slurm node is not down or unresponsive."""
        topo = self.c.topology
        files = self._must_have()
        units = {h: list(topo.services.of(h).units_on(self.sim)) for h in hosts}
        probes = probe_hosts(self.remote, {h: files.get(h, {}) for h in hosts}, units)
        problems = [f"{h}: {'; '.join(p.problems())}" for h, p in sorted(probes.items()) if not p.healthy]
        if not problems:  # a storage node may be in a batch of another kind (a standby SM's, the controller's)
            problems += self._chains_complete(hosts)
        slurm = self._in_slurm(hosts)
        if slurm:
            for h, s in sorted(self.slurm.states(slurm).items()):
                if s.state.startswith(("down", "fail")) or not s.responding:
                    silent = "" if s.responding else ", not responding"
                    problems.append(f"{h}: Slurm says {s.state}{silent} ({s.reason})")
        return problems


@dataclass
class UpgradeResult:
    plan: Plan | None
    batches_done: int = 0
    skipped: list[int] | None = None  # batches left for a later run (jobs outlasted the wait)
    final: UpResult | None = None


def change_summary(plan: Plan) -> str:
    """What the drain reason says: the change, short (Slurm shows it in sinfo -R)."""
    paths = [a.path for a in plan.artifacts if a.impact >= plan.impact]
    what = paths[0] + (f" and {len(paths) - 1} more" if len(paths) > 1 else "") if paths else plan.impact.label
    return f"ffinfra {plan.stack}: {plan.impact.label}, {what}"[:120]


def upgrade(
    c: Compiled, opts: UpOptions, rollout: RolloutOptions, reporter: Reporter, new_stack_ok: bool = False
) -> UpgradeResult:
    """The change from the applied spec to this one, batch by batch, then the closing `up`. A stack never brought
    up is refused, or (`new_stack_ok`, as `up` asks) brought up by a plain `up`."""
    paths = StackPaths(c.stack.dir)
    state = load_state(paths.state_json)
    plan = plan_against_applied(c, state, opts.allow_destructive)
    if plan is None and not new_stack_ok:
        raise UserError(f"stack {c.topology.name!r} was never brought up: `ffinfra up {c.topology.name}` first")
    if plan is not None and plan.refused:
        raise PlanRefused(plan)
    result = UpgradeResult(plan)
    journal_path = paths.rollout_journal
    journal = load_journal(journal_path)
    if plan is not None and plan.batches is not None:
        provider = get_provider(opts.provider, c.topology.name, paths.state_dir, c.topology)
        access = provider.access()
        missing = [h.name for h in c.topology.hosts if h.name not in access]
        if missing:
            raise UserError(f"stack {c.topology.name!r} is not running ({', '.join(missing)}): `ffinfra up` first")
        remote = StackSecrets(paths.secrets).remote(access.values())
        try:
            what = "\n".join(f"{a.path} {a.kind}" for a in plan.artifacts)
            journal = start_or_resume(journal_path, plan.batches, what, change_summary(plan))
            cluster = StackCluster(c, opts, reporter, remote, provider)
            result.skipped = run_rollout(journal_path, journal, cluster, rollout, reporter.line)
            result.batches_done = len(plan.batches.batches) - len(result.skipped)
        finally:
            remote.close()
        if result.skipped:
            return result
    elif journal is not None and not journal.complete:
        raise OperationalError(
            f"a rolling change is under way ({journal_path}, started {journal.started_at}: {journal.reason}), and "
            "this spec does not plan it: put back the spec of that change and re-run to finish it, or return its "
            f"drained nodes to service with `ffinfra upgrade {c.topology.name} --abort`"
        )
    # Every batch is done (or none was needed): the closing `up` records the change; the journal goes after it.
    result.final = up(c, replace(opts, within_rollout=journal_path.exists()), reporter)
    if result.final.ok:
        finish(journal_path)
    return result


def abort_upgrade(c: Compiled, provider_kind: str) -> list[str] | None:
    """Returns the nodes a stopped upgrade drained to service, and forgets it; None when none was under way."""
    paths = StackPaths(c.stack.dir)
    if not paths.rollout_journal.exists():
        return None
    provider = get_provider(provider_kind, c.topology.name, paths.state_dir, c.topology)
    remote = StackSecrets(paths.secrets).remote(provider.access().values())
    try:
        cluster = StackCluster(c, UpOptions(provider=provider_kind), Silent(), remote, provider)
        return abort(paths.rollout_journal, cluster.resume)
    finally:
        remote.close()
