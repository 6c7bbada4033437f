"""One rank of a test job (run as a subprocess by jobs.py): makes a Communicator, runs the cases it is given and
prints one JSON line per case: whether its result matches the NumPy reference, and a digest of the result so the
test can check every rank holds the same bytes.

Each rank's input is drawn from (case seed, rank), so every rank can compute the whole job's reference itself."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import time

import numpy as np

import hfreduce

EPS = {"float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}


def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 → bfloat16 bits, rounded to nearest even (as the library rounds)."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def from_bf16_bits(b: np.ndarray) -> np.ndarray:
    return (b.astype(np.uint32) << 16).view(np.float32)


def make_input(dtype: str, count: int, seed: int, rank: int) -> np.ndarray:
    x = np.random.default_rng([seed, rank]).uniform(-1.0, 1.0, count).astype(np.float32)
    if dtype == "float32":
        return x
    if dtype == "float16":
        return x.astype(np.float16)
    return to_bf16_bits(x)


def as_f64(a: np.ndarray, dtype: str) -> np.ndarray:
    return from_bf16_bits(a).astype(np.float64) if dtype == "bfloat16" else a.astype(np.float64)


def check(case: dict, world: int, nodes: int, got: np.ndarray) -> dict:
    dtype, count, seed = case["dtype"], case["count"], case["seed"]
    total = np.zeros(count)
    magnitude = np.zeros(count)
    for r in range(world):
        x = as_f64(make_input(dtype, count, seed, r), dtype)
        total += x
        magnitude += np.abs(x)
    # each rounding (local reduce, one per tree level, the final cast) may cost half an ulp of the partial sum
    roundings = 3 + max(1, nodes).bit_length()
    tol = roundings * EPS[dtype] * magnitude + 1e-30
    err = np.abs(as_f64(got, dtype) - total)
    bad = np.nonzero(err > tol)[0]
    return {
        "ok": bool(bad.size == 0),
        "first_bad": int(bad[0]) if bad.size else -1,
        "max_err": float(err.max()) if count else 0.0,
        "digest": hashlib.sha256(got.tobytes()).hexdigest()[:16],
    }


def main() -> None:
    rank, world, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    job = json.loads(sys.argv[4])
    settings = hfreduce.settings_from_env(**job.get("settings", {}))
    try:
        comm = hfreduce.Communicator(rank, world, root, settings)
    except hfreduce.HFReduceError as e:
        print(json.dumps({"rank": rank, "error": str(e)}), flush=True)
        return
    ready = {"rank": rank, "ready": True, "pid": os.getpid(), "node": comm.node_index, "local_rank": comm.local_rank}
    ready.update(simd=comm.simd, single_copy=comm.single_copy, threads=comm.threads, transport=comm.transport)
    print(json.dumps(ready), flush=True)
    nodes = comm.nodes
    for i, case in enumerate(job["cases"]):
        if job.get("die_rank") == rank and job.get("die_case") == i:
            os.kill(os.getpid(), signal.SIGKILL)
        if job.get("stall_rank") == rank and job.get("stall_case") == i:
            time.sleep(job.get("stall_s", 3600))
        count = case["count"] if case.get("count_by_rank") is None else case["count_by_rank"][rank]
        dtype = case["dtype"] if case.get("dtype_by_rank") is None else case["dtype_by_rank"][rank]
        x = make_input(dtype, count, case["seed"], rank)
        t0 = time.monotonic()
        try:
            comm.allreduce(x, dtype)
        except hfreduce.HFReduceError as e:
            print(json.dumps({"rank": rank, "case": i, "error": str(e), "seconds": time.monotonic() - t0}), flush=True)
            if job.get("keep_going"):
                continue
            return
        out = {"rank": rank, "case": i, "seconds": time.monotonic() - t0}
        out.update(check({**case, "count": count, "dtype": dtype}, world, nodes, x))
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
