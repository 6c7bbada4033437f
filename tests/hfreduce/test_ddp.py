"""The DDP communication hook: the training suite's smoke job (ffinfra/accept/ddp_smoke.py), 2 nodes x 2 ranks on
loopback, trains to the same weights through HFReduce as through gloo, within float32 rounding; every rank ends in
sync; a rank that dies fails the others' backward with HFReduce's error instead of hanging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from hf_jobs import free_port

import ffinfra.accept.ddp_smoke as smoke

JOB = Path(smoke.__file__)


def train(backend: str, tmp: Path, world: int = 4, per_node: int = 2, steps: int = 30) -> tuple[list[dict], list]:
    port = free_port()
    dump = tmp / f"{backend}.json"
    procs = []
    for rank in range(world):
        env = {
            **os.environ,
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(rank % per_node),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "HFREDUCE_NODE": f"n{rank // per_node}",
            "HFREDUCE_THREADS": "1",
            "HFREDUCE_TIMEOUT_S": "60",
            "FFINFRA_DDP_BACKEND": backend,
            "FFINFRA_DDP_STEPS": str(steps),
            "FFINFRA_DDP_DUMP": str(dump),
            "OMP_NUM_THREADS": "1",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, str(JOB)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        lines = [json.loads(x.split(" ", 1)[1]) for x in out.splitlines() if x.startswith("FFINFRA-DDP ")]
        assert lines, f"a rank reported nothing (exit {p.returncode}): {err[-3000:]}"
        reports += lines
    return reports, json.loads(dump.read_text())


def test_hfreduce_hook_trains_to_the_same_weights_as_gloo(tmp_path):
    # every rank needs the same HFReduce root: rank 0 picks the port, the others read it from the same variable
    port = free_port()
    os.environ["HFREDUCE_PORT"] = str(port)
    try:
        hf_reports, hf_weights = train("hfreduce", tmp_path)
        gloo_reports, gloo_weights = train("gloo", tmp_path)
    finally:
        del os.environ["HFREDUCE_PORT"]
    assert all(r["in_sync"] for r in hf_reports + gloo_reports)
    assert {r["backend"] for r in hf_reports} == {"hfreduce"}
    assert hf_reports[0]["loss_last"] < hf_reports[0]["loss_first"] / 10, "training did not converge"
    hf, gloo = np.array(hf_weights), np.array(gloo_weights)
    assert not np.array_equal(hf, np.zeros_like(hf))
    np.testing.assert_allclose(hf, gloo, rtol=1e-4, atol=1e-6)
