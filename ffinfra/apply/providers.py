"""Pick a provider by name (`--provider`). Providers register here, so the provider protocol itself imports none."""

from __future__ import annotations

from pathlib import Path

from ffinfra.apply.provider import Provider
from ffinfra.errors import UserError
from ffinfra.topology.model import Topology

PROVIDERS = ("lab", "baremetal")


def get_provider(kind: str, stack: str, state_dir: Path, topo: Topology | None = None) -> Provider:
    if kind == "lab":
        from ffinfra.apply.lab import LabProvider

        return LabProvider(stack, state_dir / "lab", topo)
    if kind == "baremetal":
        from ffinfra.apply.baremetal.provider import BaremetalProvider

        return BaremetalProvider(stack, state_dir / "baremetal", topo, state_dir.parent)
    raise UserError(f"unknown provider {kind!r} (known: {', '.join(PROVIDERS)})")


def fabric_is_simulated(kind: str) -> bool:
    """The lab's fabric is ibsim's: its SM host also runs ibsim, and IB tools attach through libumad2sim."""
    return kind == "lab"
