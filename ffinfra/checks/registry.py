"""The rule registry: what a rule sees (CheckContext) and how it is registered (@rule).

Rule modules import this module, never the package: the package imports every rule module to register it, so the
registry lives apart and nothing imports in a circle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ffinfra.spec.findings import Finding
from ffinfra.spec.models import ClusterSpec
from ffinfra.topology.facts import NodeFacts
from ffinfra.topology.model import Host, Subnet, ZoneDims
from ffinfra.topology.nodes import GroupCounts


@dataclass
class CheckContext:
    spec: ClusterSpec
    counts: GroupCounts
    hosts: list[Host]
    dims: list[ZoneDims]
    subnets: list[Subnet]
    facts: dict[str, NodeFacts] = field(default_factory=dict)
    facts_file: str | None = None
    spec_dir: Path | None = None


Rule = Callable[[CheckContext], Iterable[Finding]]


@dataclass(frozen=True)
class RegisteredRule:
    func: Rule
    codes: tuple[str, ...]
    summary: str


RULES: list[RegisteredRule] = []


def rule(*codes: str) -> Callable[[Rule], Rule]:
    """Register a rule with the finding codes it may emit (the meta-test checks each code fires somewhere)."""

    def wrap(func: Rule) -> Rule:
        RULES.append(RegisteredRule(func, codes, (func.__doc__ or "").strip().splitlines()[0]))
        return func

    return wrap
