"""A 3FS growth or shrink in `ffinfra plan`: the ordered 3FS steps, the chains and bytes that move, chain ids kept,
and no chain ever below its replication; on `small` and on Fire-Flyer 2."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ffinfra.compile import compile_stack
from ffinfra.plan.impact import Impact
from ffinfra.plan.plan import Plan, build_plan
from ffinfra.render.threefs import render_threefs


@pytest.fixture
def plan_between(tmp_path: Path, stack_text, write_stack):
    def make(stack: str, old_edit, new_edit) -> Plan:
        text = stack_text(stack)
        a = compile_stack(write_stack(tmp_path / "old", old_edit(text)))
        b = compile_stack(write_stack(tmp_path / "new", new_edit(text)))
        return build_plan(a, b, "old", "new")

    return make


def _row(plan: Plan):
    (row,) = [r for r in plan.rows if r.subject == "3FS chains"]
    return row


def _steps(row) -> list[str]:
    return [d for d in row.details if d[:2] in {f"{i}." for i in range(1, 10)}]


def same(t: str) -> str:
    return t


def storage_ratio(n: int):
    return lambda t: t.replace("compute_per_storage: 8", f"compute_per_storage: {n}")


def test_a_growth_on_small_adds_before_it_removes(plan_between) -> None:
    p = plan_between("small", same, storage_ratio(4))  # 4 → 8 storage nodes
    row = _row(p)
    assert row.impact is Impact.DATA_MIGRATION and row.change.startswith("+4 storage node(s)")
    steps = _steps(row)
    assert [s.split()[1] for s in steps] == ["create-target", "upload-chains", "wait", "upload-chain-table",
                                             "offline-target"]  # fmt: skip
    assert "resize_create_target_cmd.txt" in steps[0] and "resize_remove_target_cmd.txt" in steps[4]
    paths = {a.path for a in p.artifacts}
    assert {"threefs/chains/resize_create_target_cmd.txt", "threefs/chains/resize_chains_during.csv"} <= paths


def test_a_grown_table_keeps_every_chain_id_and_full_replication(plan_between, stack_text, write_stack, tmp_path):
    old = compile_stack(write_stack(tmp_path / "a", stack_text("small"))).topology
    new = compile_stack(write_stack(tmp_path / "b", storage_ratio(4)(stack_text("small")))).topology
    from dataclasses import replace

    grown = replace(new, base_chains=old.chain_table)
    r = grown.chain_resize
    assert r is not None and old.chain_table is not None
    before = {c.chain_id for c in old.chain_table.chains}
    after = {c.chain_id: c for c in r.table.chains}
    assert before <= set(after) and all(len(c.targets) == 3 for c in r.table.chains)
    # while a replica moves its chain has old + new targets: never fewer than 3 serving
    during = next(a for a in render_threefs(grown) if a.path.endswith("resize_chains_during.csv")).content
    assert all(len(line.split(",")) >= 4 for line in during.splitlines()[1:])
    # each new node ends with its targets on every disk
    per_node = Counter(t.node_id for c in r.table.chains for t in c.targets)
    assert set(per_node.values()) == {16 * 6}


def test_a_shrink_on_small_moves_the_removed_nodes_replicas_first(plan_between) -> None:
    p = plan_between("small", same, storage_ratio(11))  # 4 → 3 storage nodes
    row = _row(p)
    assert row.change.startswith("-1 storage node(s): 0 new chain(s)")
    steps = _steps(row)
    assert steps[-1].startswith("6. only then stop storage_main on stor04")
    moved = [d for d in row.details if "→" in d]
    assert moved and all("(node 10004) →" in d for d in moved)  # only stor04's replicas move


def _ff2_count(n: int):
    return lambda t: t.replace("hostnames: stor[001-180]", f"hostnames: stor[001-180]\n    count: {n}")


@pytest.mark.parametrize(("before", "after", "sign"), [(170, 180, "+10"), (180, 175, "-5")])
def test_ff2_growth_and_shrink_are_planned(plan_between, before: int, after: int, sign: str) -> None:
    p = plan_between("ff2", _ff2_count(before), _ff2_count(after))
    row = _row(p)
    assert row.change.startswith(f"{sign} storage node(s)") and "TiB" in row.change
    assert p.impact >= Impact.DATA_MIGRATION
    moves = [d for d in row.details if "→" in d]
    # few replicas move: a removed node's targets each move once (the least possible); a new node receives at
    # most its own targets' worth (16 disks × 6 targets), not a reshuffle of the 8,640 chains
    per_node = 16 * 6
    assert len(moves) == per_node * 5 if sign == "-5" else 0 < len(moves) <= per_node * 10
