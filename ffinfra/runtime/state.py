"""stacks/<name>/state.json: what the cluster runs now, as ffinfra last applied it.

    applied    the normalised spec and inventory facts of the last complete apply: the base of the plan that
               the next `ffinfra up` computes and enforces (destructive and unsupported changes are refused)
    hosts      per host, per Ansible role: the files that role installed there (install path → sha256), when
               and by which run and ffinfra version
    applied_inputs  a digest per kind of input of the last complete apply (apply/converge.py); the no-change fast
               path compares their digest, `applied_digest`, which is derived from them and not stored

A typed model at the edge: a file written by hand or by an older ffinfra is read with a clear error, never
half-trusted. Version 1 files (before roles were named after Ansible roles) load as "nothing recorded", so the
next `up` applies every role and records what it did.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ffinfra.atomic import write_atomic
from ffinfra.errors import OperationalError

STATE_VERSION = 2


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoleState(_Model):
    files: dict[str, str] = Field(default_factory=dict)  # install path on the host → sha256
    applied_at: str = ""
    ffinfra_version: str = ""


class HostState(_Model):
    address: str = ""
    applied_at: str = ""
    run: str = ""
    ffinfra_version: str = ""
    spec_sha256: str = ""
    ok: int = 0  # Ansible task counts of the run that applied it
    changed: int = 0
    runs: list[str] = Field(default_factory=list)  # every Ansible role the host ran (with or without files)
    roles: dict[str, RoleState] = Field(default_factory=dict)  # Ansible role name → what it installed


class AppliedSpec(_Model):
    """The spec the cluster runs: model_dump(mode="json") of the validated spec, and the inventory facts."""

    spec: dict[str, Any]
    facts: dict[str, dict[str, Any]] = Field(default_factory=dict)
    spec_sha256: str = ""
    run: str = ""
    builds: dict[str, str] = Field(default_factory=dict)  # what ffinfra built on the nodes (plan/software.py)


class StackState(_Model):
    version: int = STATE_VERSION
    stack: str = ""
    provider: str = ""
    ffinfra_version: str = ""
    spec_sha256: str = ""
    updated_at: str | None = None
    last_run: str | None = None
    applied_inputs: dict[str, str] = Field(default_factory=dict)  # a digest per kind of input (apply/converge.py)
    verified_at: str | None = None
    destroyed_at: str | None = None
    applied: AppliedSpec | None = None
    hosts: dict[str, HostState] = Field(default_factory=dict)

    @property
    def applied_digest(self) -> str | None:
        """The digest of the last complete apply's inputs; None when nothing was applied (or `down` undid it)."""
        return inputs_digest(self.applied_inputs) if self.applied_inputs else None


def inputs_digest(parts: Mapping[str, str]) -> str:
    """One digest over the per-kind digests of apply/converge.py's input_parts."""
    return hashlib.sha256(repr(sorted(parts.items())).encode()).hexdigest()


def load_state(path: Path) -> StackState:
    if not path.exists():
        return StackState()
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise OperationalError(f"{path} is not valid JSON ({exc}); move it aside and run `ffinfra up` again") from None
    if not isinstance(data, dict):
        raise OperationalError(f"{path} does not hold a state object; move it aside and run `ffinfra up` again")
    if data.get("version", 1) < STATE_VERSION:
        # Roles were keyed by component then (slurm, nccl): nothing in it can be trusted per role.
        keep = {k: data[k] for k in ("stack", "provider", "last_run", "verified_at", "destroyed_at") if k in data}
        return StackState(**keep)
    data.pop("applied_digest", None)  # stored until it became derived from applied_inputs: a full run re-records it
    try:
        return StackState.model_validate(data)
    except ValidationError as exc:
        raise unreadable(path, exc, "move it aside and run `ffinfra up` again") from None


def unreadable(path: Path, exc: ValidationError, advice: str) -> OperationalError:
    """A state file (state.json, a rollout journal) that this ffinfra did not write: where, what, and what to do."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return OperationalError(
        f"{path}: {where}: {first['msg']} ({exc.error_count()} problem(s)); it was not written by this ffinfra: "
        + advice
    )


def save_state(path: Path, state: StackState) -> None:
    write_atomic(path, state.model_dump_json(indent=2) + "\n")
