"""Spec fields that ffinfra accepts but does not use yet, each with the issue that will put it to use.

The schema describes the whole cluster, ahead of what ffinfra builds. A value nobody reads must not look as if it had
taken effect, so every field listed here that a spec sets gets a note (FF-SPEC-002) at its line, and the spec
reference marks it. A test (tests/unit/spec/test_spec_pending.py) fails when a field of the models is neither read
by the code that builds, deploys or judges the cluster, nor listed here (or in NO_EFFECT_BY_DESIGN).
When an issue puts a field to use, it removes the field's row.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from ffinfra.spec.models import (
    ClusterSpec,
    HardwareProfile,
    NvmeSpec,
    ProvisioningSpec,
    SchedulerSpec,
    ThreeFsSpec,
)


@dataclass(frozen=True, slots=True)
class Issue:
    number: int
    brings: str  # what ffinfra gains with it


# model → field → the issue that will use it. Keyed by model, not path: a field is pending wherever its model sits.
PENDING: dict[type[BaseModel], dict[str, Issue]] = {}

# Fields with no effect to wait for: for people reading the spec, or a choice the schema allows only one value of.
NO_EFFECT_BY_DESIGN: dict[type[BaseModel], dict[str, str]] = {
    ClusterSpec: {"version": "the format version: the schema accepts only 1"},
    ProvisioningSpec: {"boot_loader": "iPXE is the only boot loader: the schema accepts only ipxe"},
    SchedulerSpec: {"kind": "Slurm is the only scheduler: the schema accepts only slurm"},
    HardwareProfile: {"description": "for people reading the spec"},
    NvmeSpec: {"model": "for people reading the spec"},
    ThreeFsSpec: {
        "chain_table_type": "no 3FS service reads it: ffinfra writes CR chain files (FF-STO-011 warns on EC); "
        "the plan refuses a change of it"
    },
}


def pending_issue(model: type[BaseModel], field: str) -> Issue | None:
    return PENDING.get(model, {}).get(field)
