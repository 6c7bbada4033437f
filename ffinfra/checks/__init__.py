"""Validation rules: each a small function registered under stable codes, returning findings.

Rules read the spec plus the resolved hosts and zone sizes (they need derived numbers such as ports per leaf)
and never raise. `run_checks` runs them all, so a user sees every problem at once.
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


def run_checks(ctx: CheckContext) -> list[Finding]:
    from ffinfra.checks import fabric, hardware, network, nodes, qos, scheduler, storage  # noqa: F401  (register)

    out: list[Finding] = []
    for r in RULES:
        for f in r.func(ctx):
            assert f.code in r.codes, f"{r.func.__name__} emitted unregistered code {f.code}"
            out.append(f)
    return out


def all_codes() -> dict[str, str]:
    """Every code a user may meet, with a one-line summary (for docs and --suppress help)."""
    from ffinfra.checks import fabric, hardware, network, nodes, qos, scheduler, storage  # noqa: F401

    codes: dict[str, str] = {}
    for r in RULES:
        for c in r.codes:
            codes.setdefault(c, r.summary)
    return codes
