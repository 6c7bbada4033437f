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


def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    """float32 values in `dtype`'s storage, rounded to nearest even."""
    return (
        x.astype(np.float32) if dtype == "float32" else x.astype(np.float16) if dtype == "float16" else to_bf16_bits(x)
    )


def pair_input(case: dict, rank: int, local_rank: int, per_node: int) -> tuple[np.ndarray, tuple[int, int] | None]:
    """What an NVLink pair's rank hands the host (the GPU side's result, here computed with NumPy): its half of the
    pair's sum, rounded once, and that half as its part. Local ranks 2i and 2i+1 pair; an odd one out gives all."""
    dtype, count, seed = case["dtype"], case["count"], case["seed"]
    partner = local_rank ^ 1
    if partner >= per_node:
        return make_input(dtype, count, seed, rank), None
    mine = as_f64(make_input(dtype, count, seed, rank), dtype)
    theirs = as_f64(make_input(dtype, count, seed, rank - local_rank + partner), dtype)
    split = hfreduce._core.pair_split(count)
    return cast((mine + theirs).astype(np.float32), dtype), (0, split) if local_rank < partner else (split, count)


def to_gpu(x: np.ndarray, dtype: str, device: int):  # -> torch.Tensor: torch is imported only for GPU jobs
    """The input as a CUDA tensor on `device` (job option "gpu": test_gpu_run.py)."""
    import torch

    torch.cuda.set_device(device)
    t = torch.from_numpy(x.view(np.int16) if dtype == "bfloat16" else x)
    return (t.view(torch.bfloat16) if dtype == "bfloat16" else t).cuda(device)


def from_gpu(t, dtype: str) -> np.ndarray:
    import torch

    host = t.cpu()
    return host.view(torch.int16).numpy().view(np.uint16) if dtype == "bfloat16" else host.numpy()


def check(case: dict, world: int, nodes: int, got: np.ndarray) -> dict:
    dtype, count, seed = case["dtype"], case["count"], case["seed"]
    parts = case.get("parts")  # [lo, hi] per rank: what each contributes
    total = np.zeros(count)
    magnitude = np.zeros(count)
    for r in range(world):
        x = as_f64(make_input(dtype, count, seed, r), dtype)
        if parts is not None:
            lo, hi = parts[r]
            x[:lo] = 0
            x[hi:] = 0
        total += x
        magnitude += np.abs(x)
    # each rounding (local reduce, one per tree level, the final cast; a pair's sum) may cost half an ulp of the
    # partial sum
    roundings = 3 + max(1, nodes).bit_length() + (1 if case.get("pair_halves") or case.get("pair_rounding") else 0)
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
    settings = hfreduce.settings_from_env(
        **job.get("settings", {}), **job.get("settings_by_rank", {}).get(str(rank), {})
    )
    try:
        comm = hfreduce.Communicator(rank, world, root, settings)
    except hfreduce.HFReduceError as e:
        print(json.dumps({"rank": rank, "error": str(e)}), flush=True)
        return
    ready = {"rank": rank, "ready": True, "pid": os.getpid(), "node": comm.node_index, "local_rank": comm.local_rank}
    ready.update(simd=comm.simd, single_copy=comm.single_copy, threads=comm.threads, transport=comm.transport)
    ready.update(nvlink_pairs=comm.nvlink_pairs)
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
        part = tuple(case["parts"][rank]) if case.get("parts") else None
        if case.get("pair_halves"):
            x, part = pair_input({**case, "count": count, "dtype": dtype}, rank, comm.local_rank, comm.local_size)
        if job.get("gpu"):  # this rank's GPU: its local rank, wrapped around the GPUs there are
            import torch

            x = to_gpu(x, dtype, comm.local_rank % torch.cuda.device_count())
        t0 = time.monotonic()
        try:
            comm.allreduce(x, dtype, part=part)
        except hfreduce.HFReduceError as e:
            print(json.dumps({"rank": rank, "case": i, "error": str(e), "seconds": time.monotonic() - t0}), flush=True)
            if job.get("keep_going"):
                continue
            return
        out = {"rank": rank, "case": i, "seconds": time.monotonic() - t0, "partner": comm.nvlink_partner}
        if job.get("gpu"):
            x = from_gpu(x, dtype)
        out.update(check({**case, "count": count, "dtype": dtype}, world, nodes, x))
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
