"""The training suite's job: its launcher, its srun line, and how its rank reports are judged."""

from __future__ import annotations

import json

from ffinfra.accept import training
from ffinfra.runtime.ssh import CmdResult

OK = CmdResult("ctl01", "srun ...", 0, "", "", 3.0)


def _line(rank, host, first=1.0, last=0.1, sha="a" * 64, in_sync=True):
    d = dict(
        rank=rank,
        world=2,
        host=host,
        loss_first=first,
        loss_last=last,
        params_sha256=sha,
        in_sync=in_sync,
        samples_per_s=1000.0,
        seconds=1.2,
        backend="gloo",
        steps=60,
    )
    return "FFINFRA-DDP " + json.dumps(d)


def test_rank_lines_are_parsed_among_other_output():
    out = "\n".join(
        ["[c10d] hostname cannot be retrieved", _line(1, "cn02"), "noise", _line(0, "cn01"), "FFINFRA-DDP {bad"]
    )
    ranks = training.parse_ranks(out)
    assert [(r.rank, r.host) for r in ranks] == [(0, "cn01"), (1, "cn02")]


def test_a_healthy_job_has_no_problems():
    ranks = training.parse_ranks(_line(0, "cn01") + "\n" + _line(1, "cn02"))
    assert training.judge(ranks, 2, OK) == []


def test_missing_ranks_are_reported_with_the_launch_error():
    failed = CmdResult("ctl01", "srun ...", 1, "", "srun: error: cn02: task 1: Exited with exit code 1", 3.0)
    problems = training.judge(training.parse_ranks(_line(0, "cn01")), 2, failed)
    assert len(problems) == 1 and "1 of 2 ranks reported (got 0@cn01)" in problems[0]
    assert "cn02: task 1: Exited" in problems[0]


def test_loss_that_does_not_halve_fails():
    ranks = training.parse_ranks(_line(0, "cn01", 1.0, 0.8) + "\n" + _line(1, "cn02", 1.0, 0.8))
    assert training.judge(ranks, 2, OK)[0] == "rank 0 on cn01: loss 1.0000 → 0.8000, not halved"


def test_ranks_with_different_weights_fail():
    ranks = training.parse_ranks(_line(0, "cn01") + "\n" + _line(1, "cn02", sha="b" * 64, in_sync=False))
    (problem,) = training.judge(ranks, 2, OK)
    assert problem.startswith("ranks ended with different weights: rank 0@cn01 aaaaaaaaaaaa, rank 1@cn02 bbbb")


def test_launcher_rendezvous_on_the_first_node_over_the_management_interface():
    text = training.launcher("/opt/venv/bin/python", "eth0", "gloo", 60)
    assert text.startswith("#!/bin/sh\n")
    assert 'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)' in text
    assert "GLOO_SOCKET_IFNAME=eth0" in text and "FFINFRA_DDP_BACKEND=gloo" in text
    assert text.rstrip().endswith(f"exec /opt/venv/bin/python {training.JOB_DIR}/ddp_smoke.py")


def test_srun_line_for_cpu_and_gpu_nodes():
    cpu = training.srun_command(4, 1, "lab", 10, gpus=False)
    want = "srun -J ffinfra-ddp-smoke -N4 --ntasks-per-node=1 --kill-on-bad-exit=1 --time=10 --partition=lab"
    assert cpu == f"{want} {training.JOB_DIR}/ddp.sh"
    gpu = training.srun_command(2, 8, None, 10, gpus=True)
    assert "--ntasks-per-node=8" in gpu and "--gpus-per-task=1" in gpu and "--partition" not in gpu


def test_the_job_script_ships_with_the_package():
    text = training.SCRIPT.read_text()
    assert "DistributedDataParallel" in text and "os._exit" in text and training.MARKER.strip() in text
