"""The `lab` provider: a stack's nodes as namespaces on this machine (recipe: shared/reference/lab-probe.md).

Each node is a named network namespace (ff-<stack>-<host>) with a veth `eth0` holding its management address,
plugged into a bridge that lives in the stack's own switch namespace (ffsw-<stack>), plus a private mount, UTS,
IPC and PID namespace whose PID 1 is node_init.sh: an overlay over the host's / (every write lands in the node's
upper dir), fresh /proc, /sys, /run, /tmp, the node's own host key and a key-only sshd. ffinfra's own venv stays
visible at its path (read-only) even under /tmp, so jobs on the nodes can use its Python (torch, for the
training suite). The host's own network
namespace is never touched: no address, route, bridge or link is made there, and the switch namespace has no
uplink and forwards nothing. The operator reaches a node's sshd with
`ProxyCommand ip netns exec <ns> nc 127.0.0.1 22`: a loopback connection inside the node.

Bookkeeping is stacks/<name>/state/lab/lab.json (namespaces, PIDs) plus one folder per node (overlay upper and
work dirs, init.log). `destroy` kills each node's PID 1 by PID (the kernel then ends its whole PID namespace and
its mounts) and every process still in the node's network namespace, then deletes the namespaces and folders.
"""

from __future__ import annotations

import contextlib
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

NODE_INIT = Path(__file__).with_name("node_init.sh")
NETNS_DIR = Path("/run/netns")
REQUIRED_TOOLS = {
    "ip": "iproute2",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "nc": "netcat-openbsd",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}
DAEMONS = ("sshd", "munged", "slurmctld", "slurmd", "opensm", "ibsim")
READY_TIMEOUT = 30.0


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
        self, nodes: Sequence[NodeSpec], secrets_dir: Path, on_progress: Progress = quiet
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
        for gone in sorted(set(rec["nodes"]) - wanted):
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
                on_progress(n.name, "kept", f"running (pid {old['pid']})")
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
                "pid": None,
                "unshare_pid": None,
            }
            self._save(rec)  # before anything exists: an interrupted create can always be undone
            starting[n.name] = self._start_node(n, gateway, hosts_file, share, secrets_dir)
            rec["nodes"][n.name]["unshare_pid"] = starting[n.name].pid
            self._save(rec)

        deadline = time.monotonic() + READY_TIMEOUT
        pending = dict(starting)
        while pending:
            for name, proc in list(pending.items()):
                child = _first_child(proc.pid)
                if child and Path(f"/proc/{child}/root/run/node-ready").exists():
                    rec["nodes"][name]["pid"] = child
                    on_progress(name, "ready", f"pid {child}")
                    del pending[name]
                elif proc.poll() is not None:
                    log = self.dir / name / "init.log"
                    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                    self._save(rec)
                    raise OperationalError(f"lab node {name} failed to boot (exit {proc.returncode}); {log}:\n{tail}")
            if pending and time.monotonic() > deadline:
                self._save(rec)
                raise OperationalError(f"lab nodes not ready after {READY_TIMEOUT:.0f} s: {', '.join(pending)}")
            if pending:
                time.sleep(0.05)
        self._save(rec)
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
        log = (d / "init.log").open("wb")
        try:
            return subprocess.Popen(
                [
                    "nsenter",
                    f"--net={NETNS_DIR / ns}",
                    "unshare",
                    "--mount",
                    "--uts",
                    "--ipc",
                    "--pid",
                    "--fork",
                    "--propagation",
                    "private",
                    "bash",
                    str(NODE_INIT),
                    n.name,
                    str(d.resolve()),
                    str(hosts_file.resolve()),
                    str(share.resolve()),
                    str(secrets_dir.resolve()),
                    str(self.dir.resolve().parent),
                    str(Path(sys.prefix).resolve()),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()

    def _healthy(self, rec: dict, n: NodeSpec) -> bool:
        pid = rec.get("pid")
        ino = _netns_ino(rec.get("ns", ""))
        return (
            bool(pid)
            and _alive(pid)
            and ino is not None
            and _pid_netns_ino(pid) == ino
            and rec.get("address") == n.address
            and rec.get("prefixlen") == n.prefixlen
            and Path(f"/proc/{pid}/root/run/node-ready").exists()
            and Path(f"/proc/{pid}/root/sys/class/net/{n.interface}").exists()
        )

    # -- destroy ------------------------------------------------------------------------------------------------

    def _teardown_node(self, name: str, rec: dict) -> None:
        ns = rec.get("ns") or netns_name(self.stack, name)
        ino = _netns_ino(ns)
        victims: list[int] = []
        pid = rec.get("pid")
        # Kill a recorded PID only if it still is that node (PIDs are reused): same network namespace.
        if pid and _alive(pid) and ino is not None and _pid_netns_ino(pid) == ino:
            victims.append(pid)
        victims += [p for p in _netns_pids(ns) if p not in victims]
        for p in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        waits = [p for p in [*victims, rec.get("unshare_pid")] if p]
        deadline = time.monotonic() + 5
        while any(_alive(p) for p in waits) and time.monotonic() < deadline:
            time.sleep(0.02)
        if ino is not None:
            _run(["ip", "netns", "del", ns], check=False)
        if self.switch and _netns_ino(self.switch) is not None:
            _run(["ip", "-n", self.switch, "link", "del", rec.get("veth") or veth_name(name)], check=False)
        shutil.rmtree(self.dir / name, ignore_errors=True)

    def destroy(self, on_progress: Progress = quiet) -> list[str]:
        require_root()
        rec = self._load()
        names = list(rec["nodes"])
        if self.topo is not None:  # also what a lost lab.json would have named
            names += [h.name for h in self.topo.hosts if h.name not in rec["nodes"]]
        done = []
        for name in names:
            node = rec["nodes"].get(name, {"ns": netns_name(self.stack, name)})
            if name in rec["nodes"] or _netns_ino(node["ns"]) is not None:
                on_progress(name, "destroying", node["ns"])
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
            pid = node.get("pid")
            ino = _netns_ino(node["ns"])
            if pid and _alive(pid) and ino is not None and _pid_netns_ino(pid) == ino:
                seen = set()
                for p in _netns_pids(node["ns"]):
                    with contextlib.suppress(OSError):
                        seen.add(Path(f"/proc/{p}/comm").read_text().strip())
                services = [d for d in DAEMONS if d in seen]
                out[name] = NodeStatus(name, "running", node["address"], pid, services, node["ns"])
            elif ino is not None:
                out[name] = NodeStatus(name, "broken", node["address"], pid, [], "namespace without its PID 1")
            else:
                out[name] = NodeStatus(name, "stopped", node["address"], None, [], "")
        return out

    def access(self) -> dict[str, Endpoint]:
        rec = self._load()
        return {
            name: Endpoint(name, node["address"], proxy_command=f"ip netns exec {node['ns']} nc 127.0.0.1 22")
            for name, node in rec["nodes"].items()
            if _alive(node.get("pid"))
        }

    def leftovers(self) -> list[str]:
        """Namespaces or processes of this stack that still exist (what `down` must leave: nothing). Names are
        computed, not matched by prefix: a long stack or host name gives a hashed namespace name (naming.py)."""
        rec = self._load()
        hosts = set(rec["nodes"]) | ({h.name for h in self.topo.hosts} if self.topo is not None else set())
        names = {rec["nodes"].get(h, {}).get("ns") or netns_name(self.stack, h): h for h in sorted(hosts)}
        left = [f"netns {ns} ({host})" for ns, host in sorted(names.items()) if _netns_ino(ns) is not None]
        if _netns_ino(self.switch) is not None:
            left.append(f"netns {self.switch} (the stack's switch)")
        left += [f"pid {n['pid']} ({name})" for name, n in rec["nodes"].items() if n.get("pid") and _alive(n["pid"])]
        return left


def _first_child(pid: int) -> int | None:
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


def _hosts_text(topo: Topology) -> str:
    """The node's /etc/hosts at boot: the same file the hosts artifact installs (so applying it changes nothing)."""
    from ffinfra.render.hosts import render_hosts

    for a in render_hosts(topo):
        if a.dest == "/etc/hosts":
            return a.content
    lines = ["127.0.0.1 localhost"] + [f"{h.mgmt_ip} {h.name}" for h in topo.hosts]
    return "\n".join(lines) + "\n"
