"""What srun's output says about each rank of a failed job, and whom the failure points at.

The training job runs as `srun --label -v`, one rank per task, and each rank prints progress lines (`started` from
the launcher, `ready` and `joined` from ddp_smoke.py) before its report. From that output (Slurm 22.05):

    srun: jobid 15: nodes(3):`cn[01-03]', cpu counts: 2(x3)          the job got nodes
    srun: launching StepId=15.0 on host cn03, 1 tasks: 2               task → node ("2 tasks: [0-1]" for several)
    srun: error: Task launch for StepId=15.0 failed on node cn03: Communication connection failure
    srun: error: cn02: task 1: Exited with exit code 1                 how a task ended, in the order srun learnt it
    srun: launch/slurm: _step_signal: Terminating StepId=5.0           from here on the step is being stopped
    0: slurmstepd-cn01: error: *** STEP 14.0 ON cn01 CANCELLED AT ... DUE TO TIME LIMIT ***
    1: FFINFRA-DDP-STAGE {"node": "cn02", "rank": 1, "stage": "ready"}

the culprits are, in this order: the nodes where a task could not be launched; the ranks that ended abnormally
before the step was being stopped (after that, srun kills every other task: those are bystanders, not causes);
and when the job was stopped from outside (time limit, timeout), the ranks that got least far while the others
waited for them. A job where every rank stalled at the same stage blames every rank that did not report.
Samples of each case, captured from real srun runs, are in tests/data/srun/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

REPORT_MARKER = "FFINFRA-DDP "
STAGE_MARKER = "FFINFRA-DDP-STAGE "
# The stages a healthy rank passes, in order; "assigned": srun placed it on a node, nothing more is known.
STAGES = ("assigned", "started", "ready", "joined", "reported")
AFTER = {  # when a rank last seen at a stage ended
    "assigned": "before it started",
    "started": "after it started",
    "ready": "after it loaded torch",
    "joined": "after it joined the process group",
    "reported": "after it reported",
}
STOPPED_AT = {  # what a rank last seen at a stage did not get to do
    "assigned": "never started",
    "started": "started, but never loaded Python and torch",
    "ready": "loaded torch, but never joined the process group",
    "joined": "joined the process group, but never finished training",
    "reported": "reported, in a line that could not be read",
}

_LABEL = re.compile(r"^(\d+): ?(.*)$")
_ALLOCATED = re.compile(r"^srun: jobid \d+: nodes\(\d+\)")
_LAUNCHING = re.compile(r"^srun: launching StepId=\S+ on host (\S+), \d+ tasks?: \[?([\d,-]+)\]?\s*$")
_LAUNCH_FAILED = re.compile(r"^srun: error: Task launch for StepId=\S+ failed on node (\S+): (.+)$")
_TASK_END = re.compile(r"^srun: (?:error: |launch/slurm: _task_finish: )?(\S+): tasks? \[?([\d,-]+)\]?: (.+)$")
_CANCELLED = re.compile(r"\*\*\* STEP \S+ ON \S+ CANCELLED AT \S+ ?(.*?) ?\*\*\*")
_STOPPING = (  # srun or Slurm begins to stop the whole step: task ends after this are its consequence
    "_step_signal: Terminating",
    "Job step aborted",
    "forcing job termination",
    "Force Terminated",
    "CANCELLED AT",
)
_ERROR = re.compile(r"\w+(Error|Exception)\b|\berror:")  # ModuleNotFoundError: …, RuntimeError: …, error: …
_PEER_LOST = ("Connection closed by peer", "Connection reset by peer")  # gloo's words when another rank died


def task_ids(text: str) -> list[int]:
    """srun's task lists: "2", "0-7", "0,2-3"."""
    ids: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        ids += range(int(lo), int(hi or lo) + 1)
    return ids


@dataclass(frozen=True, slots=True)
class TaskEnd:
    how: str  # srun's words: "Completed", "Exited with exit code 1", "Segmentation fault", "Killed", "Terminated"
    line: int  # its position in srun's stderr: srun reports task ends in the order it learns of them

    @property
    def ok(self) -> bool:
        return self.how == "Completed"


@dataclass
class JobTrace:
    """Per rank of one job: its node, the furthest stage it reported, and how srun saw it end."""

    world: int
    allocated: bool = False
    queued: bool = False  # srun waited for nodes ("job 16 queued and waiting for resources")
    node_of: dict[int, str] = field(default_factory=dict)
    stage: dict[int, str] = field(default_factory=dict)
    ends: dict[int, TaskEnd] = field(default_factory=dict)
    launch_failed: dict[str, str] = field(default_factory=dict)  # node → srun's reason
    stopping_at: int | None = None  # the stderr line where the step began to be stopped
    cancelled: str = ""  # Slurm's reason for cancelling the step ("DUE TO TIME LIMIT"), if it gave one
    peer_lost: set[int] = field(default_factory=set)  # ranks whose own output says another rank went away
    last_error: dict[int, str] = field(default_factory=dict)  # rank → the last error line it wrote itself
    srun_errors: list[str] = field(default_factory=list)  # srun's errors that name no task

    def stage_of(self, rank: int) -> str:
        return self.stage.get(rank, "assigned")

    def reached(self, rank: int, stage: str) -> None:
        if STAGES.index(stage) > STAGES.index(self.stage_of(rank)):
            self.stage[rank] = stage


def _progress(trace: JobTrace, text: str) -> None:
    """A stage or report line of a rank (anywhere in the line: --label puts the task id before it)."""
    for marker in (STAGE_MARKER, REPORT_MARKER):
        _, found, payload = text.partition(marker)
        if not found:
            continue
        try:
            d = json.loads(payload)
            rank, stage = int(d["rank"]), d.get("stage", "reported")
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            return
        if stage in STAGES:
            trace.reached(rank, stage)
        if node := d.get("node") or d.get("host"):
            trace.node_of.setdefault(rank, str(node))
        return


def _task_line(trace: JobTrace, rank: int, text: str) -> None:
    _progress(trace, text)
    if any(p in text for p in _PEER_LOST):
        trace.peer_lost.add(rank)
    if _ERROR.search(text) and not text.startswith("slurmstepd"):  # Slurm's own lines say nothing of the rank
        trace.last_error[rank] = text.strip()


def _srun_line(trace: JobTrace, n: int, line: str) -> None:
    if _ALLOCATED.match(line):
        trace.allocated = True
    elif line.endswith("queued and waiting for resources"):
        trace.queued = True
    elif m := _LAUNCHING.match(line):
        for t in task_ids(m.group(2)):
            trace.node_of[t] = m.group(1)
    elif m := _LAUNCH_FAILED.match(line):
        trace.launch_failed[m.group(1)] = m.group(2)
    elif m := _TASK_END.match(line):
        for t in task_ids(m.group(2)):
            trace.node_of.setdefault(t, m.group(1))
            trace.ends.setdefault(t, TaskEnd(m.group(3).strip(), n))
    elif line.startswith("srun: error: "):
        trace.srun_errors.append(line.removeprefix("srun: error: "))


def trace_job(stdout: str, stderr: str, world: int) -> JobTrace:
    """Pure: srun's stdout and stderr (with --label -v) → what happened to each of the job's `world` ranks."""
    trace = JobTrace(world)
    for line in stdout.splitlines():
        _progress(trace, line)
    for n, line in enumerate(stderr.splitlines()):
        if trace.stopping_at is None and any(s in line for s in _STOPPING):
            trace.stopping_at = n
        if m := _CANCELLED.search(line):
            trace.cancelled = trace.cancelled or m.group(1)
        if m := _LABEL.match(line):  # a task's own stderr
            _task_line(trace, int(m.group(1)), m.group(2))
            continue
        _srun_line(trace, n, line)
    # without -v srun does not announce its allocation, but a task that ran or failed to launch had one
    trace.allocated = trace.allocated or bool(trace.node_of or trace.launch_failed or trace.ends)
    return trace


@dataclass(frozen=True, slots=True)
class Fate:
    """Ranks on one node that share what happened to them."""

    node: str | None  # None: srun's output never said where they ran
    ranks: tuple[int, ...]
    what: str

    def __str__(self) -> str:
        ranks = f" ({rank_list(self.ranks)})" if self.ranks else ""
        return f"{self.node or 'an unknown node'}{ranks}: {self.what}"


@dataclass
class Blame:
    culprits: list[Fate] = field(default_factory=list)  # the ranks that failed first
    bystanders: list[Fate] = field(default_factory=list)  # the ranks stopped because of them

    @property
    def nodes(self) -> list[str]:
        return sorted({f.node for f in self.culprits if f.node})


def rank_list(ranks: Iterable[int]) -> str:
    """(0, 1, 2, 5) → "ranks 0-2, 5"."""
    rs = sorted(ranks)
    runs: list[list[int]] = []
    for r in rs:
        if runs and r == runs[-1][-1] + 1:
            runs[-1].append(r)
        else:
            runs.append([r])
    text = ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else f"{run[0]}" for run in runs)
    return f"rank{'s' if len(rs) > 1 else ''} {text}"


def _own_failures(trace: JobTrace, missing: list[int]) -> dict[int, str]:
    """Ranks that ended abnormally before the step began to be stopped: they ended on their own."""
    first = {
        r: e.how
        for r in missing
        if (e := trace.ends.get(r)) and not e.ok and (trace.stopping_at is None or e.line < trace.stopping_at)
    }
    # A rank that lost its peer exits too, and may be reported before the peer that died: only the others count.
    not_victims = {r: how for r, how in first.items() if r not in trace.peer_lost}
    return not_victims or first


def _laggards(trace: JobTrace, missing: list[int], reported: set[int]) -> list[int]:
    """Ranks that got least far, when others got further: the ones everybody else was waiting for."""
    least = min(STAGES.index(trace.stage_of(r)) for r in missing)
    further = reported or any(STAGES.index(trace.stage_of(r)) > least for r in missing)
    return [r for r in missing if STAGES.index(trace.stage_of(r)) == least] if further else missing


def blame(trace: JobTrace, reported: set[int]) -> Blame:
    """The culprits of a job whose ranks did not all report (see the module's docstring), and the bystanders."""
    missing = [r for r in range(trace.world) if r not in reported]
    launch = [  # a node srun could not start tasks on is a culprit even where srun did not say which tasks
        Fate(
            node, tuple(r for r in missing if trace.node_of.get(r) == node), f"never started: task launch failed: {why}"
        )
        for node, why in sorted(trace.launch_failed.items())
    ]
    why: dict[int, str] = {}
    if not launch:
        why = {r: _ended(trace, r, how) for r, how in _own_failures(trace, missing).items()}
    if not launch and not why and missing:
        why = {r: STOPPED_AT[trace.stage_of(r)] for r in _laggards(trace, missing, reported)}
    blamed = {r for f in launch for r in f.ranks} | set(why)
    others = {}
    for r in missing:
        if r not in blamed:
            end = trace.ends.get(r)
            stopped = f"{end.how.lower()} when the job was stopped" if end else "stopped with the job"
            others[r] = f"{stopped} ({trace.stage_of(r)})"
    return Blame(launch + _fates(trace, why), _fates(trace, others))


def _ended(trace: JobTrace, rank: int, how: str) -> str:
    said = trace.last_error.get(rank)
    return f"{how[0].lower()}{how[1:]} {AFTER[trace.stage_of(rank)]}" + (f": {said}" if said else "")


def _fates(trace: JobTrace, what: dict[int, str]) -> list[Fate]:
    groups: dict[tuple[str | None, str], list[int]] = {}
    for r, w in sorted(what.items()):
        groups.setdefault((trace.node_of.get(r), w), []).append(r)
    return [Fate(node, tuple(ranks), w) for (node, w), ranks in groups.items()]
