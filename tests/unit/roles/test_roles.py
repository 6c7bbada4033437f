"""The Ansible roles and playbooks: syntax, ansible-lint, the standard role layout, and which of the compiler's
artifacts each host receives (evaluated by Ansible itself over the generated inventories, no SSH)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ffinfra.apply import ansible as runner
from ffinfra.compile import compile_stack
from ffinfra.render.bundle import write_bundle
from ffinfra.render.targets import render_all
from ffinfra.stack import find_stack

pytest.importorskip("ansible", reason="ansible-core is not installed (pip install -e '.[test]')")

ROOT = Path(__file__).resolve().parents[3]
ROLES = ["common", "munge", "slurm_controller", "slurm_node", "opensm", "bench_tools"]
BIN = Path(sys.executable).parent
# components each role installs; every component with an install path must be someone's
COMPONENT_ROLES = {"slurm": ["slurm_controller", "slurm_node"], "opensm": ["opensm"]}


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


def test_every_installed_component_has_a_role() -> None:
    covered = set(role_defaults("common")["common_artifact_components"]) | set(COMPONENT_ROLES)
    for stack in ("lab", "small", "ff2"):
        topo = compile_stack(find_stack(stack)).topology
        with_dest = {a.component for a in render_all(topo) if a.dest}
        assert with_dest <= covered, f"{stack}: no role installs {sorted(with_dest - covered)}"


PROBE = """
- name: Evaluate the roles' artifact selection
  hosts: all
  gather_facts: false
  tasks:
    - name: Load the role defaults
      ansible.builtin.include_vars: "{{ item }}"
      loop: "{{ role_defaults_files }}"
    - name: Report
      ansible.builtin.debug:
        msg: >-
          {{ {'common': common_artifacts | map(attribute='value.dest') | list,
              'slurm': slurm_node_artifacts | map(attribute='value.dest') | list,
              'opensm': opensm_artifacts | map(attribute='value.dest') | list,
              'subnets': opensm_subnets, 'logs': opensm_log_files, 'engines': opensm_engines,
              'spool': slurm_node_spool_dir, 'state': slurm_controller_state_dir} | to_json }}
"""


def test_hosts_receive_the_artifacts_their_targets_name(tmp_path: Path) -> None:
    c = compile_stack(find_stack("small"))
    build = tmp_path / "build"
    write_bundle(c.topology, render_all(c.topology), build)
    (tmp_path / "probe.yml").write_text(PROBE)
    files = [
        str(ROOT / "roles" / r / "defaults" / "main.yml")
        for r in ("common", "slurm_node", "slurm_controller", "opensm")
    ]
    events: list[dict[str, Any]] = []
    r = runner.run_playbook(
        tmp_path / "probe.yml",
        [ROOT / "inventories" / "small"],
        {"ffinfra_artifacts_dir": str(build), "role_defaults_files": files},
        tmp_path / "run",
        on_event=events.append,
        limit="gpu001,stor01,mgmt01,login01",
    )
    assert r.ok, r.log_path.read_text()[-4000:]
    got = {e["host"]: json.loads(e["message"]) for e in events if e["event"] == "result" and e["task"] == "Report"}
    base = {"/etc/hosts", "/etc/sysctl.d/90-ffinfra.conf", "/etc/security/limits.d/90-ffinfra.conf"}
    gpu_only = {"/etc/nccl.conf", "/etc/nccl/topo.xml", "/etc/hfreduce/hfreduce.env"}
    slurm = ["/etc/slurm/gres.conf", "/etc/slurm/slurm.conf", "/etc/slurm/topology.conf"]
    assert set(got["gpu001"]["common"]) == base | gpu_only
    assert set(got["stor01"]["common"]) == base
    assert got["gpu001"]["slurm"] == slurm and got["stor01"]["slurm"] == slurm
    assert got["gpu001"]["opensm"] == [] and got["gpu001"]["subnets"] == []
    assert got["mgmt01"]["subnets"] == ["z0"]
    assert "/etc/opensm/z0/opensm.conf" in got["mgmt01"]["opensm"]
    assert got["mgmt01"]["logs"] == {"z0": "/var/log/opensm-z0.log"}
    assert got["mgmt01"]["engines"] == {"z0": "ftree"}
    assert got["gpu001"]["spool"] == "/var/spool/slurmd"  # read from the rendered slurm.conf
    assert got["gpu001"]["state"] == "/var/spool/slurmctld"
