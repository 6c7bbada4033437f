"""The boot server's HTTP daemon (on loopback here) and how ffinfra reads back what the nodes did."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ffinfra.apply.baremetal.boot_server import BootServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path):
    srv = BootServer(tmp_path / "boot", "127.0.0.1", "lo", _free_port())
    srv.publish(
        {"provision/ipxe/boot.ipxe": "#!ipxe\n", "provision/dnsmasq.conf": "port=0\n"},
        None,
        {"n1": {"authorized_keys": b"ssh-ed25519 AAAA op\n"}, "n2": {"authorized_keys": b"x\n"}},
        {"n1": "127.0.0.1", "n2": "10.9.9.9"},  # n1 reaches us from loopback, n2 from elsewhere
    )
    yield srv
    srv.stop()


def _get(srv: BootServer, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}{path}", timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""


def _start_http(srv: BootServer) -> None:
    import sys

    srv._start(
        "http",
        [sys.executable, "-m", "ffinfra.apply.baremetal.http_server", str(srv.www), str(srv.reports),
         str(srv.root / "clients.json"), srv.address, str(srv.http_port), str(srv.http_log)],
    )  # fmt: skip


def test_public_files_to_anyone_and_a_nodes_keys_only_to_its_address(server: BootServer) -> None:
    _start_http(server)
    assert _get(server, "/ipxe/boot.ipxe") == (200, b"#!ipxe\n")
    assert _get(server, "/nodes/n1/authorized_keys") == (200, b"ssh-ed25519 AAAA op\n")
    assert _get(server, "/nodes/n2/authorized_keys")[0] == 403  # n2's files are for 10.9.9.9 only
    assert _get(server, "/nodes/n1/../n2/authorized_keys")[0] in (403, 404)
    assert _get(server, "/etc/passwd")[0] == 404
    node_dir = server.www / "nodes" / "n1"
    assert (node_dir.stat().st_mode & 0o777, (node_dir / "authorized_keys").stat().st_mode & 0o777) == (0o700, 0o600)
    assert server.fetched("127.0.0.1", "/ipxe/boot.ipxe", 0)
    assert not server.fetched("127.0.0.1", "/image/initrd.img", 0)


def test_a_report_is_kept_only_from_the_nodes_own_address(server: BootServer) -> None:
    _start_http(server)
    url = f"http://127.0.0.1:{server.http_port}/report/"
    req = urllib.request.Request(url + "n1", data=b"host=n1\nboot_id=abc\nkernel=6.1\n", method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
    rep = server.report("n1")
    assert rep is not None and (rep["boot_id"], rep["peer"]) == ("abc", "127.0.0.1") and float(rep["received"]) > 0
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(urllib.request.Request(url + "n2", data=b"host=n2\n", method="POST"), timeout=5)
    assert info.value.code == 403 and server.report("n2") is None


def test_dhcp_and_discovery_are_read_from_dnsmasqs_log_and_leases(tmp_path: Path) -> None:
    srv = BootServer(tmp_path, "10.0.0.1", "br0", 8069)
    srv.dnsmasq_log.write_text(
        "Nov 30 21:00:01 dnsmasq-dhcp[9]: DHCPDISCOVER(br0) 52:54:00:00:00:09 no address available\n"
    )
    mark = srv.log_marks()[0]
    with srv.dnsmasq_log.open("a") as f:
        f.write("Nov 30 21:00:02 dnsmasq-dhcp[9]: 1 DHCPACK(br0) 10.0.0.10 52:54:00:00:00:01 n1\n")
    srv.leases.write_text("1700000000 52:54:00:00:00:0a 10.0.0.201 * 01:52:54:00:00:00:0a\n")
    assert srv.dhcp_acked("52:54:00:00:00:01", 0) == "10.0.0.10"
    assert srv.dhcp_acked("52:54:00:00:00:01", mark) == "10.0.0.10"
    assert srv.dhcp_acked("52:54:00:00:00:01", srv.log_marks()[0]) is None  # nothing after the mark
    assert [(d.mac, d.address) for d in srv.discovered({"52:54:00:00:00:01"})] == [
        ("52:54:00:00:00:09", ""),
        ("52:54:00:00:00:0a", "10.0.0.201"),
    ]


def test_an_installed_node_boots_its_disk_instead_of_the_installer_again(server: BootServer) -> None:
    """Tinkerbell's users hit this (smee #951): a node whose firmware boots the network first reinstalls forever."""
    _start_http(server)
    script = server.www / "ipxe" / "52-54-00-00-00-01.ipxe"
    script.write_text("#!ipxe\nkernel http://x/installer\nboot\n")
    assert _get(server, "/ipxe/52-54-00-00-00-01.ipxe") == (200, script.read_bytes())
    req = urllib.request.Request(f"http://127.0.0.1:{server.http_port}/installed/n1", data=b"installed=1")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200
    assert server.installed("n1")
    status, body = _get(server, "/ipxe/52-54-00-00-00-01.ipxe")
    assert status == 200 and body.decode().splitlines()[-1] == "exit" and "n1 is installed" in body.decode()
    assert _get(server, "/ipxe/boot.ipxe") == (200, b"#!ipxe\n")  # the first script stays the same
    server.forget_install("n1")  # provision --reinstall
    assert _get(server, "/ipxe/52-54-00-00-00-01.ipxe") == (200, script.read_bytes())
