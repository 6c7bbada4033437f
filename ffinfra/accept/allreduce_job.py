"""One rank of an allreduce benchmark, run on a cluster node (staged there by `ffinfra test` and bench/allreduce.py;
standard library, NumPy, and HFReduce or PyTorch only).

    python allreduce_job.py --impl hfreduce|gloo --rank R --world W --root HOST:PORT --sizes-mib 1,64 --iters 5

Each rank fills its buffer with rank + 1, so every element of the sum is W(W+1)/2: a wrong sum is caught on every
rank. For each size: warm-up calls, a barrier, `iters` timed calls. Prints one JSON line per size:
{"impl", "rank", "mib", "seconds": per call, "ok", "library"}; or {"rank", "error"} and exit status 1. For HFReduce,
"library" is the build's source digest and where it was imported from, so the caller can check every rank ran the
build the node's hfreduce.env describes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--impl", choices=("hfreduce", "gloo"), required=True)
    p.add_argument("--rank", type=int, required=True)
    p.add_argument("--world", type=int, required=True)
    p.add_argument("--root", required=True, help="HOST:PORT where rank 0 listens")
    p.add_argument("--sizes-mib", default="64", help="comma-separated sizes in MiB (float32 buffers)")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    return p.parse_args(argv)


def _say(**kv: object) -> None:
    print(json.dumps(kv), flush=True)


def main(argv: list[str]) -> int:
    a = _args(argv)
    import numpy as np

    try:
        if a.impl == "hfreduce":
            import hfreduce

            comm = hfreduce.Communicator(a.rank, a.world, a.root)
            library = {"source": hfreduce.build_info()["source"], "file": hfreduce.__file__}

            def allreduce(x: np.ndarray) -> None:
                comm.allreduce(x)

            def finish() -> None:
                pass
        else:
            import torch
            import torch.distributed as dist

            dist.init_process_group("gloo", init_method=f"tcp://{a.root}", rank=a.rank, world_size=a.world)

            def allreduce(x: np.ndarray) -> None:
                dist.all_reduce(torch.from_numpy(x))

            def finish() -> None:
                dist.destroy_process_group()

            library = {"torch": torch.__version__}

        expect = a.world * (a.world + 1) / 2
        one = np.zeros(1, dtype=np.float32)
        for mib in (float(s) for s in a.sizes_mib.split(",")):
            x = np.full(int(mib * (1 << 20)) // 4, a.rank + 1, dtype=np.float32)
            for _ in range(a.warmup):
                x.fill(a.rank + 1)
                allreduce(x)
            ok = bool(np.all(x == expect))
            allreduce(one)  # a barrier: the timed calls start together
            t0 = time.perf_counter()
            for _ in range(a.iters):
                allreduce(x)
            seconds = (time.perf_counter() - t0) / a.iters
            _say(impl=a.impl, rank=a.rank, mib=mib, seconds=seconds, ok=ok, library=library)
        finish()
    except Exception as e:  # every failure is reported as a line the launcher reads
        _say(rank=a.rank, error=f"{type(e).__name__}: {e}", pid=os.getpid())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
