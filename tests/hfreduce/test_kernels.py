"""The CPU reduce kernel, at every SIMD level this build compiled and this CPU runs, against NumPy: bit-exact,
since the kernel sums inputs in order in float32 and rounds once to the output type. Levels above this CPU's are
compiled (the build has them) but cannot run here; the library never picks them (test_levels_above_the_cpu...)."""

from __future__ import annotations

import numpy as np
import pytest
from hf_jobs import run_job
from hf_worker import from_bf16_bits, to_bf16_bits
from hypothesis import given, settings
from hypothesis import strategies as st

import hfreduce
from hfreduce import _core

LEVELS = ["generic", "avx", "avx2", "avx512"]
DTYPES = ["float32", "float16", "bfloat16"]
INFO = hfreduce.build_info()
RUNNABLE = [lv for lv in INFO["simd_compiled"] if LEVELS.index(lv) <= LEVELS.index(INFO["simd_best"])]


def reference(inputs: list[np.ndarray], dtype: str) -> np.ndarray:
    """Left-to-right float32 sum, rounded once to the output type."""
    if dtype == "bfloat16":
        acc = from_bf16_bits(inputs[0]).copy()
        for x in inputs[1:]:
            acc += from_bf16_bits(x)
        return to_bf16_bits(acc)
    acc = inputs[0].astype(np.float32)
    for x in inputs[1:]:
        acc += x.astype(np.float32)
    return acc.astype(inputs[0].dtype)


def inputs_for(dtype: str, k: int, n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    xs = [rng.uniform(-100, 100, n).astype(np.float32) for _ in range(k)]
    if dtype == "float16":
        return [x.astype(np.float16) for x in xs]
    if dtype == "bfloat16":
        return [to_bf16_bits(x) for x in xs]
    return xs


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.tobytes() == b.tobytes()


def test_the_build_has_every_level_and_this_cpu_runs_at_least_avx():
    assert INFO["simd_compiled"] == LEVELS  # x86-64, no HFREDUCE_SIMD_MAX: all of them
    assert "avx" in RUNNABLE, INFO


def chosen_level(ceiling: str) -> str:
    job = run_job(1, 1, {"cases": [], "settings": {"simd": ceiling}}, timeout=60)
    return next(x for x in job.lines(0) if x.get("ready"))["simd"]


def test_levels_above_the_cpu_are_never_chosen():
    """HFREDUCE_SIMD is a ceiling: the level used is the lower of it and what this CPU runs."""
    assert chosen_level("avx512") == INFO["simd_best"]
    assert chosen_level("generic") == "generic"


@pytest.mark.parametrize("level", RUNNABLE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_matches_numpy_bit_for_bit(level, dtype):
    for k in (1, 2, 3, 8):
        for n in (0, 1, 7, 15, 16, 17, 63, 64, 65, 1023, 4096 + 5, 100_003):
            xs = inputs_for(dtype, k, n, seed=n * 10 + k)
            out = np.empty_like(xs[0])
            _core.reduce(out, xs, dtype=dtype, simd=level)
            assert same_bits(out, reference(xs, dtype)), (k, n)


@pytest.mark.parametrize("level", RUNNABLE)
def test_unaligned_buffers_and_in_place_accumulation(level):
    base = np.random.default_rng(1).uniform(-1, 1, 10_001).astype(np.float32)
    other = np.random.default_rng(2).uniform(-1, 1, 10_001).astype(np.float32)
    a, b = base[1:9_998], other[3:10_000]  # 4 and 12 bytes off any vector boundary
    expect = a + b
    _core.reduce(a, [a, b], simd=level)  # the output is the first input: accumulate in place
    assert same_bits(a, expect)


def test_threads_split_the_work_without_changing_the_result():
    xs = inputs_for("bfloat16", 4, 1_000_003, seed=5)
    one, four = np.empty_like(xs[0]), np.empty_like(xs[0])
    _core.reduce(one, xs, dtype="bfloat16", threads=1)
    _core.reduce(four, xs, dtype="bfloat16", threads=4)
    assert same_bits(one, four)


def test_bfloat16_rounds_to_nearest_even_and_keeps_nan_and_inf():
    # 1 + 2^-8 lies halfway between two bfloat16 values: ties go to the even one (1.0); 1 + 3·2^-8 rounds up
    halves = np.array([1.0, 1.0, np.inf, np.nan, -np.inf], dtype=np.float32)
    adds = np.array([2.0**-8, 3 * 2.0**-8, 1.0, 1.0, -1.0], dtype=np.float32)
    a, b = to_bf16_bits(halves), to_bf16_bits(adds)  # both exact in bfloat16
    out = np.empty_like(a)
    _core.reduce(out, [a, b], dtype="bfloat16")
    got = from_bf16_bits(out)
    assert got[0] == 1.0
    assert got[1] == 1.0 + 2.0**-6
    assert np.isposinf(got[2]) and np.isnan(got[3]) and np.isneginf(got[4])


def test_float16_overflow_saturates_to_inf_like_numpy():
    a = np.array([60000, -60000, 1], dtype=np.float16)
    out = np.empty_like(a)
    _core.reduce(out, [a, a])
    with np.errstate(over="ignore"):
        expect = (a.astype(np.float32) * 2).astype(np.float16)
    assert same_bits(out, expect)


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from(DTYPES),
    k=st.integers(1, 6),
    n=st.integers(0, 5000),
    seed=st.integers(0, 2**31),
)
def test_kernel_fuzzed(dtype, k, n, seed):
    xs = inputs_for(dtype, k, n, seed)
    out = np.empty_like(xs[0])
    _core.reduce(out, xs, dtype=dtype)
    assert same_bits(out, reference(xs, dtype))


def test_wrong_inputs_are_refused_with_a_reason():
    a = np.zeros(4, dtype=np.float32)
    with pytest.raises(hfreduce.HFReduceError, match="size and type"):
        _core.reduce(a, [np.zeros(5, dtype=np.float32)])
    with pytest.raises(hfreduce.HFReduceError, match="float32, float16 and bfloat16"):
        _core.reduce(np.zeros(4, dtype=np.int32), [np.zeros(4, dtype=np.int32)])
    with pytest.raises(hfreduce.HFReduceError, match="unknown SIMD level 'sse9'"):
        _core.reduce(a, [a], simd="sse9")
