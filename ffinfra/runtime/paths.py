"""Where a stack keeps what ffinfra writes for it, next to its cluster.yaml.

stacks/<name>/state.json          what was applied, per host and role (runtime/state.py)
stacks/<name>/state/lock          the stack lock, held by `up`, `down` and `test` (runtime/lock.py)
stacks/<name>/state/<provider>/   the provider's own bookkeeping (lab: node folders, PIDs)
stacks/<name>/runs/<UTC stamp>/   one folder per run: logs, reports (runtime/runs.py)
stacks/<name>/secrets/            keys, known_hosts, ssh_config (runtime/secrets.py)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ffinfra.topology.chains import APPLIED_CHAINS


@dataclass(frozen=True)
class StackPaths:
    root: Path  # the stack folder (holds cluster.yaml)

    @property
    def state_json(self) -> Path:
        return self.root / "state.json"

    @property
    def applied_chains(self) -> Path:
        """3FS's chain table as uploaded (topology/chains.py APPLIED_CHAINS): the compiler resizes from it."""
        return self.root / APPLIED_CHAINS

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def rollout_journal(self) -> Path:
        """A rolling change under way (runtime/journal.py); a whole `up` refuses to run while it exists."""
        return self.state_dir / "rollout.json"

    @property
    def lock(self) -> Path:
        return self.state_dir / "lock"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"
