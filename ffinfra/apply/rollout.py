"""A rolling change, batch by batch (the batches of plan/batches.py), recorded in a journal (runtime/journal.py).

Each batch of compute nodes is drained in Slurm with a reason naming the change, its running jobs are allowed to
finish (up to a timeout, then requeued or the batch skipped, by policy), its roles are applied, a health gate
checks it, and it is resumed. Other batches (controller, subnet managers, storage, the rest) are applied and
gated. Every step is recorded before it starts and after it ends, so a crash or Ctrl-C is re-run from where it
stopped, repeating no finished step, and --abort returns what was drained to service.

A batch whose hosts must reboot (plan/plan.py: reboot_hosts) reboots them after the apply step, before the
gate. The journal stays once every batch is done: the change is over when the closing `up` over the whole stack
has recorded it (apply/upgrade.py removes it then), so a failure there is re-run without repeating a batch.

The cluster side is a `Cluster` (drain, busy, requeue, apply, reboot, health, resume): apply/upgrade.py's
StackCluster (scontrol over SSH, Ansible limited to the batch, the provider's reboot, the batch's probes as the
gate). The unit tests drive this module with a recording one that stops it at every step.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

from ffinfra.errors import OperationalError
from ffinfra.plan.batches import BatchPlan
from ffinfra.runtime.journal import Journal, JournalBatch, change_digest, load_journal, save_journal

DRAINED = ("canary", "compute")  # batches of Slurm nodes: drained before, resumed after
STEPS = {
    "canary": ("drain", "wait", "apply", "health", "resume"),
    "compute": ("drain", "wait", "apply", "health", "resume"),
    "standby-sm": ("apply", "health"),
    "controller": ("apply", "health"),
    "subnet-manager": ("apply", "health"),
    "storage": ("apply", "health"),  # where 3FS runs, the gate waits for the batch's chains (apply/chain_gate.py)
    "other": ("apply", "health"),
}


def steps_of(kind: str, reboots: bool) -> list[str]:
    """A batch's steps: its kind's, with a reboot between apply and the health gate when some of its hosts reboot."""
    steps = list(STEPS[kind])
    if reboots:
        steps.insert(steps.index("apply") + 1, "reboot")
    return steps


class Cluster(Protocol):
    def drain(self, hosts: Sequence[str], reason: str) -> None: ...
    def busy(self, hosts: Sequence[str]) -> list[str]: ...  # the hosts still running jobs
    def requeue(self, hosts: Sequence[str]) -> None: ...
    def apply(self, hosts: Sequence[str]) -> None: ...
    def reboot(self, hosts: Sequence[str]) -> None: ...  # returns once they run again
    def health(self, kind: str, hosts: Sequence[str]) -> list[str]: ...  # problems; [] = healthy
    def resume(self, hosts: Sequence[str]) -> None: ...


@dataclass(frozen=True)
class RolloutOptions:
    wait_s: float = 3600.0  # how long a drained batch's jobs may run on
    on_busy: Literal["requeue", "skip"] = "skip"  # at the timeout: requeue the jobs, or leave the batch for later
    poll_s: float = 5.0


class RolloutStopped(OperationalError):
    """The change stopped with the journal kept: a health gate failed (the batch stays drained) or it was
    interrupted. Re-run to continue; --abort to return the drained nodes to service."""


Progress = Callable[[str], None]


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_journal(plan: BatchPlan, what: str, reason: str) -> Journal:
    batches = [(b.kind, b.hosts, b.reboot) for b in plan.batches]
    return Journal(
        change=change_digest(batches, what),
        reason=reason,
        started_at=now(),
        batches=[
            JournalBatch(
                index=b.index,
                kind=b.kind,
                hosts=list(b.hosts),
                reboot=list(b.reboot),
                steps=steps_of(b.kind, bool(b.reboot)),
            )
            for b in plan.batches
        ],
    )


def start_or_resume(path: Path, plan: BatchPlan, what: str, reason: str) -> Journal:
    """The journal to run: the one on disk when it is this change (a re-run continues it), else a new one. A
    journal of another change is refused: two changes never interleave on one cluster."""
    fresh = new_journal(plan, what, reason)
    old = load_journal(path)
    if old is None or (old.change != fresh.change and old.complete):  # a finished change whose closing `up`
        save_journal(path, fresh)  # failed: this change's closing `up` records both
        return fresh
    if old.change != fresh.change:
        raise OperationalError(
            f"another rolling change is under way ({path}, started {old.started_at}: {old.reason}); finish it by "
            "re-running that change, or return its nodes to service with --abort"
        )
    for b in old.batches:  # batches skipped for busy nodes are tried again
        if "skipped" in b.done:
            b.done = []
    old.failed = ""
    return old


def run_rollout(path: Path, journal: Journal, cluster: Cluster, opts: RolloutOptions, say: Progress) -> list[int]:
    """Runs every step not done yet, in order. Returns the batches skipped for busy nodes (a re-run tries them
    again). The journal stays: `finish` removes it once the change is recorded."""
    skipped: list[int] = []
    while (nxt := _next(journal, skipped)) is not None:
        batch, step = nxt
        hosts = batch.hosts
        journal.current = (batch.index, step)
        journal.history.append(f"{now()} start {batch.index} {step}")
        save_journal(path, journal)
        say(f"batch {batch.index}/{len(journal.batches)} ({batch.kind}: {', '.join(hosts)}): {step}")
        if step == "drain":
            cluster.drain(hosts, journal.reason)
        elif step == "wait":
            deadline = time.monotonic() + opts.wait_s
            if busy := cluster.busy(hosts):
                say(f"  waiting for the jobs on {', '.join(busy)} to end (at most {opts.wait_s:.0f} s)")
            while busy and time.monotonic() < deadline:
                time.sleep(opts.poll_s)
                busy = cluster.busy(hosts)
            if busy and opts.on_busy == "requeue":
                say(f"  jobs still running on {', '.join(busy)} after {opts.wait_s:.0f} s: requeued")
                cluster.requeue(busy)
                while cluster.busy(hosts):
                    time.sleep(opts.poll_s)
            elif busy:
                say(f"  jobs still running on {', '.join(busy)} after {opts.wait_s:.0f} s: batch skipped for now")
                cluster.resume(hosts)
                batch.done = ["skipped"]
                skipped.append(batch.index)
                _finish(path, journal, batch, None)
                continue
        elif step == "apply":
            cluster.apply(hosts)
        elif step == "reboot":
            cluster.reboot(batch.reboot)
        elif step == "health":
            problems = cluster.health(batch.kind, hosts)
            if problems:
                journal.failed = f"batch {batch.index} failed its health gate: " + "; ".join(problems)
                journal.current = None
                journal.history.append(f"{now()} failed {batch.index} health")
                save_journal(path, journal)
                left = " (left drained)" if batch.kind in DRAINED else ""
                raise RolloutStopped(
                    f"{journal.failed}{left}. Fix it and re-run to continue from this gate, or --abort to return "
                    f"drained nodes to service ({path})"
                )
        elif step == "resume":
            cluster.resume(hosts)
        _finish(path, journal, batch, step)
    return skipped


def finish(path: Path) -> None:
    """The change is recorded (the closing `up` succeeded): forget it."""
    path.unlink(missing_ok=True)


def _next(journal: Journal, skipped: list[int]) -> tuple[JournalBatch, str] | None:
    for b in journal.batches:
        if b.index in skipped:
            continue
        for step in b.steps:
            if step not in b.done:
                return b, step
    return None


def _finish(path: Path, journal: Journal, batch: JournalBatch, step: str | None) -> None:
    if step is not None:
        batch.done.append(step)
    journal.current = None
    journal.history.append(f"{now()} done {batch.index} {step or 'skipped'}")
    save_journal(path, journal)


def abort(path: Path, resume: Callable[[Sequence[str]], None]) -> list[str]:
    """Returns every node the change drained and did not resume to service, and forgets the change."""
    journal = load_journal(path)
    if journal is None:
        return []
    hosts = journal.drained()
    if hosts:
        resume(hosts)
    path.unlink(missing_ok=True)
    return hosts
