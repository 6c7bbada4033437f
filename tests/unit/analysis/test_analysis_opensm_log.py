"""OpenSM log verdicts on logs captured from real lab runs (tests/data/ibsim/opensm_lab_*.log)."""

from __future__ import annotations

from pathlib import Path

from ibsim_samples import captured

from ffinfra.analysis.opensm_log import (
    conf_value,
    configured_engine,
    expected_engine,
    log_command,
    parse_opensm_log,
    sweep_problems,
)
from ffinfra.verify.opensm_run import OpenSMResult


def result(log_text: str, rc: int = 0, stdout: str = "") -> OpenSMResult:
    return OpenSMResult("z0", rc, 0.1, "ftree", parse_opensm_log(log_text, stdout), Path("/x/opensm.log"))


def test_ftree_success() -> None:
    log = parse_opensm_log(captured("opensm_lab_good.log"))
    assert log.engine == "ftree" and log.subnet_up
    assert log.fallbacks == () and log.errors == () and log.unrecognized == ()
    assert result(captured("opensm_lab_good.log")).ok


def test_bad_cn_guid_file_falls_back_to_minhop() -> None:
    r = result(captured("opensm_lab_badcn.log"))
    assert r.log.engine == "minhop" and r.log.subnet_up  # SUBNET UP all the same: that is the trap
    assert r.log.errors == ("fabric_read_guid_files: ERR AB23: Problem parsing CN guid file",)
    assert "Failed reading guid files - falling back to default routing" in r.log.fallbacks
    assert "ucast_mgr_route: ftree: cannot build lid matrices" in r.log.fallbacks
    assert not r.ok
    assert r.problems[0] == "expected 'ftree tables configured on all switches', got minhop tables"


def test_other_failure_markers() -> None:
    log = (
        "Nov 28 13:05:15 807207 [655566C0] 0x01 -> setup_routing_engine: "
        "cannot find or setup routing engine 'fattree'\n"
        "Nov 28 13:05:15 807207 [655566C0] 0x01 -> PARSE ERROR: line 2: no partition definition found\n"
        "Nov 28 13:05:15 807207 [655566C0] 0x01 -> Partition configuration in error; retrying with default config\n"
        "Nov 28 13:05:15 807207 [655566C0] 0x02 -> osm_ucast_mgr_process: minhop tables configured on all switches\n"
    )
    r = result(log, stdout='Unrecognized token: "bogus_key"\n')
    assert len(r.log.fallbacks) == 3
    assert r.log.unrecognized == ('Unrecognized token: "bogus_key"',)
    assert not r.log.subnet_up
    assert "no SUBNET UP in the OpenSM log" in r.problems
    assert 'config: Unrecognized token: "bogus_key"' in r.problems


def test_exit_status_and_timeout() -> None:
    assert "opensm exited with status 1" in result(captured("opensm_lab_good.log"), rc=1).problems
    r = result("", rc=124)
    assert r.timed_out and "opensm timed out" in r.problems
    assert "got no '<engine> tables configured' line" in r.problems[-1]


def test_expected_engine_and_conf_value() -> None:
    assert expected_engine("ftree,updn") == "ftree"
    assert expected_engine("minhop") == "minhop"
    conf = "# log_file /nope\nlog_file /var/log/opensm-z0.log\nlmc 0\n"
    assert conf_value(conf, "log_file") == "/var/log/opensm-z0.log"
    assert conf_value(conf, "guid") is None


def test_sweep_problems_of_a_resident_opensm() -> None:
    assert sweep_problems(parse_opensm_log(captured("opensm_lab_good.log")), "ftree") == []
    problems = sweep_problems(parse_opensm_log(captured("opensm_lab_badcn.log")), "ftree")
    assert problems[0] == "expected ftree routing, got minhop"
    assert "fallback: Failed reading guid files - falling back to default routing" in problems
    assert sweep_problems(parse_opensm_log(""), "ftree") == ["no SUBNET UP", "expected ftree routing, got none"]


def test_configured_engine_and_where_the_log_is_looked_for() -> None:
    conf = "routing_engine ftree,updn\nlog_file /var/log/opensm-z0.log\n"
    assert configured_engine(conf) == "ftree"
    assert configured_engine("# nothing set\n") == "minhop"  # OpenSM's own default
    cmd = log_command(conf, "z0")
    # the conf's log_file first, then the usual places, each once
    assert cmd.startswith("for f in /var/log/opensm-z0.log /var/log/opensm/z0.log /var/log/opensm/z0/opensm.log ")
    assert cmd.count("/var/log/opensm-z0.log") == 1 and cmd.endswith("exit 3")
    assert log_command(None, "fabric").startswith("for f in /var/log/opensm/fabric.log ")
