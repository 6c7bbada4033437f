"""The Ansible roles and playbooks: syntax, ansible-lint, the standard role layout, and which roles run where and
which files they install (evaluated by Ansible itself over the generated inventories, no SSH): exactly the
compiler's decision on every reference stack."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from ffinfra.apply import ansible as runner
from ffinfra.compile import compile_stack
from ffinfra.render.bundle import write_bundle
from ffinfra.render.placement import place
from ffinfra.render.targets import render_all
from ffinfra.stack import find_stack
from ffinfra.topology.services import ROLE_PACKAGES, ROLE_REAL_PACKAGES, ROLES, THREEFS_ROLES

pytest.importorskip("ansible", reason="ansible-core is not installed (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
STACKS = ["lab", "lab16", "small", "ff2", "ff2-single"]


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"})
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def role_defaults(role: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}


@pytest.mark.parametrize("playbook", ["site.yml", "reset.yml"])
def test_playbook_syntax(playbook: str) -> None:
    r = subprocess.run(
        [str(BIN / "ansible-playbook"), "--syntax-check", "-i", str(ROOT / "inventories/lab/hosts.yml"),
         str(ROOT / "playbooks" / playbook)],
        capture_output=True, text=True, env=ansible_env(), cwd=ROOT, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_ansible_lint_is_clean() -> None:
    lint = BIN / "ansible-lint"
    if not lint.exists() and shutil.which("ansible-lint") is None:
        pytest.fail("ansible-lint is not installed: pip install -e '.[test]' (scripts/setup.sh --test) brings it")
    r = subprocess.run(
        [str(lint if lint.exists() else "ansible-lint"), "--offline", "playbooks/", "roles/"],
        capture_output=True, text=True, env=ansible_env(), cwd=ROOT, check=False, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-6000:]


@pytest.mark.parametrize("role", ROLES)
def test_role_layout(role: str) -> None:
    d = ROOT / "roles" / role
    for sub in ("defaults/main.yml", "tasks/main.yml", "tasks/reset.yml", "meta/main.yml"):
        assert (d / sub).is_file(), f"{role}: no {sub}"
    meta = yaml.safe_load((d / "meta" / "main.yml").read_text())
    assert meta["galaxy_info"]["role_name"] == role
    for var in role_defaults(role):
        assert var.startswith(f"{role}_"), f"{role}: public variable {var} lacks the role prefix"


def test_every_installed_artifact_names_a_role_that_exists() -> None:
    for stack in STACKS:
        topo = compile_stack(find_stack(stack)).topology
        for a in render_all(topo):
            if a.dest:
                assert a.roles and set(a.roles) <= set(ROLES), f"{stack}: {a.path} names roles {a.roles}"


def test_site_yml_has_one_play_per_role_on_its_service_group() -> None:
    plays = yaml.safe_load((ROOT / "playbooks" / "site.yml").read_text())
    by_role = {p["roles"][0]["role"]: p["hosts"] for p in plays if p.get("roles")}
    assert by_role == {r: f"svc_{r}" for r in ROLES}


# Ansible itself evaluates each role's file selection (its defaults/main.yml) over the generated inventory, on one
# host of every kind: the hosts each play runs on and the files each role installs there must be exactly the
# compiler's decision (topology/services.py, render/placement.py), which state.json and the node suite read.
FILE_ROLES = ("common", "opensm", "slurm_controller", "slurm_node", "slurm_client", *THREEFS_ROLES)
# Each role's own selection of its files (the <role>_files variable of its defaults), as Ansible evaluates it.
_FILES = ", ".join(f"'{r}': {r}_files | map(attribute='value.dest') | list" for r in FILE_ROLES)
PROBE = """
- name: Evaluate the roles' file selection
  hosts: all
  gather_facts: false
  tasks:
    - name: Load the role defaults
      ansible.builtin.include_vars: "{{ item }}"
      loop: "{{ role_defaults_files }}"
    - name: Report
      ansible.builtin.debug:
        msg: >-
          {{ {'roles': group_names | select('match', '^svc_') | map('regex_replace', '^svc_', '') | list,
              'files': {@FILES@},
              'subnets': opensm_subnets, 'logs': opensm_log_files, 'engines': opensm_engines,
              'spool': slurm_node_spool_dir, 'state': slurm_controller_state_dir,
              'packages': common_host_packages} | to_json }}
""".replace("@FILES@", _FILES)


def _one_host_of_each_kind(topo) -> list[str]:
    seen: dict[tuple[object, ...], str] = {}
    for h in topo.hosts:
        s = topo.services.of(h.name)
        seen.setdefault((s.roles, h.profile_name, h.name in topo.services.sm_hosts.values()), h.name)
    return sorted(seen.values())


@pytest.mark.slow
@pytest.mark.parametrize("stack", STACKS)
def test_ansible_selects_exactly_the_compilers_placement(stack: str, tmp_path: Path) -> None:
    c = compile_stack(find_stack(stack))
    artifacts = render_all(c.topology)
    build, inv = tmp_path / "build", tmp_path / "inventory"
    write_bundle(c.topology, artifacts, build)
    write_bundle(c.topology, [replace(a, path=a.path.removeprefix("inventory/")) for a in artifacts
                              if a.path.startswith("inventory/")], inv)  # fmt: skip
    (tmp_path / "probe.yml").write_text(PROBE)
    files = [str(ROOT / "roles" / r / "defaults" / "main.yml") for r in ROLES]
    hosts = _one_host_of_each_kind(c.topology)
    events: list[dict[str, Any]] = []
    r = runner.run_playbook(
        tmp_path / "probe.yml",
        [inv],
        {"ffinfra_artifacts_dir": str(build), "role_defaults_files": files},
        tmp_path / "run",
        on_event=events.append,
        limit=",".join(hosts),
    )
    assert r.ok, r.log_path.read_text()[-4000:]
    got = {e["host"]: json.loads(e["message"]) for e in events if e["event"] == "result" and e["task"] == "Report"}
    assert sorted(got) == hosts
    placement = place(c.topology, artifacts)
    for host in hosts:
        want_roles = list(c.topology.services.of(host).roles)
        assert sorted(got[host]["roles"]) == sorted(want_roles), host
        for role in FILE_ROLES:
            ansible = set(got[host]["files"][role]) if role in want_roles else set()
            assert ansible == set(placement[host].get(role, {})), f"{stack} {host} {role}"
        # one package step per host: exactly what its roles need, from the compiler's table (a real fabric here:
        # 3FS's build and runtime packages too)
        want = {p for role in want_roles for p in (*ROLE_PACKAGES[role], *ROLE_REAL_PACKAGES.get(role, ()))}
        assert got[host]["packages"] == sorted(want), host


def _report(tmp_path: Path, stack: str, limit: str, **extra: Any) -> dict[str, dict[str, Any]]:
    """host → what the PROBE play reports there, run against the committed inventories/<stack>/ and a build."""
    c = compile_stack(find_stack(stack))
    build = tmp_path / "build"
    write_bundle(c.topology, render_all(c.topology), build)
    (tmp_path / "probe.yml").write_text(PROBE)
    files = [str(ROOT / "roles" / r / "defaults" / "main.yml") for r in ROLES]
    events: list[dict[str, Any]] = []
    r = runner.run_playbook(
        tmp_path / "probe.yml",
        [ROOT / "inventories" / stack],
        {"ffinfra_artifacts_dir": str(build), "role_defaults_files": files, **extra},
        tmp_path / "run",
        on_event=events.append,
        limit=limit,
    )
    assert r.ok, r.log_path.read_text()[-4000:]
    return {e["host"]: json.loads(e["message"]) for e in events if e["event"] == "result" and e["task"] == "Report"}


def test_a_simulated_fabric_adds_the_simulator_to_the_sm_hosts_packages_only(tmp_path: Path) -> None:
    got = _report(tmp_path, "lab", "ctl01,cn01", ffinfra_fabric_sim=True)
    assert "ibsim-utils" in got["ctl01"]["packages"] and "opensm" in got["ctl01"]["packages"]
    assert "ibsim-utils" not in got["cn01"]["packages"]
    assert got["cn01"]["packages"] == ["cmake", "fio", "g++", "infiniband-diags", "iperf3", "munge", "numactl",
                                       "perftest", "python3-dev", "slurm-client", "slurmd"]  # fmt: skip


def test_paths_the_roles_read_from_the_rendered_files(tmp_path: Path) -> None:
    got = _report(tmp_path, "small", "gpu001,mgmt01")
    assert got["gpu001"]["subnets"] == [] and got["mgmt01"]["subnets"] == ["z0"]
    assert got["mgmt01"]["logs"] == {"z0": "/var/log/opensm-z0.log"}
    assert got["mgmt01"]["engines"] == {"z0": "ftree"}
    assert got["gpu001"]["spool"] == "/var/spool/slurmd"  # read from the rendered slurm.conf
    assert got["gpu001"]["state"] == "/var/spool/slurmctld"
