"""training suite: a PyTorch DistributedDataParallel job through Slurm across at least two nodes (gloo on CPU,
NCCL on GPU nodes): the loss falls and every rank ends with identical weights; throughput is reported.

A failed job blames the nodes whose ranks never started, failed first or hung (training.judge, from srun's output),
not the nodes whose ranks were stopped because of them; a job that cannot get its nodes blames those Slurm says
are down or drained, or the controller when it does not answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from ffinfra.accept import training
from ffinfra.errors import OperationalError


def _unavailable(cluster, hosts: list[str]) -> dict[str, str]:
    """Nodes of `hosts` Slurm will not give a job, with their state; {} when sinfo itself fails."""
    r = cluster.sh(cluster.controller, training.SINFO_COMMAND)
    return training.unavailable_nodes(r.stdout, hosts) if r.ok else {}


def test_ddp_job(cluster, evidence, say):
    _ddp_job(cluster, evidence, say, hfreduce=False)


def test_ddp_job_hfreduce(cluster, evidence, say):
    """The same job with its gradients summed by HFReduce (the DDP hook, the library the hfreduce role installed)."""
    if cluster.topo.hfreduce is None:
        pytest.skip("hfreduce.enabled is false, or no compute node: HFReduce is not installed")
    _ddp_job(cluster, evidence, say, hfreduce=True)


def _ddp_job(cluster, evidence, say, hfreduce: bool):
    topo = cluster.topo
    hosts = list(topo.services.slurm_nodes)
    if len(hosts) < 2:
        pytest.skip("fewer than two compute nodes: no distributed job to run")
    gpus = topo.profile(topo.host_by_name[hosts[0]]).gpus
    nodes = 2 if cluster.ctx.quick else len(hosts)
    per_node = gpus.count if gpus else 1
    iface = topo.spec.network.management_interface or "eth0"
    backend = "hfreduce" if hfreduce else "nccl" if gpus else "gloo"
    script = training.launcher(cluster.python, iface, backend, 60).encode()
    job = training.SCRIPT.read_bytes()

    def stage(h: str) -> str:  # the job may land on any compute node: each gets the job's files
        r = cluster.sh(h, f"mkdir -p {training.JOB_DIR}")
        if not r.ok:
            return r.brief()
        try:
            cluster.remote.put(h, f"{training.JOB_DIR}/ddp_smoke.py", job)
            cluster.remote.put(h, f"{training.JOB_DIR}/ddp.sh", script, 0o755)
        except OperationalError as e:
            return str(e)
        return ""

    with ThreadPoolExecutor(max_workers=min(32, len(hosts))) as pool:
        failed = {h: err for h, err in zip(hosts, pool.map(stage, hosts), strict=True) if err}
    if failed:
        evidence.blame(*failed)
        pytest.fail("cannot stage the job on " + "; ".join(f"{h}: {e}" for h, e in failed.items()))
    down = _unavailable(cluster, hosts)
    if len(hosts) - len(down) < nodes:  # srun would wait for them until the timeout
        evidence.blame(*down)
        pytest.fail(f"the job cannot get {nodes} nodes: in Slurm " + "; ".join(f"{h} is {s}" for h, s in down.items()))
    parts = topo.spec.scheduler.slurm.partitions if topo.spec.scheduler.slurm else []
    partition = next((p.name for p in parts if p.default), None)
    cmd = training.srun_command(nodes, per_node, partition, 10, bool(gpus))
    say(f"DDP job ({backend}, {nodes * per_node} ranks on {nodes} nodes) through srun on {cluster.controller}")
    r = cluster.sh(cluster.controller, cmd, timeout=600)
    ranks = training.parse_ranks(r.stdout)
    world = nodes * per_node
    evidence.note(f"{cmd} on {cluster.controller}: exit {r.rc}, {r.seconds:.1f} s")
    if ranks:
        evidence.measure(
            "ddp_samples_per_s",
            f"{world} ranks ({backend})",
            min(x.samples_per_s for x in ranks),
            "samples/s",
            hosts=sorted({x.where for x in ranks}),
        )
        evidence.measure("ddp_loss_last", f"{world} ranks", ranks[0].loss_last, "MSE", loss_first=ranks[0].loss_first)
    verdict = training.judge(
        ranks, world, r, cluster.controller, {} if len(ranks) == world else _unavailable(cluster, hosts)
    )
    if verdict.problems:
        evidence.blame(*verdict.culprits)
        pytest.fail("; ".join(verdict.problems))
    hosts_used = sorted({x.where for x in ranks})
    if len(hosts_used) < 2:
        pytest.fail(f"the job ran on {', '.join(hosts_used)} only: not distributed")
