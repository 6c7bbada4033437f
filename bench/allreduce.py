"""Benchmark: HFReduce against torch.distributed's gloo and Open MPI on the same nodes, in one run; and the CPU
reduce kernel against this machine's memory-copy bandwidth.

    sudo .venv/bin/ffinfra up lab                       # the nodes (4 compute nodes in the lab)
    sudo .venv/bin/python bench/allreduce.py            # lab, 2 ranks per node, 1-256 MiB
    sudo .venv/bin/python bench/allreduce.py --kernel-only
    sudo .venv/bin/python bench/allreduce.py --stack lab --per-node 2 --sizes 64 --rounds 3 --json out.json

Allreduce: float32 sums, every implementation started the same way on the same compute nodes (HFReduce and gloo
through ffinfra/accept/allreduce_job.py over the stack's SSH; Open MPI with mpirun on the first node, which reaches
the others over SSH with a key made for this run and removed after it). Each round runs every implementation at
every size, in turn; the figure kept per implementation and size is the median over rounds. algbw = bytes / time of
one call on the slowest rank; busbw = algbw × 2(n-1)/n (nccl-tests' convention).

Kernel: out = in_0 + in_1 (and + ... + in_7) on 64 MiB buffers against memcpy of 64 MiB, both on the same threads;
bandwidth counts every byte read and written, so 100% means the kernel moves memory as fast as memcpy does.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ffinfra.accept import allreduce as ar  # noqa: E402

# ------------------------------------------------------------------------------------------------ kernel


def kernel_figures(threads: int, mib: int = 64, repeats: int = 10) -> list[dict]:
    import numpy as np

    from hfreduce import _core

    n = mib << 20
    src = np.ones(n // 4, dtype=np.float32)
    dst = np.empty_like(src)

    def best(fn) -> float:
        fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    copy_s = best(lambda: _core.copy(dst, src, threads=threads))
    copy_gbs = 2 * n / copy_s / 1e9
    rows = [{"what": "memcpy", "threads": threads, "gbyte_s": copy_gbs, "of_memcpy": 1.0}]
    for dtype, np_dtype, elem in (("float32", np.float32, 4), ("float16", np.float16, 2), ("bfloat16", np.uint16, 2)):
        for k in (2, 8):
            xs = [np.ones(n // elem, dtype=np_dtype) for _ in range(k)]
            out = np.empty_like(xs[0])
            s = best(lambda xs=xs, out=out, dtype=dtype: _core.reduce(out, xs, dtype=dtype, threads=threads))
            gbs = (k + 1) * n / s / 1e9  # k inputs read, one output written
            rows.append(
                {"what": f"reduce {dtype} x{k}", "threads": threads, "gbyte_s": gbs, "of_memcpy": gbs / copy_gbs}
            )
    return rows


def print_kernel(rows: list[dict]) -> None:
    import hfreduce

    info = hfreduce.build_info()
    print(f"\nCPU reduce kernel ({info['simd_best']}; 64 MiB buffers; bytes read + written per second)")
    print(f"{'':22} {'threads':>7} {'GB/s':>8} {'of memcpy':>10}")
    for r in rows:
        print(f"{r['what']:22} {r['threads']:>7} {r['gbyte_s']:>8.1f} {r['of_memcpy']:>9.0%}")


# ------------------------------------------------------------------------------------------------ cluster


class Nodes:
    """SSH to a running stack's compute nodes, as `ffinfra test` reaches them."""

    def __init__(self, stack: str, provider: str = "lab"):
        from ffinfra.apply.providers import get_provider
        from ffinfra.compile import compile_stack
        from ffinfra.runtime.paths import StackPaths
        from ffinfra.runtime.secrets import StackSecrets
        from ffinfra.stack import find_stack

        compiled = compile_stack(find_stack(stack))
        self.topo = compiled.topology
        paths = StackPaths(compiled.stack.dir)
        access = get_provider(provider, self.topo.name, paths.state_dir, self.topo).access()
        self.hosts = [h for h in self.topo.services.slurm_nodes if h in access]
        if len(self.hosts) < 2:
            raise SystemExit(
                f"stack {stack!r} has {len(self.hosts)} running compute node(s): `ffinfra up {stack}` first"
            )
        self.secrets = StackSecrets(paths.secrets)
        self.remote = self.secrets.remote([access[h] for h in self.hosts])
        self.iface = self.topo.spec.network.management_interface or "eth0"

    def sh(self, host: str, command: str, timeout: float = 600) -> ar.CmdResult:
        return self.remote.run(host, command, timeout)

    def put(self, host: str, path: str, body: bytes, mode: int = 0o644) -> None:
        self.remote.put(host, path, body, mode)


MPI_DIR = "/root/.ffinfra-bench"


def run_openmpi(
    nodes: Nodes, hosts: list[str], per_node: int, sizes: list[float], iters: int, warmup: int, extra: str = ""
) -> ar.Outcome:
    """mpirun on hosts[0]; it starts orted on the others over SSH with a key made for this run (removed after)."""
    first = hosts[0]
    marker = f"ffinfra-bench-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", marker, "-f", str(key)], check=True)
        pub = (key.with_suffix(".pub")).read_text().strip()
        wrapper = (
            "#!/bin/sh\n# ssh for mpirun's launcher (bench/allreduce.py; removed after the run)\n"
            f"exec ssh -i {MPI_DIR}/key -o UserKnownHostsFile={MPI_DIR}/known_hosts -o StrictHostKeyChecking=yes "
            '-o BatchMode=yes "$@"\n'
        )
        try:
            for h in hosts:
                r = nodes.sh(
                    h, f"umask 077; mkdir -p /root/.ssh && echo {shlex.quote(pub)} >> /root/.ssh/authorized_keys", 30
                )
                if not r.ok:
                    return ar.Outcome([], {h: f"cannot add the run's key: {r.brief()}"})
                nodes.sh(h, f"mkdir -p {MPI_DIR} && chmod 700 {MPI_DIR}", 30)
                nodes.put(h, f"{MPI_DIR}/allreduce_mpi.c", (ROOT / "bench" / "allreduce_mpi.c").read_bytes())
                r = nodes.sh(h, f"mpicc -O2 -o {MPI_DIR}/allreduce_mpi {MPI_DIR}/allreduce_mpi.c", 120)
                if not r.ok:
                    return ar.Outcome([], {h: f"mpicc failed: {r.brief()}"})
                # every orted checks that the launcher named on the command line exists, even where it launches nothing
                nodes.put(h, f"{MPI_DIR}/ssh", wrapper.encode(), 0o700)
            nodes.put(first, f"{MPI_DIR}/key", key.read_bytes(), 0o600)
            nodes.put(first, f"{MPI_DIR}/known_hosts", nodes.secrets.known_hosts.read_bytes(), 0o600)
            world = len(hosts) * per_node
            cmd = (
                f"mpirun --allow-run-as-root -np {world} --host {','.join(f'{h}:{per_node}' for h in hosts)} "
                f"--mca plm_rsh_agent {MPI_DIR}/ssh --mca plm_rsh_no_tree_spawn 1 "
                f"--mca btl self,vader,tcp --mca btl_tcp_if_include {nodes.iface} "
                f"--mca oob_tcp_if_include {nodes.iface} --bind-to none {extra} "
                f"{MPI_DIR}/allreduce_mpi {iters} {warmup} {' '.join(f'{s:g}' for s in sizes)}"
            )
            r = nodes.sh(first, cmd, 1200)
            lines = ar.parse_lines(r.stdout)
            errors = {} if r.ok else {first: r.brief(2000)}
            return ar.Outcome(ar.figures(lines, "openmpi", world, len(hosts)), errors)
        finally:
            for h in hosts:
                nodes.sh(h, f"rm -rf {MPI_DIR}; sed -i '/ {marker}$/d' /root/.ssh/authorized_keys", 30)


def print_allreduce(
    table: dict[tuple[str, float], ar.Figure], impls: list[str], sizes: list[float], ranks: int, nodes: int
) -> None:
    print(f"\nallreduce, float32, {nodes} nodes x {ranks // nodes} ranks (busbw GB/s; algbw in brackets)")
    head = f"{'MiB':>6}" + "".join(f" {i:>18}" for i in impls)
    if "hfreduce" in impls:
        head += "".join(f" {'hf/' + i:>10}" for i in impls if i != "hfreduce")
    print(head)
    for s in sizes:
        row = f"{s:>6g}"
        for i in impls:
            f = table.get((i, s))
            row += f" {f'{f.busbw:.2f} ({f.algbw:.2f})' + ('' if f.ok else ' WRONG'):>18}" if f else f" {'-':>18}"
        hf = table.get(("hfreduce", s))
        for i in impls:
            if i == "hfreduce":
                continue
            o = table.get((i, s))
            row += f" {hf.busbw / o.busbw:>9.2f}x" if hf and o else f" {'-':>10}"
        print(row)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stack", default="lab")
    p.add_argument("--per-node", type=int, default=2)
    p.add_argument("--nodes", type=int, default=0, help="use the first N compute nodes (0: all)")
    p.add_argument("--sizes", default="1,4,16,64,256", help="MiB, comma-separated")
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--impls", default="hfreduce,gloo,openmpi")
    p.add_argument("--kernel-only", action="store_true")
    p.add_argument(
        "--mpi-args",
        default="",
        help="more mpirun options, e.g. '--mca coll_tuned_use_dynamic_rules 1 --mca coll_tuned_allreduce_algorithm 4'",
    )
    p.add_argument("--threads", default="", help="kernel threads, comma-separated (default: 1 and all CPUs)")
    p.add_argument("--json", type=Path, help="write every figure here")
    a = p.parse_args()

    threads = [int(t) for t in a.threads.split(",")] if a.threads else sorted({1, os.cpu_count() or 1})
    kernel = [row for t in threads for row in kernel_figures(t)]
    print_kernel(kernel)
    out: dict = {"kernel": kernel, "allreduce": []}
    if a.kernel_only:
        if a.json:
            a.json.write_text(json.dumps(out, indent=1))
        return 0

    nodes = Nodes(a.stack)
    hosts = nodes.hosts[: a.nodes] if a.nodes else nodes.hosts
    sizes = [float(s) for s in a.sizes.split(",")]
    impls = [i.strip() for i in a.impls.split(",") if i.strip()]
    staged = ar.stage(nodes.sh, nodes.put, hosts)
    if staged:
        raise SystemExit(f"cannot stage the job: {staged}")
    samples: dict[tuple[str, float], list[ar.Figure]] = {}
    port = 29700 + secrets.randbelow(200)
    failed = False
    for rnd in range(a.rounds):
        for impl in impls:
            t0 = time.monotonic()
            if impl == "openmpi":
                o = run_openmpi(nodes, hosts, a.per_node, sizes, a.iters, a.warmup, a.mpi_args)
            else:
                port += 1
                o = ar.run_python_impl(
                    nodes.sh, hosts, a.per_node, impl, sys.executable, port, sizes, a.iters, a.warmup
                )
            print(
                f"round {rnd + 1}: {impl} {time.monotonic() - t0:.0f} s" + (f"  ERRORS {o.errors}" if o.errors else ""),
                flush=True,
            )
            failed |= bool(o.errors)
            for f in o.figures:
                samples.setdefault((f.impl, f.mib), []).append(f)
    table = {k: sorted(v, key=lambda f: f.seconds)[len(v) // 2] for k, v in samples.items()}  # the median call time
    ranks = len(hosts) * a.per_node
    print_allreduce(table, impls, sizes, ranks, len(hosts))
    out["allreduce"] = [
        {
            "impl": f.impl,
            "mib": f.mib,
            "ranks": f.ranks,
            "nodes": f.nodes,
            "seconds": f.seconds,
            "algbw": f.algbw,
            "busbw": f.busbw,
            "ok": f.ok,
            "rounds": [x.seconds for x in samples[(f.impl, f.mib)]],
        }
        for f in table.values()
    ]
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    nodes.remote.close()
    wrong = [f for f in table.values() if not f.ok]
    if wrong:
        print("WRONG SUMS: " + ", ".join(f"{f.impl} {f.mib:g} MiB" for f in wrong))
    return 1 if failed or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
