"""allreduce across processes on this host, each "node" a node name (HFREDUCE_NODE): every rank's result within a
few roundings of the float64 sum of all inputs, and every rank holding the same bytes, for 1-8 nodes (powers of two
and not), 1-4 ranks per node, each dtype, and sizes that are not multiples of the chunk, the SIMD width or the
per-rank slice. Small chunks and buffers make even small arrays go in many chunks and pieces."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
from hf_jobs import run_job
from hf_worker import check, make_input

DTYPES = ["float32", "float16", "bfloat16"]
EDGE_COUNTS = [0, 1, 2, 3, 17, 1023, 1024, 1025, 4097, 300_001]
# 4 KiB chunks (the minimum) and 1 MiB of shared memory per rank: 300,001 float32 go in 2 pieces of ~73 chunks
SMALL = {"chunk_kib": 4, "buffer_mib": 1, "timeout_s": 60}

SHAPES = sorted({(n, 2) for n in range(1, 9)} | {(3, r) for r in range(1, 5)} | {(8, 4), (5, 3), (7, 1), (6, 4)})


def cases(counts: list[int], seed: int) -> list[dict]:
    return [
        {"dtype": d, "count": c, "seed": seed + i} for i, (d, c) in enumerate((d, c) for d in DTYPES for c in counts)
    ]


def assert_all_correct(job, expected_cases: int) -> None:
    assert not job.errors(), job.errors()
    results = job.case_results()
    assert len(results) == expected_cases * job.nodes * job.per_node, "some rank did not report every case"
    wrong = [r for r in results if not r["ok"]]
    assert not wrong, wrong[:3]
    digests: dict[int, set[str]] = {}
    for r in results:
        digests.setdefault(r["case"], set()).add(r["digest"])
    assert all(len(d) == 1 for d in digests.values()), "ranks disagree on the result"


@pytest.mark.parametrize(("nodes", "per_node"), SHAPES, ids=[f"{n}x{r}" for n, r in SHAPES])
def test_sum_matches_numpy_on_every_rank(nodes, per_node):
    cs = cases(EDGE_COUNTS, seed=nodes * 100 + per_node)
    job = run_job(nodes, per_node, {"cases": cs, "settings": SMALL}, timeout=180)
    assert_all_correct(job, len(cs))


@pytest.mark.parametrize(("nodes", "per_node"), [(1, 3), (3, 2), (2, 4)], ids=["1x3", "3x2", "2x4"])
def test_copying_through_shared_memory_gives_the_same_sums(nodes, per_node):
    """HFREDUCE_SINGLE_COPY=0, or a host that forbids reading another process's memory: the inputs are copied into
    shared memory first instead of read in place."""
    cs = cases(EDGE_COUNTS, seed=7000 + nodes)
    job = run_job(nodes, per_node, {"cases": cs, "settings": {**SMALL, "single_copy": False}}, timeout=180)
    assert {x["single_copy"] for r in range(nodes * per_node) for x in job.lines(r) if x.get("ready")} == {False}
    assert_all_correct(job, len(cs))


def test_fuzzed_sizes():
    """Random sizes from a seed printed on failure (HFREDUCE_FUZZ_SEED replays one)."""
    seed = int(os.environ.get("HFREDUCE_FUZZ_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    counts = [rng.randrange(0, 200_000) for _ in range(8)]
    nodes, per_node = rng.randrange(1, 7), rng.randrange(1, 4)
    cs = cases(counts, seed)
    job = run_job(nodes, per_node, {"cases": cs, "settings": SMALL}, timeout=180)
    try:
        assert_all_correct(job, len(cs))
    except AssertionError as e:
        raise AssertionError(f"HFREDUCE_FUZZ_SEED={seed} ({nodes}x{per_node}, counts {counts}): {e}") from None


def test_default_chunk_and_buffer_sizes():
    cs = [{"dtype": "float32", "count": 3 << 20, "seed": 7}, {"dtype": "bfloat16", "count": (5 << 20) + 3, "seed": 8}]
    job = run_job(3, 2, {"cases": cs}, timeout=180)
    assert_all_correct(job, len(cs))


def test_the_reference_check_catches_a_wrong_sum():
    """The check the workers run is not vacuous: one element off by a little more than the tolerance fails it."""
    world = 4
    total = sum(make_input("float32", 1000, 3, r).astype(np.float64) for r in range(world)).astype(np.float32)
    assert check({"dtype": "float32", "count": 1000, "seed": 3}, world, 2, total)["ok"]
    total[123] += 1e-3
    verdict = check({"dtype": "float32", "count": 1000, "seed": 3}, world, 2, total)
    assert not verdict["ok"] and verdict["first_bad"] == 123
