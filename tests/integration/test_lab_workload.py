"""Slurm's side of a rolling change on the running lab, with a job running (apply/slurm_nodes.py): a batch is drained
with a reason that names the change and sinfo shows it; the node with the job keeps it (draining), the other is
drained at once; the busy one is told apart; its job is requeued by policy; the batch goes back into service.

Runs after test_lab_up.py and test_lab_verify_acceptance.py (file order), on the session's lab."""

from __future__ import annotations

import os
import sys
import time

import pytest
from lab_harness import run_ffinfra

from ffinfra.apply.providers import get_provider
from ffinfra.apply.slurm_nodes import SlurmNodes
from ffinfra.compile import compile_stack
from ffinfra.runtime.paths import StackPaths
from ffinfra.runtime.secrets import StackSecrets
from ffinfra.stack import find_stack

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab provider needs root (namespaces, overlay mounts)"),
]


@pytest.fixture
def slurm(lab_stack):
    work, stack_dir, env = lab_stack
    # converges (a no-op when the lab is up; after a test's change, no job runs: all at once, no batches)
    r = run_ffinfra(["up", "lab", "--all-at-once"], env, work)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    c = compile_stack(find_stack(str(stack_dir)))
    paths = StackPaths(c.stack.dir)
    access = get_provider("lab", c.topology.name, paths.state_dir, c.topology).access()
    remote = StackSecrets(paths.secrets).remote(access.values())
    try:
        yield SlurmNodes(remote, c.topology.services.slurm_controller), remote
    finally:
        remote.close()


def wait_for(what: str, check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def back_in_service(nodes: SlurmNodes, stack_dir) -> None:
    """Every compute node idle with no drain reason, and the rolling change forgotten."""
    states = nodes.states(["cn01", "cn02", "cn03", "cn04"])
    assert all(s.state == "idle" and s.reason == "none" for s in states.values()), states
    assert not (stack_dir / "state" / "rollout.json").exists()


def batches_shown(dry_run: str) -> list[tuple[str, str, str]]:
    """`upgrade --dry-run`'s batch lines, "    3. compute        cn02  (why)", as ("3", "compute", "cn02")."""
    rows = [line.split("(")[0].replace(".", " ", 1).split(maxsplit=2) for line in dry_run.splitlines()]
    return [(r[0], r[1], r[2].strip()) for r in rows if len(r) == 3 and r[0].isdigit()]


def step_lines(log: str) -> list[str]:
    """The rollout's lines, "batch 3/8 (compute: cn02): wait", without `up`'s "[  12.3s] " time prefix."""
    lines = [line.strip() for line in log.splitlines()]
    lines = [line.split("] ", 1)[1] if line.startswith("[") and "] " in line else line for line in lines]
    return [line for line in lines if line.startswith("batch ")]


def batches_run(log: str) -> list[tuple[str, str, str]]:
    """The batches an upgrade ran, "batch 3/8 (compute: cn02): wait", as ("3", "compute", "cn02"), in order."""
    seen: dict[str, tuple[str, str, str]] = {}
    for line in step_lines(log):
        index = line.split("/")[0].split()[-1]
        kind, hosts = line.split("(", 1)[1].split(")")[0].split(": ")
        seen.setdefault(index, (index, kind, hosts))
    return list(seen.values())


def test_a_drained_batch_keeps_its_running_job_until_it_is_requeued_and_comes_back(slurm):
    nodes, remote = slurm
    job = remote.run("login01", "sbatch --parsable -w cn04 -J held --requeue --wrap 'sleep 600'").stdout.strip()
    try:
        wait_for("the job to run", lambda: remote.run("ctl01", f"squeue -h -j {job} -o %T").stdout.strip() == "RUNNING")
        batch = ["cn03", "cn04"]
        nodes.drain(batch, "ffinfra lab: slurm.conf changed (batch 3/4)")
        states = nodes.states(batch)
        # cn04 keeps its job: draining (sinfo may still say drained for a moment right after the drain)
        assert states["cn03"].state == "drained" and states["cn04"].state.startswith("drain"), states
        assert {s.reason for s in states.values()} == {"ffinfra lab: slurm.conf changed (batch 3/4)"}
        assert "ffinfra lab: slurm.conf changed" in remote.run("login01", "sinfo -R -h -o '%E %N'").stdout
        assert nodes.busy(batch) == ["cn04"]
        nodes.drain(batch, "ffinfra lab: slurm.conf changed (batch 3/4)")  # idempotent: again changes nothing
        nodes.requeue(["cn04"])
        wait_for("cn04 to have no job", lambda: nodes.busy(batch) == [])
        assert nodes.states(batch)["cn04"].state == "drained"
        nodes.resume(batch)
        nodes.resume(batch)  # idempotent
        states = wait_for("the batch back in service", lambda: (s := nodes.states(batch)) and
                          all(v.state in ("idle", "mixed", "allocated") for v in s.values()) and s)  # fmt: skip
        assert all(v.reason == "none" for v in states.values()), states
    finally:
        remote.run("ctl01", f"scancel {job}")
        nodes.resume(["cn03", "cn04"])


def test_a_rolling_restart_waits_for_the_running_job_and_names_the_change(lab_stack, slurm):
    """A change that restarts slurmd on every node (RealMemory), taken through `ffinfra upgrade` while a job runs on
    cn03 and cn04: the job finishes (nothing kills it), its nodes are waited for, sinfo shows the drains with the
    change as reason meanwhile, and every node ends with the new slurm.conf, back in service."""
    import shutil
    import subprocess

    from lab_harness import ROOT

    work, stack_dir, env = lab_stack
    nodes, remote = slurm
    spec = stack_dir / "cluster.yaml"
    before = spec.read_text()
    job = remote.run("login01", "sbatch --parsable -N2 -w cn03,cn04 -J long --wrap 'srun sleep 45'").stdout.strip()
    wait_for("the job to run", lambda: remote.run("ctl01", f"squeue -h -j {job} -o %T").stdout.strip() == "RUNNING")
    spec.write_text(before.replace("    memory_gb: 2\n", "    memory_gb: 3\n", 1))
    try:
        ffinfra = shutil.which("ffinfra") or str(ROOT / ".venv" / "bin" / "ffinfra")
        dry = run_ffinfra(["upgrade", "lab", "--dry-run"], env, work)
        assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-2000:]
        shown = batches_shown(dry.stdout)
        cmd = [ffinfra, "upgrade", "lab", "--wait", "300"]
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        reasons: set[str] = set()
        while proc.poll() is None:
            out = remote.run("ctl01", "sinfo -R -h -o '%E|%N'").stdout
            reasons |= {line.split("|")[0] for line in out.splitlines() if line.strip()}
            time.sleep(1)
        log = proc.stdout.read() if proc.stdout else ""
        assert proc.returncode == 0, log[-4000:]
        assert any(r.startswith("ffinfra lab: rolling restart") for r in reasons), (reasons, log[-2000:])
        # the job ran to its end; its nodes' batches waited for it
        state = remote.run("ctl01", f"scontrol show job {job} -o").stdout
        assert "JobState=COMPLETED" in state, state
        assert "(compute: cn03): wait" in log and "(compute: cn04): wait" in log, log[-3000:]
        assert len(shown) == 8 and shown == batches_run(log), (shown, log[-3000:])  # the dry run's batches ran
        # every node has the new slurm.conf and is back in service
        for host in ("cn01", "cn02", "cn03", "cn04"):
            assert "RealMemory=2048" in remote.run("ctl01", f"scontrol show node {host} -o").stdout
        back_in_service(nodes, stack_dir)
    finally:
        spec.write_text(before)
        remote.run("ctl01", f"scancel {job}")


def test_a_killed_up_is_rerun_and_continues_where_it_stopped(lab_stack, slurm):
    """`ffinfra up` of a change that restarts slurmd takes it through the batches as `upgrade` does. kill -9 while
    cn02's batch waits for a job: the journal holds the place; the re-run starts at that step, repeats no
    finished batch, and ends with every node in service and the journal gone."""
    import json
    import shutil
    import signal
    import subprocess

    from lab_harness import ROOT

    work, stack_dir, env = lab_stack
    nodes, remote = slurm
    spec = stack_dir / "cluster.yaml"
    journal = stack_dir / "state" / "rollout.json"
    before = spec.read_text()
    ffinfra = shutil.which("ffinfra") or str(ROOT / ".venv" / "bin" / "ffinfra")
    job = remote.run("login01", "sbatch --parsable -w cn02 -J blocker --wrap 'sleep 600'").stdout.strip()
    wait_for("the job to run", lambda: remote.run("ctl01", f"squeue -h -j {job} -o %T").stdout.strip() == "RUNNING")
    spec.write_text(before.replace("    memory_gb: 2\n", "    memory_gb: 4\n", 1))
    try:
        first = subprocess.Popen([ffinfra, "up", "lab", "--wait", "600"], cwd=work, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip

        at: list[int] = []  # the index of cn02's batch

        def waiting_on_cn02() -> bool:
            if not journal.exists():
                return False
            data = json.loads(journal.read_text())
            at[:] = [b["index"] for b in data["batches"] if b["hosts"] == ["cn02"]]
            return bool(at) and data.get("current") == [at[0], "wait"]

        wait_for("cn02's batch to wait for its job", waiting_on_cn02, timeout=240)
        first.send_signal(signal.SIGKILL)
        first.wait()
        # still drained, its job still running (sinfo may say drained or draining for a moment after the drain)
        assert journal.exists() and nodes.states(["cn02"])["cn02"].state.startswith("drain")
        assert nodes.busy(["cn02"]) == ["cn02"]
        remote.run("ctl01", f"scancel {job}")
        second = subprocess.run([ffinfra, "up", "lab"], cwd=work, env=env, capture_output=True, text=True,
                                timeout=900, check=False)  # fmt: skip
        assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-2000:]
        steps = step_lines(second.stdout)
        assert steps[0] == f"batch {at[0]}/8 (compute: cn02): wait", steps[:3]
        assert not any(s.startswith(tuple(f"batch {i}/8" for i in range(1, at[0]))) for s in steps), steps
        back_in_service(nodes, stack_dir)
        assert "RealMemory=3072" in remote.run("ctl01", "scontrol show node cn02 -o").stdout
    finally:
        spec.write_text(before)
        remote.run("ctl01", f"scancel {job}")


def test_a_rolling_reboot_reboots_each_batch_after_its_job_and_nothing_else(lab_stack, slurm):
    """The compute nodes get another hardware profile (a rolling reboot): `ffinfra up` drains, applies, reboots
    (the node's systemd stops every unit and boots again) and gates each batch in turn, the job on cn03 runs to
    its end first, and the hosts outside the change keep their boot."""
    work, stack_dir, env = lab_stack
    nodes, remote = slurm
    spec = stack_dir / "cluster.yaml"
    before = spec.read_text()
    hosts = ("cn01", "cn02", "cn03", "cn04", "ctl01", "st01")

    def boots() -> dict[str, str]:  # PID 1's start time (clock ticks since this machine booted): new per boot
        return {h: remote.run(h, "cut -d' ' -f22 /proc/1/stat").stdout.strip() for h in hosts}

    first = boots()
    other = before.split("  lab-login:")[0].split("  lab-node:")[1]
    changed = before.replace("  lab-login:", "  lab-node-b:" + other + "  lab-login:", 1)
    changed = changed.replace(
        "hostnames: cn[01-04]\n    profile: lab-node\n", "hostnames: cn[01-04]\n    profile: lab-node-b\n"
    )
    assert changed.count("lab-node-b") == 2
    job = remote.run("login01", "sbatch --parsable -w cn03 -J short --wrap 'sleep 20'").stdout.strip()
    wait_for("the job to run", lambda: remote.run("ctl01", f"squeue -h -j {job} -o %T").stdout.strip() == "RUNNING")
    spec.write_text(changed)
    try:
        r = run_ffinfra(["up", "lab", "--wait", "300"], env, work)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
        steps = step_lines(r.stdout)
        assert "batch 3/4 (compute: cn03): reboot" in steps, steps
        cn03 = [s.rsplit(": ", 1)[1] for s in steps if s.startswith("batch 3/4")]
        assert cn03 == ["drain", "wait", "apply", "reboot", "health", "resume"], cn03
        assert "JobState=COMPLETED" in remote.run("ctl01", f"scontrol show job {job} -o").stdout
        for h in hosts:
            remote.forget(h)
        after = boots()
        assert all(after[h] != first[h] for h in ("cn01", "cn02", "cn03", "cn04")), (first, after)
        assert all(after[h] == first[h] for h in ("ctl01", "st01")), (first, after)
        back_in_service(nodes, stack_dir)
    finally:
        spec.write_text(before)
        remote.run("ctl01", f"scancel {job}")


def test_a_new_hfreduce_build_rolls_through_the_compute_batches(lab_stack, slurm):
    """A build option (the SIMD ceiling) makes a new HFReduce build: the plan shows the build change, `upgrade`
    takes the compute nodes through batches (canary first), each node ends with the new build installed beside
    the old one and hfreduce.env pointing at it, and the installed library says it is that build."""
    work, stack_dir, env = lab_stack
    nodes, remote = slurm
    spec = stack_dir / "cluster.yaml"
    before = spec.read_text()
    assert before.count("simd: avx512}") == 1
    spec.write_text(before.replace("simd: avx512}", "simd: avx2}"))
    try:
        dry = run_ffinfra(["upgrade", "lab", "--dry-run"], env, work)
        assert dry.returncode == 0 and "hfreduce/lab-node" in dry.stdout, dry.stdout[-3000:]
        want = [("canary", "cn01"), ("compute", "cn02"), ("compute", "cn03"), ("compute", "cn04")]
        assert [b[1:] for b in batches_shown(dry.stdout)] == want, dry.stdout[-2000:]
        r = run_ffinfra(["upgrade", "lab"], env, work)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
        assert batches_run(r.stdout) == batches_shown(dry.stdout)
        probe = (
            "set -a; . /etc/hfreduce/hfreduce.env; set +a; echo $HFREDUCE_PREFIX; "
            "test -d ${HFREDUCE_PREFIX%-avx2}-avx512 && echo kept; PYTHONPATH=$HFREDUCE_PYTHONPATH "
            f'{sys.executable} -c \'import hfreduce; i = hfreduce.build_info(); print(i["simd_best"], i["source"])\''
        )
        for host in ("cn01", "cn02", "cn03", "cn04"):
            prefix, kept, built = remote.run(host, probe).stdout.split("\n")[:3]
            assert prefix.endswith("-avx2") and kept == "kept", (host, prefix, kept)  # the old build stays
            assert built.split() == ["avx2", prefix.split("/")[-1].split("-")[0]], (host, built)
        back_in_service(nodes, stack_dir)
    finally:
        spec.write_text(before)


def test_opensm_restarts_on_the_standby_first_and_the_master_takes_its_subnet_back(lab_stack, slurm):
    """A routing change restarts OpenSM: `up` restarts the standby (st01) in its own batch, then the master (ctl01);
    at the end ctl01 is MASTER again and st01 STANDBY, and the closing checks say so."""
    work, stack_dir, env = lab_stack
    _, remote = slurm
    spec = stack_dir / "cluster.yaml"
    before = spec.read_text()
    assert before.count("    standby_hosts: [st01]") == 1
    spec.write_text(
        before.replace("    standby_hosts: [st01]", "    routing_engine: ftree,updn\n    standby_hosts: [st01]")
    )

    def started(host: str) -> int:  # CLOCK_MONOTONIC: one kernel, so comparable between lab nodes
        out = remote.run(host, "systemctl show -p ActiveEnterTimestampMonotonic --value ffinfra-opensm@z0").stdout
        return int(out.strip())

    def state(host: str) -> str:
        return remote.run(host, "grep -a 'Entering .* state' /var/log/opensm-z0.log | tail -1").stdout

    t0 = {h: started(h) for h in ("st01", "ctl01")}
    try:
        r = run_ffinfra(["up", "lab"], env, work)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
        assert batches_run(r.stdout) == [("1", "standby-sm", "st01"), ("2", "controller", "ctl01")], r.stdout[-3000:]
        t1 = {h: started(h) for h in ("st01", "ctl01")}
        assert t0["st01"] < t1["st01"] < t1["ctl01"] and t0["ctl01"] < t1["ctl01"], (t0, t1)  # standby first
        assert "Entering MASTER state" in state("ctl01") and "Entering STANDBY state" in state("st01")
        assert "✓ opensm z0 standby: STANDBY" in r.stdout
    finally:
        spec.write_text(before)


def test_a_slurm_version_rolls_slurmctld_first_and_a_missing_one_stops_at_its_first_batch(lab_stack, slurm):
    """scheduler.slurm.version pins the Slurm packages. Debian 12 has one Slurm, so the lab pins the installed one
    (a roll that installs nothing: slurmctld's batch first, then the slurmd batches) and then one apt cannot find:
    `upgrade` stops at its first batch (the controller's), naming apt's error, with no node changed, and --abort
    forgets it."""
    work, stack_dir, env = lab_stack
    _, remote = slurm
    spec = stack_dir / "cluster.yaml"
    before = spec.read_text()
    installed = remote.run("cn01", "dpkg-query -W -f '${Version}' slurmd").stdout.strip()
    assert installed
    pin = "scheduler:\n  slurm:\n"
    try:
        spec.write_text(before.replace(pin, f"{pin}    version: {installed}\n"))
        r = run_ffinfra(["upgrade", "lab"], env, work)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
        ran = batches_run(r.stdout)
        assert ran[0] == ("1", "controller", "ctl01") and ran[1] == ("2", "canary", "cn01"), ran
        spec.write_text(before.replace(pin, f"{pin}    version: 99.0-1\n"))
        r = run_ffinfra(["upgrade", "lab"], env, work)
        assert r.returncode == 3, r.stdout[-4000:] + r.stderr[-2000:]
        assert "applying batch ctl01 failed" in r.stderr and "99.0-1" in r.stderr, r.stderr[-2000:]
        assert batches_run(r.stdout) == [("1", "controller", "ctl01")]  # nothing past the first batch
        for host in ("ctl01", "cn01"):
            assert (
                remote.run(host, "dpkg-query -W -f '${Version}' slurmd slurmctld 2>/dev/null").stdout.count(installed)
                >= 1
            )
        assert (stack_dir / "state" / "rollout.json").exists()
        a = run_ffinfra(["upgrade", "lab", "--abort"], env, work)
        assert a.returncode == 0 and not (stack_dir / "state" / "rollout.json").exists(), a.stdout + a.stderr
    finally:
        spec.write_text(before)
