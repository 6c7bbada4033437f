"""state.json is a typed model written atomically, the stack lock refuses a second run and names the holder,
runs get a folder."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ffinfra.errors import OperationalError
from ffinfra.runtime.lock import LockHeld, lock_holder, stack_lock
from ffinfra.runtime.runs import RunDir
from ffinfra.runtime.state import AppliedSpec, HostState, RoleState, StackState, load_state, save_state


def test_save_and_load_roundtrip(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    assert load_state(p) == StackState()
    st = StackState(stack="lab")
    st.hosts["cn01"] = HostState(roles={"slurm_node": RoleState(files={"/etc/slurm/slurm.conf": "1"})})
    save_state(p, st)
    assert load_state(p).hosts["cn01"].roles["slurm_node"].files == {"/etc/slurm/slurm.conf": "1"}
    assert [f.name for f in tmp_path.iterdir()] == ["state.json"]  # no temporary left behind


def test_the_applied_spec_survives_a_roundtrip(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    save_state(p, StackState(applied=AppliedSpec(spec={"name": "lab"}, facts={"cn01": {"mac": None}})))
    assert load_state(p).applied == AppliedSpec(spec={"name": "lab"}, facts={"cn01": {"mac": None}})


def test_a_version_1_state_loads_as_nothing_recorded(tmp_path: Path) -> None:
    """Before roles were Ansible role names (slurm, nccl): the next up re-applies and records everything."""
    p = tmp_path / "state.json"
    p.write_text(
        json.dumps(
            {
                "version": 1,
                "stack": "lab",
                "last_run": "r1",
                "applied_digest": "x",
                "hosts": {"cn01": {"roles": {"slurm": {"artifacts": {"a": "1"}}}}},
            }
        )
    )
    st = load_state(p)
    assert st.hosts == {} and st.applied_digest is None and st.applied is None
    assert st.stack == "lab" and st.last_run == "r1"


def test_a_state_written_by_hand_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    p.write_text(json.dumps({"version": 2, "hosts": {"cn01": {"roles": [1, 2]}}}))
    with pytest.raises(OperationalError, match=r"hosts\.cn01\.roles.*move it aside"):
        load_state(p)


def test_save_replaces_in_one_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "state.json"
    save_state(p, StackState(stack="old"))
    calls = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append((a, b)), real(a, b)))
    save_state(p, StackState(stack="new"))
    assert len(calls) == 1 and Path(calls[0][1]) == p


def test_corrupt_state_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    p.write_text("{not json")
    with pytest.raises(OperationalError, match="not valid JSON"):
        load_state(p)


def test_lock_refuses_a_second_holder_and_names_it(tmp_path: Path) -> None:
    lock = tmp_path / "state" / "lock"
    code = (
        "import sys, time; from pathlib import Path; from ffinfra.runtime.lock import stack_lock\n"
        f"with stack_lock(Path({str(lock)!r}), 'ffinfra up'):\n"
        "    print('locked', flush=True); time.sleep(30)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        assert lock_holder(lock) == child.pid
        with pytest.raises(LockHeld, match=rf"another ffinfra up \(pid {child.pid}\) holds the lock"), stack_lock(lock):
            pass
    finally:
        child.kill()
        child.wait()
    # The kernel released the dead holder's lock: no stale lock.
    assert lock_holder(lock) is None
    with stack_lock(lock):
        assert lock_holder(lock) == os.getpid() or lock_holder(lock) is None  # flock is per open file


def test_lock_is_reentrant_after_release(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    with stack_lock(lock):
        pass
    with stack_lock(lock):
        pass
    assert lock_holder(lock) is None


def test_run_dir_per_phase_logs_and_redaction(tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 28, 13, 5, 1, tzinfo=dt.UTC)
    r1 = RunDir.create(tmp_path / "runs", redact=lambda s: s.replace("SECRET", "[REDACTED]"), now=now)
    r2 = RunDir.create(tmp_path / "runs", now=now)
    assert r1.path.name == "20261128T130501Z" and r2.path.name == "20261128T130501Z-1"
    r1.log("provision", "cn01 ready")
    r1.log("apply", "token SECRET here")
    r1.close()
    assert "cn01 ready" in r1.log_path("provision").read_text()
    text = r1.log_path("apply").read_text()
    assert "SECRET" not in text and "[REDACTED]" in text
