"""The training suite's job: ddp_smoke.py launched through Slurm (srun from the controller, one task per node,
or per GPU on GPU nodes), and its per-rank result lines."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from ffinfra.runtime.ssh import CmdResult

JOB_DIR = "/var/lib/ffinfra/acceptance"
SCRIPT = Path(__file__).with_name("ddp_smoke.py")
MARKER = "FFINFRA-DDP "


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


def launcher(python: str, iface: str, backend: str, steps: int) -> str:
    """The per-task wrapper srun runs: rendezvous on the job's first node, over the management interface."""
    return "\n".join(
        [
            "#!/bin/sh",
            "# ffinfra training suite: one DDP rank per Slurm task (written by `ffinfra test`)",
            'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)',
            "MASTER_PORT=$((29500 + SLURM_JOB_ID % 1000))",
            f"export MASTER_ADDR MASTER_PORT GLOO_SOCKET_IFNAME={shlex.quote(iface)}",
            f"export NCCL_SOCKET_IFNAME={shlex.quote(iface)}  # bootstrap only; data goes over IB",
            f"export FFINFRA_DDP_BACKEND={backend} FFINFRA_DDP_STEPS={steps}",
            f"exec {shlex.quote(python)} {JOB_DIR}/ddp_smoke.py",
            "",
        ]
    )


def srun_command(nodes: int, tasks_per_node: int, partition: str | None, time_limit_min: int, gpus: bool) -> str:
    parts = [
        "srun",
        "-J",
        "ffinfra-ddp-smoke",
        f"-N{nodes}",
        f"--ntasks-per-node={tasks_per_node}",
        "--kill-on-bad-exit=1",
        f"--time={time_limit_min}",
    ]
    if partition:
        parts.append(f"--partition={partition}")
    if gpus:
        parts.append("--gpus-per-task=1")
    return " ".join(parts) + f" {JOB_DIR}/ddp.sh"


def parse_ranks(out: str) -> list[RankReport]:
    ranks = []
    for line in out.splitlines():
        _, marker, payload = line.partition(MARKER)
        if not marker:
            continue
        try:
            d = json.loads(payload)
            ranks.append(RankReport(**{k: d[k] for k in RankReport.__dataclass_fields__}))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return sorted(ranks, key=lambda r: r.rank)


def judge(ranks: list[RankReport], want_world: int, result: CmdResult) -> list[str]:
    """Problems with a finished job: missing ranks, loss that did not fall, ranks whose weights differ."""
    problems = []
    if len(ranks) != want_world:
        got = ", ".join(f"{r.rank}@{r.host}" for r in ranks) or "none"
        problems.append(f"{len(ranks)} of {want_world} ranks reported (got {got}); {result.brief(400)}")
    for r in ranks:
        if not r.loss_last < 0.5 * r.loss_first:
            problems.append(f"rank {r.rank} on {r.host}: loss {r.loss_first:.4f} → {r.loss_last:.4f}, not halved")
    shas = {r.params_sha256 for r in ranks}
    if len(shas) > 1 or any(not r.in_sync for r in ranks):
        by = ", ".join(f"rank {r.rank}@{r.host} {r.params_sha256[:12]}" for r in ranks)
        problems.append(f"ranks ended with different weights: {by}")
    return problems
