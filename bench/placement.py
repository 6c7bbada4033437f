"""Benchmark: 3FS chain placement (ffinfra/topology/chains.py) on Fire-Flyer-sized storage, next to upstream's
integer program (deploy/data_placement, pyomo + HiGHS) as measured on this machine class.

    .venv/bin/python bench/placement.py            # the table
    .venv/bin/python bench/placement.py --repeat 3

Each case: storage nodes × disks × targets per disk, replication; the time to place every chain, the chains, and
how evenly pairs of nodes share chains (ideal, min, max over all pairs: the target is every pair within 1 of the
ideal). Upstream's figures are from running its model unmodified (shared/reference/3fs/placement-output/README):
it repeats one design on every disk, so its balance is per disk.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ffinfra.topology.chains import grow, ideal_shared, pair_counts, place_chains  # noqa: E402

CASES = [  # (label, nodes, disks, replication, targets per disk)
    ("upstream sample", 5, 2, 3, 6),
    ("upstream sample", 8, 2, 2, 7),
    ("25 nodes (upstream ILP: 322 s)", 25, 16, 3, 12),
    ("60 nodes (upstream ILP: none in 900 s, ~10 GB)", 60, 16, 3, 6),
    ("ff2, 2 replicas", 180, 16, 2, 6),
    ("ff2, 3 replicas", 180, 16, 3, 6),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=1, help="best of N per case")
    args = ap.parse_args()
    print(f"{'case':48} {'nodes':>5} {'disks':>5} {'k':>2} {'t/disk':>6} {'chains':>7} {'time':>8} "
          f"{'ideal':>6} {'min':>4} {'max':>4} {'within 1':>8}")  # fmt: skip
    for label, v, disks, k, r in CASES:
        best = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            table = place_chains(list(range(10001, 10001 + v)), disks, k, r)
            best = min(best, time.perf_counter() - t0)
        counts = list(pair_counts(table).values())
        ideal = ideal_shared(v, disks, k, r)
        ok = all(abs(c - ideal) <= 1 for c in counts)
        print(f"{label:48} {v:>5} {disks:>5} {k:>2} {r:>6} {len(table.chains):>7} {best:>6.2f} s "
              f"{ideal:>6.2f} {min(counts):>4} {max(counts):>4} {'yes' if ok else 'NO':>8}")  # fmt: skip
    print()
    print("growth: ff2's storage plus 20 nodes (existing chains keep their ids; a replica moves: create, sync, remove)")
    print(f"{'replication':>11} {'time':>8} {'new chains':>10} {'replicas moved':>14} {'of chains':>9} "
          f"{'pairs (ideal; min-max)':>24}")  # fmt: skip
    for k in (2, 3):
        before = place_chains(list(range(10001, 10181)), 16, k, 6)
        t0 = time.perf_counter()
        g = grow(before, list(range(10181, 10201)))
        took = time.perf_counter() - t0
        counts = list(pair_counts(g.table).values())
        ideal = ideal_shared(200, 16, k, 6)
        print(f"{k:>11} {took:>6.2f} s {len(g.new_chains):>10} {len(g.moves):>14} {len(before.chains):>9} "
              f"{ideal:>12.2f}; {min(counts)}-{max(counts)}")  # fmt: skip
    print(f"max RSS of the whole run: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")


if __name__ == "__main__":
    main()
