"""A pytest plugin that replays captured fabric tool output through the real acceptance plugin and fabric suite:

    FFINFRA_REPLAY_FABRIC=swapped_hosts python -m pytest ... -p ffinfra.accept.plugin -p fabric_replay test_fabric.py

It replaces only how the session opens its cluster: the plan is tests/data/ibsim/cluster.yaml and every command
a test runs on a node is answered from tests/data/ibsim/ (ibnetdiscover, dump_fts, ibtracert, the OpenSM log) of
one captured fabric: "healthy", or one of the faults captured there. Everything else (parametrisation, evidence,
culprits, results.json) is the real thing. Needs tests/unit/analysis on sys.path (ibsim_samples).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ibsim_samples import captured, captured_topology

import ffinfra.accept.plugin as real
from ffinfra.accept.context import RunContext
from ffinfra.render.artifact import Artifact
from ffinfra.render.targets import render_all
from ffinfra.runtime.ssh import CmdResult
from ffinfra.topology.model import Topology

ENV = "FFINFRA_REPLAY_FABRIC"


@dataclass
class ReplayCluster:
    ctx: RunContext
    topo: Topology
    artifacts: list[Artifact]
    fault: str
    sim: bool = False  # the tools are "run" on the SM host's HCA, as on a real fabric
    thresholds: dict = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.thresholds = {}

    def _output(self, command: str) -> str | None:
        suffix = "lab" if self.fault == "healthy" else f"lab_{self.fault}"
        tool = command.split()[0]
        if tool in ("ibnetdiscover", "dump_fts"):
            return captured(f"{tool}_{suffix}.txt")
        if tool == "ibtracert":
            lids = command.split()[-2:]  # after the CA arguments (-C mlx5_0 -P 1): source and destination LID
            return captured(f"ibtracert_{suffix}_{'_'.join(lids)}.txt")
        if command.startswith("for f in"):  # opensm_log.log_command
            log = "opensm_lab_good.log" if self.fault == "healthy" else f"opensm_{suffix}.log"
            return "==> /var/log/opensm-z0.log\n" + captured(log)
        return None

    def sh(self, host: str, command: str, timeout: float = 60.0) -> CmdResult:
        out = self._output(command)
        if out is None:
            return CmdResult(host, command, 127, "", f"replay: no captured output for {command!r}", 0.0)
        return CmdResult(host, command, 0, out, "", 0.01)

    def close(self) -> None:
        pass


def _open(ctx: RunContext) -> ReplayCluster:
    topo = captured_topology()
    return ReplayCluster(ctx, topo, render_all(topo), os.environ.get(ENV, "healthy"))


real.open_cluster = _open  # type: ignore[assignment]  # read by the real plugin's pytest_configure
