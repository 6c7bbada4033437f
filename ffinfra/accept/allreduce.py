"""Allreduce benchmarks across a running stack's compute nodes: HFReduce and torch.distributed's gloo through
allreduce_job.py (started on every node over SSH, several ranks per node), Open MPI through mpirun on the first
node. Used by the bandwidth suite (`test_hfreduce_allreduce`) and bench/allreduce.py.

Figures follow nccl-tests: algbw = bytes / time of one call (the slowest rank's), busbw = algbw × 2(n-1)/n for n
ranks, the bandwidth each rank's links would carry in a ring."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ffinfra.runtime.ssh import CmdResult

SCRIPT = Path(__file__).with_name("allreduce_job.py")
JOB_DIR = "/var/lib/ffinfra/acceptance"
HFREDUCE_ENV = "/etc/hfreduce/hfreduce.env"

Shell = Callable[[str, str, float], CmdResult]  # (host, command, timeout) → result
# How a job takes up the installed HFReduce: its settings, and its library first on Python's path.
HFREDUCE_SETUP = (
    "if [ -r {env} ]; then set -a; . {env}; set +a; "
    'export PYTHONPATH="$HFREDUCE_PYTHONPATH${{PYTHONPATH:+:$PYTHONPATH}}"; fi'
)


@dataclass(frozen=True)
class Figure:
    impl: str
    mib: float
    ranks: int
    nodes: int
    seconds: float  # one call, slowest rank
    ok: bool  # every rank's sum was right

    @property
    def algbw(self) -> float:
        """GB/s (10^9 bytes), as nccl-tests prints it."""
        return self.mib * (1 << 20) / self.seconds / 1e9

    @property
    def busbw(self) -> float:
        return self.algbw * 2 * (self.ranks - 1) / self.ranks if self.ranks > 1 else self.algbw


@dataclass(frozen=True)
class Outcome:
    figures: list[Figure]
    errors: dict[str, str]  # host → what went wrong there (rank errors, exit status, missing lines)
    libraries: dict[int, dict] | None = None  # rank → library it reported


def rank_command(
    python: str,
    impl: str,
    ranks: Sequence[int],
    world: int,
    root: str,
    sizes_mib: Sequence[float],
    iters: int,
    warmup: int,
    env_file: str | None,
) -> str:
    """The shell command one node runs: its ranks in the background, then wait for all of them."""
    sizes = ",".join(f"{s:g}" for s in sizes_mib)
    parts = []
    if env_file:  # the library the hfreduce role installed for this node's hardware profile, and its settings
        parts.append(HFREDUCE_SETUP.format(env=env_file))
    for r in ranks:
        parts.append(
            f"{shlex.quote(python)} {JOB_DIR}/{SCRIPT.name} --impl {impl} --rank {r} --world {world} "
            f"--root {shlex.quote(root)} --sizes-mib {sizes} --iters {iters} --warmup {warmup} &"
        )
    parts.append("fail=0; for p in $(jobs -p); do wait $p || fail=1; done; exit $fail")
    return "\n".join(parts)


def parse_lines(stdout: str) -> list[dict]:
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def libraries(lines: list[dict]) -> dict[int, dict]:
    """rank → the library it reported (HFReduce: source digest and file)."""
    return {x["rank"]: x.get("library", {}) for x in lines if "seconds" in x}


def figures(lines: list[dict], impl: str, ranks: int, nodes: int) -> list[Figure]:
    """One figure per size from every rank's line; a size some rank did not report is left out."""
    by_size: dict[float, list[dict]] = {}
    for x in lines:
        if x.get("impl") == impl and "seconds" in x:
            by_size.setdefault(float(x["mib"]), []).append(x)
    return [
        Figure(impl, mib, ranks, nodes, max(x["seconds"] for x in xs), all(x["ok"] for x in xs))
        for mib, xs in sorted(by_size.items())
        if len({x["rank"] for x in xs}) == ranks
    ]


def stage(sh: Shell, put: Callable[[str, str, bytes], None], hosts: Sequence[str]) -> dict[str, str]:
    """Copies the job script to every host; returns host → error for those where that failed."""
    body = SCRIPT.read_bytes()

    def one(h: str) -> str:
        r = sh(h, f"mkdir -p {JOB_DIR}", 30)
        if not r.ok:
            return r.brief()
        try:
            put(h, f"{JOB_DIR}/{SCRIPT.name}", body)
        except Exception as e:  # OperationalError from Remote.put, or paramiko's own
            return str(e)
        return ""

    with ThreadPoolExecutor(max_workers=max(1, min(32, len(hosts)))) as pool:
        return {h: e for h, e in zip(hosts, pool.map(one, hosts), strict=True) if e}


def run_python_impl(
    sh: Shell,
    hosts: Sequence[str],
    per_node: int,
    impl: str,
    python: str,
    port: int,
    sizes_mib: Sequence[float],
    iters: int = 5,
    warmup: int = 2,
    timeout: float = 600,
) -> Outcome:
    """Runs allreduce_job.py with `per_node` ranks on each host (rank 0 on hosts[0], listening at `port`)."""
    world = len(hosts) * per_node
    root = f"{hosts[0]}:{port}"
    env_file = HFREDUCE_ENV if impl == "hfreduce" else None

    def one(i: int) -> CmdResult:
        ranks = range(i * per_node, (i + 1) * per_node)
        return sh(hosts[i], rank_command(python, impl, ranks, world, root, sizes_mib, iters, warmup, env_file), timeout)

    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        results = list(pool.map(one, range(len(hosts))))
    lines: list[dict] = []
    errors: dict[str, str] = {}
    for h, r in zip(hosts, results, strict=True):
        got = parse_lines(r.stdout)
        lines += got
        bad = [f"rank {x['rank']}: {x['error']}" for x in got if "error" in x]
        if bad or not r.ok:
            errors[h] = "; ".join(bad) or r.brief()
    return Outcome(figures(lines, impl, world, len(hosts)), errors, libraries(lines))
