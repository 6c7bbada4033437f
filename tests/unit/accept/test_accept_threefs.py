"""The 3FS acceptance tests, run by the real plugin as on a real fabric (tests/unit/accept/threefs_replay.py answers
admin_cli and the FUSE mount from the lab's own layout): a healthy 3FS passes; a storage node that stopped
heartbeating fails the services and chains tests naming it; a lost mount fails on that client only. On the lab
(a simulated fabric) they are skipped with the reason, never judged."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ffinfra.accept.context import ENV, RunContext
from ffinfra.accept.results import RunResults
from ffinfra.accept.runner import pytest_argv
from ffinfra.accept.threefs import NOT_ON_A_SIMULATED_FABRIC

HERE = Path(__file__).resolve().parent


def _replay(fault: str, tmp_path: Path) -> dict[str, tuple[str, str, list[str]]]:
    """test id → (outcome, message, culprits) of the 3FS tests of the storage and node suites."""
    ctx = RunContext(stack="lab", provider="replay", suites=["node", "storage"], out_dir=str(tmp_path))
    ctx.save(tmp_path / "context.json")
    argv = [*pytest_argv("lab", tmp_path, ["node", "storage"], keyword="threefs"), "-p", "threefs_replay", "-q"]
    env = dict(os.environ, FFINFRA_REPLAY_3FS=fault)
    env[ENV] = str(tmp_path / "context.json")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(HERE.parent / "analysis"), env.get("PYTHONPATH", "")])
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180)
    assert (tmp_path / "results.json").is_file(), run.stdout[-3000:] + run.stderr[-3000:]
    return {t.name: (t.outcome, t.message, t.culprits) for t in RunResults.load(tmp_path / "results.json").tests}


def test_a_healthy_3fs_passes_every_3fs_test(tmp_path):
    got = _replay("healthy", tmp_path)
    assert got["test_threefs_services_connected"][0] == "passed"
    assert got["test_threefs_chains_serving"][0] == "passed"
    mounts = {k: v[0] for k, v in got.items() if k.startswith("test_threefs_mount_read_write")}
    assert sorted(mounts) == [f"test_threefs_mount_read_write[cn0{i}]" for i in range(1, 5)]
    assert set(mounts.values()) == {"passed"}
    # the node suite: the services run the installed binaries; nodes without 3FS services stand aside
    services = {k.split("[")[1].rstrip("]"): v[0] for k, v in got.items() if k.startswith("test_threefs_services[")}
    assert services["st01"] == services["ctl01"] == "passed" and services["login01"] == "skipped"


def test_a_storage_node_that_stopped_heartbeating_is_named(tmp_path):
    got = _replay("storage-down", tmp_path)
    outcome, message, culprits = got["test_threefs_services_connected"]
    assert outcome == "failed" and "st02" in message and culprits == ["st02"]
    outcome, message, culprits = got["test_threefs_chains_serving"]
    assert outcome == "failed" and "OFFLINE-OFFLINE" in message and "SERVING(1/2)" in message
    assert culprits == ["st02"]  # whose targets do not serve


def test_a_lost_mount_fails_on_that_client_only(tmp_path):
    got = _replay("unmounted", tmp_path)
    failed = {k: v for k, v in got.items() if v[0] == "failed"}
    assert list(failed) == ["test_threefs_mount_read_write[cn02]"]
    assert failed["test_threefs_mount_read_write[cn02]"][1] == "cn02: not a 3FS mount: /3fs/lab"
    assert failed["test_threefs_mount_read_write[cn02]"][2] == ["cn02"]


def test_the_reason_3fs_is_not_judged_on_a_simulated_fabric_names_what_is_missing():
    assert "RDMA verbs devices" in NOT_ON_A_SIMULATED_FABRIC and "FoundationDB" in NOT_ON_A_SIMULATED_FABRIC
