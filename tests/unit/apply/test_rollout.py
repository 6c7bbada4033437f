"""A rolling change runs batch by batch through its steps, journaled: stopped at any point (a crash, Ctrl-C) and run
again, it finishes without repeating a finished step; a failed health gate stops it with the batch left drained;
--abort returns drained nodes to service; jobs that outlast the wait are requeued or their batch left for later;
the hosts that must reboot reboot between the apply and the gate.

The cluster here is a recording one: these tests are about the order and the journal. The lab runs the real
steps (scontrol, Ansible, the node suite)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import pytest

from ffinfra.apply.rollout import (
    STEPS,
    RolloutOptions,
    RolloutStopped,
    abort,
    finish,
    run_rollout,
    start_or_resume,
    steps_of,
)
from ffinfra.errors import OperationalError
from ffinfra.plan.batches import Fleet, plan_batches
from ffinfra.runtime.journal import load_journal

FLEET = Fleet(
    order=("ctl01", "cn01", "cn02", "cn03", "st01", "st02", "login01"),
    controller="ctl01",
    sm_subnets={},
    compute_zone={"cn01": "z0", "cn02": "z0", "cn03": "z0"},
    storage_id={"st01": 1, "st02": 2},
    max_unavailable=1,
    canary=1,
)
PLAN = plan_batches(FLEET, FLEET.order, reboot=["cn02", "st01"])  # a node of a compute and of a storage batch
FAST = RolloutOptions(wait_s=0.0, poll_s=0.0)


class Crash(BaseException):
    """Stands for the process dying (kill -9, Ctrl-C): not an error the runner may catch."""


class Recording:
    """Records every action; raises Crash at action number `crash_at`; keeps hosts busy or unhealthy on demand."""

    def __init__(
        self,
        crash_at: int | None = None,
        crash_after: bool = False,
        busy: Sequence[str] = (),
        unhealthy: Sequence[str] = (),
    ):
        self.log: list[tuple[str, tuple[str, ...]]] = []
        self.crash_at = crash_at
        self.crash_after = crash_after  # the action done, but the process dies before the journal records it
        self.busy_hosts = set(busy)
        self.unhealthy = set(unhealthy)
        self.requeued: list[str] = []
        self.drained: set[str] = set()

    def _do(self, action: str, hosts: Sequence[str]) -> None:
        crash = self.crash_at is not None and len(self.log) == self.crash_at
        if crash and not self.crash_after:
            raise Crash
        self.log.append((action, tuple(hosts)))
        if crash:
            raise Crash

    def drain(self, hosts: Sequence[str], reason: str) -> None:
        assert reason.startswith("ffinfra")
        self._do("drain", hosts)
        self.drained |= set(hosts)

    def busy(self, hosts: Sequence[str]) -> list[str]:
        self._do("wait", hosts)
        return [h for h in hosts if h in self.busy_hosts]

    def requeue(self, hosts: Sequence[str]) -> None:
        self.requeued += hosts
        self.busy_hosts -= set(hosts)

    def apply(self, hosts: Sequence[str]) -> None:
        self._do("apply", hosts)

    def reboot(self, hosts: Sequence[str]) -> None:
        self._do("reboot", hosts)

    def health(self, kind: str, hosts: Sequence[str]) -> list[str]:
        self._do("health", hosts)
        return [f"{h}: slurmd not running" for h in hosts if h in self.unhealthy]

    def resume(self, hosts: Sequence[str]) -> None:
        self._do("resume", hosts)
        self.drained -= set(hosts)


def expected() -> list[tuple[str, tuple[str, ...]]]:
    return [
        (step, b.reboot if step == "reboot" else b.hosts)
        for b in PLAN.batches
        for step in steps_of(b.kind, bool(b.reboot))
    ]


def complete(path) -> bool:
    journal = load_journal(path)
    return journal is not None and journal.complete


def run(path, cluster, opts=FAST):
    journal = start_or_resume(path, PLAN, "slurm.conf", "ffinfra lab: slurm.conf changed")
    return run_rollout(path, journal, cluster, opts, lambda _: None)


def test_each_batch_goes_through_its_steps_in_order_and_the_journal_stays_until_the_change_is_recorded(tmp_path):
    path = tmp_path / "rollout.json"
    c = Recording()
    assert run(path, c) == []
    assert c.log == expected()
    assert ("reboot", ("cn02",)) in c.log and ("reboot", ("st01",)) in c.log  # only the hosts that must
    assert [s for s, hosts in c.log if hosts == ("cn02",)] == ["drain", "wait", "apply", "reboot", "health", "resume"]
    assert [b.kind for b in PLAN.batches] == [
        "canary",
        "controller",
        "compute",
        "compute",
        "storage",
        "storage",
        "other",
    ]
    assert complete(path) and not c.drained
    assert run(path, Recording()) == [] and complete(path)  # the closing `up` failed: nothing is repeated
    finish(path)
    assert not path.exists()


@pytest.mark.parametrize("crash_after", [False, True], ids=["before-the-action", "after-the-action"])
@pytest.mark.parametrize("crash_at", range(len(expected())))
def test_a_change_stopped_at_any_step_finishes_on_the_rerun_without_repeating_a_finished_step(
    tmp_path, crash_at, crash_after
):
    path = tmp_path / "rollout.json"
    first = Recording(crash_at=crash_at, crash_after=crash_after)
    with pytest.raises(Crash):
        run(path, first)
    journal = load_journal(path)
    assert journal is not None and journal.current is not None  # it knows which step was under way
    second = Recording()
    run(path, second)
    # the re-run starts at the step under way (done again if the crash came after it: every step is idempotent)
    assert first.log == expected()[: crash_at + crash_after]
    assert second.log == expected()[crash_at:]
    assert complete(path)


def test_a_failed_health_gate_stops_with_the_batch_drained_and_the_rerun_starts_at_the_gate(tmp_path):
    path = tmp_path / "rollout.json"
    sick = Recording(unhealthy=["cn02"])
    with pytest.raises(
        RolloutStopped, match=r"batch 3 failed its health gate: cn02: slurmd not running \(left drained\)"
    ):
        run(path, sick)
    assert sick.drained == {"cn02"}
    assert json.loads(path.read_text())["failed"].startswith("batch 3 failed its health gate")
    fixed = Recording()
    run(path, fixed)
    assert fixed.log[:2] == [("health", ("cn02",)), ("resume", ("cn02",))]  # not drained, waited or applied again


def test_abort_returns_the_drained_nodes_to_service_and_forgets_the_change(tmp_path):
    path = tmp_path / "rollout.json"
    with pytest.raises(RolloutStopped):
        run(path, Recording(unhealthy=["cn02"]))
    c = Recording()
    assert abort(path, c.resume) == ["cn02"]
    assert c.log == [("resume", ("cn02",))] and not path.exists()
    assert abort(path, c.resume) == []  # nothing under way: nothing to do


def test_jobs_that_outlast_the_wait_are_requeued_by_policy(tmp_path):
    c = Recording(busy=["cn03"])
    run(tmp_path / "rollout.json", c, RolloutOptions(wait_s=0.0, poll_s=0.0, on_busy="requeue"))
    assert c.requeued == ["cn03"] and ("apply", ("cn03",)) in c.log


def test_or_their_batch_is_left_for_the_next_run(tmp_path):
    path = tmp_path / "rollout.json"
    c = Recording(busy=["cn03"])
    assert run(path, c) == [4]
    assert ("apply", ("cn03",)) not in c.log and not c.drained  # resumed untouched; every other batch done
    assert ("apply", ("login01",)) in c.log and path.exists()
    again = Recording()
    assert run(path, again) == []
    assert again.log == [(step, ("cn03",)) for step in STEPS["compute"]] and complete(path)


def test_another_change_cannot_continue_this_one(tmp_path):
    path = tmp_path / "rollout.json"
    with pytest.raises(RolloutStopped):
        run(path, Recording(unhealthy=["cn01"]))
    with pytest.raises(OperationalError, match="another rolling change is under way"):
        start_or_resume(path, plan_batches(FLEET, ["cn01", "cn02"]), "other change", "ffinfra lab: other")


@pytest.mark.skipif(os.geteuid() != 0, reason="the lab provider's preflight needs root")
def test_a_whole_up_refuses_while_a_rolling_change_is_under_way(make_stack, stack_text):
    """Its batches are part-applied: a whole `up` would restart the rest at once, without drains."""
    from ffinfra.apply.events import Silent
    from ffinfra.apply.up import UpOptions, up
    from ffinfra.compile import compile_stack

    ref = make_stack(stack_text("lab"), name="lab")
    journal = ref.dir / "state" / "rollout.json"
    journal.parent.mkdir(parents=True)
    journal.write_text("{}")
    with pytest.raises(OperationalError, match=r"a rolling change is under way .*`ffinfra up lab`.*--abort`"):
        up(compile_stack(ref), UpOptions(), Silent())
    assert not (ref.dir / "runs").exists() and not (ref.dir / "state.json").exists()  # nothing made, nothing touched


def test_a_journal_it_cannot_read_is_refused_saying_where(tmp_path):
    path = tmp_path / "rollout.json"
    path.write_text('{"change": 1}')
    with pytest.raises(OperationalError, match=r"rollout.json: change: .*not written by this ffinfra: remove it only"):
        run(path, Recording())


def test_a_finished_change_whose_closing_up_failed_gives_way_to_the_next(tmp_path):
    path = tmp_path / "rollout.json"
    run(path, Recording())
    assert complete(path)
    other = start_or_resume(path, plan_batches(FLEET, ["cn01"]), "other change", "ffinfra lab: other")
    assert [b.hosts for b in other.batches] == [["cn01"]] and not other.complete


def test_down_forgets_a_rolling_change_with_the_nodes(monkeypatch, make_stack, stack_text):
    from ffinfra.apply import lifecycle
    from ffinfra.compile import compile_stack

    class Gone:
        def destroy(self, progress):
            return ["cn01"]

        def leftovers(self):
            return []

    ref = make_stack(stack_text("lab"), name="lab")
    journal = ref.dir / "state" / "rollout.json"
    journal.parent.mkdir(parents=True)
    journal.write_text("{}")
    monkeypatch.setattr(lifecycle, "get_provider", lambda *a, **k: Gone())
    assert lifecycle.down(compile_stack(ref), "lab", purge=False) == (["cn01"], [])
    assert not journal.exists()
