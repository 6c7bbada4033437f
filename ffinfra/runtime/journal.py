"""stacks/<name>/state/rollout.json: the journal of a rolling change in progress.

Each batch's steps are recorded before they start and after they finish, atomically (atomic.py), so a crash,
Ctrl-C or a failed health gate leaves a journal that says exactly where the change stopped: the re-run repeats
no finished step and re-runs the one that was under way (every step is idempotent: draining a drained node,
applying roles that are applied, resuming a node in service). The journal names its change (a digest of the
batches and of what changes), so a different change cannot continue someone else's; it is removed when the last
batch is done and the closing `up` has recorded the change, or by --abort once the drained nodes are back in
service.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ffinfra.atomic import write_atomic
from ffinfra.runtime.state import unreadable

JOURNAL_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JournalBatch(_Model):
    index: int
    kind: str
    hosts: list[str]
    reboot: list[str] = Field(default_factory=list)  # the hosts that reboot in the batch's reboot step
    steps: list[str]  # what this batch goes through, in order
    done: list[str] = Field(default_factory=list)  # the steps finished, in order


class Journal(_Model):
    version: int = JOURNAL_VERSION
    change: str  # digest of the change: the batches and what the change is
    reason: str  # the drain reason Slurm shows ("ffinfra <stack>: ...")
    started_at: str
    batches: list[JournalBatch]
    current: tuple[int, str] | None = None  # (batch index, step) under way, or None between steps
    failed: str = ""  # why the last run stopped, if it did (a health gate, a timeout)
    history: list[str] = Field(default_factory=list)  # one line per step started or finished, with its time

    @property
    def complete(self) -> bool:
        """Every batch went through every step: what is left is the closing `up` that records the change."""
        return all(b.done == b.steps for b in self.batches)

    def drained(self) -> list[str]:
        """Hosts a run drained and has not resumed: what --abort returns to service."""
        out: list[str] = []
        for b in self.batches:
            drained = "drain" in b.done and "resume" not in b.done
            if drained or self.current == (b.index, "drain"):  # interrupted while draining: some may be
                out += b.hosts
        return out


def change_digest(batches: list[tuple[str, tuple[str, ...], tuple[str, ...]]], what: str) -> str:
    h = hashlib.sha256(json.dumps([batches, what], sort_keys=True).encode())
    return h.hexdigest()[:16]


def load_journal(path: Path) -> Journal | None:
    if not path.exists():
        return None
    try:
        return Journal.model_validate_json(path.read_text())
    except ValidationError as exc:  # bad JSON too
        raise unreadable(path, exc, "remove it only once every node it names is back in service") from None


def save_journal(path: Path, journal: Journal) -> None:
    write_atomic(path, journal.model_dump_json(indent=2) + "\n")
