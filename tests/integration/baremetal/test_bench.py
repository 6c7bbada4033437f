"""The bench itself, proved: its VM powers on through the Redfish BMC, its network-boot ROM asks the provisioning
interface for an address, it powers off through the IPMI BMC, and both BMCs refuse a wrong password.

The other bare-metal tests build on these facts; when this file fails, theirs cannot pass.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import VmBench

sushy = pytest.importorskip("sushy")
ipmi_command = pytest.importorskip("pyghmi.ipmi.command")
pyghmi_exceptions = pytest.importorskip("pyghmi.exceptions")

pytestmark = [pytest.mark.baremetal, pytest.mark.slow]


@pytest.fixture
def dnsmasq_log(vm_bench: VmBench, tmp_path: Path) -> Iterator[Path]:
    """A DHCP-only dnsmasq on the bench's host-side interface (the provisioning server's place); yields its log."""
    log = tmp_path / "dnsmasq.log"
    net = vm_bench.subnet
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(
        "\n".join(
            [
                "port=0",  # no DNS
                f"interface={vm_bench.interface}",
                "bind-interfaces",
                "no-resolv",
                "no-hosts",
                "dhcp-authoritative",
                f"dhcp-range={net.network_address + 100},{net.network_address + 150},{net.netmask},10m",
                # router advertisements on the ULA prefix: Debian's iPXE waits ~13 s for one otherwise
                "enable-ra",
                f"dhcp-range={vm_bench.ra_prefix},ra-only,64",
                "log-dhcp",
                f"log-facility={log}",
                f"dhcp-leasefile={tmp_path / 'dnsmasq.leases'}",
                "pid-file=",
                "user=root",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    # ends with this process even when it is killed (the parent-death signal), like the bench's daemons
    with (tmp_path / "dnsmasq.err").open("wb") as err:
        proc = subprocess.Popen(
            ["setpriv", "--pdeathsig", "TERM", "--", "dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 10
        while "DHCP, IP range" not in (log.read_text() if log.exists() else ""):
            assert proc.poll() is None, f"dnsmasq exited: {(tmp_path / 'dnsmasq.err').read_text()}"
            assert time.monotonic() < deadline, "dnsmasq did not start within 10 s"
            time.sleep(0.05)
        yield log
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_for(what: str, check: Callable[[], object], timeout: float, explain: Callable[[], str]) -> float:
    """Poll `check()` until true; return the seconds it took, or fail with `explain()`."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, f"{what} not seen within {timeout:.0f} s\n{explain()}"
        time.sleep(0.2)
    return time.monotonic() - start


def _ipmi(bench: VmBench, password: str) -> Any:
    """A pyghmi IPMI session with the bench's BMC. The credentials go in as bytes: pyghmi 1.6.19 stores them as
    bytes, compares them with what the caller passed to reuse a session, and keys its half-made sessions by the
    caller's values but removes them by its own. With str, the second Command for the same BMC and credentials in
    a process finds the first session among the half-made ones and waits for a login that never comes (a hang)."""
    return ipmi_command.Command(
        bmc=bench.ipmi_host, port=bench.ipmi_port, userid=bench.username.encode(), password=password.encode()
    )


def test_vm_network_boots_on_over_redfish_and_powers_off_over_ipmi(vm_bench: VmBench, dnsmasq_log: Path) -> None:
    assert vm_bench.domain_state() == "shut off"
    timings: dict[str, float] = {}
    mark = vm_bench.serial_size()
    try:
        t0 = time.monotonic()
        redfish = sushy.Sushy(vm_bench.redfish_root, username=vm_bench.username, password=vm_bench.password)
        system = redfish.get_system(vm_bench.system_path)
        system.set_system_boot_options(sushy.BootSource.PXE, enabled=sushy.BootSourceOverrideEnabled.ONCE)
        system.reset_system(sushy.ResetType.ON)
        timings["redfish power on"] = time.monotonic() - t0
        system.refresh()
        assert system.power_state == sushy.PowerState.ON
        assert vm_bench.domain_state() == "running"

        discover = re.compile(rf"DHCPDISCOVER\({re.escape(vm_bench.interface)}\) {re.escape(vm_bench.mac)}")
        timings["DHCPDISCOVER from the VM"] = (
            _wait_for(
                f"a DHCPDISCOVER from {vm_bench.mac} on {vm_bench.interface}",
                lambda: discover.search(dnsmasq_log.read_text()),
                90,
                lambda: (
                    f"dnsmasq's log:\n{dnsmasq_log.read_text()[-3000:]}\nserial console:\n"
                    f"{vm_bench.serial_text(since=mark)[-3000:]}"
                ),
            )
            + timings["redfish power on"]
        )
        # the VM's firmware prints to the serial console (the sercon fw_cfg): tests can follow a boot there
        assert "iPXE" in vm_bench.serial_text(since=mark)

        t1 = time.monotonic()
        ipmi = _ipmi(vm_bench, vm_bench.password)
        timings["IPMI session"] = time.monotonic() - t1
        assert ipmi.get_power()["powerstate"] == "on"
        ipmi.set_bootdev("network")
        assert vm_bench.ipmi_boot_requests()[-1:] == ["pxe"]
        t2 = time.monotonic()
        assert ipmi.set_power("off", wait=True)["powerstate"] == "off"
        timings["IPMI power off"] = time.monotonic() - t2
        assert vm_bench.domain_state() == "shut off"
        system.refresh()
        assert system.power_state == sushy.PowerState.OFF
    finally:
        vm_bench.power_off()
        print("\nbench timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))


def test_redfish_bmc_refuses_a_wrong_password(vm_bench: VmBench) -> None:
    wrong = sushy.Sushy(vm_bench.redfish_root, username=vm_bench.username, password=vm_bench.password + "x")
    with pytest.raises(sushy.exceptions.AccessError):
        wrong.get_system(vm_bench.system_path)
    right = sushy.Sushy(vm_bench.redfish_root, username=vm_bench.username, password=vm_bench.password)
    assert right.get_system(vm_bench.system_path).power_state == sushy.PowerState.OFF


def test_ipmi_bmc_refuses_a_wrong_password(vm_bench: VmBench) -> None:
    t0 = time.monotonic()
    with pytest.raises(pyghmi_exceptions.IpmiException, match="password"):
        _ipmi(vm_bench, vm_bench.password + "x")
    refused = time.monotonic() - t0
    right = _ipmi(vm_bench, vm_bench.password)
    assert right.get_power()["powerstate"] == "off"
    print(f"\nIPMI refused a wrong password in {refused:.1f} s")
