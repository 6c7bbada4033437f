"""bandwidth suite: node-to-node bandwidth in pairing rounds that load every leaf uplink, against the pass mark;
all_reduce_perf busbw where the nodes have GPUs; HFReduce's allreduce busbw across the compute nodes."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ffinfra.accept import allreduce
from ffinfra.accept import bandwidth as bw
from ffinfra.analysis.parsers import ParseError
from ffinfra.analysis.parsers.nccl_tests import parse_nccl_tests
from ffinfra.topology.thresholds import Threshold


@dataclass
class BandwidthRun:
    tool: str
    threshold: Threshold | None
    results: list[bw.DirectionResult]
    suspect_nodes: dict[str, str]  # node → why
    suspect_uplinks: list[str]


def _tool(cluster) -> str:
    if cluster.sim:
        return "iperf3"  # the lab's HCAs live in ibsim: no RDMA data path
    first = cluster.topo.hosts_with_role("compute")[0].name
    r = cluster.sh(first, "ls /sys/class/infiniband 2>/dev/null | grep -q . && command -v ib_write_bw")
    return "ib_write_bw" if r.ok else "iperf3"


@pytest.fixture(scope="module")
def run(cluster, say) -> BandwidthRun:
    tool = _tool(cluster)
    mark = cluster.thresholds.get(tool)
    seconds = 1 if cluster.ctx.quick else 3
    results = bw.measure(cluster, tool, seconds, mark.value if mark else None, cluster.repeats, say)
    nodes, links = bw.suspects(results, mark.value if mark else None)
    return BandwidthRun(tool, mark, results, nodes, links)


def test_round(cluster, evidence, run, bw_round):
    """Every direction of this round reaches the pass mark (best of the repeats)."""
    mine = [r for r in run.results if r.d.round == bw_round]
    if not mine:
        pytest.skip(f"round {bw_round} has no pairs")
    failing = []
    for r in mine:
        m = evidence.measure(
            run.tool,
            r.d.key,
            r.best,
            "Gb/s",
            run.threshold,
            samples=r.samples,
            a=r.d.src.host,
            b=r.d.dst.host,
            round=bw_round,
            uplinks=r.uplinks,
            leaf_a=r.d.src.leaf,
            leaf_b=r.d.dst.leaf,
        )
        if m.ok is False:
            runs = ", ".join(f"{s:.2f}" for s in r.samples) or "no result: " + "; ".join(r.errors)[:200]
            via = f" via {', '.join(r.uplinks)}" if r.uplinks else ""
            failing.append(f"{r.d.key} {r.best or 0:.2f} Gb/s < {m.threshold:g} ({runs}){via}")
    evidence.note(f"tool {run.tool}; pairs {', '.join(r.d.key for r in mine)}")
    if failing:
        involved = {h for r in mine for h in (r.d.src.host, r.d.dst.host)}
        nodes = {n: why for n, why in run.suspect_nodes.items() if n in involved}
        links = [u for u in run.suspect_uplinks if any(u in r.uplinks for r in mine)]
        evidence.blame(*nodes, *links)
        who = (
            "; " + "; ".join(f"suspect node {n}: {why}" for n, why in nodes.items())
            if nodes
            else f"; suspect uplink {', '.join(links)} (only directions over it are slow)"
            if links
            else "; " + bw.mark_above_environment(run.threshold, len(mine), cluster.topo.name)
            if len(failing) == len(mine) and all(r.best for r in mine)
            else ""
        )
        # the verdict first: the console shows a failure's first 300 characters, and 14 directions fill them
        pytest.fail(f"round {bw_round}: {len(failing)} of {len(mine)} below the pass mark{who}; " + "; ".join(failing))


def test_every_leaf_uplink_exercised(cluster, evidence, run):
    """The directions measured crossed every uplink of every leaf that has benchmark nodes (ftree's model)."""
    topo = cluster.topo
    role = {h.name: h.role for h in topo.hosts}
    crossed = {u for r in run.results for u in r.uplinks}
    want = [
        f"{leaf.name}#{k}"
        for z in topo.zones
        if len(topo.switches_in(z.name, "leaf")) > 1
        for leaf in topo.switches_in(z.name, "leaf")
        if any(role[p.host] in bw.BENCH_ROLES for p in topo.ports_by_leaf[leaf.name])
        for k in range(z.uplinks)
    ]
    evidence.measure("uplinks_exercised", "this run", len(crossed & set(want)), f"of {len(want)} uplinks")
    idle = [u for u in want if u not in crossed]
    if idle:
        evidence.blame(*idle)
        pytest.fail(f"no measured direction crossed {', '.join(idle)}")


def test_nccl_all_reduce(cluster, evidence):
    """all_reduce_perf across the compute nodes (one rank per GPU) reaches the busbw pass mark."""
    topo = cluster.topo
    compute = topo.hosts_with_role("compute")
    gpus = topo.profile(compute[0]).gpus if compute else None
    if gpus is None:
        pytest.skip("the compute nodes have no GPUs")
    n = min(len(compute), 2 if cluster.ctx.quick else len(compute))
    cmd = f"srun -N{n} --ntasks-per-node={gpus.count} --gpus-per-task=1 all_reduce_perf -b 8 -e 1G -f 2 -g 1 -c 1 -n 20"
    r = cluster.sh(cluster.controller, cmd, timeout=900)
    try:
        rep = parse_nccl_tests(r.stdout)
    except ParseError as e:
        pytest.fail(f"all_reduce_perf on {n} nodes: {r.brief()} ({e})")
    busbw = max((row.out_of_place.busbw for row in rep.rows), default=None)
    m = evidence.measure(
        "nccl_all_reduce_busbw", f"{n} nodes", busbw, "GB/s", cluster.thresholds.get("nccl_all_reduce_busbw")
    )
    if rep.out_of_bounds or any(row.out_of_place.wrong for row in rep.rows):
        pytest.fail(f"all_reduce_perf reported wrong results on {', '.join(rep.hosts)}")
    if m.ok is False:
        pytest.fail(f"all_reduce_perf busbw {busbw:.2f} GB/s < {m.threshold:g} GB/s on {', '.join(rep.hosts)}")


HFREDUCE_MIB = 64.0
HFREDUCE_PORT = 29650


def test_hfreduce_allreduce(cluster, evidence, say):
    """HFReduce's benchmark across the compute nodes (a rank per GPU; 2 per CPU-only node), 64 MiB of float32:
    busbw against the pass mark, every rank's sum right, every rank on the build its hfreduce.env describes."""
    topo = cluster.topo
    if topo.hfreduce is None:
        pytest.skip("hfreduce.enabled is false, or no compute node: HFReduce is not installed")
    hosts = list(topo.services.slurm_nodes)
    if len(hosts) < 2:
        pytest.skip("fewer than two compute nodes: nothing to allreduce between")
    hosts = hosts[:2] if cluster.ctx.quick else hosts
    gpus = topo.profile(topo.host_by_name[hosts[0]]).gpus
    per_node = gpus.count if gpus else 2
    failed = allreduce.stage(cluster.sh, lambda h, p, b: cluster.remote.put(h, p, b), hosts)
    if failed:
        evidence.blame(*failed)
        pytest.fail("cannot stage the benchmark on " + "; ".join(f"{h}: {e}" for h, e in failed.items()))
    ranks = len(hosts) * per_node
    say(f"HFReduce allreduce, {ranks} ranks on {len(hosts)} nodes, {HFREDUCE_MIB:g} MiB")
    out = allreduce.run_python_impl(
        cluster.sh, hosts, per_node, "hfreduce", cluster.python, HFREDUCE_PORT, [HFREDUCE_MIB],
        iters=3 + cluster.repeats, timeout=600,
    )  # fmt: skip
    if out.errors:
        evidence.blame(*out.errors)
        pytest.fail("HFReduce benchmark failed: " + "; ".join(f"{h}: {e}" for h, e in out.errors.items())[:2000])
    want = {b.profile: b.env["HFREDUCE_SOURCE"] for b in topo.hfreduce.builds}
    source = want[topo.host_by_name[hosts[0]].profile_name]
    strays = {r: lib for r, lib in (out.libraries or {}).items() if lib.get("source") != source}
    if strays:
        r, lib = next(iter(strays.items()))
        pytest.fail(
            f"{len(strays)} rank(s) did not run the installed HFReduce (source {source}): rank {r} imported "
            f"{lib.get('file')} (source {lib.get('source') or 'unset'}); is the hfreduce role applied?"
        )
    if not out.figures:
        pytest.fail("the benchmark reported no figure")
    fig = out.figures[0]
    m = evidence.measure(
        "hfreduce_allreduce",
        f"{ranks} ranks on {len(hosts)} nodes, {fig.mib:g} MiB",
        fig.busbw,
        "GB/s",
        cluster.thresholds.get("hfreduce_allreduce"),
        algbw=round(fig.algbw, 3),
        seconds=fig.seconds,
        hosts=hosts,
    )
    if not fig.ok:
        pytest.fail("HFReduce's sum was wrong on some rank")
    if m.ok is False:
        pytest.fail(f"HFReduce busbw {fig.busbw:.2f} GB/s < {m.threshold:g} GB/s on {', '.join(hosts)}")
