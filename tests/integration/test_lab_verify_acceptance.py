"""`ffinfra test` on the running lab: every suite passes on a healthy lab, and each injected fault fails the right
test with a message that names the culprit — a miswired and a missing cable in the simulated fabric, a stopped
slurmd (drained with --drain-failed), a link throttled with tc.

Runs after test_lab_up.py on the session's lab (lab_harness.py); needs root like every lab test.
"""

from __future__ import annotations

import json
import os
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from lab_harness import run_ffinfra
from netlist_edit import swap_ports

from ffinfra.compile import compile_stack
from ffinfra.stack import find_stack

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab provider needs root (namespaces, overlay mounts)"),
]
NETLIST = "/var/lib/ffinfra/ibsim/ibsim.net"


@pytest.fixture(scope="module")
def lab(lab_stack):
    work, stack_dir, env = lab_stack
    r = run_ffinfra(["up", "lab"], env, work)  # converge: test_lab_up may have left it mid-change
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return work, stack_dir, env


def _rewire(lab, script: str) -> None:
    """Run `script` on ctl01 (it edits the simulated fabric's netlist), then restart the fabric as a re-cabling
    does: ibsim and the master SM on ctl01, and the standby SM on st01 around them (a restarted ibsim forgets its
    remote clients, and a client it forgot talks over the one it numbers alike)."""
    _exec(lab, "st01", "systemctl", "stop", "ffinfra-opensm@z0")
    _exec(lab, "ctl01", "sh", "-c", f"{script} && systemctl restart ffinfra-ibsim ffinfra-opensm@z0")
    _exec(lab, "st01", "systemctl", "start", "ffinfra-opensm@z0")


def _exec(lab, host: str, *cmd: str) -> str:
    work, _, env = lab
    r = run_ffinfra(["exec", "lab", host, "--", *cmd], env, work, timeout=120)
    assert r.returncode == 0, f"{cmd} on {host}: {r.stdout}{r.stderr}"
    return r.stdout


def _test(lab, out: Path, *args: str) -> tuple[int, dict, str]:
    work, _, env = lab
    r = run_ffinfra(["test", "lab", "-o", str(out), *args], env, work, timeout=900)
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    return r.returncode, results, r.stdout + r.stderr


def _failed(results: dict) -> dict[str, dict]:
    return {t["name"]: t for t in results["tests"] if t["outcome"] in ("failed", "error")}


def _fabric_converges(lab, out: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rc, _, text = _test(lab, out, "--suite", "fabric")
        if rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(3)
    assert rc == 0, text[-3000:]


def test_healthy_lab_passes_every_suite(lab, tmp_path: Path):
    _, stack_dir, _ = lab
    rc, results, text = _test(lab, tmp_path, "--calibrate", "--tolerance", "0.2")
    assert rc == 0, text[-4000:]
    assert "lab accepted" in text
    # --calibrate kept this run's medians as the stack's references (the lab's spec figures still win)
    refs = yaml.safe_load((stack_dir / "references.yaml").read_text())
    assert {"iperf3", "fio_read", "fio_write"} <= set(refs)
    assert refs["iperf3"]["tolerance"] == 0.2 and refs["iperf3"]["value"] > 2
    assert f"calibrated {stack_dir / 'references.yaml'}" in text
    by_suite = {t["suite"] for t in results["tests"] if t["outcome"] == "passed"}
    assert by_suite == {"node", "fabric", "bandwidth", "storage", "training"}
    # every report is there and they agree with each other
    junit = ET.parse(tmp_path / "junit.xml").getroot()
    suite = junit if junit.tag == "testsuite" else junit.find("testsuite")
    assert int(suite.get("tests")) == len(results["tests"])
    assert int(suite.get("failures")) == 0 and int(suite.get("errors")) == 0
    assert (tmp_path / "summary.md").read_text().startswith("# ffinfra test — lab: PASSED")
    html = (tmp_path / "report.html").read_text()
    assert html.count("<svg") == 2  # node-pair and leaf-uplink heatmaps
    # measurements carry their pass marks: bandwidth and storage judged, the DDP job reported
    meas = {m["metric"]: m for t in results["tests"] for m in t["measurements"]}
    assert meas["iperf3"]["threshold"] == 2 and meas["iperf3"]["ok"] is True
    assert meas["fio_read"]["ok"] is True
    assert meas["ddp_samples_per_s"]["value"] > 0
    training = next(t for t in results["tests"] if t["suite"] == "training")
    assert training["outcome"] == "passed"


def test_miswired_and_missing_cables_are_named_by_switch_and_port(lab, tmp_path: Path):
    _, stack_dir, _ = lab
    topo = compile_stack(find_stack(str(stack_dir))).topology
    ids = {s.name: s.nodeid for s in topo.switches} | {p.host: p.nodeid for p in topo.host_ports}
    lf01, lf04, sp02, cn04 = ids["z0-lf01"], ids["z0-lf04"], ids["z0-sp02"], ids["cn04"]
    original = _exec(lab, "ctl01", "cat", NETLIST)
    # missing: lf01[4] ↔ sp02[1] unplugged; miswired: cn04 in lf04 port 2 instead of port 1
    net = original.replace(f'[4] "{sp02}"[1]\n', "").replace(f'[1] "{lf01}"[4]\n', "")
    net = net.replace(f'[1] "{cn04}"[1]\n', f'[2] "{cn04}"[1]\n').replace(f'[1] "{lf04}"[1]\n', f'[1] "{lf04}"[2]\n')
    assert net != original
    try:
        _rewire(lab, f"cp {NETLIST} {NETLIST}.orig && cat > {NETLIST} <<'EOF'\n{net}EOF\ntrue")
        time.sleep(2)
        rc, results, text = _test(lab, tmp_path / "fault", "--suite", "fabric")
        assert rc == 3, text[-3000:]
        cabling = _failed(results)["test_cabling_matches_plan[z0]"]
        assert "z0-lf01[4] should connect to z0-sp02[1]: the port is empty" in cabling["message"]
        assert "cn04 mlx5_0[1] is in z0-lf04[2], the plan says z0-lf04[1]" in cabling["message"]
        assert {"z0-lf01[4]", "z0-lf04[2]"} <= set(cabling["culprits"])
        assert "z0-lf01[4]" in text  # the console names it too
    finally:
        _rewire(lab, f"mv {NETLIST}.orig {NETLIST}")
    _fabric_converges(lab, tmp_path / "restored")


def test_two_swapped_cables_are_one_failure_naming_both_ports(lab, tmp_path: Path):
    """One fault, one failure: the routes and the balance are judged over the cables OpenSM really routed, so
    cn01 and st01 swapped on z0-lf01 fail the cabling test alone, with both ports as its culprits."""
    _, stack_dir, _ = lab
    topo = compile_stack(find_stack(str(stack_dir))).topology
    ports = {p.host: p for p in topo.host_ports}
    a, b = ports["cn01"], ports["st01"]
    assert a.leaf == b.leaf == "z0-lf01"
    leaf = next(s.nodeid for s in topo.switches if s.name == a.leaf)
    original = _exec(lab, "ctl01", "cat", NETLIST)
    net = swap_ports(original, leaf, a.leaf_port, b.leaf_port)
    assert net != original
    try:
        _rewire(lab, f"cp {NETLIST} {NETLIST}.orig && cat > {NETLIST} <<'EOF'\n{net}EOF\ntrue")
        time.sleep(2)
        rc, results, text = _test(lab, tmp_path / "fault", "--suite", "fabric")
        assert rc == 3, text[-3000:]
        failed = _failed(results)
        assert list(failed) == ["test_cabling_matches_plan[z0]"], {k: v["message"] for k, v in failed.items()}
        culprits = set(failed["test_cabling_matches_plan[z0]"]["culprits"])
        assert {f"z0-lf01[{a.leaf_port}]", f"z0-lf01[{b.leaf_port}]"} <= culprits
    finally:
        _rewire(lab, f"mv {NETLIST}.orig {NETLIST}")
    _fabric_converges(lab, tmp_path / "restored")


def test_stopped_slurmd_fails_its_node_and_is_drained(lab, tmp_path: Path):
    _exec(lab, "cn02", "systemctl", "stop", "slurmd")
    try:
        rc, results, text = _test(lab, tmp_path, "--suite", "node", "-k", "daemons", "--drain-failed")
        assert rc == 3, text[-3000:]
        failed = _failed(results)
        assert list(failed) == ["test_daemons_running[cn02]"], failed
        assert "cn02: slurmd is inactive" in failed["test_daemons_running[cn02]"]["message"]
        assert failed["test_daemons_running[cn02]"]["culprits"] == ["cn02"]
        assert results["drained"] == [
            {"node": "cn02", "reason": "ffinfra test failed: node/test_daemons_running", "result": "drained"}
        ]
        reasons = _exec(lab, "ctl01", "sinfo", "-h", "-R", "-o", "%n|%E")
        assert "cn02|ffinfra test failed: node/test_daemons_running" in reasons
    finally:
        _exec(lab, "cn02", "systemctl", "start", "slurmd")
        _exec(lab, "ctl01", "scontrol", "update", "NodeName=cn02", "State=RESUME")


def test_throttled_link_fails_bandwidth_naming_the_node(lab, tmp_path: Path):
    _exec(
        lab,
        "cn03",
        "tc",
        "qdisc",
        "add",
        "dev",
        "eth0",
        "root",
        "tbf",
        "rate",
        "500mbit",
        "burst",
        "64kb",
        "latency",
        "50ms",
    )
    try:
        rc, results, text = _test(lab, tmp_path, "--suite", "bandwidth", "--quick", "--repeats", "1")
        assert rc == 3, text[-3000:]
        failed = _failed(results)
        assert failed and all(name.startswith("test_round[") for name in failed), failed
        for t in failed.values():
            assert t["culprits"] == ["cn03"], t
            assert "suspect node cn03: everything it sends is slow" in t["message"]
        slow = [m for t in results["tests"] for m in t["measurements"] if m["ok"] is False]
        assert slow and all(m["subject"].startswith("cn03→") for m in slow), slow
    finally:
        _exec(lab, "cn03", "tc", "qdisc", "del", "dev", "eth0", "root")
