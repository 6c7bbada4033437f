"""The lab stack end to end on this machine: `ffinfra up` from nothing to green, a no-change re-run, status,
and `ffinfra down` leaving no namespace, mount or process behind. Needs root and scripts/setup.sh --lab (CI
runs scripts/test.sh as root, which installs everything).

The stack is copied into a temporary stacks/ folder (FFINFRA_STACKS) so the test's state, secrets and runs do
not touch the working tree's stacks/lab.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from lab_harness import leftovers, run_ffinfra

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab provider needs root (namespaces, overlay mounts)"),
]


def test_up_rerun_status_down(lab_stack) -> None:
    work, stack_dir, env = lab_stack
    # from nothing to green
    t0 = time.monotonic()
    r = run_ffinfra(["up", "lab"], env, work)
    first = time.monotonic() - t0
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert "is up" in r.stdout
    state = json.loads((stack_dir / "state.json").read_text())
    assert set(state["hosts"]) == {"cn01", "cn02", "cn03", "cn04", "st01", "st02", "ctl01"}
    assert state["verified_at"]
    assert "slurm/slurm.conf" in state["hosts"]["cn01"]["roles"]["slurm"]["artifacts"]
    runs = sorted((stack_dir / "runs").iterdir())
    assert len(runs) == 1 and (runs[0] / "provision.log").exists() and (runs[0] / "verify.log").exists()
    summary = json.loads((runs[0] / "summary.json").read_text())
    assert summary["ok"] and {c["name"] for c in summary["checks"]} >= {"slurm-idle", "srun", "opensm z0"}

    # secrets: private, and never in a log
    secrets = stack_dir / "secrets"
    assert (secrets.stat().st_mode & 0o077) == 0
    munge = (secrets / "munge.key").read_bytes()
    for f in runs[0].rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert b"PRIVATE KEY" not in data and munge not in data, f

    # a second run changes nothing and is much faster
    t0 = time.monotonic()
    r = run_ffinfra(["up", "lab"], env, work)
    second = time.monotonic() - t0
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    summary = json.loads((sorted((stack_dir / "runs").iterdir())[-1] / "summary.json").read_text())
    assert summary["changed"] == 0, summary
    assert "apply skipped" in r.stdout  # same inputs, every installed file checked on the nodes
    assert second * 3 <= first, (first, second)

    # forced through Ansible anyway: zero changed tasks on every host
    t0 = time.monotonic()
    r = run_ffinfra(["up", "lab", "--force"], env, work)
    forced = time.monotonic() - t0
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    summary = json.loads((sorted((stack_dir / "runs").iterdir())[-1] / "summary.json").read_text())
    assert summary["changed"] == 0 and "0 changed" in r.stdout, summary
    print(f"lab up: first {first:.1f} s, no-change re-run {second:.1f} s, forced no-change re-run {forced:.1f} s")

    # a spec change reaches the daemons: the partition is renamed in slurmctld
    spec = stack_dir / "cluster.yaml"
    spec.write_text(spec.read_text().replace("{name: lab, groups: [compute]", "{name: batch, groups: [compute]"))
    r = run_ffinfra(["up", "lab"], env, work)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    r = run_ffinfra(["exec", "lab", "ctl01", "--", "sinfo", "-h", "-o", "%P %T"], env, work)
    assert r.returncode == 0 and "batch*" in r.stdout and "lab" not in r.stdout, r.stdout + r.stderr

    # hand-edited config on a node is drift: the next up repairs it
    r = run_ffinfra(["exec", "lab", "cn01", "--", "sh", "-c", "echo '# hand edit' >> /etc/slurm/gres.conf"], env, work)
    assert r.returncode == 0, r.stderr
    r = run_ffinfra(["up", "lab"], env, work)
    assert r.returncode == 0 and "apply skipped" not in r.stdout, r.stdout[-2000:]
    r = run_ffinfra(["exec", "lab", "cn01", "--", "grep", "-c", "hand edit", "/etc/slurm/gres.conf"], env, work)
    assert r.stdout.strip() == "0", r.stdout

    # status: every node running, in sync
    r = run_ffinfra(["status", "lab", "--json"], env, work)
    assert r.returncode == 0, r.stdout + r.stderr
    st = json.loads(r.stdout)
    assert all(n["state"] == "running" and n["drift"] == [] for n in st["nodes"].values())
    assert "slurmctld" in st["nodes"]["ctl01"]["services"] and "slurmd" in st["nodes"]["cn01"]["services"]

    # down leaves nothing behind
    r = run_ffinfra(["down", "lab"], env, work)
    assert r.returncode == 0, r.stdout + r.stderr
    assert leftovers() == []
    assert not (stack_dir / "state" / "lab").exists()


def test_dry_run_changes_nothing(lab_stack) -> None:
    work, stack_dir, env = lab_stack
    r = run_ffinfra(["up", "lab", "--dry-run"], env, work)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "would" in r.stdout or "create" in r.stdout
    assert not (stack_dir / "runs").exists() or all(p.is_dir() for p in (stack_dir / "runs").iterdir())
    assert leftovers() == [] or "keep" in r.stdout


def test_interrupted_up_converges(lab_stack) -> None:
    """Kill `up` in the middle of apply; the next `up` must end green."""
    work, _, env = lab_stack
    exe = shutil.which("ffinfra") or str(ROOT / ".venv" / "bin" / "ffinfra")
    p = subprocess.Popen([exe, "up", "lab"], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    assert p.stdout is not None
    for line in p.stdout:
        if b"== apply" in line or time.monotonic() > deadline:
            break
    time.sleep(2)
    p.terminate()
    p.wait(timeout=30)
    r = run_ffinfra(["up", "lab"], env, work)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
