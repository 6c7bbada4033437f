"""What `up` tells whoever watches it. The library reports through a Reporter and never prints; the CLI's
display (ffinfra/cli/display.py) draws a live table on a terminal and timestamped lines elsewhere."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ffinfra.plan.plan import Plan


class Reporter(Protocol):
    def phase(self, name: str) -> None:
        """A phase begins: provision, render, apply, verify."""

    def host(self, host: str, phase: str, status: str, task: str = "") -> None:
        """One host's progress within a phase (status: creating, ready, ok, changed, failed, ...)."""

    def line(self, text: str) -> None:
        """A line worth reading now (already redacted)."""

    def plan(self, plan: Plan) -> None:
        """The plan `up` is about to enforce (from the applied spec to this one)."""


class Silent:
    """A Reporter that reports nothing (tests, library use)."""

    def phase(self, name: str) -> None:
        pass

    def host(self, host: str, phase: str, status: str, task: str = "") -> None:
        pass

    def line(self, text: str) -> None:
        pass

    def plan(self, plan: Plan) -> None:
        pass
