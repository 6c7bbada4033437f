"""Slurm's side of a rolling change, run on the controller over SSH: drain a batch with a reason that names the
change (sinfo -R shows it), tell which of its nodes still run jobs, requeue those jobs, resume the batch.

Every command is idempotent, as the rollout's journal needs: draining a drained node or resuming one in service
changes nothing. Hostnames go to Slurm as a comma list (Slurm expands and compresses them itself).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from ffinfra.errors import OperationalError
from ffinfra.runtime.ssh import Remote


@dataclass(frozen=True, slots=True)
class NodeState:
    state: str  # sinfo's %T without its flags: idle, mixed, allocated, drained, draining, down ...
    reason: str  # sinfo's %E: the drain reason, "none" if there is none
    responding: bool = True  # False: the flag "*", slurmd does not answer the controller


class SlurmNodes:
    def __init__(self, remote: Remote, controller: str, timeout_s: float = 60.0):
        self.remote = remote
        self.controller = controller
        self.timeout_s = timeout_s

    def _sh(self, command: str) -> str:
        r = self.remote.run(self.controller, command, timeout=self.timeout_s)
        if not r.ok:
            raise OperationalError(r.brief())
        return r.stdout

    def drain(self, hosts: Sequence[str], reason: str) -> None:
        """No new job starts on `hosts`; running ones go on (DRAINING until they end, then DRAINED)."""
        self._sh(f"scontrol update NodeName={','.join(hosts)} State=DRAIN Reason={shlex.quote(reason)}")

    def resume(self, hosts: Sequence[str]) -> None:
        """Back in service. Nodes not drained are left as they are (scontrol refuses RESUME on them)."""
        states = self.states(hosts)
        held = [h for h in hosts if states.get(h, NodeState("", "")).state.startswith(("drain", "down"))]
        if held:
            self._sh(f"scontrol update NodeName={','.join(held)} State=RESUME")

    def busy(self, hosts: Sequence[str]) -> list[str]:
        """The hosts among `hosts` that run (or are ending) a job."""
        out = self._sh(f"squeue -h -t RUNNING,COMPLETING -w {','.join(hosts)} -o %N")
        lists = sorted({line.strip() for line in out.splitlines() if line.strip()})
        if not lists:
            return []
        names = set(self._sh(f"scontrol show hostnames {','.join(lists)}").split())
        return [h for h in hosts if h in names]

    def requeue(self, hosts: Sequence[str]) -> None:
        """Puts the jobs running on `hosts` back in the queue (they start again elsewhere, or later)."""
        ids = self._sh(f"squeue -h -t RUNNING,COMPLETING -w {','.join(hosts)} -o %i").split()
        if ids:
            self._sh(f"scontrol requeue {','.join(sorted(set(ids)))}")

    def states(self, hosts: Sequence[str]) -> dict[str, NodeState]:
        out = self._sh(f"sinfo -h -N -n {','.join(hosts)} -o '%N|%T|%E'")
        found: dict[str, NodeState] = {}
        for line in out.splitlines():
            name, _, rest = line.partition("|")
            state, _, reason = rest.partition("|")
            if name in hosts:
                found[name] = NodeState(state.rstrip("*~#!%$@^-"), reason, "*" not in state)
        return found
