"""The training suite's job: ddp_smoke.py launched through Slurm (srun from the controller, one task per node,
or per GPU on GPU nodes), its per-rank result lines, and the verdict on it: what went wrong, and on which nodes
(srun_trace.py reads a failed job's output)."""

from __future__ import annotations

import json
import shlex
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from ffinfra.accept.allreduce import HFREDUCE_ENV, HFREDUCE_SETUP
from ffinfra.accept.srun_trace import REPORT_MARKER, STAGE_MARKER, JobTrace, blame, rank_list, trace_job
from ffinfra.runtime.ssh import CmdResult

JOB_DIR = "/var/lib/ffinfra/acceptance"
SCRIPT = Path(__file__).with_name("ddp_smoke.py")
MARKER = REPORT_MARKER
# Every node's state as Slurm sees it, one per line: "cn03 down* Not responding" (the reason may hold spaces).
SINFO_COMMAND = "sinfo -h -N -o '%N %T %E'"
_USABLE = frozenset({"idle", "mixed", "allocated", "completing", "planned"})  # a job can have it, now or soon


@dataclass(frozen=True)
class RankReport:
    rank: int
    world: int
    host: str
    loss_first: float
    loss_last: float
    params_sha256: str
    in_sync: bool
    samples_per_s: float
    seconds: float
    node: str = ""  # the Slurm node name (older job scripts did not print it)

    @property
    def where(self) -> str:
        return self.node or self.host


def launcher(python: str, iface: str, backend: str, steps: int) -> str:
    """The per-task wrapper srun runs: rendezvous on the job's first node, over the management interface. With
    backend "hfreduce" it takes up the HFReduce the hfreduce role installed (hfreduce.env: settings, library)."""
    hfreduce = (
        [
            "# HFReduce as the hfreduce role installed it, rank 0 listening one port above the job's own",
            HFREDUCE_SETUP.format(env=HFREDUCE_ENV),
            "export HFREDUCE_PORT=$((MASTER_PORT + 1))",
        ]
        if backend == "hfreduce"
        else []
    )
    return "\n".join(
        [
            "#!/bin/sh",
            "# ffinfra training suite: one DDP rank per Slurm task (written by `ffinfra test`)",
            'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)',
            "MASTER_PORT=$((29500 + SLURM_JOB_ID % 1000))",
            f"export MASTER_ADDR MASTER_PORT GLOO_SOCKET_IFNAME={shlex.quote(iface)}",
            f"export NCCL_SOCKET_IFNAME={shlex.quote(iface)}  # bootstrap only; data goes over IB",
            f"export FFINFRA_DDP_BACKEND={backend} FFINFRA_DDP_STEPS={steps}",
            *hfreduce,
            "# the first progress line: this task runs (a rank without it never started)",
            f'printf \'{STAGE_MARKER}{{"node": "%s", "rank": %s, "stage": "started"}}\\n\' '
            '"$SLURMD_NODENAME" "$SLURM_PROCID"',
            f"exec {shlex.quote(python)} {JOB_DIR}/ddp_smoke.py",
            "",
        ]
    )


def srun_command(nodes: int, tasks_per_node: int, partition: str | None, time_limit_min: int, gpus: bool) -> str:
    """--label prefixes each output line with its task id and -v has srun say which node runs which tasks, and
    which tasks it started: what a failed job's culprits are found from (see trace_job)."""
    parts = [
        "srun",
        "-J",
        "ffinfra-ddp-smoke",
        f"-N{nodes}",
        f"--ntasks-per-node={tasks_per_node}",
        "--kill-on-bad-exit=1",
        f"--time={time_limit_min}",
        "--label",
        "-v",
    ]
    if partition:
        parts.append(f"--partition={partition}")
    if gpus:
        parts.append("--gpus-per-task=1")
    return " ".join(parts) + f" {JOB_DIR}/ddp.sh"


def parse_ranks(out: str) -> list[RankReport]:
    required = [f.name for f in fields(RankReport) if f.default is MISSING]
    ranks = []
    for line in out.splitlines():
        _, marker, payload = line.partition(MARKER)
        if not marker:
            continue
        try:
            d = json.loads(payload)
            ranks.append(RankReport(**{k: d[k] for k in required}, node=str(d.get("node") or "")))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return sorted(ranks, key=lambda r: r.rank)


def unavailable_nodes(sinfo_out: str, hosts: list[str]) -> dict[str, str]:
    """Of `hosts`, those Slurm will not give a job (down, drained, not responding…): node → "state (reason)"."""
    out: dict[str, str] = {}
    for line in sinfo_out.splitlines():
        node, _, rest = line.strip().partition(" ")
        state, _, reason = rest.partition(" ")
        if node in hosts and (state.rstrip("*") not in _USABLE or state.endswith("*")):
            out[node] = state + (f" ({reason.strip()})" if reason.strip() not in ("", "none") else "")
    return out


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)
    culprits: list[str] = field(default_factory=list)  # nodes (or the controller) the failure points at


def _no_allocation(
    trace: JobTrace, result: CmdResult, controller: str, unavailable: dict[str, str]
) -> tuple[str, list[str]]:
    """srun never got nodes: the controller did not answer, or the nodes are not available. (why, culprits)"""
    said = "; ".join(trace.srun_errors)
    if "Unable to contact slurm controller" in said:
        return f"srun got no nodes: {said} (slurmctld on {controller})", [controller]
    if trace.queued:
        said = f"the job waited for nodes for {result.seconds:.0f} s" + (f"; {said}" if said else "")
    down = "; ".join(f"{n} is {state}" for n, state in sorted(unavailable.items()))
    text = "; ".join(t for t in (said or result.brief(300), f"in Slurm {down}" if down else "") if t)
    return f"srun got no nodes: {text}", sorted(unavailable)


def missing_ranks(
    ranks: list[RankReport], want_world: int, result: CmdResult, controller: str, unavailable: dict[str, str]
) -> Verdict:
    """Why ranks did not report, and the nodes to blame: those whose ranks never started, failed first or hung
    (srun_trace.blame); not those stopped because of them."""
    trace = trace_job(result.stdout, result.stderr, want_world)
    head = f"{len(ranks)} of {want_world} ranks reported"
    if not trace.allocated:
        why, culprits = _no_allocation(trace, result, controller, unavailable)
        return Verdict([f"{head}: {why}"], culprits)
    b = blame(trace, {r.rank for r in ranks})
    parts = [str(f) for f in b.culprits]
    if trace.cancelled:
        parts.append(f"Slurm cancelled the job {trace.cancelled}".rstrip())
    elif result.timed_out:
        parts.append(f"srun was stopped after {result.seconds:.0f} s")
    if others := [f for f in b.bystanders if f.node not in b.nodes]:
        parts.append(
            "stopped with it: " + ", ".join(f"{f.node or 'an unknown node'} ({rank_list(f.ranks)})" for f in others)
        )
    return Verdict([f"{head}: " + "; ".join(parts)], b.nodes)


def judge(
    ranks: list[RankReport],
    want_world: int,
    result: CmdResult,
    controller: str = "the controller",
    unavailable: dict[str, str] | None = None,
) -> Verdict:
    """Problems with a finished job, and whom they point at: missing ranks (see missing_ranks), loss that did not
    fall, ranks whose weights differ. `unavailable` (unavailable_nodes) names nodes when srun got none."""
    v = Verdict()
    if len(ranks) != want_world:
        v = missing_ranks(ranks, want_world, result, controller, unavailable or {})
    for r in ranks:
        if not r.loss_last < 0.5 * r.loss_first:
            v.problems.append(f"rank {r.rank} on {r.where}: loss {r.loss_first:.4f} → {r.loss_last:.4f}, not halved")
    shas = {r.params_sha256 for r in ranks}
    if len(shas) > 1 or any(not r.in_sync for r in ranks):
        by = ", ".join(f"rank {r.rank}@{r.where} {r.params_sha256[:12]}" for r in ranks)
        v.problems.append(f"ranks ended with different weights: {by}")
        v.culprits += sorted({r.where for r in ranks if not r.in_sync} - set(v.culprits))
    return v
