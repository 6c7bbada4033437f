"""storage suite: sequential write and read with fio where the data lives (3FS mount, else the storage nodes'
directories), best of the repeats against the pass mark."""

from __future__ import annotations

import shlex

import pytest

from ffinfra.accept.storage import fio_command
from ffinfra.analysis.parsers import ParseError
from ffinfra.analysis.parsers.fio import parse_fio


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
