"""The committed inventories/<stack>/ are what `ffinfra build <stack>` renders today (no stale inventory)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffinfra.compile import compile_stack
from ffinfra.render.targets import render_all
from ffinfra.stack import find_stack

ROOT = Path(__file__).resolve().parents[2]
STACKS = sorted(p.parent.name for p in (ROOT / "stacks").glob("*/cluster.yaml"))


@pytest.mark.parametrize("stack", STACKS)
def test_committed_inventory_matches_rendering(stack: str):
    topo = compile_stack(find_stack(str(ROOT / "stacks" / stack))).topology
    rendered = {
        a.path.removeprefix("inventory/"): a.content for a in render_all(topo) if a.path.startswith("inventory/")
    }
    inv = ROOT / "inventories" / stack
    on_disk = {
        str(p.relative_to(inv)): p.read_text() for p in inv.rglob("*") if p.is_file() and p.name != "manifest.json"
    }
    assert on_disk == rendered, f"inventories/{stack} is stale: run `ffinfra build {stack}`"
