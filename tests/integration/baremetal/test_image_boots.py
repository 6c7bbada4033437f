"""The node image boots for real and keeps the boot contract: QEMU (TCG) runs its vmlinuz and initrd.img directly,
with user-mode networking, so every packet the VM sends ends on this machine's loopback (10.0.2.2 is the host's
127.0.0.1). The test is the provisioning server: it serves the node's hostname, the operator's key and the node's
host key over HTTP on 127.0.0.1, takes the node's report, then logs in over SSH with the host key pinned."""

from __future__ import annotations

import base64
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paramiko
import pytest

from ffinfra.apply.baremetal.image import ImageManifest, ImageRecipe, build_image

TOOLS = ["qemu-system-x86_64", "ssh-keygen", "dropbearconvert", "apt-get", "dpkg-deb"]
MISSING = [t for t in TOOLS if not shutil.which(t)]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.baremetal,
    pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} (scripts/setup.sh --test)"),
]

HOST = "bm07"  # ffinfra.host: the name the node asks the server about
HOSTNAME = "gpu-bm07"  # what the server says its hostname is
MAC = "52:54:00:f1:00:07"
BOOT_TIMEOUT = 300.0  # TCG on a loaded 2-core machine; a boot takes 15-40 s


class ProvisioningServer:
    """The boot contract's HTTP side: GET /nodes/HOST/NAME from `files`, POST /report/HOST recorded."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.reports: list[tuple[float, str, str]] = []  # (monotonic time, path, body)
        self.requests: list[str] = []
        self.reported = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(f"GET {self.path}")
                body = server.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                server.requests.append(f"POST {self.path}")
                server.reports.append((time.monotonic(), self.path, data))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                server.reported.set()

            def log_message(self, format: str, *args: object) -> None:  # the requests list is the log
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path) -> str:
    """A new OpenSSH ed25519 key pair at path; returns the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text().strip()


def pinned(public_line: str) -> paramiko.PKey:
    return paramiko.Ed25519Key(data=base64.b64decode(public_line.split()[1]))


def ssh(port: int, user_key: Path, host_key: paramiko.PKey, attempts: int = 10) -> paramiko.SSHClient:
    """A root session to the VM through QEMU's forward, accepting exactly host_key. QEMU accepts the TCP connection
    itself and closes it when the guest does not answer: a refused banner is retried, a wrong host key is not."""
    for i in range(attempts):
        client = paramiko.SSHClient()
        client.get_host_keys().add(f"[127.0.0.1]:{port}", host_key.get_name(), host_key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(
                "127.0.0.1", port=port, username="root", key_filename=str(user_key), look_for_keys=False,
                allow_agent=False, timeout=30, banner_timeout=60, auth_timeout=60,
            )  # fmt: skip
            return client
        except (paramiko.SSHException, OSError) as exc:
            client.close()
            if isinstance(exc, paramiko.BadHostKeyException | paramiko.AuthenticationException) or i == attempts - 1:
                raise
            time.sleep(2)
    raise AssertionError("unreachable")


def run(client: paramiko.SSHClient, command: str) -> str:
    _, stdout, stderr = client.exec_command(command, timeout=60)
    out = stdout.read().decode()
    assert stdout.channel.recv_exit_status() == 0, f"{command}: {stderr.read().decode()}"
    return out


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ImageManifest]:
    """The default image, built once; the .debs are cached across runs beside pytest's temporary folders."""
    out = tmp_path_factory.mktemp("image")
    return out, build_image(ImageRecipe(), out, tmp_path_factory.getbasetemp().parent / "ffinfra-deb-cache")


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path | str]:
    host = tmp_path / "ssh_host_ed25519_key"
    host_pub = keygen(host)
    subprocess.run(["dropbearconvert", "openssh", "dropbear", str(host), str(tmp_path / "host.dropbear")],
                   check=True, capture_output=True)  # fmt: skip
    operator, stranger = tmp_path / "operator", tmp_path / "stranger"
    return {
        "host": host, "host_pub": host_pub, "host_dropbear": tmp_path / "host.dropbear",
        "operator": operator, "operator_pub": keygen(operator), "stranger": stranger, "stranger_pub": keygen(stranger),
    }  # fmt: skip


@pytest.fixture
def server(keys: dict[str, Path | str]) -> Iterator[ProvisioningServer]:
    s = ProvisioningServer({
        f"/nodes/{HOST}/hostname": f"{HOSTNAME}\n".encode(),
        f"/nodes/{HOST}/authorized_keys": f"{keys['operator_pub']}\n".encode(),
        f"/nodes/{HOST}/dropbear_host_key": Path(keys["host_dropbear"]).read_bytes(),
    })  # fmt: skip
    yield s
    s.close()


def test_the_image_boots_reports_and_serves_ssh_with_its_pinned_host_key(
    image: tuple[Path, ImageManifest], keys: dict[str, Path | str], server: ProvisioningServer, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out, manifest = image
    ssh_port = free_port()
    console = tmp_path / "console.log"
    argv = [
        "qemu-system-x86_64", "-machine", "pc,accel=tcg", "-m", "512", "-nodefaults", "-display", "none",
        "-no-reboot", "-kernel", str(out / "vmlinuz"), "-initrd", str(out / "initrd.img"),
        # panic=-1: a dead /init reboots, which -no-reboot turns into QEMU exiting: a failure shows at once
        "-append", f"console=ttyS0 panic=-1 ffinfra.url=http://10.0.2.2:{server.port} ffinfra.host={HOST} "
                   f"ffinfra.mac={MAC}",
        "-nic", f"user,model=e1000,mac={MAC},hostfwd=tcp:127.0.0.1:{ssh_port}-:22",
        "-serial", f"file:{console}",
    ]  # fmt: skip

    def log() -> str:
        return console.read_text(errors="replace")[-4000:] if console.exists() else "(no console output)"

    started = time.monotonic()
    qemu = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=(tmp_path / "qemu.err").open("wb"))
    try:
        while not server.reported.wait(1):
            assert qemu.poll() is None, f"QEMU exited ({qemu.returncode}) before the report:\n{log()}"
            assert time.monotonic() - started < BOOT_TIMEOUT, f"no report in {BOOT_TIMEOUT:.0f} s:\n{log()}"
        at, path, body = server.reports[0]
        to_report = at - started
        assert path == f"/report/{HOST}"
        assert server.requests[:3] == [f"GET /nodes/{HOST}/{n}" for n in ("hostname", "authorized_keys",
                                                                          "dropbear_host_key")]  # fmt: skip
        fields = dict(line.split("=", 1) for line in body.splitlines() if line)
        assert re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}", fields.pop("boot_id")), body
        assert fields == {
            "host": HOST, "mac": MAC, "ip": "10.0.2.15", "kernel": manifest.kernel_release, "image": manifest.digest,
            "ssh": "dropbear",
        }  # fmt: skip

        # the host key is pinned: the node's own key is accepted, any other is refused; the operator's key logs in,
        # another key does not
        with pytest.raises(paramiko.BadHostKeyException):
            ssh(ssh_port, Path(keys["operator"]), pinned(keygen(tmp_path / "other_host")))
        with pytest.raises(paramiko.AuthenticationException):
            ssh(ssh_port, Path(keys["stranger"]), pinned(str(keys["host_pub"])))
        client = ssh(ssh_port, Path(keys["operator"]), pinned(str(keys["host_pub"])))
        assert run(client, "hostname").strip() == HOSTNAME
        assert run(client, "cat /etc/ffinfra-image").strip() == manifest.digest

        # dropbear is supervised: killed, it is back within seconds
        run(client, "kill $(cat /run/dropbear.pid)")
        client.close()
        client = ssh(ssh_port, Path(keys["operator"]), pinned(str(keys["host_pub"])), attempts=15)
        assert run(client, "hostname").strip() == HOSTNAME

        off_at = time.monotonic()
        client.exec_command("poweroff")
        try:
            rc = qemu.wait(timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"QEMU still runs 120 s after `poweroff`:\n{log()}")
        client.close()
        assert rc == 0, log()
        assert "ffinfra-init: shutting down" in log()
        with capsys.disabled():
            print(
                f"\nnode image {manifest.digest[:12]} (initrd {manifest.files['initrd.img']['size']} bytes): power-on "
                f"to report {to_report:.1f} s, poweroff to QEMU exit {time.monotonic() - off_at:.1f} s"
            )
    finally:
        if qemu.poll() is None:  # only the QEMU this test started, by its PID
            qemu.kill()
            qemu.wait()
