"""--drain-failed: take the nodes a failed test blames out of scheduling, with the failing tests as the reason,
so no job lands on them until someone looks (`scontrol update State=RESUME` puts one back)."""

from __future__ import annotations

import shlex

from ffinfra.accept.cluster import Cluster
from ffinfra.accept.results import RunResults
from ffinfra.topology.model import Topology

MAX_REASON = 200  # Slurm keeps the reason in node state; keep it to a line


def drain_plan(topo: Topology, results: RunResults) -> dict[str, str]:
    """Slurm node → drain reason, from the culprits of failed tests (switch ports and links are not nodes)."""
    nodes = set(topo.services.slurm_nodes)
    why: dict[str, list[str]] = {}
    for t in results.failed():
        for culprit in t.culprits:
            if culprit in nodes:
                why.setdefault(culprit, []).append(f"{t.suite}/{t.name.split('[')[0]}")
    out = {}
    for host, tests in sorted(why.items()):
        reason = "ffinfra test failed: " + ", ".join(dict.fromkeys(tests))
        out[host] = reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1] + "…"
    return out


def drain_failed(cluster: Cluster, results: RunResults) -> list[dict[str, str]]:
    done = []
    for host, reason in drain_plan(cluster.topo, results).items():
        cmd = f"scontrol update NodeName={shlex.quote(host)} State=DRAIN Reason={shlex.quote(reason)}"
        r = cluster.sh(cluster.controller, cmd, timeout=30)
        done.append({"node": host, "reason": reason, "result": "drained" if r.ok else r.brief()})
    return done
