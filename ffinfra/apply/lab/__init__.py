"""The `lab` provider: a stack's nodes as systemd machines on this machine (recipe: shared/reference/lab-probe.md).

Each node is a named network namespace (ff-<stack>-<host>) with a veth `eth0` holding its management address,
plugged into a bridge that lives in the stack's own switch namespace (ffsw-<stack>), and an overlay root over the
host's / (every write lands in the node's upper dir) booted with systemd as its init by systemd-nspawn
(node_boot.sh), with the node's hostname and machine id, its own SSH host key and a key-only sshd. Units the host's
packages enable are disabled in the node; the roles enable what the node runs, exactly as on a real host, so the
roles' systemd units, drop-ins, reloads and restarts are the production ones. ffinfra's own venv stays visible at
its path (read-only) even under /tmp, so jobs on the nodes can use its Python (torch, for the training suite).
The host's own network namespace is never touched: no address, route, bridge or link is made there, and the
switch namespace has no uplink and forwards nothing. The operator reaches a node's sshd with
`ProxyCommand ip netns exec <ns> nc 127.0.0.1 22`: a loopback connection inside the node.

Bookkeeping is stacks/<name>/state/lab/lab.json (namespaces, the PID of each node's boot script) plus one folder
per node (overlay upper and work dirs, boot.log). A node reboots like a real one (`systemctl reboot`, or
`reboot()` here): its systemd stops and boots again on the same root. `destroy` powers every node off cleanly
(SIGTERM to systemd-nspawn: systemd stops its units), kills what is left in its network namespace by PID, then
deletes the namespaces and folders; each node's mounts lived in its boot script's mount namespace and are gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from ffinfra.apply.lab.naming import netns_name, switch_name, veth_name
from ffinfra.apply.provider import NodeSpec, NodeStatus, Progress, gateway_address, quiet
from ffinfra.atomic import write_atomic
from ffinfra.errors import OperationalError, UserError
from ffinfra.runtime.ssh import Endpoint
from ffinfra.topology.model import Topology

NODE_BOOT = Path(__file__).with_name("node_boot.sh")
NETNS_DIR = Path("/run/netns")
REQUIRED_TOOLS = {
    "systemd-nspawn": "systemd-container",
    "ip": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "nc": "netcat-openbsd",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}
DAEMONS = ("sshd", "munged", "slurmctld", "slurmd", "opensm", "ibsim")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0  # a clean poweroff takes 1-2 s (systemd stops every unit); then the node is killed


class RootRequired(UserError):
    pass


def require_root() -> None:
    if os.geteuid() != 0:
        raise RootRequired(
            "the lab provider needs root: it creates network namespaces, overlay mounts and PID namespaces for "
            "the nodes (and touches nothing outside them). Run it as root, e.g. `sudo .venv/bin/ffinfra up`"
        )


def require_tools() -> None:
    missing = [f"{t} ({pkg})" for t, pkg in REQUIRED_TOOLS.items() if not shutil.which(t)]
    if not Path("/usr/sbin/sshd").exists():
        missing.append("sshd (openssh-server)")
    if missing:
        raise OperationalError(
            "the lab needs tools that are not installed: " + ", ".join(missing) + "; run scripts/setup.sh --lab"
        )


def _run(argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(list(argv), capture_output=True, text=True, check=False)
    if check and r.returncode != 0:
        raise OperationalError(f"`{' '.join(argv)}` failed ({r.returncode}): {r.stderr.strip() or r.stdout.strip()}")
    return r


def _alive(pid: int | None) -> bool:
    """Alive and not a zombie (a killed node's unshare parent lingers as <defunct> until reaped)."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        return False
    return False


def _netns_ino(ns: str) -> int | None:
    try:
        return os.stat(NETNS_DIR / ns).st_ino
    except OSError:
        return None


def _pid_netns_ino(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def _netns_pids(ns: str) -> list[int]:
    if _netns_ino(ns) is None:
        return []
    r = _run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in r.stdout.split() if x.isdigit()]


class LabProvider:
    name = "lab"

    def __init__(self, stack: str, lab_dir: Path, topo: Topology | None = None):
        self.stack = stack
        self.dir = lab_dir
        self.topo = topo
        self.switch = switch_name(stack)

    # -- bookkeeping --------------------------------------------------------------------------------------------

    @property
    def record_path(self) -> Path:
        return self.dir / "lab.json"

    def _load(self) -> dict:
        try:
            data = json.loads(self.record_path.read_text())
        except (OSError, ValueError):
            data = {}
        data.setdefault("switch", self.switch)
        data.setdefault("nodes", {})
        return data

    def _save(self, data: dict) -> None:
        write_atomic(self.record_path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    def preflight(self) -> None:
        require_root()
        require_tools()

    # -- create -------------------------------------------------------------------------------------------------

    def create(
        self, nodes: Sequence[NodeSpec], secrets_dir: Path, on_progress: Progress = quiet, *, prune: bool = True
    ) -> dict[str, Endpoint]:
        require_root()
        require_tools()
        if self.topo is None:
            raise OperationalError("the lab provider needs the compiled topology to create nodes")
        rec = self._load()
        gateway = gateway_address(self.topo)
        prefix = nodes[0].prefixlen if nodes else 24
        self.dir.mkdir(parents=True, exist_ok=True)
        share = self.dir / "share"
        share.mkdir(exist_ok=True)
        hosts_file = self.dir / "hosts"
        hosts_file.write_text(_hosts_text(self.topo))

        # Nodes no longer in the spec go first.
        wanted = {n.name for n in nodes}
        for gone in sorted(set(rec["nodes"]) - wanted if prune else ()):
            on_progress(gone, "removing", "no longer in the spec")
            self._teardown_node(gone, rec["nodes"][gone])
            del rec["nodes"][gone]
            self._save(rec)

        switch_ok = _netns_ino(self.switch) is not None and rec.get("gateway") == f"{gateway}/{prefix}"
        if not switch_ok:
            # Without the switch every node's veth is gone too: start all over.
            for name, node in list(rec["nodes"].items()):
                self._teardown_node(name, node)
            rec["nodes"] = {}
            if _netns_ino(self.switch) is not None:
                _run(["ip", "netns", "del", self.switch])
            self._make_switch(gateway, prefix)
            rec["switch"] = self.switch
            rec["gateway"] = f"{gateway}/{prefix}"
            self._save(rec)

        starting: dict[str, subprocess.Popen[bytes]] = {}
        for n in nodes:
            old = rec["nodes"].get(n.name)
            if old and self._healthy(old, n):
                on_progress(n.name, "kept", f"running (systemd pid {self._init(old)})")
                continue
            if old or _netns_ino(netns_name(self.stack, n.name)) is not None:
                on_progress(n.name, "rebuilding", "was half-made or stopped")
                self._teardown_node(n.name, old or {"ns": netns_name(self.stack, n.name)})
            on_progress(n.name, "creating", n.address)
            rec["nodes"][n.name] = {
                "ns": netns_name(self.stack, n.name),
                "veth": veth_name(n.name),
                "address": n.address,
                "prefixlen": n.prefixlen,
                "interface": n.interface,
                "role": n.role,
                "boot_pid": None,
            }
            self._save(rec)  # before anything exists: an interrupted create can always be undone
            starting[n.name] = self._start_node(n, gateway, hosts_file, share, secrets_dir)
            rec["nodes"][n.name]["boot_pid"] = starting[n.name].pid
            self._save(rec)

        deadline = time.monotonic() + READY_TIMEOUT
        pending = dict(starting)
        while pending:
            for name, proc in list(pending.items()):
                init = _init_of(proc.pid)
                if init and _system_running(init):
                    on_progress(name, "ready", f"systemd pid {init}")
                    del pending[name]
                elif proc.poll() is not None:
                    log = self.dir / name / "boot.log"
                    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                    raise OperationalError(f"lab node {name} failed to boot (exit {proc.returncode}); {log}:\n{tail}")
            if pending and time.monotonic() > deadline:
                states = {n: _system_state(_init_of(p.pid)) for n, p in pending.items()}
                raise OperationalError(
                    f"lab nodes not booted after {READY_TIMEOUT:.0f} s: "
                    + ", ".join(f"{n} ({s})" for n, s in states.items())
                    + f"; see {self.dir}/<node>/boot.log"
                )
            if pending:
                time.sleep(0.1)
        return self.access()

    def _make_switch(self, gateway: str, prefix: int) -> None:
        sw = self.switch
        _run(["ip", "netns", "add", sw])
        for argv in (
            ["ip", "-n", sw, "link", "set", "lo", "up"],
            ["ip", "-n", sw, "link", "add", "br0", "type", "bridge"],
            ["ip", "-n", sw, "addr", "add", f"{gateway}/{prefix}", "dev", "br0"],
            ["ip", "-n", sw, "link", "set", "br0", "up"],
            # No uplink exists, and nothing is forwarded: the lab's traffic cannot leave its namespaces.
            ["ip", "netns", "exec", sw, "sysctl", "-q", "-w", "net.ipv4.ip_forward=0"],
        ):
            _run(argv)

    def _start_node(
        self, n: NodeSpec, gateway: str, hosts_file: Path, share: Path, secrets_dir: Path
    ) -> subprocess.Popen[bytes]:
        ns, veth, sw = netns_name(self.stack, n.name), veth_name(n.name), self.switch
        _run(["ip", "netns", "add", ns])
        # The pair is made inside the switch namespace and its node end moved straight into the node: no link
        # ever appears in the host's namespace.
        for argv in (
            ["ip", "-n", sw, "link", "add", veth, "type", "veth", "peer", "name", n.interface, "netns", ns],
            ["ip", "-n", sw, "link", "set", veth, "master", "br0", "up"],
            ["ip", "-n", ns, "link", "set", "lo", "up"],
            ["ip", "-n", ns, "addr", "add", f"{n.address}/{n.prefixlen}", "dev", n.interface],
            ["ip", "-n", ns, "link", "set", n.interface, "up"],
            # A dead-end default route (the switch forwards nothing): it gives ansible_default_ipv4 a value.
            ["ip", "-n", ns, "route", "add", "default", "via", gateway],
        ):
            _run(argv)
        d = self.dir / n.name
        d.mkdir(parents=True, exist_ok=True)
        log = (d / "boot.log").open("ab")
        try:
            # nsenter and unshare without --fork exec what follows: the PID is the boot script's, stable across
            # reboots. nspawn shares the node's network namespace, so its /sys shows the node's interfaces.
            return subprocess.Popen(
                [
                    "nsenter",
                    f"--net={NETNS_DIR / ns}",
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "bash",
                    str(NODE_BOOT),
                    n.name,
                    str(NETNS_DIR / ns),
                    str(d.resolve()),
                    str(hosts_file.resolve()),
                    str(share.resolve()),
                    str(secrets_dir.resolve()),
                    str(self.dir.resolve().parent),
                    machine_id(self.stack, n.name),
                    str(Path(sys.prefix).resolve()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

    def _init(self, rec: dict) -> int | None:
        """The node's systemd (PID 1 inside), if the node is up and it is the node's (same network namespace)."""
        init = _init_of(rec.get("boot_pid"))
        ino = _netns_ino(rec.get("ns", ""))
        return init if init and ino is not None and _pid_netns_ino(init) == ino else None

    def _healthy(self, rec: dict, n: NodeSpec) -> bool:
        init = self._init(rec)
        return (
            init is not None
            and rec.get("address") == n.address
            and rec.get("prefixlen") == n.prefixlen
            and Path(f"/proc/{init}/root/sys/class/net/{n.interface}").exists()
            and _system_running(init)
        )

    # -- reboot -------------------------------------------------------------------------------------------------

    def reboot(self, host: str, timeout: float = READY_TIMEOUT) -> None:
        """Reboot one node as a real one reboots: its systemd stops every unit, and the node boots again on the same
        root (what the roles installed and enabled is still there). Returns once it runs again."""
        rec = self._load()["nodes"].get(host)
        old = self._init(rec) if rec else None
        if rec is None or old is None:
            raise OperationalError(f"lab node {host} is not running")
        _run(["nsenter", "-t", str(old), "-a", "systemctl", "reboot"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            init = self._init(rec)
            if init and init != old and _system_running(init):
                return
            if not _alive(rec.get("boot_pid")):
                raise OperationalError(
                    f"lab node {host} did not come back from its reboot; see {self.dir / host}/boot.log"
                )
            time.sleep(0.1)
        raise OperationalError(f"lab node {host} not running {timeout:.0f} s after its reboot")

    # -- destroy ------------------------------------------------------------------------------------------------

    def _power_off(self, nodes: dict[str, dict]) -> dict[str, str]:
        """Shut the nodes down cleanly, all at once: SIGTERM to each systemd-nspawn is a poweroff (systemd stops
        its units). What has not ended by STOP_TIMEOUT, and anything left in a node's network namespace, is killed
        by PID. Returns the nodes that had to be killed, each with the last line its console printed."""
        boots = {name: rec.get("boot_pid") for name, rec in nodes.items() if _alive(rec.get("boot_pid"))}
        for boot in boots.values():
            for child in _children(boot):
                if _comm(child) == "systemd-nspawn":
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(_alive(p) for p in boots.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        forced = {name: _last_line(self.dir / name / "boot.log") for name, p in boots.items() if _alive(p)}
        for name, rec in nodes.items():
            victims = [p for p in [rec.get("boot_pid")] if _alive(p)]
            victims += [c for p in victims for c in _descendants(p)]
            victims += [p for p in _netns_pids(rec.get("ns") or netns_name(self.stack, name)) if p not in victims]
            for p in victims:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p, signal.SIGKILL)
            kill_deadline = time.monotonic() + 5
            while any(_alive(p) for p in victims) and time.monotonic() < kill_deadline:
                time.sleep(0.02)
        return forced

    def _teardown_node(self, name: str, rec: dict) -> None:
        self._power_off({name: rec})
        ns = rec.get("ns") or netns_name(self.stack, name)
        if _netns_ino(ns) is not None:
            _run(["ip", "netns", "del", ns], check=False)
        if self.switch and _netns_ino(self.switch) is not None:
            _run(["ip", "-n", self.switch, "link", "del", rec.get("veth") or veth_name(name)], check=False)
        shutil.rmtree(self.dir / name, ignore_errors=True)

    def remove(self, names: Sequence[str], on_progress: Progress = quiet) -> list[str]:
        require_root()
        rec = self._load()
        nodes = {n: rec["nodes"][n] for n in names if n in rec["nodes"]}
        for name, node in nodes.items():
            on_progress(name, "powering off", node["ns"])
        for name, last in self._power_off(nodes).items():
            on_progress(name, "killed", f"still shutting down after {STOP_TIMEOUT:.0f} s; its console: {last}")
        for name, node in nodes.items():
            self._teardown_node(name, node)
            rec["nodes"].pop(name)
            self._save(rec)
            on_progress(name, "gone", "")
        return list(nodes)

    def destroy(self, on_progress: Progress = quiet) -> list[str]:
        require_root()
        rec = self._load()
        names = list(rec["nodes"])
        if self.topo is not None:  # also what a lost lab.json would have named
            names += [h.name for h in self.topo.hosts if h.name not in rec["nodes"]]
        nodes = {n: rec["nodes"].get(n, {"ns": netns_name(self.stack, n)}) for n in names}
        nodes = {n: node for n, node in nodes.items() if n in rec["nodes"] or _netns_ino(node["ns"]) is not None}
        for name, node in nodes.items():
            on_progress(name, "powering off", node["ns"])
        forced = self._power_off(nodes)  # every node at once: a clean shutdown takes seconds, not seconds per node
        for name, last in forced.items():
            on_progress(name, "killed", f"still shutting down after {STOP_TIMEOUT:.0f} s; its console: {last}")
        done = []
        for name, node in nodes.items():
            self._teardown_node(name, node)
            done.append(name)
            on_progress(name, "gone", "")
            rec["nodes"].pop(name, None)
            if self.record_path.exists():
                self._save(rec)
        if _netns_ino(self.switch) is not None:
            _run(["ip", "netns", "del", self.switch], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)
        return done

    # -- status / access -----------------------------------------------------------------------------------------

    def status(self) -> dict[str, NodeStatus]:
        rec = self._load()
        out: dict[str, NodeStatus] = {}
        for name, node in rec["nodes"].items():
            pid = self._init(node)
            ino = _netns_ino(node["ns"])
            if pid is not None:
                seen = set()
                for p in _netns_pids(node["ns"]):
                    with contextlib.suppress(OSError):
                        seen.add(Path(f"/proc/{p}/comm").read_text().strip())
                services = [d for d in DAEMONS if d in seen]
                out[name] = NodeStatus(name, "running", node["address"], pid, services, node["ns"])
            elif ino is not None:
                out[name] = NodeStatus(name, "broken", node["address"], None, [], "namespace without its systemd")
            else:
                out[name] = NodeStatus(name, "stopped", node["address"], None, [], "")
        return out

    def access(self) -> dict[str, Endpoint]:
        rec = self._load()
        return {
            name: Endpoint(name, node["address"], proxy_command=f"ip netns exec {node['ns']} nc 127.0.0.1 22")
            for name, node in rec["nodes"].items()
            if _alive(node.get("boot_pid"))
        }

    def configured(self, hosts: Sequence[str]) -> None:
        """Nothing to record: a lab node is configured when its roles are (state.json says so)."""

    def leftovers(self) -> list[str]:
        """Namespaces or processes of this stack that still exist (what `down` must leave: nothing). Names are
        computed, not matched by prefix: a long stack or host name gives a hashed namespace name (naming.py)."""
        rec = self._load()
        hosts = set(rec["nodes"]) | ({h.name for h in self.topo.hosts} if self.topo is not None else set())
        names = {rec["nodes"].get(h, {}).get("ns") or netns_name(self.stack, h): h for h in sorted(hosts)}
        left = [f"netns {ns} ({host})" for ns, host in sorted(names.items()) if _netns_ino(ns) is not None]
        if _netns_ino(self.switch) is not None:
            left.append(f"netns {self.switch} (the stack's switch)")
        left += [f"pid {n['boot_pid']} ({name})" for name, n in rec["nodes"].items() if _alive(n.get("boot_pid"))]
        return left


def _last_line(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no console log)"
    return lines[-1][-200:] if lines else "(empty)"


def _children(pid: int | None) -> list[int]:
    if not pid:
        return []
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except (OSError, ValueError):
        return []


def _descendants(pid: int) -> list[int]:
    out = []
    for c in _children(pid):
        out += [c, *_descendants(c)]
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _init_of(boot_pid: int | None) -> int | None:
    """The systemd of a node from its boot script's PID: boot script → systemd-nspawn → the container's PID 1."""
    if not _alive(boot_pid):
        return None
    for nspawn in _children(boot_pid):
        if _comm(nspawn) == "systemd-nspawn":
            for init in _children(nspawn):
                if _comm(init) == "systemd" and _alive(init):
                    return init
    return None


def _system_state(init: int | None) -> str:
    """`systemctl is-system-running` inside the node (starting, running, degraded, ...), or "down"."""
    if init is None:
        return "down"
    r = subprocess.run(
        ["nsenter", "-t", str(init), "-a", "systemctl", "is-system-running"],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    return r.stdout.strip() or "unknown"


def _system_running(init: int | None) -> bool:
    """Booted: every unit started (degraded: one failed, which the checks after `up` name; not ours to wait on)."""
    return _system_state(init) in ("running", "degraded")


def machine_id(stack: str, host: str) -> str:
    """A node's /etc/machine-id: 32 hex digits, its own and the same on every boot."""
    return hashlib.sha256(f"ffinfra/{stack}/{host}".encode()).hexdigest()[:32]


def _hosts_text(topo: Topology) -> str:
    """The node's /etc/hosts at boot: the same file the hosts artifact installs (so applying it changes nothing)."""
    from ffinfra.render.hosts import render_hosts

    for a in render_hosts(topo):
        if a.dest == "/etc/hosts":
            return a.content
    lines = ["127.0.0.1 localhost"] + [f"{h.mgmt_ip} {h.name}" for h in topo.hosts]
    return "\n".join(lines) + "\n"
