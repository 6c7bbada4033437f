"""A standby subnet manager (fabric.subnet_manager.standby_hosts): the compiler gives each subnet the first standby
host with a port in it, places the subnet's OpenSM files and unit there, runs the lab's ibsim only where masters
are, tells the standby which port to bind and at which priority, and rolling changes restart it before its
master."""

from __future__ import annotations

from ffinfra.analysis.opensm_log import parse_opensm_log
from ffinfra.plan.plan import build_plan
from ffinfra.render.inventory import subnet_manager_vars


def test_the_lab_s_subnet_has_st01_standing_by_on_its_own_port(compiled_stack):
    topo = compiled_stack("lab").topology
    (sn,) = topo.subnets
    assert (sn.sm_host, sn.standby_host) == ("ctl01", "st01")
    st01 = topo.host_by_name["st01"]
    assert sn.standby_port_guid == st01.ports[0].port_guid != sn.sm_port_guid
    svc = topo.services
    assert svc.sm_standby == {"z0": "st01"} and svc.groups["sm_z0"] == ("ctl01", "st01")
    assert svc.of("st01").runs("opensm") and "ffinfra-opensm@z0" in svc.of("st01").units_on(True)
    assert "ffinfra-ibsim" not in svc.of("st01").units_on(True)  # the fabric is simulated where the master is
    assert "ffinfra-ibsim" in svc.of("ctl01").units_on(True)
    assert subnet_manager_vars(topo) == {
        "z0": {
            "master": "ctl01",
            "master_address": topo.host_by_name["ctl01"].mgmt_ip,
            "standby": "st01",
            "standby_guid": f"0x{st01.ports[0].port_guid:016x}",
            "standby_priority": 14,
        }
    }


def test_without_standby_hosts_a_subnet_has_none(compiled_stack):
    topo = compiled_stack("small").topology
    assert all(sn.standby_host is None for sn in topo.subnets) and topo.services.sm_standby == {}


def test_an_opensm_restart_goes_to_the_standby_first_then_to_its_master(tmp_path, stack_text, write_stack):
    from ffinfra.compile import compile_stack

    text = stack_text("lab")
    old = compile_stack(write_stack(tmp_path / "old", text))
    edited = text.replace("    standby_hosts: [st01]", "    routing_engine: ftree,updn\n    standby_hosts: [st01]")
    plan = build_plan(old, compile_stack(write_stack(tmp_path / "new", edited)), "old", "new")
    assert plan.batches is not None
    assert [(b.kind, b.hosts) for b in plan.batches.batches] == [("standby-sm", ("st01",)), ("controller", ("ctl01",))]
    assert "before its master" in plan.batches.batches[0].why


def test_the_log_says_which_state_the_sm_is_in():
    log = (
        "Nov 30 18:17:11 872616 [F9B30740] 0x80 -> Entering DISCOVERING state\n"
        "Nov 30 18:17:11 883883 [F6B296C0] 0x80 -> Entering MASTER state\n"
        "Nov 30 18:17:24 345935 [EF4FD6C0] 0x80 -> Entering STANDBY state\n"
    )
    assert parse_opensm_log(log).state == "STANDBY"
    assert parse_opensm_log("").state is None
