"""The Pulumi engine's dynamic providers against the session's running lab, called as Pulumi's provider process
calls them (with a resource's inputs only): the Pulumi CLI that would drive them cannot be installed here, but
everything they do is ffinfra's own code on real nodes. A node is read and kept; a role application reads the
hashes the nodes hold, sees a hand edit as a diff on that host only, and its update repairs exactly that host.
"""

from __future__ import annotations

import subprocess

import pytest
from lab_harness import run_ffinfra

from ffinfra.apply.pulumi.graph import build_graph, changed_hosts
from ffinfra.compile import compile_stack
from ffinfra.stack import find_stack

pytest.importorskip("pulumi")  # the test extra installs it; a machine without it skips with this reason
pytestmark = [pytest.mark.lab, pytest.mark.slow]


@pytest.fixture(scope="module")
def graph(lab_stack):
    work, stack_dir, env = lab_stack
    r = run_ffinfra(["up", "lab"], env, work)  # converge: the tests before may have left it down
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return build_graph(compile_stack(find_stack(str(stack_dir))), "lab", str(stack_dir)).by_name()


def test_a_node_is_read_as_running_and_a_create_keeps_it(graph) -> None:
    from ffinfra.apply.pulumi.resources import NodeProvider

    inputs = dict(graph["cn01"].inputs)
    read = NodeProvider().read("lab/cn01", inputs)
    assert read.id == "lab/cn01" and read.outs["state"] == "running"
    made = NodeProvider().create(inputs)  # the node exists and is healthy: kept, the others untouched
    assert made.id == "lab/cn01" and made.outs["address"] == inputs["address"]


def test_a_hand_edit_is_drift_on_that_host_only_and_the_update_repairs_it(graph, lab_stack) -> None:
    from ffinfra.apply.pulumi.resources import RoleProvider

    work, _, env = lab_stack
    app = graph["z0/compute/slurm_node"]
    desired = dict(app.inputs)
    p = RoleProvider()
    assert p.read("id", desired).inputs["hosts"] == desired["hosts"]  # in sync after up
    path = sorted(desired["hosts"]["cn02"])[0]
    r = run_ffinfra(["exec", "lab", "cn02", "--", "sh", "-c", f"echo '# hand edit' >> {path}"], env, work)
    assert r.returncode == 0, r.stderr

    seen = p.read("id", desired).inputs  # what `pulumi refresh` records
    assert seen["hosts"]["cn02"][path] != desired["hosts"]["cn02"][path]
    assert {h: f for h, f in seen["hosts"].items() if h != "cn02"} == {
        h: f for h, f in desired["hosts"].items() if h != "cn02"
    }
    d = p.diff("id", seen, desired)
    assert d.changes and not d.replaces
    assert changed_hosts(seen, desired) == ["cn02"]

    out = p.update("id", seen, desired)
    assert out.outs["run"]  # the run folder of the role's ansible-playbook
    assert p.read("id", desired).inputs["hosts"] == desired["hosts"]


def test_a_deleted_node_goes_alone_and_comes_back_anew_with_its_roles(graph, lab_stack) -> None:
    from ffinfra.apply.pulumi.graph import ROLE, changed_hosts
    from ffinfra.apply.pulumi.resources import NodeProvider, RoleProvider

    work, _, env = lab_stack
    nodes = NodeProvider()
    cn04 = dict(graph["cn04"].inputs)
    first = nodes.create(cn04).outs["incarnation"]
    assert nodes.update("lab/cn04", {**cn04, "incarnation": first}, cn04).outs["incarnation"] == first  # kept

    nodes.delete("lab/cn04", cn04)
    assert nodes.read("lab/cn04", cn04).id is None
    assert nodes.read("lab/cn03", dict(graph["cn03"].inputs)).outs["state"] == "running"  # the others stay
    anew = nodes.create(cn04).outs["incarnation"]
    assert anew != first

    # What Pulumi does next: every role application on cn04 sees its incarnation change, in play order, and runs
    # its role there only.
    roles = RoleProvider()
    apps = [r for r in graph.values() if r.type == ROLE and "cn04" in r.inputs["hosts"]]
    assert [a.inputs["role"] for a in apps][:2] == ["common", "munge"]
    for app in apps:
        olds = {**app.inputs, "nodes": {**dict.fromkeys(app.inputs["hosts"], "x"), "cn04": first}}
        news = {**app.inputs, "nodes": {**dict.fromkeys(app.inputs["hosts"], "x"), "cn04": anew}}
        assert changed_hosts(olds, news) == ["cn04"]
        roles.update("id", olds, news)
        assert roles.read("id", news).inputs["hosts"]["cn04"] == app.inputs["hosts"]["cn04"]
    r = run_ffinfra(["exec", "lab", "cn04", "--", "systemctl", "is-active", "slurmd", "munge"], env, work)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_deleted_role_application_stops_its_daemons_and_a_create_brings_them_back(graph, lab_stack) -> None:
    import time

    from ffinfra.apply.pulumi.resources import RoleProvider

    work, _, env = lab_stack

    def on_cn04(*cmd: str) -> subprocess.CompletedProcess[str]:
        return run_ffinfra(["exec", "lab", "cn04", "--", *cmd], env, work)

    app = dict(graph["z0/compute/slurm_node"].inputs)
    one = {**app, "hosts": {"cn04": app["hosts"]["cn04"]}}
    roles = RoleProvider()
    roles.delete("id", one)
    assert on_cn04("systemctl", "is-active", "slurmd").stdout.strip() == "inactive"
    assert on_cn04("systemctl", "is-enabled", "slurmd").stdout.strip() == "disabled"  # a reboot keeps it off
    roles.create(one)
    assert on_cn04("systemctl", "is-active", "slurmd").stdout.strip() == "active"
    deadline = time.monotonic() + 90  # slurmd registers again: the node is idle before the next tests use it
    state = ""
    while time.monotonic() < deadline:
        r = run_ffinfra(["exec", "lab", "ctl01", "--", "sinfo", "-h", "-n", "cn04", "-o", "%T"], env, work)
        state = r.stdout.strip()
        if state == "idle":
            break
        time.sleep(2)
    assert state == "idle"
