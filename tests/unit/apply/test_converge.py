"""Whether `up` runs Ansible, and which roles on which hosts (apply/converge.py): the cost of an apply follows what
is off on the nodes, and nothing off means nothing runs."""

from __future__ import annotations

import pytest

from ffinfra.apply.converge import changed_roles, decide, input_parts, roles_to_repair
from ffinfra.apply.probe import HostProbe
from ffinfra.apply.record import record_hosts
from ffinfra.render.placement import place
from ffinfra.render.targets import render_all
from ffinfra.runtime.state import StackState, inputs_digest


@pytest.fixture(scope="module")
def lab(compiled_stack):
    topo = compiled_stack("lab").topology
    return topo, place(topo, render_all(topo))


def _decide(lab, **kw):
    topo, placement = lab
    args = {"force": False, "tags": None, "digest_matches": True, "probes": {}, "placement": placement}
    return decide(**(args | kw), services=topo.services)


def test_nothing_off_means_ansible_does_not_run(lab):
    d = _decide(lab, probes={h: HostProbe(h) for h in lab[1]})
    assert not d.run and "every daemon runs" in d.reason


def test_force_tags_and_changed_inputs_run_every_role(lab):
    assert _decide(lab, force=True).run and _decide(lab, force=True).tags is None
    d = _decide(lab, tags=["opensm"])
    assert d.run and d.tags == ["opensm"] and d.limit is None
    d = _decide(lab, digest_matches=False, probes=None)
    assert d.run and d.tags is None and d.limit is None and "inputs changed" in d.reason


def test_a_stopped_daemon_runs_only_its_role_on_its_host(lab):
    probes = {h: HostProbe(h) for h in lab[1]} | {"ctl01": HostProbe("ctl01", down=[("slurmctld", "failed")])}
    d = _decide(lab, probes=probes)
    assert d.run and d.tags == ["slurm_controller"] and d.limit == ["ctl01"]
    assert d.repairs == {"ctl01": ["slurmctld is failed"]}


def test_a_hand_edited_file_runs_the_role_that_installs_it(lab):
    probes = {
        "cn01": HostProbe("cn01", drifted=[("/etc/slurm/gres.conf", "changed")]),
        "st02": HostProbe("st02", drifted=[("/etc/hosts", "missing")]),
        "login01": HostProbe("login01", down=[("munge", "inactive")]),
    }
    d = _decide(lab, probes=probes)
    assert d.tags == ["common", "munge", "slurm_node"] and d.limit == ["cn01", "login01", "st02"]


def test_an_unreadable_node_gets_every_role_it_runs(lab):
    topo, placement = lab
    p = HostProbe("ctl01", error="SSH refused")
    assert roles_to_repair(p, placement, topo.services) == set(topo.services.of("ctl01").roles)
    d = _decide(lab, probes={"ctl01": p})
    assert d.limit == ["ctl01"] and "slurm_controller" in d.tags and "opensm" in d.tags


def test_each_kind_of_input_has_its_own_digest(lab, tmp_path):
    _, placement = lab
    roles = tmp_path / "roles"
    (roles / "x" / "tasks").mkdir(parents=True)
    (roles / "x" / "tasks" / "main.yml").write_text("---\n")
    key = tmp_path / "munge.key"
    key.write_bytes(b"k1")

    def parts(addr: str = "10.0.0.1", extra: int = 1, inv: str = "a1") -> dict[str, str]:
        return input_parts(placement, [roles], [key], {"cn01": addr}, {"a": extra}, {"inventory/all.yml": inv})

    base = parts()
    assert base == parts() and inputs_digest(base) == inputs_digest(parts())
    assert {k for k, v in parts(addr="10.0.0.2").items() if v != base[k]} == {"addresses"}
    assert {k for k, v in parts(extra=2).items() if v != base[k]} == {"vars"}
    # the inventory's group_vars carry what no placed file does (each role's packages): a change runs every role
    assert {k for k, v in parts(inv="b2").items() if v != base[k]} == {"inventory"}
    (roles / "x" / "tasks" / "main.yml").write_text("---\n# edited\n")
    assert {k for k, v in parts().items() if v != base[k]} == {"ansible"}
    key.write_bytes(b"k2")
    assert "k2" not in str(parts()) and parts()["secrets"] != base["secrets"]


def test_only_changed_files_run_only_the_roles_that_install_them_where_they_go(compiled_stack, make_stack, stack_text):
    from ffinfra.compile import compile_stack

    topo = compiled_stack("lab").topology
    placement = place(topo, render_all(topo))
    state = StackState()
    record_hosts(state, topo, placement, [h.name for h in topo.hosts], "lab", {}, "r1", {})
    assert changed_roles(placement, topo.services, state) == {}
    edited = compile_stack(make_stack(stack_text("lab").replace("{name: lab, groups", "{name: batch, groups")))
    new = place(edited.topology, render_all(edited.topology))
    changed = changed_roles(new, edited.topology.services, state)
    slurm_hosts = {"cn01", "cn02", "cn03", "cn04", "ctl01", "login01"}
    assert (
        set(changed) == slurm_hosts and changed["cn01"] == {"slurm_node"} and changed["ctl01"] == {"slurm_controller"}
    )
    d = decide(
        force=False, tags=None, digest_matches=False, probes=None, placement=new, services=edited.topology.services,
        changed_parts={"files"}, changed=changed,
    )  # fmt: skip
    assert d.tags == ["slurm_controller", "slurm_node", "slurm_client"] and d.limit == sorted(slurm_hosts)
    # anything else changed as well (the roles, the addresses ...): every role on every host
    d = decide(
        force=False, tags=None, digest_matches=False, probes=None, placement=new, services=edited.topology.services,
        changed_parts={"files", "ansible"}, changed=changed,
    )  # fmt: skip
    assert d.tags is None and d.limit is None and "ansible, files changed" in d.reason


def test_a_host_never_applied_gets_every_role_it_runs(lab):
    topo_placement = lab
    topo, placement = topo_placement
    assert changed_roles(placement, topo.services, StackState())["ctl01"] == set(topo.services.of("ctl01").roles)
