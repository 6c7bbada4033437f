"""Golden Markdown: the PR comment `ffinfra plan --format markdown` posts for a few lab changes, byte for byte.

A change to the plan or its report shows up here as a diff to review. To accept intended changes:
    FFINFRA_UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/plan/test_plan_golden.py
The labels are fixed (as a PR run would print them), so the files do not depend on where the test runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from ffinfra.compile import compile_stack
from ffinfra.plan.plan import build_plan
from ffinfra.plan.report import markdown

GOLDEN = Path(__file__).parent / "golden"
OLD_LABEL = "origin/main:stacks/lab/cluster.yaml"
NEW_LABEL = "stacks/lab/cluster.yaml"


def sub(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert text.count(old) == 1, old
        return text.replace(old, new)

    return edit


def same(text: str) -> str:
    return text


# name → (edit of the base, edit of the base into the new side, include file diffs)
CASES: dict[str, tuple[Callable[[str], str], Callable[[str], str], bool]] = {
    # one more compute node: placement spreads the roles over the leaves, so existing ports move
    "lab-add-compute-node": (same, sub("hostnames: cn[01-04]", "hostnames: cn[01-05]"), False),
    # a storage node installed into the port its hostlist reserved: nothing else moves; 3FS rebalances
    "lab-grow-storage-count": (
        sub("hostnames: st[01-02]", "hostnames: st[01-03]\n    count: 2"),
        sub("    count: 2\n", "    count: 3\n"),
        False,
    ),
    # a VL arbitration weight: OpenSM re-reads it on SIGHUP; with the file diffs folded in
    "lab-qos-weight": (same, lambda t: t + "qos:\n  classes:\n    nccl: {sl: 2, vl: 2, weight: 96}\n", True),
    # CR → EC cannot convert in place: refused without --allow-destructive
    "lab-chain-table-type": (
        same,
        sub("    replication: 2\n", "    replication: 2\n    chain_table_type: EC\n"),
        False,
    ),
}


def render(name: str, tmp_path: Path, stack_text, write_stack) -> str:
    base_edit, edit, diffs = CASES[name]
    base = base_edit(stack_text("lab"))
    old = compile_stack(write_stack(tmp_path / "old", base))
    new = compile_stack(write_stack(tmp_path / "new", edit(base)))
    return markdown(build_plan(old, new, OLD_LABEL, NEW_LABEL), diffs=diffs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_plan_markdown_matches_golden(name: str, tmp_path: Path, stack_text, write_stack):
    text = render(name, tmp_path, stack_text, write_stack)
    path = GOLDEN / f"{name}.md"
    if os.environ.get("FFINFRA_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"{path} is missing (FFINFRA_UPDATE_GOLDEN=1 to write it)"
    assert text == path.read_text(encoding="utf-8"), f"{name}: Markdown differs from {path}"
    assert str(tmp_path) not in text, "labels must not carry temporary paths"


def test_no_stale_golden_files():
    assert sorted(p.stem for p in GOLDEN.glob("*.md")) == sorted(CASES)


def test_markdown_is_deterministic(tmp_path: Path, stack_text, write_stack):
    a = render("lab-add-compute-node", tmp_path / "a", stack_text, write_stack)
    b = render("lab-add-compute-node", tmp_path / "b", stack_text, write_stack)
    assert a == b


def test_golden_plans_say_what_the_issue_promises():
    """The files are reviewed by reading them; these are the facts a reviewer must find in each."""
    add = (GOLDEN / "lab-add-compute-node.md").read_text(encoding="utf-8")
    assert "| topology | cn05 added |" in add and "<details><summary>cn05 added" in add
    grow = (GOLDEN / "lab-grow-storage-count.md").read_text(encoding="utf-8")
    assert "**Impact: 3FS data migration**" in grow and "re-cabled" not in grow
    qos = (GOLDEN / "lab-qos-weight.md").read_text(encoding="utf-8")
    assert "**Impact: hot reload**" in qos and "```diff" in qos and "qos_vlarb_low" in qos
    ctt = (GOLDEN / "lab-chain-table-type.md").read_text(encoding="utf-8")
    assert "⛔" in ctt and "**Refused: it destroys data; re-run with --allow-destructive if that is intended.**" in ctt
