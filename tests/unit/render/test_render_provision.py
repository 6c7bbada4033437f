"""The boot files of a bare-metal stack: checked by the real tools that read them (dnsmasq --test, debconf's
parser, cloud-init's schema), and rendered only for stacks that network-boot."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ffinfra.compile import compile_stack
from ffinfra.render.provision import render_provision
from ffinfra.render.targets import render_all

CSV = "hostname,mac,bmc_address\nnode1,52:54:00:f1:00:01,ipmi://10.0.9.1\n"


def _metal(stack_text, make_stack, extra: str = "", csv: str = CSV):
    text = stack_text("metal").replace("  boot_timeout_s: 300\n", "  boot_timeout_s: 300\n" + extra)
    return compile_stack(make_stack(text, files={"nodes.csv": csv}))


def _files(c) -> dict[str, str]:
    return {a.path: a.content for a in render_provision(c.topology)}


def test_a_stack_without_boot_macs_gets_no_boot_files(compiled_stack) -> None:
    for name in ("lab", "ff2"):
        assert not [a for a in render_all(compiled_stack(name).topology) if a.path.startswith("provision/")]


def test_the_metal_stack_gets_dnsmasq_and_one_ipxe_script_per_boot_mac(compiled_stack) -> None:
    files = _files(compiled_stack("metal"))
    assert sorted(files) == [
        "provision/dnsmasq.conf",
        "provision/ipxe/52-54-00-f1-00-01.ipxe",
        "provision/ipxe/boot.ipxe",
    ]
    conf = files["provision/dnsmasq.conf"]
    assert "dhcp-host=52:54:00:f1:00:01,10.213.0.10,node1\n" in conf
    assert "dhcp-boot=tag:known,tag:ipxe,http://10.213.0.1:8069/ipxe/boot.ipxe\n" in conf
    assert "interface=ffbm0\n" in conf and "port=0\n" in conf  # no DNS, one interface
    script = files["provision/ipxe/52-54-00-f1-00-01.ipxe"]
    assert script.startswith("#!ipxe\n")
    assert "ffinfra.host=node1 ffinfra.mac=52:54:00:f1:00:01" in script
    assert "initrd http://10.213.0.1:8069/image/initrd.img" in script
    assert "${mac:hexhyp}.ipxe" in files["provision/ipxe/boot.ipxe"]


@pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq is not installed (scripts/setup.sh --test)")
@pytest.mark.parametrize("extra", ["", "  server:\n    discovery_range: 10.213.0.200-10.213.0.250\n"])
def test_dnsmasq_accepts_the_config(stack_text, make_stack, tmp_path, extra) -> None:
    text = stack_text("metal")
    if extra:
        text = text.replace(
            "    router_advertisements: true",
            "    router_advertisements: true\n    discovery_range: 10.213.0.200-10.213.0.250",
        )
    c = compile_stack(make_stack(text, files={"nodes.csv": CSV}))
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(_files(c)["provision/dnsmasq.conf"])
    out = subprocess.run(["dnsmasq", "--test", f"--conf-file={conf}"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert ("10.213.0.200,10.213.0.250" in conf.read_text()) == bool(extra)


def test_unknown_macs_get_no_boot_file() -> None:
    text = Path("templates/provision/dnsmasq.conf.j2").read_text()
    assert all("tag:known" in line for line in text.splitlines() if line.startswith("dhcp-boot="))


def test_rendering_is_deterministic(compiled_stack) -> None:
    c = compiled_stack("metal")
    assert [(a.path, a.sha256) for a in render_provision(c.topology)] == [
        (a.path, a.sha256) for a in render_provision(c.topology)
    ]


def test_install_mode_renders_a_preseed_and_a_cloud_init_seed_per_node(stack_text, make_stack) -> None:
    text = stack_text("metal").replace("  mode: stateless", "  mode: install\n  install: {disk: /dev/nvme0n1}")
    files = _files(compile_stack(make_stack(text, files={"nodes.csv": CSV})))
    assert {p for p in files if "/install/" in p} == {
        "provision/install/node1/preseed.cfg",
        "provision/install/node1/user-data",
        "provision/install/node1/meta-data",
    }
    script = files["provision/ipxe/52-54-00-f1-00-01.ipxe"]
    assert "installer-amd64/current/images/netboot/debian-installer/amd64/linux" in script
    assert "url=http://10.213.0.1:8069/install/node1/preseed.cfg" in script
    pre = files["provision/install/node1/preseed.cfg"]
    assert "d-i partman-auto/disk string /dev/nvme0n1\n" in pre
    assert "seedfrom: http://10.213.0.1:8069/nodes/node1/" in pre
    assert yaml.safe_load(files["provision/install/node1/meta-data"]) == {
        "instance-id": "metal-node1",
        "local-hostname": "node1",
    }


@pytest.mark.skipif(shutil.which("debconf-set-selections") is None, reason="debconf is not installed")
def test_debconf_parses_the_preseed(stack_text, make_stack, tmp_path) -> None:
    text = stack_text("metal").replace("  mode: stateless", "  mode: install")
    pre = tmp_path / "preseed.cfg"
    pre.write_text(
        _files(compile_stack(make_stack(text, files={"nodes.csv": CSV})))["provision/install/node1/preseed.cfg"]
    )
    ok = subprocess.run(["debconf-set-selections", "--checkonly", str(pre)], capture_output=True, text=True)
    assert (ok.returncode, ok.stderr) == (0, "")  # not even a warning (an unknown type is one)
    pre.write_text(pre.read_text() + "broken line\n")  # the check can fail
    assert subprocess.run(["debconf-set-selections", "--checkonly", str(pre)], capture_output=True).returncode != 0


@pytest.mark.skipif(shutil.which("cloud-init") is None, reason="cloud-init is not installed (scripts/setup.sh --test)")
def test_cloud_init_validates_the_user_data(stack_text, make_stack, tmp_path) -> None:
    text = stack_text("metal").replace("  mode: stateless", "  mode: install")
    ud = tmp_path / "user-data"
    ud.write_text(
        _files(compile_stack(make_stack(text, files={"nodes.csv": CSV})))["provision/install/node1/user-data"]
    )
    ok = subprocess.run(["cloud-init", "schema", "--config-file", str(ud)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "hostname: node1" in ud.read_text()
    ud.write_text(ud.read_text().replace("ssh_pwauth: false", "ssh_pwauth: [not, a, boolean]"))  # it can fail
    assert subprocess.run(["cloud-init", "schema", "--config-file", str(ud)], capture_output=True).returncode != 0
