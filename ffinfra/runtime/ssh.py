"""The one way ffinfra reaches a node's shell: SSH with paramiko, for lab namespaces (their sshd is reached
through the stack's ProxyCommand) and real machines alike. `up`'s probes and checks, `ffinfra exec`, `status` and
the acceptance suites all go through Remote; Ansible makes its own SSH connections with the same key, known_hosts
and proxy (the ssh_config in the stack's secrets).

Host keys are checked against the stack's own known_hosts, always (RejectPolicy): an acceptance run must not
trust a node it cannot identify. Every command runs under `timeout -k` on the node, so a hung benchmark is ended
there, not only abandoned here.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from ffinfra.errors import OperationalError


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How to reach one node over SSH: the name its host key is filed under, its management address, the user,
    and an optional proxy (lab: `ip netns exec <ns> nc 127.0.0.1 22`, a loopback connection inside the node)."""

    name: str
    address: str
    user: str = "root"
    port: int = 22
    proxy_command: str | None = None


@dataclass(frozen=True, slots=True)
class CmdResult:
    host: str
    command: str
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.rc == 0

    @property
    def timed_out(self) -> bool:
        return self.rc in (124, 137)

    def brief(self, chars: int = 300) -> str:
        text = (self.stderr.strip() or self.stdout.strip())[-chars:]
        return f"`{self.command}` on {self.host} exited {self.rc}" + (f": {text}" if text else "")


class Remote:
    """One SSH connection per node, opened on first use and shared by threads (one channel per command)."""

    def __init__(self, endpoints: Iterable[Endpoint], key_file: Path, known_hosts: Path, connect_timeout: float = 15.0):
        self.endpoints = {e.name: e for e in endpoints}
        self.key_file = Path(key_file)
        self.known_hosts = Path(known_hosts)
        self.connect_timeout = connect_timeout
        self._clients: dict[str, paramiko.SSHClient] = {}
        self._lock = threading.Lock()
        self._host_locks: dict[str, threading.Lock] = {}

    def client(self, host: str) -> paramiko.SSHClient:
        with self._lock:
            hl = self._host_locks.setdefault(host, threading.Lock())
        with hl:
            c = self._clients.get(host)
            if c is not None and c.get_transport() is not None and c.get_transport().is_active():
                return c
            ep = self.endpoints.get(host)
            if ep is None:
                raise OperationalError(f"no SSH endpoint for node {host!r}")
            c = paramiko.SSHClient()
            c.load_host_keys(str(self.known_hosts))
            c.set_missing_host_key_policy(paramiko.RejectPolicy())
            sock = paramiko.ProxyCommand(ep.proxy_command) if ep.proxy_command else None
            # With a proxy the host key is filed under the node's name (ssh_config's HostKeyAlias).
            hostname = ep.name if ep.proxy_command else ep.address
            try:
                c.connect(
                    hostname,
                    port=ep.port,
                    username=ep.user,
                    key_filename=str(self.key_file),
                    sock=sock,
                    timeout=self.connect_timeout,
                    banner_timeout=self.connect_timeout,
                    auth_timeout=self.connect_timeout,
                    allow_agent=False,
                    look_for_keys=False,
                )
            except (paramiko.SSHException, OSError, EOFError) as e:
                raise OperationalError(f"cannot reach {host} over SSH ({ep.address}): {e}") from e
            self._clients[host] = c
            return c

    def run(self, host: str, command: str, timeout: float = 60.0) -> CmdResult:
        """Run `command` with sh on `host`; never raises for a non-zero exit (a lost connection gives rc 255)."""
        wrapped = f"timeout -k 5 {timeout:g} sh -c {shlex.quote(command)}"
        t0 = time.monotonic()
        try:
            client = self.client(host)
            chan = client.get_transport().open_session()  # type: ignore[union-attr]
            chan.settimeout(timeout + 30)
            chan.exec_command(wrapped)
            out = chan.makefile("rb").read().decode(errors="replace")
            err = chan.makefile_stderr("rb").read().decode(errors="replace")
            rc = chan.recv_exit_status()
            chan.close()
        except OperationalError as e:
            return CmdResult(host, command, 255, "", str(e), time.monotonic() - t0)
        except (paramiko.SSHException, OSError, EOFError) as e:
            return CmdResult(host, command, 255, "", f"SSH error: {e}", time.monotonic() - t0)
        return CmdResult(host, command, rc, out, err, time.monotonic() - t0)

    def put(self, host: str, path: str, content: bytes, mode: int = 0o644) -> None:
        """Write a file on `host` over SFTP (the parent directory must exist)."""
        try:
            sftp = self.client(host).open_sftp()
            try:
                with sftp.open(path, "wb") as fh:
                    fh.write(content)
                sftp.chmod(path, mode)
            finally:
                sftp.close()
        except (paramiko.SSHException, OSError) as e:
            raise OperationalError(f"cannot write {path} on {host}: {e}") from e

    def forget(self, host: str) -> None:
        """Close the connection to `host` (it rebooted): the next command opens a new one."""
        with self._lock:
            c = self._clients.pop(host, None)
        if c is not None:
            c.close()

    def close(self) -> None:
        with self._lock:
            for c in self._clients.values():
                c.close()
            self._clients.clear()
