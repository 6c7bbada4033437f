"""A pytest plugin that runs the real acceptance plugin's 3FS tests as on a real fabric, against the lab stack:

    FFINFRA_REPLAY_3FS=healthy python -m pytest ... -p ffinfra.accept.plugin -p threefs_replay test_storage.py

It replaces only how the session opens its cluster: the lab's compiled topology, said to be on a real fabric
(sim=False), where every command a 3FS test runs is answered as a running 3FS would answer it. admin_cli's tables are
laid out by upstream's Printer rules (admin_tables.py) from the lab's own layout and chain table: "healthy", or
one fault ("storage-down": st02's storage_main stopped heartbeating and its targets went offline; "unmounted": cn02
lost its FUSE mount). Needs tests/unit/analysis on sys.path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from admin_tables import printed

import ffinfra.accept.plugin as real
from ffinfra.accept.context import RunContext
from ffinfra.accept.storage import StoragePlan
from ffinfra.compile import compile_stack
from ffinfra.render.artifact import Artifact
from ffinfra.render.targets import render_all
from ffinfra.runtime.ssh import CmdResult
from ffinfra.stack import find_stack
from ffinfra.topology.model import Topology

ENV = "FFINFRA_REPLAY_3FS"
DOWN = "st02"  # storage-down
UNMOUNTED = "cn02"  # unmounted


@dataclass
class ReplayCluster:
    ctx: RunContext
    topo: Topology
    artifacts: list[Artifact]
    fault: str
    sim: bool = False
    thresholds: dict = field(default_factory=dict)
    repeats: int = 1

    @property
    def storage(self) -> StoragePlan:
        layout = self.topo.threefs
        assert layout is not None
        return StoragePlan("3fs", layout.fuse, layout.mountpoint, "storage_read_per_client", "fio_write")

    def _nodes(self) -> str:
        layout = self.topo.threefs
        assert layout is not None
        rows = [["Id", "Type", "Status", "Hostname", "Pid", "Tags", "LastHeartbeatTime", "ConfigVersion",
                 "ReleaseVersion"]]  # fmt: skip
        for kind, nodes in (("MGMTD", layout.mgmtd), ("META", layout.meta), ("STORAGE", layout.storage)):
            for n in nodes:
                status = "PRIMARY_MGMTD" if kind == "MGMTD" else "HEARTBEAT_CONNECTED"
                if self.fault == "storage-down" and n.host == DOWN and kind == "STORAGE":
                    status = "HEARTBEAT_FAILED"
                beat = "N/A" if kind == "MGMTD" else "2026-11-30 12:00:00"
                rows.append([str(n.node_id), kind, status, n.host, "4242", "[]", beat, "1(UPTODATE)", "250228-dev-1"])
        return printed(rows)

    def _chains(self) -> str:
        table = self.topo.chain_table
        assert table is not None
        down = (
            {n.node_id for n in self.topo.threefs.storage if n.host == DOWN} if self.fault == "storage-down" else set()
        )
        k = table.replication
        rows = [["ChainId", "ReferencedBy", "ChainVersion", "Status", "PreferredOrder", *["Target"] * k]]
        for c in table.chains:
            cells = [f"{t.target_id}({'OFFLINE-OFFLINE' if t.node_id in down else 'SERVING-UPTODATE'})"
                     for t in c.targets]  # fmt: skip
            serving = sum(t.node_id not in down for t in c.targets)
            status = "SERVING" if serving == k else f"SERVING({serving}/{k})"
            rows.append([str(c.chain_id), "1", "2" if serving < k else "1", status, "[]", *cells])
        return printed(rows)

    def sh(self, host: str, command: str, timeout: float = 60.0) -> CmdResult:
        if "ffinfra-admin-cli" in command and "list-nodes" in command:
            return CmdResult(host, command, 0, self._nodes(), "", 0.01)
        if "ffinfra-admin-cli" in command and "list-chains" in command:
            return CmdResult(host, command, 0, self._chains(), "", 0.01)
        if command.startswith("findmnt"):  # accept/threefs.py mount_check_command
            if self.fault == "unmounted" and host == UNMOUNTED:
                return CmdResult(host, command, 3, f"not a 3FS mount: {self.topo.threefs.mountpoint}\n", "", 0.01)
            return CmdResult(host, command, 0, "", "", 0.01)
        if command.startswith("readlink /proc/"):  # the node suite: which binary a 3FS service runs
            return CmdResult(host, command, 0, f"/opt/3fs/bin/{command.split('-x ')[1].split(')')[0]}\n", "", 0.01)
        if command.startswith("cat /var/log/3fs/"):  # the node suite: the service's fatal log
            return CmdResult(host, command, 0, "", "", 0.01)
        return CmdResult(host, command, 127, "", f"replay: no answer for {command!r}", 0.0)

    def close(self) -> None:
        pass


def _open(ctx: RunContext) -> ReplayCluster:
    topo = compile_stack(find_stack("lab")).topology
    return ReplayCluster(ctx, topo, render_all(topo), os.environ.get(ENV, "healthy"))


real.open_cluster = _open  # type: ignore[assignment]  # read by the real plugin's pytest_configure
