"""storage suite: sequential write and read with fio where the data lives (3FS mount, else the storage nodes'
directories), best of the repeats against the pass mark; and on a real fabric, 3FS itself: its services connected,
every chain serving, every FUSE mount read-write (on a simulated fabric these say why they cannot run)."""

from __future__ import annotations

import shlex

import pytest

from ffinfra.accept.storage import fio_command
from ffinfra.accept.threefs import (
    ADMIN_CLI,
    NOT_ON_A_SIMULATED_FABRIC,
    expected_chains,
    expected_nodes,
    mount_check_command,
)
from ffinfra.analysis.parsers import ParseError
from ffinfra.analysis.parsers.fio import parse_fio
from ffinfra.analysis.parsers.threefs_admin import chain_problems, node_problems, parse_list_chains, parse_list_nodes


def _fio(cluster, host, directory, rw, size_mb):
    r = cluster.sh(host, fio_command(directory, rw, size_mb, "ffinfra"), timeout=300)
    try:
        job = parse_fio(r.stdout)[0]
    except (ParseError, IndexError) as e:
        return None, f"{r.brief(200)} ({e})"
    d = job.read if rw == "read" else job.write
    if job.error:
        return None, f"fio error {job.error}"
    return d.bw_bytes_per_s / 1e9, ""


def test_sequential_write_and_read(cluster, evidence, storage_node):
    """fio writes then reads a file in the node's storage directory at or above the pass marks."""
    plan = cluster.storage
    directory = plan.directory if plan.mode == "local" else f"{plan.directory}/ffinfra-fio-{storage_node}"
    size = 64 if cluster.ctx.quick else 256
    problems = []
    try:
        for rw, metric in (("write", plan.write_metric), ("read", plan.read_metric)):
            mark = cluster.thresholds.get(metric)
            samples, errors = [], []
            for _ in range(cluster.repeats):
                value, err = _fio(cluster, storage_node, directory, rw, size)
                if value is None:
                    errors.append(err)
                else:
                    samples.append(value)
                if samples and (mark is None or mark.value is None or max(samples) >= mark.value):
                    break
            best = max(samples) if samples else None
            m = evidence.measure(metric, f"{storage_node} {rw} {directory}", best, "GB/s", mark, samples=samples)
            if best is None:
                problems.append(f"fio {rw} failed: {'; '.join(errors)[:300]}")
            elif m.ok is False:
                problems.append(
                    f"{rw} {best:.3f} GB/s < {m.threshold:g} GB/s (runs: {', '.join(f'{s:.3f}' for s in samples)})"
                )
    finally:
        cluster.sh(storage_node, f"rm -f {shlex.quote(directory)}/ffinfra.0.0")
    evidence.note(f"{plan.mode} mode, {size} MiB, O_DIRECT, 1 MiB blocks")
    if problems:
        evidence.blame(storage_node)
        pytest.fail(f"{storage_node} ({directory}): " + "; ".join(problems))


def _running_threefs(cluster):
    """The stack's 3FS layout, or a skip that says why 3FS cannot be judged here."""
    layout = cluster.topo.threefs
    if layout is None:
        pytest.skip("3FS is not enabled in this spec")
    if cluster.sim:
        pytest.skip(NOT_ON_A_SIMULATED_FABRIC)
    return layout


def _admin(cluster, evidence, layout, command: str, parse):
    r = cluster.sh(layout.admin_host, f"{ADMIN_CLI} {shlex.quote(command)}", timeout=120)
    try:
        return parse(r.stdout)
    except ParseError as e:
        evidence.blame(layout.admin_host)
        pytest.fail(f"admin_cli {command} on {layout.admin_host}: {e} ({r.brief(300)})")


def test_threefs_services_connected(cluster, evidence):
    """Every mgmtd, meta and storage service the compiler placed is registered with mgmtd and heartbeating."""
    layout = _running_threefs(cluster)
    nodes = _admin(cluster, evidence, layout, "list-nodes", parse_list_nodes)
    want = expected_nodes(layout)
    problems = node_problems(nodes, want)
    evidence.note(f"{len(nodes)} nodes listed; {sum(len(t) for t in want.values())} services expected")
    if problems:
        for host in {h for h in want if any(h in p for p in problems)}:
            evidence.blame(host)
        pytest.fail("; ".join(problems[:20]))


def test_threefs_chains_serving(cluster, evidence):
    """Every chain of the compiled chain table is SERVING with all its replicas SERVING-UPTODATE."""
    layout = _running_threefs(cluster)
    chains = _admin(cluster, evidence, layout, "list-chains", parse_list_chains)
    want = expected_chains(cluster.topo.chain_table)
    problems = chain_problems(chains, cluster.topo.spec.storage.threefs.replication, want)
    evidence.measure("threefs_chains", "serving", len(want) - len(problems), "chains")
    if problems:
        # the storage nodes of the targets that do not serve: the compiled table knows whose each target is
        table = cluster.topo.chain_table
        node_of = {t.target_id: t.node_id for c in table.chains for t in c.targets} if table else {}
        host_of = {n.node_id: n.host for n in layout.storage}
        for c in chains:
            for t in c.targets:
                if not t.serving_uptodate and node_of.get(t.target_id) in host_of:
                    evidence.blame(host_of[node_of[t.target_id]])
        pytest.fail(f"{len(problems)} of {len(want)} chains not fully serving: " + "; ".join(problems[:20]))


def test_threefs_mount_read_write(cluster, evidence, fuse_host):
    """The FUSE client's mount is 3FS, and a file written through it reads back byte for byte."""
    layout = _running_threefs(cluster)
    r = cluster.sh(fuse_host, mount_check_command(layout.mountpoint, fuse_host), timeout=120)
    evidence.note(f"{layout.mountpoint}: 4 MiB written, synced, compared, removed")
    if not r.ok:
        evidence.blame(fuse_host)
        pytest.fail(f"{fuse_host}: {(r.stdout + r.stderr).strip()[:300] or f'{layout.mountpoint}: exit {r.rc}'}")
