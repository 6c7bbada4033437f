"""The training suite's job: its launcher, its srun line, how its rank reports are judged, and whom a failed job
blames, on srun output captured from real runs (tests/data/srun/INDEX.md says how each was made)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ffinfra.accept import srun_trace, training
from ffinfra.runtime.ssh import CmdResult

OK = CmdResult("ctl01", "srun ...", 0, "", "", 3.0)
SRUN = Path(__file__).resolve().parents[2] / "data" / "srun"
LAB = ["cn01", "cn02", "cn03"]


def _captured(name: str, rc: int, seconds: float = 10.0) -> CmdResult:
    """A captured srun run as `cluster.sh` returns it (rc and seconds from INDEX.md)."""
    out, err = ((SRUN / f"{name}.{s}").read_text() for s in ("stdout", "stderr"))
    return CmdResult("ctl01", "srun ...", rc, out, err, seconds)


def _judge(r: CmdResult, world: int = 3, unavailable: dict[str, str] | None = None) -> training.Verdict:
    return training.judge(training.parse_ranks(r.stdout), world, r, "ctl01", unavailable or {})


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
    assert training.judge(ranks, 2, OK) == training.Verdict([], [])


def test_a_healthy_captured_job_reports_every_rank_on_its_node():
    r = _captured("healthy", 0, 14.0)
    assert [(x.rank, x.node) for x in training.parse_ranks(r.stdout)] == [(0, "cn01"), (1, "cn02"), (2, "cn03")]
    assert _judge(r) == training.Verdict([], [])
    trace = srun_trace.trace_job(r.stdout, r.stderr, 3)
    assert trace.allocated and trace.node_of == {0: "cn01", 1: "cn02", 2: "cn03"}
    assert set(trace.stage.values()) == {"reported"} and all(e.ok for e in trace.ends.values())


def test_loss_that_does_not_halve_fails():
    ranks = training.parse_ranks(_line(0, "cn01", 1.0, 0.8) + "\n" + _line(1, "cn02", 1.0, 0.8))
    assert training.judge(ranks, 2, OK).problems[0] == "rank 0 on cn01: loss 1.0000 → 0.8000, not halved"


def test_ranks_with_different_weights_fail_and_blame_the_ranks_out_of_sync():
    ranks = training.parse_ranks(_line(0, "cn01") + "\n" + _line(1, "cn02", sha="b" * 64, in_sync=False))
    v = training.judge(ranks, 2, OK)
    (problem,) = v.problems
    assert problem.startswith("ranks ended with different weights: rank 0@cn01 aaaaaaaaaaaa, rank 1@cn02 bbbb")
    assert v.culprits == ["cn02"]


# A failed job blames the nodes whose ranks never started, failed first or hung; not the ranks srun or Slurm
# stopped because of them (they are named, as "stopped with it"). Each case is a real srun run.


def test_a_node_whose_slurmd_is_down_is_blamed_for_the_rank_that_never_started():
    v = _judge(_captured("slurmd-down", 233, 11.2))
    assert v.culprits == ["cn03"]
    assert v.problems == [
        "0 of 3 ranks reported: cn03 (rank 2): never started: task launch failed: Communication connection failure; "
        "stopped with it: cn01 (rank 0), cn02 (rank 1)"
    ]


def test_a_launch_failure_is_blamed_without_srun_verbose_lines_too():
    r = _captured("slurmd-down", 233, 11.2)
    terse = "\n".join(ln for ln in r.stderr.splitlines() if ln.startswith(("srun: error", "0:", "1:")))
    v = _judge(CmdResult(r.host, r.command, r.rc, r.stdout, terse, r.seconds))
    assert v.culprits == ["cn03"] and "cn03: never started: task launch failed" in v.problems[0]


def test_a_task_that_crashed_before_joining_is_blamed_with_its_error():
    v = _judge(_captured("crash-before-join", 143, 5.1))
    assert v.culprits == ["cn02"]
    assert v.problems == [
        "0 of 3 ranks reported: cn02 (rank 1): exited with exit code 1 after it started: "
        "ModuleNotFoundError: No module named 'torch_ext_missing'; stopped with it: cn01 (rank 0), cn03 (rank 2)"
    ]


def test_a_task_that_crashed_mid_training_is_blamed_not_the_peers_srun_terminated():
    v = _judge(_captured("crash-mid-training", 143, 8.0))
    assert v.culprits == ["cn02"]
    assert v.problems[0].startswith(
        "0 of 3 ranks reported: cn02 (rank 1): segmentation fault after it joined the process group; "
    )


def test_a_peer_that_exits_on_a_lost_connection_before_the_crash_is_reported_is_not_blamed():
    """Edited sample: gloo on rank 0 notices rank 1 is gone and exits before srun learns of rank 1's crash."""
    r = _captured("crash-mid-training", 143, 8.0)
    lines = [ln for ln in r.stderr.splitlines() if "cn01: task 0" not in ln]
    at = next(i for i, ln in enumerate(lines) if "cn02: task 1: Segmentation fault" in ln)
    lines[at:at] = [
        "0: [rank0]: RuntimeError: [../gloo/transport/tcp/pair.cc:553] Connection closed by peer [10.77.0.2]:2459.",
        "srun: error: cn01: task 0: Exited with exit code 1",
    ]
    v = _judge(CmdResult(r.host, r.command, r.rc, r.stdout, "\n".join(lines), r.seconds))
    assert v.culprits == ["cn02"]


def test_a_rank_that_hung_until_the_time_limit_is_blamed_not_the_ranks_waiting_for_it():
    v = _judge(_captured("hang-time-limit", 143, 69.6))
    assert v.culprits == ["cn03"]
    assert v.problems == [
        "0 of 3 ranks reported: cn03 (rank 2): started, but never loaded Python and torch; "
        "Slurm cancelled the job DUE TO TIME LIMIT; stopped with it: cn01 (rank 0), cn02 (rank 1)"
    ]


def test_a_rank_that_hung_until_the_ssh_timeout_is_blamed():
    v = _judge(_captured("hang-killed-by-timeout", 124, 25.0))
    assert v.culprits == ["cn03"]
    assert "cn03 (rank 2): started, but never loaded Python and torch; srun was stopped after 25 s" in v.problems[0]


def test_several_ranks_per_node_are_blamed_per_node():
    v = _judge(_captured("two-per-node-import", 143, 5.3), world=6)
    assert v.culprits == ["cn02"]
    assert v.problems[0].startswith("0 of 6 ranks reported: cn02 (rank 3): exited with exit code 1 after it started")
    assert v.problems[0].endswith("stopped with it: cn01 (ranks 0-1), cn03 (ranks 4-5)")


def test_a_job_that_never_got_nodes_blames_the_nodes_slurm_has_down():
    r = _captured("node-down-in-slurm", 124, 20.0)
    down = training.unavailable_nodes((SRUN / "node-down-in-slurm.sinfo").read_text(), LAB)
    assert down == {"cn03": "down* (Not responding)"}
    v = _judge(r, unavailable=down)
    assert v.culprits == ["cn03"]
    assert v.problems == [
        "0 of 3 ranks reported: srun got no nodes: the job waited for nodes for 20 s; in Slurm cn03 is down* "
        "(Not responding)"
    ]


def test_a_job_that_cannot_reach_the_controller_blames_the_controller():
    v = _judge(_captured("controller-down", 1, 9.0))
    assert v.culprits == ["ctl01"]
    assert v.problems == [
        "0 of 3 ranks reported: srun got no nodes: Unable to allocate resources: Unable to contact slurm controller "
        "(connect failure) (slurmctld on ctl01)"
    ]


def test_ranks_that_all_stalled_at_the_same_stage_are_all_blamed():
    stages = "\n".join(
        f'{r}: FFINFRA-DDP-STAGE {{"node": "cn0{r + 1}", "rank": {r}, "stage": "joined"}}' for r in range(3)
    )
    v = _judge(CmdResult("ctl01", "srun ...", 124, stages, "srun: forcing job termination", 600.0))
    assert v.culprits == LAB
    assert v.problems[0].startswith("0 of 3 ranks reported: cn01 (rank 0): joined the process group, but never")


@pytest.mark.parametrize(
    ("line", "state"),
    [
        ("cn01 idle none", None),
        ("cn01 mixed none", None),
        ("cn01 completing none", None),
        ("cn01 idle* none", "idle*"),
        (
            "cn01 drained ffinfra test failed: training/test_ddp_job",
            "drained (ffinfra test failed: training/test_ddp_job)",
        ),
        ("cn01 draining maintenance", "draining (maintenance)"),
        ("cn01 down* Not responding", "down* (Not responding)"),
        ("st01 down* Not responding", None),  # not one of the job's hosts
    ],
)
def test_nodes_slurm_will_not_give_a_job(line, state):
    assert training.unavailable_nodes(line, ["cn01", "cn02"]) == ({} if state is None else {"cn01": state})


def test_srun_task_lists_and_rank_lists():
    assert srun_trace.task_ids("2") == [2]
    assert srun_trace.task_ids("0-3,6") == [0, 1, 2, 3, 6]
    assert srun_trace.rank_list([5, 0, 1, 2]) == "ranks 0-2, 5"
    assert srun_trace.rank_list([3]) == "rank 3"


def test_launcher_rendezvous_on_the_first_node_over_the_management_interface():
    text = training.launcher("/opt/venv/bin/python", "eth0", "gloo", 60)
    assert text.startswith("#!/bin/sh\n")
    assert 'printf \'FFINFRA-DDP-STAGE {"node": "%s", "rank": %s, "stage": "started"}\\n\'' in text
    assert 'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n1)' in text
    assert "GLOO_SOCKET_IFNAME=eth0" in text and "FFINFRA_DDP_BACKEND=gloo" in text
    assert text.rstrip().endswith(f"exec /opt/venv/bin/python {training.JOB_DIR}/ddp_smoke.py")


def test_srun_line_for_cpu_and_gpu_nodes():
    cpu = training.srun_command(4, 1, "lab", 10, gpus=False)
    want = "srun -J ffinfra-ddp-smoke -N4 --ntasks-per-node=1 --kill-on-bad-exit=1 --time=10 --label -v --partition=lab"
    assert cpu == f"{want} {training.JOB_DIR}/ddp.sh"
    gpu = training.srun_command(2, 8, None, 10, gpus=True)
    assert "--ntasks-per-node=8" in gpu and "--gpus-per-task=1" in gpu and "--partition" not in gpu


def test_the_job_script_ships_with_the_package():
    text = training.SCRIPT.read_text()
    assert "DistributedDataParallel" in text and "os._exit" in text and training.MARKER.strip() in text
    assert '"FFINFRA-DDP-STAGE "' in text and 'stage(rank, "ready")' in text and 'stage(rank, "joined")' in text
