"""Benchmark: validate + compile + render, wall time and peak memory, on ff2 and a synthetic ~100k-GPU cluster.

    .venv/bin/python bench/compile.py            # the table (about a minute on 2 cores)
    .venv/bin/python bench/compile.py --profile  # also cProfile the render of the largest spec

Each case runs in a fresh child process so that ru_maxrss is that case's own peak. In the child:
  timed passes (best of --repeat): compile_stack (load, models, checks, placement, wiring, invariants), then each
                                   renderer of render_all timed on its own (their sum is the render time);
  one traced pass:                 the same under tracemalloc, for the peak of Python allocations.

The synthetic cluster (generated in a temporary folder): 4 zones of 128-port NDR switches at 1:1 (64 up, 64 down;
64 spines, leaves derived: at most 128 → 8,192 host ports per zone); 12,500 compute nodes × 8 GPUs with one NDR
HCA each (3,125 per zone); storage from a 1-per-7 ratio, one HCA per zone; 2 management nodes per zone.
Scaled to 25 % and 50 % as well, to show the cost per node stays flat (linear in the node count).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import math
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ffinfra.compile import compile_stack  # noqa: E402
from ffinfra.render import targets  # noqa: E402
from ffinfra.stack import find_stack  # noqa: E402

FULL_COMPUTE = 12_500
ZONES = 4


def synthetic_spec(compute: int) -> dict[str, Any]:
    """A Fire-Flyer-style spec at NDR scale, from stacks/ff2 with the fabric and node counts replaced."""
    spec = yaml.safe_load((ROOT / "stacks" / "ff2" / "cluster.yaml").read_text())
    spec["name"] = f"synth{compute}"
    spec["description"] = f"synthetic: {compute} × 8-GPU nodes, {ZONES} NDR zones"
    for prof in spec["hardware"].values():
        for nic in prof.get("nics", []):
            if nic["kind"] == "infiniband":
                nic["rate_gbps"] = 400
    storage = spec["hardware"]["storage-16nvme"]
    storage["nics"] = [
        {"device": f"mlx5_{i}", "kind": "infiniband", "rate_gbps": 400, "numa": 0, "netdev": f"ib{i}"}
        for i in range(ZONES)
    ] + [{"device": "eno1", "kind": "ethernet", "rate_gbps": 25, "numa": 0}]
    n_mgmt = 2 * ZONES
    # ff2 pins a GPU group to each zone; the synthetic cluster has one group the compiler spreads over the zones
    gpu = spec["nodes"].pop("gpu-z0")
    spec["nodes"].pop("gpu-z1")
    gpu.pop("zone", None)
    spec["nodes"] = {"gpu": gpu | {"hostnames": f"gpu[00001-{compute:05d}]", "ip_offset": 4097}, **spec["nodes"]}
    for part in spec["scheduler"]["slurm"].get("partitions", []):
        part["groups"] = list(dict.fromkeys("gpu" if g.startswith("gpu-") else g for g in part["groups"]))
    spec["nodes"]["storage"].update(hostnames=f"stor[0001-{math.ceil(compute / 7):04d}]", ip_offset=1025)
    spec["nodes"]["mgmt"]["hostnames"] = f"mgmt[01-{n_mgmt:02d}]"
    spec["storage"]["ratio"] = {"compute_per_storage": 7}
    spec["storage"]["threefs"].update(
        cluster_id=spec["name"], mountpoint=f"/3fs/{spec['name']}", mgmtd_hosts="mgmt[01,03]", meta_hosts="mgmt[01-04]"
    )
    spec["fabric"].update(
        switch_model="QM9700",
        radix=128,
        link_rate="NDR",
        oversubscription=1.0,
        zones=[{"name": f"z{i}", "spines": 64} for i in range(ZONES)],
    )
    spec["fabric"]["subnet_manager"]["hosts"] = [f"mgmt{2 * i + 1:02d}" for i in range(ZONES)]
    spec["network"].update(
        management={"cidr": "10.0.0.0/16", "gateway": "10.0.0.1"},
        bmc={"cidr": "10.1.0.0/16"},
        ipoib={"cidr": "10.2.0.0/16"},
    )
    spec.pop("acceptance", None)  # ff2's calibrated figures are for its HDR hardware
    return spec


# ------------------------------------------------------------------------------------------------- one case (child)


def run_case(spec_path: str, profile: bool, repeat: int) -> dict[str, Any]:
    ref = find_stack(spec_path)
    compile_s, per = math.inf, {r.__name__: math.inf for r in targets.RENDERERS}
    for _ in range(repeat):  # best of `repeat`: the machine may be busy with other work
        gc.collect()
        t0 = time.perf_counter()
        compiled = compile_stack(ref)
        compile_s = min(compile_s, time.perf_counter() - t0)
        for r in targets.RENDERERS:
            t = time.perf_counter()
            r(compiled.topology)
            per[r.__name__] = min(per[r.__name__], time.perf_counter() - t)
        del compiled
    gc.collect()
    t0 = time.perf_counter()
    compiled = compile_stack(ref)
    t1 = time.perf_counter()
    artifacts = targets.render_all(compiled.topology)  # once as a whole, for its artifacts (and a sanity time)
    t2 = time.perf_counter()
    topo = compiled.topology
    out: dict[str, Any] = {
        "hosts": len(topo.hosts),
        "gpus": sum((topo.profile(h).gpus.count if topo.profile(h).gpus else 0) for h in topo.hosts),
        "switches": len(topo.switches),
        "links": len(topo.links),
        "leaves_per_zone": [z.leaves for z in topo.zones],
        "host_ports_per_zone": [z.host_ports for z in topo.zones],
        "artifacts": len(artifacts),
        "artifact_mb": sum(len(a.content.encode()) for a in artifacts) / 1e6,
        "compile_s": min(compile_s, t1 - t0),
        "render_s": min(sum(per.values()), t2 - t1),
        "renderers_s": per,
    }
    del compiled, artifacts, topo
    gc.collect()

    tracemalloc.start()
    c = compile_stack(ref)
    _, compile_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    arts = targets.render_all(c.topology)
    _, render_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out["traced_compile_mb"] = compile_peak / 2**20
    out["traced_total_mb"] = max(compile_peak, render_peak) / 2**20
    del arts
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        targets.render_all(c.topology)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(18)
        out["profile"] = buf.getvalue()
    out["maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return out


# ------------------------------------------------------------------------------------------------- driver (parent)


def child(spec_path: str, profile: bool, repeat: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--one", spec_path, "--repeat", str(repeat)] + (["--profile"] if profile else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed for {spec_path}:\n{proc.stderr}")
    return json.loads(proc.stdout)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--profile", action="store_true", help="cProfile the render of the largest spec")
    ap.add_argument("--sizes", default="25,50,100", help="synthetic sizes in %% of 12,500 compute nodes")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per case; the best is reported")
    args = ap.parse_args()
    if args.one:
        json.dump(run_case(args.one, args.profile, args.repeat), sys.stdout)
        return 0

    cases: list[tuple[str, str]] = [("ff2", str(ROOT / "stacks" / "ff2" / "cluster.yaml"))]
    sizes = [int(s) for s in args.sizes.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="ffinfra-bench-") as tmp:
        for pct in sizes:
            folder = Path(tmp) / f"synth{pct}"
            folder.mkdir()
            spec = synthetic_spec(FULL_COMPUTE * pct // 100)
            (folder / "cluster.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
            cases.append((f"synthetic {pct}%", str(folder / "cluster.yaml")))
        results = []
        for i, (name, path) in enumerate(cases):
            r = child(path, profile=args.profile and i == len(cases) - 1, repeat=args.repeat)
            results.append((name, r))
            print(f"  measured {name}: {r['hosts']} hosts", file=sys.stderr, flush=True)

    print()
    head = (
        f"{'case':<15} {'hosts':>6} {'GPUs':>7} {'switch':>6} {'links':>6} {'compile s':>9} {'render s':>8} "
        f"{'total s':>7} {'µs/host':>7} {'traced MB':>9} {'maxrss MB':>9} {'files':>5} {'out MB':>6}"
    )
    print(head)
    print("-" * len(head))
    for name, r in results:
        total = r["compile_s"] + r["render_s"]
        print(
            f"{name:<15} {r['hosts']:>6} {r['gpus']:>7} {r['switches']:>6} {r['links']:>6} {r['compile_s']:>9.2f} "
            f"{r['render_s']:>8.2f} {total:>7.2f} {total / r['hosts'] * 1e6:>7.0f} {r['traced_total_mb']:>9.1f} "
            f"{r['maxrss_mb']:>9.1f} {r['artifacts']:>5} {r['artifact_mb']:>6.1f}"
        )
    synth = [(n, r) for n, r in results if n.startswith("synthetic")]
    if len(synth) > 1:
        print("\nscaling against the smallest synthetic case (linear: time ratio ≈ host ratio, µs/host flat):")
        n0, r0 = synth[0]
        t0 = r0["compile_s"] + r0["render_s"]
        for n, r in synth[1:]:
            t = r["compile_s"] + r["render_s"]
            ratios = {
                "hosts": r["hosts"] / r0["hosts"],
                "compile": r["compile_s"] / r0["compile_s"],
                "render": r["render_s"] / r0["render_s"],
                "total": t / t0,
                "traced memory": r["traced_total_mb"] / r0["traced_total_mb"],
            }
            print(f"  {n} / {n0}: " + ", ".join(f"{k} ×{v:.2f}" for k, v in ratios.items()))
    name, big = results[-1]
    print(f"\nlargest case ({name}): {big['leaves_per_zone']} leaves, {big['host_ports_per_zone']} host ports per zone")
    print("time per renderer (s):")
    for rname, s in sorted(big["renderers_s"].items(), key=lambda kv: -kv[1]):
        print(f"  {rname:<22} {s:7.2f}  ({s / max(1e-9, sum(big['renderers_s'].values())):.0%})")
    if "profile" in big:
        print("\ncProfile of render_all, by cumulative time:\n" + big["profile"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
