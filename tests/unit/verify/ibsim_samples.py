"""Captured tool output under tests/data/ibsim/ (see each file's header for how it was produced)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data" / "ibsim"


def captured(name: str) -> str:
    """The file without its leading '#' comment lines: the tool's output, unchanged."""
    return "".join(line for line in (DATA / name).read_text().splitlines(keepends=True) if not line.startswith("#"))
