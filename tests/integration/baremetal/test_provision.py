"""`ffinfra provision` from a powered-off server to a node ffinfra can log in to, on the bench's VM: a Redfish or
IPMI call powers it on with a one-time network boot, the VM's iPXE takes its reserved address from ffinfra's dnsmasq,
fetches its script and ffinfra's node image over HTTP, boots, reports, and ffinfra logs in over SSH with the host key
it generated for it. Then the same over IPMI, a re-run that keeps what is up, an interrupted provision that resumes,
a node whose boot MAC is wrong (discovered, named, the run fails clearly) and the BMC password nowhere but its file.

The tests share one VM and one stack folder, in this order; each leaves the VM as the next expects it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench import VmBench

pytestmark = [pytest.mark.baremetal, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
FFINFRA = [str(Path(sys.executable).parent / "ffinfra")]


@dataclass
class Metal:
    root: Path  # the stacks folder (FFINFRA_STACKS)
    bench: VmBench

    @property
    def dir(self) -> Path:
        return self.root / "metal"

    def write(self, *, bmc_url: str, mac: str | None = None, boot_timeout_s: int = 240) -> None:
        text = (REPO / "stacks/metal/cluster.yaml").read_text()
        net = self.bench.subnet
        text = (
            text.replace("10.213.0.0/24", str(net))
            .replace("address: 10.213.0.1", f"address: {self.bench.server_ip}")
            .replace("interface: ffbm0", f"interface: {self.bench.interface}")
            .replace("password_env: FFINFRA_BMC_PASSWORD", "password_file: bmc.pw")
            .replace("boot_timeout_s: 300", f"boot_timeout_s: {boot_timeout_s}")
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "cluster.yaml").write_text(text)
        (self.dir / "nodes.csv").write_text(f"hostname,mac,bmc_address\nnode1,{mac or self.bench.mac},{bmc_url}\n")
        pw = self.dir / "bmc.pw"
        pw.write_text(self.bench.password + "\n")
        pw.chmod(0o600)

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "FFINFRA_STACKS": str(self.root)}
        return subprocess.run(
            [*FFINFRA, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False, cwd=REPO
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "FFINFRA_STACKS": str(self.root)}
        return subprocess.Popen([*FFINFRA, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, cwd=REPO)  # fmt: skip

    def record(self) -> dict:
        path = self.dir / "state/baremetal/nodes.json"
        return json.loads(path.read_text())["nodes"].get("node1", {}) if path.exists() else {}

    def ssh(self, command: str) -> subprocess.CompletedProcess[str]:
        cfg = self.dir / "secrets/ssh_config"
        # no ControlMaster: the socket path under pytest's temporary folder would pass the 108-byte limit
        argv = ["ssh", "-F", str(cfg), "-o", "ControlPath=none", "node1", command]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    def boots_since(self, mark: int) -> int:
        """Power-ons the VM's console shows after byte `mark`: SeaBIOS prints its banner once per boot."""
        return len(re.findall(r"SeaBIOS \(version", self.bench.serial_text(mark)))


@pytest.fixture(scope="module")
def metal(vm_bench: VmBench, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metal]:
    m = Metal(tmp_path_factory.mktemp("stacks"), vm_bench)
    m.write(bmc_url=vm_bench.redfish_url)
    vm_bench.power_off()
    yield m
    down = m.run("down", "metal", "--provider", "baremetal")  # powers the node off, stops the boot server
    vm_bench.power_off()
    assert down.returncode == 0, down.stdout + down.stderr
    assert not list((m.dir / "state/baremetal/boot").glob("*.pid")), "the boot server's daemons are left running"


def test_redfish_powers_on_a_server_that_network_boots_and_is_reached_with_its_pinned_host_key(metal: Metal) -> None:
    mark = metal.bench.serial_size()
    t = time.monotonic()
    out = metal.run("provision", "metal")
    took = time.monotonic() - t
    assert out.returncode == 0, out.stdout + out.stderr
    for step in ("powering on", "dhcp", "image", "reported", "reachable"):  # every state, in the run's output
        assert re.search(rf"^node1\s+{step}\b", out.stdout, re.M), f"no {step!r} step in:\n{out.stdout}"
    assert f"{metal.bench.mac} took {metal.bench.subnet.network_address + 10}" in out.stdout
    assert metal.record()["state"] == "reachable"
    assert metal.boots_since(mark) == 1
    # the node runs ffinfra's image and its SSH server has the host key ffinfra generated (ssh_config checks it)
    who = metal.ssh("hostname; cat /etc/ffinfra-image")
    assert who.returncode == 0, who.stderr
    assert who.stdout.splitlines()[0] == "node1"
    manifest = json.loads((metal.dir / "state/baremetal/boot/www/image/manifest.json").read_text())
    assert who.stdout.splitlines()[1].strip() == manifest["digest"]
    pub = (metal.dir / "secrets/hostkeys/node1/ssh_host_ed25519_key.pub").read_text().split()[:2]
    assert " ".join(pub) in (metal.dir / "secrets/known_hosts").read_text()
    print(f"\nRedfish power-on to reachable over SSH: {took:.1f} s (whole command, image cached after the first)")


def test_a_rerun_keeps_a_node_that_is_up_without_powering_it_on(metal: Metal) -> None:
    mark = metal.bench.serial_size()
    out = metal.run("provision", "metal")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^node1\s+kept\b.*not powered on again", out.stdout, re.M), out.stdout
    assert metal.boots_since(mark) == 0


def test_ipmi_powers_the_same_server_off_and_on_again(metal: Metal) -> None:
    metal.write(bmc_url=metal.bench.ipmi_url)
    status = metal.run("power", "metal", "node1", "status")
    assert (status.returncode, status.stdout.split()[-1]) == (0, "on"), status.stdout + status.stderr
    off = metal.run("power", "metal", "all", "off")
    assert off.returncode == 0, off.stdout + off.stderr
    metal.bench.wait_state("shut off", timeout=30)
    mark = metal.bench.serial_size()
    out = metal.run("provision", "metal")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^node1\s+lost\b", out.stdout, re.M), out.stdout  # it was reachable, now SSH is silent
    assert metal.bench.ipmi_boot_requests()[-1] == "pxe"  # the one-time network boot, set over IPMI
    assert metal.boots_since(mark) == 1
    assert metal.record()["state"] == "reachable"


def test_an_interrupted_provision_resumes_without_powering_on_again(metal: Metal) -> None:
    metal.write(bmc_url=metal.bench.redfish_url)
    assert metal.run("power", "metal", "node1", "off").returncode == 0
    metal.bench.wait_state("shut off", timeout=30)
    mark = metal.bench.serial_size()
    first = metal.popen("provision", "metal")
    deadline = time.monotonic() + 120
    while metal.record().get("state") not in ("dhcp_seen", "image_fetched") and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)  # mid-boot: the node is booting, the boot server keeps serving it
    first.wait(timeout=30)
    assert metal.record()["state"] in ("dhcp_seen", "image_fetched", "reported")
    out = metal.run("provision", "metal")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"^node1\s+(resuming|kept)\b", out.stdout, re.M), out.stdout
    assert not re.search(r"^node1\s+powering on\b", out.stdout, re.M), out.stdout
    assert metal.boots_since(mark) == 1  # one power-on, by the killed run
    assert metal.record()["state"] == "reachable"


def test_a_wrong_boot_mac_fails_clearly_and_the_machine_is_discovered_not_booted(metal: Metal) -> None:
    metal.write(bmc_url=metal.bench.redfish_url, mac="52:54:00:ff:ff:01", boot_timeout_s=45)
    assert metal.run("power", "metal", "node1", "off").returncode == 0
    metal.bench.wait_state("shut off", timeout=30)
    out = metal.run("provision", "metal")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "node1: not up 45 s after power-on (last: powering_on); no DHCP request seen from its boot MAC" in (
        out.stdout + out.stderr
    )
    assert re.search(rf"^{metal.bench.mac}\s+discovered\s+not in the inventory", out.stdout, re.M), out.stdout
    assert "dhcp-host=" + metal.bench.mac not in (metal.dir / "state/baremetal/boot/dnsmasq.conf").read_text()
    metal.bench.power_off()
    metal.write(bmc_url=metal.bench.redfish_url)


def test_removing_one_node_powers_it_off_and_forgets_it(metal: Metal) -> None:
    """What the Pulumi engine's Node delete calls: the provider's remove(), for one node."""
    from ffinfra.apply.providers import get_provider
    from ffinfra.compile import compile_stack
    from ffinfra.stack import find_stack

    assert metal.run("power", "metal", "node1", "on").returncode == 0
    metal.bench.wait_state("running", timeout=30)
    assert metal.record()  # the earlier runs left its record
    c = compile_stack(find_stack(str(metal.dir)))
    provider = get_provider("baremetal", "metal", metal.dir / "state", c.topology)
    seen: list[str] = []
    assert provider.remove(["node1"], lambda host, status, _: seen.append(f"{host} {status}")) == ["node1"]
    metal.bench.wait_state("shut off", timeout=60)
    assert metal.record() == {} and "node1 off" in seen


def test_the_bmc_password_is_nowhere_but_its_0600_file(metal: Metal) -> None:
    secret = metal.bench.password.encode()
    holders = []
    for root in (metal.root, REPO / "build", REPO / "inventories"):
        for p in root.rglob("*"):
            if p.is_file() and not p.is_symlink() and secret in p.read_bytes():
                holders.append(p)
    assert holders == [metal.dir / "bmc.pw"]
    assert (metal.dir / "bmc.pw").stat().st_mode & 0o777 == 0o600
    logs = list((metal.dir / "runs").rglob("*.log"))
    assert len(logs) >= 5  # every provision and power run above kept its log
