"""Captured tool output under tests/data/ibsim/ (see each file's header for how it was produced)."""

from __future__ import annotations

from pathlib import Path

from ffinfra.compile import compile_stack
from ffinfra.stack import find_stack
from ffinfra.topology.model import Topology

DATA = Path(__file__).resolve().parents[2] / "data" / "ibsim"


def captured(name: str) -> str:
    """The file without its leading '#' comment lines: the tool's output, unchanged."""
    return "".join(line for line in (DATA / name).read_text().splitlines(keepends=True) if not line.startswith("#"))


def captured_topology() -> Topology:
    """The plan the captures were taken from (tests/data/ibsim/cluster.yaml: the 7-node lab of that day)."""
    return compile_stack(find_stack(str(DATA / "cluster.yaml"))).topology
