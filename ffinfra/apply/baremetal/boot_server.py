"""The boot server on the machine that runs ffinfra: dnsmasq (DHCP reservations, TFTP for the iPXE binaries) and
the boot HTTP server (http_server.py), both daemons that outlive `ffinfra up`: stateless nodes boot from them at
every power-on. Their files and logs live in stacks/<name>/state/baremetal/boot/:

    dnsmasq.conf  the rendered provision/dnsmasq.conf      dnsmasq.log, dnsmasq.leases, dnsmasq.pid
    www/          ipxe/, image/, install/<host>/, nodes/<host>/ (0700: each node's keys)
    tftp/         undionly.kpxe, ipxe.efi (Debian's ipxe package)
    http.log      one line per request                    http.pid, reports/<host>, clients.json

What the nodes did is read back from those logs: a DHCPACK for a boot MAC, a GET of the image from a node's
address, a report. Nothing here powers anything: that is the provider's job.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ffinfra.atomic import write_atomic, write_if_changed
from ffinfra.errors import OperationalError

IPXE_BINARIES = {"undionly.kpxe": Path("/usr/lib/ipxe/undionly.kpxe"), "ipxe.efi": Path("/usr/lib/ipxe/ipxe.efi")}
_ACK = re.compile(r"DHCPACK\((?P<iface>[^)]*)\) (?P<ip>\S+) (?P<mac>(?:[0-9a-f]{2}:){5}[0-9a-f]{2})")
_NO_ADDRESS = re.compile(r"DHCPDISCOVER\([^)]*\) (?P<mac>(?:[0-9a-f]{2}:){5}[0-9a-f]{2}) no address available")


@dataclass(frozen=True)
class Discovered:
    mac: str
    address: str  # "" when it got no lease (no discovery range)


class BootServer:
    def __init__(self, root: Path, address: str, interface: str, http_port: int):
        self.root = root
        self.address = address
        self.interface = interface
        self.http_port = http_port
        self._lock = threading.Lock()
        self._read_to: dict[str, int] = {}  # log → bytes read so far (_catch_up)
        self._acks: dict[str, list[tuple[int, str]]] = {}  # boot MAC → [(log offset, address)]
        self._fetches: dict[tuple[str, str], float] = {}  # (client, path) → when it was last fetched

    # -- paths ------------------------------------------------------------------------------------------------

    @property
    def www(self) -> Path:
        return self.root / "www"

    @property
    def tftp(self) -> Path:
        return self.root / "tftp"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def dnsmasq_log(self) -> Path:
        return self.root / "dnsmasq.log"

    @property
    def http_log(self) -> Path:
        return self.root / "http.log"

    @property
    def leases(self) -> Path:
        return self.root / "dnsmasq.leases"

    # -- files ------------------------------------------------------------------------------------------------

    def publish(
        self,
        provision: dict[str, str],
        image_dir: Path | None,
        node_files: dict[str, dict[str, bytes]],
        clients: dict[str, str],
    ) -> bool:
        """Write what the daemons serve: the rendered provision/ files, the image, each node's private files
        (0600, in a 0700 folder) and which address may fetch them. Returns whether dnsmasq's config changed."""
        for d in (self.root, self.www, self.tftp, self.reports):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        conf_changed = False
        for path, content in provision.items():
            rel = path.removeprefix("provision/")
            if rel == "dnsmasq.conf":
                conf_changed = write_if_changed(self.root / "dnsmasq.conf", content, 0o644)
            else:
                write_if_changed(self.www / rel, content, 0o644)
        if image_dir is not None:
            for name in ("vmlinuz", "initrd.img", "manifest.json"):
                src = image_dir / name
                dest = self.www / "image" / name
                if not dest.exists() or _digest(dest) != _digest(src):
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    tmp = dest.with_name(f".{name}.tmp")
                    tmp.write_bytes(src.read_bytes())
                    os.replace(tmp, dest)
        nodes = self.www / "nodes"
        nodes.mkdir(exist_ok=True)
        os.chmod(nodes, 0o700)
        for host, files in node_files.items():
            d = nodes / host
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o700)
            for name, data in files.items():
                write_if_changed(d / name, data, 0o600)
        for name, src in IPXE_BINARIES.items():
            if src.exists():
                write_if_changed(self.tftp / name, src.read_bytes(), 0o644)
        write_atomic(self.root / "clients.json", json.dumps(clients, sort_keys=True) + "\n", 0o600)
        return conf_changed

    # -- daemons ----------------------------------------------------------------------------------------------

    def ensure_running(self, restart_dnsmasq: bool = False) -> list[str]:
        """Start whichever daemon is not running (dnsmasq again when its config changed); returns what started."""
        started = []
        conf = self.root / "dnsmasq.conf"
        if restart_dnsmasq:
            self._stop("dnsmasq")
        if self._pid("dnsmasq") is None:
            # in the foreground of its own session: its PID is ours to record, and it outlives this run
            self._start(
                "dnsmasq",
                [
                    "dnsmasq",
                    "--keep-in-foreground",
                    f"--conf-file={conf}",
                    f"--tftp-root={self.tftp}",
                    f"--dhcp-leasefile={self.leases}",
                    f"--log-facility={self.dnsmasq_log}",
                    "--user=root",  # it writes the lease file and log under the stack folder
                ],
            )
            started.append("dnsmasq")
        if self._pid("http") is None:
            self._start(
                "http",
                [
                    sys.executable,
                    "-m",
                    "ffinfra.apply.baremetal.http_server",
                    str(self.www),
                    str(self.reports),
                    str(self.root / "clients.json"),
                    self.address,
                    str(self.http_port),
                    str(self.http_log),
                ],
            )
            started.append("http")
        return started

    def running(self) -> dict[str, int | None]:
        return {name: self._pid(name) for name in ("dnsmasq", "http")}

    def stop(self) -> list[str]:
        return [name for name in ("dnsmasq", "http") if self._stop(name)]

    def _start(self, name: str, cmd: list[str]) -> None:
        log = (self.root / f"{name}.out").open("ab")
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        write_atomic(self.root / f"{name}.pid", f"{proc.pid}\n")
        # a daemon that cannot bind (address not on this machine, port taken) dies at once: say why
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = (self.root / f"{name}.out").read_text(errors="replace").strip().splitlines()[-3:]
                raise OperationalError(
                    f"the boot server's {name} did not start (exit {proc.returncode}): {' | '.join(tail)}"
                )
            if name != "http" or _listening(self.address, self.http_port):
                return
            time.sleep(0.1)

    def _pid(self, name: str) -> int | None:
        """The daemon's PID if the recorded process still runs and is ours (a reused PID is not)."""
        try:
            pid = int((self.root / f"{name}.pid").read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            return None
        marker = str(self.root / "dnsmasq.conf") if name == "dnsmasq" else str(self.www)
        return pid if marker in cmdline else None

    def _stop(self, name: str) -> bool:
        pid = self._pid(name)
        if pid is None:
            return False
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if self._pid(name) is None or not Path(f"/proc/{pid}").exists():
                break
            time.sleep(0.1)
        else:
            os.kill(pid, signal.SIGKILL)
        (self.root / f"{name}.pid").unlink(missing_ok=True)
        return True

    # -- what the nodes did -----------------------------------------------------------------------------------

    def log_marks(self) -> tuple[int, float]:
        """Where the logs stand now: dnsmasq's log size, and the time (the HTTP log has one per line)."""
        return (self.dnsmasq_log.stat().st_size if self.dnsmasq_log.exists() else 0, time.time())

    def dhcp_acked(self, mac: str, mark: int) -> str | None:
        """The address dnsmasq gave `mac` after log offset `mark`, if it did."""
        self._catch_up()
        return next((ip for offset, ip in self._acks.get(mac.lower(), []) if offset >= mark), None)

    def fetched(self, address: str, path: str, since: float) -> bool:
        """Whether `address` fetched `path` (status 200) at or after `since`."""
        self._catch_up()
        return self._fetches.get((address, path), -1.0) >= since

    def _catch_up(self) -> None:
        """Read what the two logs gained since the last call, once for every node watching (threads share it):
        each node polls every second, and rereading whole logs would grow with nodes × boots."""
        with self._lock:
            for line, offset in self._new_lines(self.dnsmasq_log, "dnsmasq"):
                if m := _ACK.search(line):
                    self._acks.setdefault(m["mac"], []).append((offset, m["ip"]))
            for line, _ in self._new_lines(self.http_log, "http"):
                parts = line.split()
                if len(parts) >= 5 and parts[4] == "200":
                    key = (parts[1], parts[3])
                    self._fetches[key] = max(self._fetches.get(key, -1.0), float(parts[0]))

    def _new_lines(self, path: Path, name: str) -> list[tuple[str, int]]:
        """Whole lines appended to `path` since the last read, each with its offset."""
        start = self._read_to.get(name, 0)
        try:
            with path.open("rb") as f:
                f.seek(0, os.SEEK_END)
                if f.tell() < start:  # the log was replaced: read it all again
                    start = 0
                    if name == "dnsmasq":
                        self._acks.clear()
                    else:
                        self._fetches.clear()
                f.seek(start)
                data = f.read()
        except OSError:
            return []
        data = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next call
        self._read_to[name] = start + len(data)
        out, offset = [], start
        for raw in data.splitlines(keepends=True):
            out.append((raw.decode(errors="replace"), offset))
            offset += len(raw)
        return out

    def report(self, host: str) -> dict[str, str] | None:
        try:
            text = (self.reports / host).read_text()
        except OSError:
            return None
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def installed(self, host: str) -> bool:
        """(install mode) whether the node's installer finished: its network boots go on to its disk."""
        return (self.reports / f"{host}.installed").exists()

    def forget_install(self, host: str) -> None:
        """The node gets the installer again at its next network boot (its disk is wiped)."""
        (self.reports / f"{host}.installed").unlink(missing_ok=True)

    def discovered(self, known: Collection[str], reserved: Collection[str] = ()) -> list[Discovered]:
        """Machines asking for an address whose MAC is not in the inventory: from the leases of the discovery range
        and from dnsmasq's "no address available" lines. Reported, never enrolled. A lease of a reserved address
        is an old one of a MAC the inventory no longer lists (that machine shows up by its requests instead)."""
        seen: dict[str, str] = {}
        for line in _read_from(self.dnsmasq_log, 0):
            if (m := _NO_ADDRESS.search(line)) and m["mac"] not in known:
                seen.setdefault(m["mac"], "")
        if self.leases.exists():
            for line in self.leases.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[1].lower() not in known and parts[2] not in reserved:
                    seen[parts[1].lower()] = parts[2]
        return [Discovered(mac, ip) for mac, ip in sorted(seen.items())]


def _read_from(path: Path, offset: int) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace").splitlines()
    except OSError:
        return []


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def _listening(address: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((address, port), timeout=0.5):
            return True
    except OSError:
        return False
