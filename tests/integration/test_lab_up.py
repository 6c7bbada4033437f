"""The lab stack end to end on this machine: `ffinfra up` from nothing to green, and then what operators do all day.

    one truth      what Ansible reported installing on each host = what state.json records = what the node
                   suite checks (render/placement.py); no Slurm file on a storage node
    re-run         nothing changed: Ansible is skipped; --force runs it and changes nothing
    repair         slurmctld stopped and a file edited by hand: only the roles that own them run, on those hosts
    systemd        the nodes boot systemd: a daemon killed with SIGKILL is back by its Restart= policy, and a
                   rebooted node brings back every service its roles enabled, with no `up` in between
    reload         a partition change is `scontrol reconfigure`: slurmctld and slurmd keep their PIDs
    refusal        a destructive change (a new Slurm cluster name) is refused and changes nothing on any node
    login          sbatch from the login node runs a job
    down           leaves no namespace, mount or process behind

Needs root and scripts/setup.sh --lab (CI runs scripts/test.sh as root, which installs everything). The stack is a
copy in a temporary stacks/ folder (FFINFRA_STACKS), so its state, secrets and runs do not touch stacks/lab. No
timing is asserted here: bench/lab_up.py measures.
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

from ffinfra.compile import compile_stack
from ffinfra.render.placement import installed_files, place
from ffinfra.render.targets import render_all
from ffinfra.stack import find_stack

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab provider needs root (namespaces, overlay mounts)"),
]


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    return r.stdout


def _last_run(stack_dir: Path) -> Path:
    return sorted((stack_dir / "runs").iterdir())[-1]


def _exec(work: Path, env: dict[str, str], host: str, cmd: str) -> str:
    return _ok(run_ffinfra(["exec", "lab", host, "--", "sh", "-c", cmd], env, work)).strip()


def _installed_by_ansible(run: Path) -> dict[str, dict[str, set[str]]]:
    """host → role → artifact keys, from the events of the run's Ansible log (what Ansible says it installed)."""
    from ffinfra.apply.ansible import installed_artifacts, parse_event

    events = [e for e in map(parse_event, (run / "ansible.log").read_text().splitlines()) if e]
    return installed_artifacts(events)


def test_up_from_nothing_and_one_truth_of_what_runs_where(lab_stack) -> None:
    work, stack_dir, env = lab_stack
    out = _ok(run_ffinfra(["up", "lab"], env, work))
    assert "is up" in out
    state = json.loads((stack_dir / "state.json").read_text())
    topo = compile_stack(find_stack(str(stack_dir))).topology
    assert set(state["hosts"]) == {h.name for h in topo.hosts} and "login01" in state["hosts"]
    assert state["verified_at"] and state["applied"]["spec"]["name"] == "lab"

    # One truth: Ansible's own report of what it installed = state.json = what the node suite checks.
    placement = place(topo, render_all(topo))
    by_ansible = _installed_by_ansible(_last_run(stack_dir))
    by_state = {h: {r: set(v["files"]) for r, v in s["roles"].items()} for h, s in state["hosts"].items()}
    for host, roles in placement.items():
        assert {r: {a.path for a in files.values()} for r, files in roles.items()} == by_ansible.get(host, {}), host
        assert {r: set(files) for r, files in roles.items()} == by_state[host], host
    suite = installed_files(placement)
    assert all(set(suite[h]) == set().union(*by_state[h].values()) for h in suite)
    # the bugs this fixes: no Slurm file on storage nodes; login nodes get Slurm's configuration and client
    # 3FS files and the standby SM's, no Slurm
    assert set(by_state["st01"]) == {"common", "opensm", "threefs_common", "threefs_storage"}
    assert "/etc/slurm/slurm.conf" in by_state["login01"]["slurm_client"]
    assert "/etc/slurm/slurm.conf" in by_state["cn01"]["slurm_node"]

    runs = sorted((stack_dir / "runs").iterdir())
    assert (runs[0] / "provision.log").exists() and (runs[0] / "verify.log").exists()
    summary = json.loads((runs[0] / "summary.json").read_text())
    checks = {c["name"] for c in summary["checks"]}
    assert summary["ok"] and checks >= {
        "daemons", "slurmctld", "slurm-idle", "srun", "login login01", "opensm z0", "opensm z0 standby"
    }  # fmt: skip

    # secrets: private, and never in a log
    secrets = stack_dir / "secrets"
    assert (secrets.stat().st_mode & 0o077) == 0
    munge = (secrets / "munge.key").read_bytes()
    for f in runs[0].rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            assert b"PRIVATE KEY" not in data and munge not in data, f


def test_a_rerun_skips_ansible_and_force_changes_nothing(lab_stack) -> None:
    work, stack_dir, env = lab_stack
    out = _ok(run_ffinfra(["up", "lab"], env, work))
    assert "apply skipped" in out  # same inputs, every installed file and daemon checked on the nodes
    summary = json.loads((_last_run(stack_dir) / "summary.json").read_text())
    assert summary["changed"] == 0 and summary["decision"]["run"] is False, summary
    out = _ok(run_ffinfra(["up", "lab", "--force"], env, work))
    summary = json.loads((_last_run(stack_dir) / "summary.json").read_text())
    assert summary["changed"] == 0 and "0 changed" in out, summary


def test_check_mode_lists_exactly_the_files_each_role_would_install_and_changes_nothing(lab_stack) -> None:
    """`up --check` on running nodes: every role in Ansible's check mode. With a storage node's 3FS files gone, it
    names exactly those, per role, as the compiler placed them; they are still gone after; `up` puts them back."""
    work, stack_dir, env = lab_stack
    _exec(work, env, "st01", "rm -f /opt/3fs/etc/*.toml /etc/systemd/system/storage-data1.mount")
    out = _ok(run_ffinfra(["up", "lab", "--check"], env, work))
    assert "nothing was changed" in out
    topo = compile_stack(find_stack(str(stack_dir))).topology
    placed = place(topo, render_all(topo))["st01"]
    want = {
        role: {d for d in files if d.endswith(".toml") or d.endswith(".mount")}
        for role, files in placed.items()
        if role.startswith("threefs_")
    }
    summary = json.loads((_last_run(stack_dir) / "summary.json").read_text())
    assert summary["would_change"] == {"st01": {r: sorted(d) for r, d in want.items()}}, summary["would_change"]
    assert _exec(work, env, "st01", "ls /opt/3fs/etc") == "fdb.cluster"  # check mode wrote nothing
    _ok(run_ffinfra(["up", "lab"], env, work))
    assert "storage_main_app.toml" in _exec(work, env, "st01", "ls /opt/3fs/etc")


def test_a_stopped_daemon_and_a_hand_edit_are_repaired_by_their_roles_only(lab_stack) -> None:
    work, _, env = lab_stack
    _exec(work, env, "ctl01", "systemctl stop slurmctld")  # a clean stop: Restart= leaves it down, up must not
    _exec(work, env, "cn01", "echo '# hand edit' >> /etc/slurm/gres.conf")
    out = _ok(run_ffinfra(["up", "lab"], env, work))
    assert "ctl01: slurmctld is inactive" in out and "cn01: /etc/slurm/gres.conf changed" in out
    assert "repair: slurm_controller, slurm_node on cn01, ctl01" in out, out[-3000:]
    assert _exec(work, env, "cn01", "grep -c 'hand edit' /etc/slurm/gres.conf || true") == "0"
    assert _exec(work, env, "ctl01", "pgrep -x slurmctld")


def test_a_daemon_killed_with_sigkill_is_back_by_its_restart_policy(lab_stack) -> None:
    work, _, env = lab_stack
    old = _exec(work, env, "cn03", "pgrep -x slurmd")
    # not a speed check: Restart=on-failure with RestartSec=2 brings it back; 60 s only bounds a broken unit
    new = _exec(
        work, env, "cn03",
        f"kill -9 {old}; for i in $(seq 600); do p=$(pgrep -x slurmd); "
        f'[ -n "$p" ] && [ "$p" != {old} ] && systemctl is-active -q slurmd && echo $p && exit 0; sleep 0.1; done',
    )  # fmt: skip
    assert new and new != old
    out = _ok(run_ffinfra(["up", "lab"], env, work))  # and up sees a node as it should be
    assert "apply skipped" in out


def test_a_rebooted_node_brings_back_its_services_without_up(lab_stack) -> None:
    work, stack_dir, env = lab_stack
    from ffinfra.apply.lab import LabProvider

    topo = compile_stack(find_stack(str(stack_dir))).topology
    before = {h: _exec(work, env, h, "systemctl show -p MainPID --value slurmd") for h in ("cn02",)}
    LabProvider("lab", stack_dir / "state" / "lab", topo).reboot("cn02")
    units = topo.services.of("cn02").units_on(True)
    states = _exec(work, env, "cn02", f"systemctl is-active {' '.join(units)}").split()
    assert states == ["active"] * len(units), dict(zip(units, states, strict=False))
    assert _exec(work, env, "cn02", "systemctl show -p MainPID --value slurmd") != before["cn02"]
    assert _exec(work, env, "ctl01", "for i in $(seq 60); do s=$(sinfo -h -n cn02 -o %t); "
                 '[ "$s" = idle ] && echo idle && exit; sleep 1; done; echo "$s"') == "idle"  # fmt: skip
    assert "apply skipped" in _ok(run_ffinfra(["up", "lab"], env, work))


def test_a_partition_change_reconfigures_without_restarting(lab_stack) -> None:
    """The plan says `scontrol reconfigure` for a partition change, and that is what happens."""
    work, stack_dir, env = lab_stack
    pids = {h: _exec(work, env, h, f"pgrep -x {d}") for h, d in (("ctl01", "slurmctld"), ("cn01", "slurmd"))}
    spec = stack_dir / "cluster.yaml"
    spec.write_text(spec.read_text().replace("{name: lab, groups: [compute]", "{name: batch, groups: [compute]"))
    out = _ok(run_ffinfra(["up", "lab"], env, work))
    assert "Impact: hot reload" in out and "scontrol reconfigure" in out
    # only slurm.conf changed: only the Slurm roles run, on the hosts that get it (not st01, st02)
    assert "changed files: slurm_controller, slurm_node, slurm_client on cn01, cn02, cn03, cn04, ctl01, login01" in out
    assert _exec(work, env, "ctl01", "sinfo -h -o '%P'") == "batch*"
    assert {h: _exec(work, env, h, f"pgrep -x {d}") for h, d in (("ctl01", "slurmctld"), ("cn01", "slurmd"))} == pids


def test_a_destructive_change_is_refused_and_nothing_moves(lab_stack) -> None:
    work, stack_dir, env = lab_stack
    before = {h: _exec(work, env, h, "sha256sum /etc/slurm/slurm.conf") for h in ("ctl01", "cn01", "login01")}
    runs = len(list((stack_dir / "runs").iterdir()))
    state = (stack_dir / "state.json").read_bytes()
    spec = stack_dir / "cluster.yaml"
    original = spec.read_text()
    spec.write_text(original.replace("scheduler:\n  slurm:\n", "scheduler:\n  slurm:\n    cluster_name: other\n"))
    r = run_ffinfra(["up", "lab"], env, work)
    assert r.returncode == 1, r.stdout[-3000:] + r.stderr[-3000:]
    assert "error: the plan is refused: scheduler.slurm.cluster_name (destructive re-create)" in r.stderr
    assert {h: _exec(work, env, h, "sha256sum /etc/slurm/slurm.conf") for h in before} == before
    assert len(list((stack_dir / "runs").iterdir())) == runs and (stack_dir / "state.json").read_bytes() == state
    spec.write_text(original)


def test_users_submit_from_the_login_node(lab_stack) -> None:
    work, _, env = lab_stack
    out = _exec(work, env, "login01", "sbatch --wait -N2 -o /lab/sbatch-%j.out --wrap 'srun hostname' >/dev/null "
                "&& cat /lab/sbatch-*.out && rm -f /lab/sbatch-*.out")  # fmt: skip
    assert len(out.split()) == 2 and all(h.startswith("cn") for h in out.split()), out


def test_status_then_down_leaves_nothing(lab_stack) -> None:
    work, stack_dir, env = lab_stack
    st = json.loads(_ok(run_ffinfra(["status", "lab", "--json"], env, work)))
    assert all(n["state"] == "running" and n["drift"] == [] and n["missing"] == [] for n in st["nodes"].values())
    assert "slurmctld" in st["nodes"]["ctl01"]["services"] and st["nodes"]["login01"]["roles"][-1] == "slurm_client"
    _ok(run_ffinfra(["down", "lab"], env, work))
    assert leftovers() == []
    assert not (stack_dir / "state" / "lab").exists()
    state = json.loads((stack_dir / "state.json").read_text())
    assert state["hosts"] == {} and state["applied"] is None  # the next up is a new cluster: no plan to enforce


def test_dry_run_changes_nothing(lab_stack) -> None:
    work, stack_dir, env = lab_stack
    runs = len(list((stack_dir / "runs").iterdir()))
    out = _ok(run_ffinfra(["up", "lab", "--dry-run"], env, work))
    assert "create" in out and "dry run: nothing was changed" in out
    assert len(list((stack_dir / "runs").iterdir())) == runs
    assert leftovers() == []


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
    _ok(run_ffinfra(["up", "lab"], env, work))
