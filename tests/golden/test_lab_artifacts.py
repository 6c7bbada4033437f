"""Golden files: every artifact of the lab stack, byte for byte.

A renderer change shows up here as a diff to review. To accept intended changes:
    FFINFRA_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden
"""

from __future__ import annotations

import os
from pathlib import Path

from ffinfra.compile import compile_stack
from ffinfra.render.targets import render_all
from ffinfra.stack import find_stack

GOLDEN = Path(__file__).parent / "lab"
ROOT = Path(__file__).resolve().parents[2]


def _render() -> dict[str, str]:
    topo = compile_stack(find_stack(str(ROOT / "stacks" / "lab"))).topology
    return {a.path: a.content for a in render_all(topo)}


def test_lab_artifacts_match_golden_files():
    rendered = _render()
    if os.environ.get("FFINFRA_UPDATE_GOLDEN"):
        for old in GOLDEN.rglob("*"):
            if old.is_file() and str(old.relative_to(GOLDEN)) not in rendered:
                old.unlink()
        for path, content in rendered.items():
            (GOLDEN / path).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / path).write_text(content)
    on_disk = {str(p.relative_to(GOLDEN)): p.read_text() for p in GOLDEN.rglob("*") if p.is_file()}
    assert sorted(on_disk) == sorted(rendered), "artifact set changed (FFINFRA_UPDATE_GOLDEN=1 to accept)"
    for path, content in rendered.items():
        assert content == on_disk[path], f"{path} differs from tests/golden/lab/{path}"


def test_rendering_is_deterministic_across_runs():
    assert _render() == _render()
