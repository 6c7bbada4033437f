"""The double binary tree: two spanning trees over the nodes in which no node has more than two children in
both trees together, so every node receives at most one buffer's worth (two halves) while reducing and sends at
most one while broadcasting, whatever the node count."""

from __future__ import annotations

import pytest

from hfreduce import _core


def parents(tree: int, n: int) -> list[int]:
    return [_core.tree_parent(tree, n, x) for x in range(n)]


@pytest.mark.parametrize("n", [*range(1, 70), 127, 128, 129, 1250])
def test_each_tree_spans_all_nodes_with_at_most_two_children_each(n):
    for tree in (0, 1):
        ps = parents(tree, n)
        assert ps.count(-1) == 1, "exactly one root"
        depth_limit = n.bit_length() + 1
        for x in range(n):
            seen, y, depth = set(), x, 0
            while y >= 0:
                assert y not in seen, f"cycle through {y}"
                seen.add(y)
                y, depth = ps[y], depth + 1
            assert depth <= depth_limit, f"node {x} is {depth} deep in tree {tree} of {n}"
        assert max(ps.count(x) for x in range(n)) <= 2


@pytest.mark.parametrize("n", [*range(2, 70), 1250])
def test_children_over_both_trees_stay_within_two(n):
    p0, p1 = parents(0, n), parents(1, n)
    for x in range(n):
        assert p0.count(x) + p1.count(x) <= 2, f"node {x} of {n}"


def test_two_nodes_use_the_one_link_both_ways():
    assert parents(0, 2) == [-1, 0]
    assert parents(1, 2) == [1, -1]
