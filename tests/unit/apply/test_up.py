"""`ffinfra up`'s decisions, without root or a lab: a fake provider, a fake cluster behind the SSH interface, and a
fake playbook that installs exactly what the compiler placed. Seconds, not minutes.

    first up         every role on every host; state.json records per host and role; the applied spec is kept
    re-run           nothing off: Ansible does not run; the closing checks reuse the fast path's probes
    repair           a stopped daemon: only its role, only on its host
    verify           a daemon that does not come up is named at once; the checks that wait on symptoms are skipped
    refusal          a destructive plan raises PlanRefused before anything is touched; allowed, it goes through
    reload           a partition change hands the roles the file they may reload instead of restart
    one truth        Ansible installing other files than the compiler placed is an error
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ffinfra.apply import health
from ffinfra.apply import up as up_module
from ffinfra.apply.ansible import HostResult, PlaybookResult
from ffinfra.apply.applied import PlanRefused
from ffinfra.apply.events import Silent
from ffinfra.apply.probe import MARK
from ffinfra.apply.provider import NodeSpec, NodeStatus, Progress, quiet
from ffinfra.apply.up import UpOptions, up
from ffinfra.compile import compile_stack
from ffinfra.render.placement import place
from ffinfra.render.targets import render_all
from ffinfra.runtime.secrets import StackSecrets
from ffinfra.runtime.ssh import CmdResult, Endpoint
from ffinfra.runtime.state import load_state
from ffinfra.stack import find_stack

ROOT = Path(__file__).resolve().parents[3]


def _log(name: str) -> str:
    text = (ROOT / "tests" / "data" / "ibsim" / name).read_text()
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))


OPENSM_LOG = _log("opensm_lab_good.log")
STANDBY_LOG = _log("opensm_lab_standby.log")  # st01, the lab's standby SM


@dataclass
class Node:
    files: dict[str, str] = field(default_factory=dict)  # path → sha256
    daemons: set[str] = field(default_factory=set)


@dataclass
class FakeCluster:
    """The nodes as SSH sees them, plus what the fake provider and playbook did to them."""

    nodes: dict[str, Node] = field(default_factory=dict)
    created: int = 0
    playbooks: list[dict[str, Any]] = field(default_factory=list)
    broken_roles: set[tuple[str, str]] = field(default_factory=set)  # (host, role) whose daemons never start
    misplace: bool = False  # the playbook reports installing a file the compiler did not place

    def run(self, host: str, command: str, timeout: float = 60.0) -> CmdResult:
        node = self.nodes[host]
        out, rc = "", 0
        if MARK in command:
            want = re.search(r"for u in (.*?); do", command)
            units = want.group(1).split() if want else []
            out = "".join(f"{sha}  {path}\n" for path, sha in node.files.items())
            out += MARK + "\n" + "".join(f"{'active' if u in node.daemons else 'failed'} {u}\n" for u in units)
        elif command.startswith("scontrol ping"):
            rc, out = (0, f"Slurmctld(primary) at {host} is UP") if "slurmctld" in node.daemons else (1, "DOWN")
        elif command.startswith("sinfo -h -N"):
            out = "".join(f"{h} {'idle' if 'slurmd' in n.daemons else 'down*'}\n" for h, n in self.slurm_nodes())
        elif command.startswith("srun"):
            out = "".join(f"{h}\n" for h, _ in self.slurm_nodes())
        elif command.startswith("sinfo -h -o"):
            out = "lab* up"
        elif command.startswith("for f in"):
            log = STANDBY_LOG if host == "st01" else OPENSM_LOG
            out = "==> /var/log/opensm-z0.log\n" + log if "ffinfra-opensm@z0" in node.daemons else ""
            rc = 0 if out else 3
        return CmdResult(host, command, rc, out, "", 0.0)

    def slurm_nodes(self) -> list[tuple[str, Node]]:
        return [(h, n) for h, n in self.nodes.items() if h.startswith("cn")]

    def close(self) -> None:
        pass


class FakeProvider:
    name = "fake"

    def __init__(self, cluster: FakeCluster):
        self.cluster = cluster

    def preflight(self) -> None:
        pass

    def create(
        self, nodes: Sequence[NodeSpec], secrets_dir: Path, on_progress: Progress = quiet, *, prune: bool = True
    ) -> dict[str, Endpoint]:
        self.cluster.created += 1
        for n in nodes:
            self.cluster.nodes.setdefault(n.name, Node(daemons={"ssh"}))
        return {n.name: Endpoint(n.name, n.address) for n in nodes}

    def destroy(self, on_progress: Progress = quiet) -> list[str]:
        return []

    def remove(self, names: Sequence[str], on_progress: Progress = quiet) -> list[str]:
        return []

    def status(self) -> dict[str, NodeStatus]:
        return {}

    def access(self) -> dict[str, Endpoint]:
        return {}

    def reboot(self, host: str) -> None:
        pass

    def configured(self, hosts) -> None:
        pass

    def leftovers(self) -> list[str]:
        return []


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """(stack dir, cluster, up(**options) → UpResult) over a copy of the lab in tmp_path/stacks/lab."""
    stack_dir = tmp_path / "stacks" / "lab"
    stack_dir.mkdir(parents=True)
    shutil.copy(ROOT / "stacks" / "lab" / "cluster.yaml", stack_dir / "cluster.yaml")
    cluster = FakeCluster()
    monkeypatch.setattr(up_module, "get_provider", lambda *a, **k: FakeProvider(cluster))
    monkeypatch.setattr(StackSecrets, "remote", lambda self, endpoints: cluster)
    monkeypatch.setattr(health, "DAEMON_GRACE_S", 0.0)

    def fake_playbook(playbook, inventories, extra_vars, run_dir, tags=None, limit=None, on_event=None, **kw):
        c = compile_stack(find_stack(str(stack_dir)))
        placement = place(c.topology, render_all(c.topology))
        hosts = limit.split(",") if limit else [h.name for h in c.topology.hosts]
        cluster.playbooks.append({"tags": tags, "limit": hosts if limit else None, "extra_vars": extra_vars})
        events, per_host = [], {}
        for host in hosts:
            services = c.topology.services.of(host)
            changed = 0
            for role in services.roles:
                if tags and role not in tags:
                    continue
                files = placement[host].get(role, {})
                for dest, a in files.items():
                    changed += cluster.nodes[host].files.get(dest) != a.sha256
                    cluster.nodes[host].files[dest] = a.sha256
                if files:
                    keys = [a.path for a in files.values()] + (["hosts/hosts"] if cluster.misplace else [])
                    events.append({"event": "result", "host": host, "role": role, "status": "ok", "artifacts": keys})
                if (host, role) not in cluster.broken_roles:
                    cluster.nodes[host].daemons |= {d.service for d in services.daemons if d.role == role}
            per_host[host] = HostResult(ok=10, changed=changed)
        log = Path(run_dir) / "ansible.log"
        log.write_text("")
        return PlaybookResult(0, per_host, log, 0.1, events=tuple(events))

    monkeypatch.setattr(up_module, "run_playbook", fake_playbook)

    def run(**options: Any):
        c = compile_stack(find_stack(str(stack_dir)))
        return up(c, UpOptions(provider="fake", **options), Silent())

    return stack_dir, cluster, run


def _edit(stack_dir: Path, edit: Callable[[str], str]) -> None:
    spec = stack_dir / "cluster.yaml"
    spec.write_text(edit(spec.read_text()))


def test_a_first_up_runs_every_role_and_records_what_each_installed(lab):
    stack_dir, cluster, run = lab
    result = run()
    assert result.ok, result.failure
    assert cluster.playbooks[0]["tags"] is None and cluster.playbooks[0]["limit"] is None
    state = load_state(stack_dir / "state.json")
    assert set(state.hosts["cn01"].roles) == {"common", "threefs_common", "threefs_fuse", "slurm_node", "hfreduce"}
    # no Slurm file on a storage node; its 3FS files (node id 10001 in storage_main_app.toml) are there
    assert set(state.hosts["st01"].roles) == {"common", "opensm", "threefs_common", "threefs_storage"}  # standby SM
    assert "/opt/3fs/etc/storage_main_app.toml" in state.hosts["st01"].roles["threefs_storage"].files
    # a real fabric (this fake provider's): the chain table the bootstrap uploaded is recorded for the compiler
    chains = (stack_dir / "threefs" / "chains.csv").read_text()
    assert chains.startswith("ChainId,TargetId,TargetId\n") and len(chains.splitlines()) == 3
    assert "/etc/slurm/slurm.conf" in state.hosts["login01"].roles["slurm_client"].files
    assert state.applied is not None and state.applied.spec["name"] == "lab" and state.applied_digest
    assert state.verified_at and [c.name for c in result.checks][:2] == ["daemons", "slurmctld"]


def test_a_rerun_with_nothing_off_skips_ansible_and_reuses_the_probes(lab):
    _, cluster, run = lab
    run()
    result = run()
    assert result.ok and result.apply_skipped and len(cluster.playbooks) == 1
    assert "probed before apply" in result.checks[0].detail


def test_a_stopped_daemon_runs_only_its_role_on_its_host(lab):
    _, cluster, run = lab
    run()
    cluster.nodes["ctl01"].daemons.discard("slurmctld")
    result = run()
    assert result.ok
    assert cluster.playbooks[-1]["tags"] == ["slurm_controller"] and cluster.playbooks[-1]["limit"] == ["ctl01"]
    assert result.decision is not None and result.decision.repairs == {"ctl01": ["slurmctld is failed"]}


def test_a_daemon_that_does_not_come_up_is_named_at_once(lab):
    _, cluster, run = lab
    cluster.broken_roles.add(("cn02", "slurm_node"))
    result = run()
    assert not result.ok and result.failure is not None
    assert result.failure.phase == "verify" and result.failure.host == "cn02"
    assert result.failure.error == "slurmd is not running on cn02 (failed)"
    assert [c.detail for c in result.checks if c.name == "slurm-idle"] == [
        "skipped: a daemon is not running (see daemons)"
    ]


def test_a_refused_plan_touches_nothing(lab):
    stack_dir, cluster, run = lab
    run()
    state = (stack_dir / "state.json").read_bytes()
    runs = sorted((stack_dir / "runs").iterdir())
    _edit(stack_dir, lambda t: t.replace("scheduler:\n  slurm:\n", "scheduler:\n  slurm:\n    cluster_name: other\n"))
    with pytest.raises(PlanRefused, match=r"scheduler\.slurm\.cluster_name \(destructive re-create\)") as exc:
        run()
    assert exc.value.plan.refused and exc.value.exit_code == 1
    assert cluster.created == 1 and len(cluster.playbooks) == 1  # no node made, no playbook run
    assert (stack_dir / "state.json").read_bytes() == state and sorted((stack_dir / "runs").iterdir()) == runs


def test_an_unsupported_change_is_refused_even_when_destruction_is_allowed(lab):
    stack_dir, _, run = lab
    run()
    _edit(stack_dir, lambda t: t.replace("radix: 4 ", "radix: 8 "))
    with pytest.raises(PlanRefused, match=r"fabric\.radix"):
        run(allow_destructive=True)


def test_an_allowed_destructive_change_goes_through_and_the_roles_are_told(lab):
    stack_dir, cluster, run = lab
    run()
    _edit(stack_dir, lambda t: t.replace("scheduler:\n  slurm:\n", "scheduler:\n  slurm:\n    cluster_name: other\n"))
    result = run(allow_destructive=True)
    assert result.ok and result.plan is not None and result.plan.refused is False
    assert cluster.playbooks[-1]["extra_vars"]["ffinfra_allow_destructive"] is True
    assert load_state(stack_dir / "state.json").applied.spec["scheduler"]["slurm"]["cluster_name"] == "other"


def test_a_partition_change_lets_the_roles_reload_slurm_conf(lab):
    stack_dir, cluster, run = lab
    run()
    _edit(stack_dir, lambda t: t.replace("{name: lab, groups: [compute]", "{name: batch, groups: [compute]"))
    result = run()
    assert result.ok and result.plan is not None and result.plan.impact.label == "hot reload"
    assert cluster.playbooks[-1]["extra_vars"]["ffinfra_reload_only"] == ["slurm/slurm.conf"]
    # only slurm.conf changed: only the Slurm roles run, only on the hosts that get it
    assert cluster.playbooks[-1]["tags"] == ["slurm_controller", "slurm_node", "slurm_client"]
    assert cluster.playbooks[-1]["limit"] == ["cn01", "cn02", "cn03", "cn04", "ctl01", "login01"]


def test_a_node_change_lets_no_role_reload(lab):
    stack_dir, cluster, run = lab
    run()
    _edit(stack_dir, lambda t: t.replace("memory_gb: 2", "memory_gb: 4"))
    assert run().ok
    assert cluster.playbooks[-1]["extra_vars"]["ffinfra_reload_only"] == []


def test_ansible_installing_other_files_than_placed_is_an_error(lab):
    _, cluster, run = lab
    cluster.misplace = True
    result = run()
    assert not result.ok and result.failure is not None and result.failure.task == "placement check"
    assert "internal error" in result.failure.error


def test_a_tags_run_does_not_vouch_for_the_whole_stack(lab):
    stack_dir, cluster, run = lab
    run(tags=["common"])
    assert cluster.playbooks[0]["tags"] == ["common"]
    assert load_state(stack_dir / "state.json").applied_digest is None


def test_the_state_records_the_hash_each_file_has_on_its_host(lab):
    stack_dir, cluster, run = lab
    run()
    state = load_state(stack_dir / "state.json")
    for host, hs in state.hosts.items():
        for files in (rs.files for rs in hs.roles.values()):
            assert all(cluster.nodes[host].files[p] == sha for p, sha in files.items())
