"""Hostlist compress/expand round trips for random names and random runs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ffinfra.spec.hostlist import compress, expand

NAME = st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True)


@st.composite
def runs(draw: st.DrawFn) -> list[str]:
    """Names the way clusters write them: runs of numbered hosts, padded or not, some crossing 9 → 10."""
    names: list[str] = []
    for _ in range(draw(st.integers(1, 5))):
        prefix = draw(st.from_regex(r"[a-z][a-z0-9-]{0,5}[a-z-]", fullmatch=True))
        width = draw(st.integers(0, 4))
        start = draw(st.sampled_from([0, 1, 8, 9, 98, 99, 998, 999, 9998]) | st.integers(0, 20000))
        count = draw(st.integers(1, 30))
        names += [f"{prefix}{str(i).zfill(width)}" for i in range(start, start + count)]
    return names


@settings(max_examples=60, deadline=None)
@given(st.lists(NAME, max_size=30))
def test_random_names_round_trip(names: list[str]) -> None:
    assert expand(compress(names)) == names


@settings(max_examples=60, deadline=None)
@given(runs())
def test_runs_round_trip_and_fold(names: list[str]) -> None:
    expr = compress(names)
    assert expand(expr) == names
    assert len(expr) <= len(",".join(names))  # folding never makes it longer
    assert compress(expand(expr)) == expr  # and the compressed form is canonical


@settings(max_examples=60, deadline=None)
@given(runs(), st.randoms(use_true_random=False))
def test_shuffled_runs_round_trip(names: list[str], rnd) -> None:
    rnd.shuffle(names)
    assert expand(compress(names)) == names
