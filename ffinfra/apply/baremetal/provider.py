"""The bare-metal provider: servers with BMCs, network-booted from the boot server on this machine.

create() takes every node of the stack through its lifecycle (machine.py) in parallel, at most
provisioning.bmc.parallel at once: set a one-time network boot and power on through the node's BMC (Redfish or
IPMI), then watch the boot server see it take its reserved address, fetch its image and report, and log in over
SSH with the host key ffinfra generated for it (pinned in known_hosts). A node that already reported is never
powered on again: a re-run of an interrupted provision resumes each node where it stopped. One node's failure
(a BMC that refuses the login, times out, never powers on; a node that never reports) is reported with its name
while the others carry on; create() then fails naming each of them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from ffinfra.apply.baremetal import boot_server as bs
from ffinfra.apply.baremetal.bmc import (
    BmcError,
    Credentials,
    connect,
    for_each_node,
    parse_bmc_address,
    set_power,
)
from ffinfra.apply.baremetal.credentials import resolve
from ffinfra.apply.baremetal.machine import BOOTED, NodeBook
from ffinfra.apply.provider import NodeSpec, NodeStatus, Progress, quiet
from ffinfra.errors import OperationalError, UserError
from ffinfra.render.provision import network_booted, render_provision, server_address
from ffinfra.runtime.secrets import StackSecrets
from ffinfra.runtime.ssh import Endpoint, Remote
from ffinfra.topology.model import Host, Topology

POWER_WAIT_S = 120.0  # a BMC reports the new power state within this (real ones take seconds)
IMAGE_PATH = "/image/initrd.img"


class BootFailed(BmcError):
    """A node powered on but did not come up: names the node and how far it got (its BMC did its part)."""

    kind = "boot"
    transient = False

    def __init__(self, node: str, detail: str):
        super().__init__(node, "", detail, transient=False)
        self.args = (f"{node}: {detail}",)


@dataclass(frozen=True)
class Outcome:
    host: str
    endpoint: Endpoint
    resumed: bool  # True: it had booted already and was not powered on again


class BaremetalProvider:
    name = "baremetal"

    def __init__(self, stack: str, state_dir: Path, topo: Topology | None, spec_dir: Path | None = None):
        self.stack = stack
        self.dir = state_dir
        self.topo = topo
        self.spec_dir = spec_dir or state_dir.parent.parent
        self.book = NodeBook(state_dir / "nodes.json")
        self._credentials: Credentials | None = None
        self.reinstall: set[str] = set()  # install mode: these nodes get the installer again (`provision --reinstall`)

    # -- set-up -----------------------------------------------------------------------------------------------

    def _topo(self) -> Topology:
        if self.topo is None:
            raise OperationalError("the bare-metal provider needs the compiled topology")
        return self.topo

    def _server(self) -> bs.BootServer:
        topo = self._topo()
        srv = topo.spec.provisioning.server
        return bs.BootServer(self.dir / "boot", server_address(topo) or "", srv.interface or "", srv.http_port)

    def _hosts(self, names: Sequence[str] | None = None) -> list[Host]:
        topo = self._topo()
        booted = {h.name: h for h in network_booted(topo)}
        wanted = [h.name for h in topo.hosts] if names is None else list(names)
        missing = [n for n in wanted if n not in booted]
        if missing:
            if topo.spec.provisioning.method != "pxe":
                raise UserError("provisioning.method is none: ffinfra does not power or boot this stack's nodes")
            raise UserError(
                f"no boot MAC for {', '.join(missing)}: the bare-metal provider needs each node's mac and bmc_address "
                "in the inventory CSV (inventory.csv in the spec)"
            )
        no_bmc = [n for n in wanted if not booted[n].bmc_url]
        if no_bmc:
            raise UserError(f"no BMC for {', '.join(no_bmc)}: give bmc_address in the inventory CSV")
        return [booted[n] for n in wanted]

    def credentials(self) -> Credentials:
        """Resolved once per provider (a vault file means an ansible-vault run), then held in memory only."""
        if self._credentials is None:
            self._credentials = resolve(self._topo().spec.provisioning.bmc, self.spec_dir)
        return self._credentials

    def preflight(self) -> None:
        topo = self._topo()
        srv = topo.spec.provisioning.server
        problems = []
        if not server_address(topo):
            problems.append("provisioning.server.address is not set (nor network.management.gateway)")
        if not srv.interface:
            problems.append("provisioning.server.interface is not set: the netdev dnsmasq serves on")
        elif not _has_address(srv.interface, server_address(topo) or ""):
            problems.append(
                f"this machine has no address {server_address(topo)} on {srv.interface} "
                "(provisioning.server.address and .interface)"
            )
        for tool in ("dnsmasq", "dropbearconvert"):
            if shutil.which(tool) is None:
                problems.append(f"{tool} is not installed (apt-get install dnsmasq dropbear-bin)")
        if problems:
            raise UserError("the bare-metal provider cannot run here: " + "; ".join(problems))
        self._hosts()
        self.credentials()

    # -- create -----------------------------------------------------------------------------------------------

    def create(
        self, nodes: Sequence[NodeSpec], secrets_dir: Path, on_progress: Progress = quiet, *, prune: bool = True
    ) -> dict[str, Endpoint]:
        # the callers (`up`, `provision`) ran preflight() before taking the lock. prune changes nothing here: a
        # server no longer in the inventory is the operator's to power off (`ffinfra power STACK NODE off`).
        hosts = self._hosts([n.name for n in nodes])
        creds = self.credentials()
        # every node's files and address, not only those booted now: the others boot from them too
        server = self.publish(self._hosts(), secrets_dir, on_progress)
        secrets = StackSecrets(secrets_dir)
        access = self._topo().spec.provisioning.bmc

        def action(h: Host) -> Outcome:
            return self._bring_up(h, creds, server, secrets, on_progress)

        results = for_each_node(
            {h.name: (lambda h=h: action(h)) for h in hosts},
            parallel=access.parallel,
            retries=access.retries,
            backoff_s=2.0,
            on_progress=lambda a: (
                a.error and on_progress(a.node, "retrying" if a.retry_in_s is not None else "failed", a.error.detail)
            ),
        )
        topo = self._topo()
        for d in server.discovered({h.mac or "" for h in topo.hosts}, {h.mgmt_ip for h in topo.hosts}):
            on_progress(d.mac, "discovered", f"not in the inventory{', leased ' + d.address if d.address else ''}")
        failed = {n: r for n, r in results.items() if not isinstance(r, Outcome)}
        if failed:
            raise OperationalError(
                f"{len(failed)} of {len(hosts)} nodes did not come up: " + "; ".join(str(e) for e in failed.values())
            )
        return {n: r.endpoint for n, r in results.items() if isinstance(r, Outcome)}

    def publish(self, hosts: list[Host], secrets_dir: Path, on_progress: Progress = quiet) -> bs.BootServer:
        """Everything the boot server serves, then the boot server itself (started, or restarted on a new
        dnsmasq config)."""
        topo = self._topo()
        prov = topo.spec.provisioning
        secrets = StackSecrets(secrets_dir)
        image_dir = self._image(on_progress) if prov.mode == "stateless" else None
        provision = {a.path: a.content for a in render_provision(topo)}
        pub = secrets.operator_pub.read_text()
        files: dict[str, dict[str, bytes]] = {}
        for h in hosts:
            f = {"hostname": f"{h.name}\n".encode(), "authorized_keys": pub.encode()}
            if prov.mode == "stateless":
                f["dropbear_host_key"] = _dropbear_key(secrets.host_key(h.name))
            else:
                f["user-data"] = _seed_user_data(provision[f"provision/install/{h.name}/user-data"], secrets, h.name)
                f["meta-data"] = provision[f"provision/install/{h.name}/meta-data"].encode()
            files[h.name] = f
        server = self._server()
        changed = server.publish(provision, image_dir, files, {h.name: h.mgmt_ip for h in hosts})
        started = server.ensure_running(restart_dnsmasq=changed)
        if started:
            on_progress("boot-server", "started", ", ".join(started) + f" on {server.interface}")
        return server

    def _image(self, on_progress: Progress) -> Path:
        from ffinfra.apply.baremetal.image import ImageRecipe, build_image

        spec = self._topo().spec.provisioning.image
        recipe = ImageRecipe(kernel_package=spec.kernel_package, extra_modules=tuple(spec.modules))
        out = self.dir / "image"
        build_image(recipe, out, self.dir / "cache", on_progress=lambda m: on_progress("image", "build", m))
        return out

    def _bring_up(
        self, h: Host, creds: Credentials, server: bs.BootServer, secrets: StackSecrets, on_progress: Progress
    ) -> Outcome:
        timeout = self._topo().spec.provisioning.boot_timeout_s
        rec = self.book.get(h.name, h.mac or "", h.mgmt_ip)
        ep = Endpoint(h.name, h.mgmt_ip)
        if h.name in self.reinstall:
            server.forget_install(h.name)
            on_progress(h.name, "reinstall", "its next network boot runs the installer: the disk is wiped")
        elif rec.state in BOOTED:
            if _ssh_ok(ep, secrets):
                self.book.move(h.name, "reachable")
                on_progress(h.name, "kept", f"{rec.state}; reachable over SSH, not powered on again")
                return Outcome(h.name, ep, True)
            on_progress(h.name, "lost", f"was {rec.state}, SSH does not answer now: powering on again")
        elif rec.state != "registered" and time.time() - rec.powered_on_at < timeout:
            on_progress(h.name, "resuming", f"{rec.state}, powered on {time.time() - rec.powered_on_at:.0f} s ago")
            return self._watch(h, server, secrets, on_progress, resumed=True)
        self._power_on(h, creds, server, on_progress)
        return self._watch(h, server, secrets, on_progress, resumed=False)

    def _power_on(self, h: Host, creds: Credentials, server: bs.BootServer, on_progress: Progress) -> None:
        access = self._topo().spec.provisioning.bmc
        bmc = connect(h.name, parse_bmc_address(h.bmc_url or ""), creds, access.timeout_s)
        try:
            bmc.set_pxe_once()
            was = bmc.power_state()
            mark, now = server.log_marks()
            self.book.move(h.name, "powering_on", powered_on_at=now, dhcp_mark=mark)
            on_progress(h.name, "powering on", f"network boot once, {'cycle' if was == 'on' else 'on'}")
            try:
                set_power(h.name, bmc, "cycle" if was == "on" else "on", wait_s=POWER_WAIT_S)
            except BmcError:
                # not known to be on: a retry (or a re-run) must power it on, not wait for a boot
                self.book.move(h.name, "powering_on", powered_on_at=0.0)
                raise
        finally:
            bmc.close()

    def _watch(
        self, h: Host, server: bs.BootServer, secrets: StackSecrets, on_progress: Progress, *, resumed: bool
    ) -> Outcome:
        timeout = self._topo().spec.provisioning.boot_timeout_s
        rec = self.book.nodes[h.name]
        deadline = rec.powered_on_at + timeout
        ep = Endpoint(h.name, h.mgmt_ip)
        fetch = IMAGE_PATH if self._topo().spec.provisioning.mode == "stateless" else f"/install/{h.name}/preseed.cfg"
        while True:
            rec = self.book.nodes[h.name]
            if not rec.at_least("dhcp_seen") and (ip := server.dhcp_acked(h.mac or "", rec.dhcp_mark)):
                self.book.move(h.name, "dhcp_seen")
                on_progress(h.name, "dhcp", f"{h.mac} took {ip}")
            if not rec.at_least("image_fetched") and server.fetched(h.mgmt_ip, fetch, rec.powered_on_at):
                self.book.move(h.name, "image_fetched")
                on_progress(h.name, "image", f"fetched {fetch}")
            report = server.report(h.name)
            if report and float(report.get("received", 0)) >= rec.powered_on_at and not rec.at_least("reported"):
                self.book.move(h.name, "reported", boot_id=report.get("boot_id", ""))
                on_progress(h.name, "reported", f"kernel {report.get('kernel', '?')}, {report.get('ip', '?')}")
            if self.book.nodes[h.name].at_least("reported") and _ssh_ok(ep, secrets):
                self.book.move(h.name, "reachable")
                on_progress(h.name, "reachable", f"SSH as root at {h.mgmt_ip}, host key pinned")
                return Outcome(h.name, ep, resumed)
            if time.time() > deadline:
                state = self.book.nodes[h.name].state
                hint = {
                    "powering_on": "no DHCP request seen from its boot MAC: check the MAC, the boot order and the "
                    "switch port / DHCP relay",
                    "dhcp_seen": f"it took its address but never fetched {fetch}: check iPXE and the HTTP port",
                    "image_fetched": "it fetched its image but never reported: see its serial console",
                    "reported": "it reported but SSH with its pinned host key failed",
                }.get(state, "")
                error = BootFailed(h.name, f"not up {timeout} s after power-on (last: {state}); {hint}")
                self.book.fail(h.name, str(error))
                raise error
            time.sleep(1.0)

    # -- the other provider calls -----------------------------------------------------------------------------

    def power(self, names: Sequence[str], action: str, on_progress: Progress = quiet) -> dict[str, str | BmcError]:
        """`ffinfra power`: on, off, cycle or status of these nodes through their BMCs (no network boot set)."""
        hosts = self._hosts(names)
        creds = self.credentials()
        access = self._topo().spec.provisioning.bmc

        def one(h: Host) -> str:
            bmc = connect(h.name, parse_bmc_address(h.bmc_url or ""), creds, access.timeout_s)
            try:
                if action == "status":
                    return bmc.power_state()
                return set_power(h.name, bmc, action, wait_s=POWER_WAIT_S)  # type: ignore[arg-type]
            finally:
                bmc.close()

        return for_each_node(
            {h.name: (lambda h=h: one(h)) for h in hosts},
            parallel=access.parallel,
            retries=access.retries,
            backoff_s=2.0,
            on_progress=lambda a: a.error and on_progress(a.node, "retrying", a.error.detail),
        )

    def destroy(self, on_progress: Progress = quiet) -> list[str]:
        """Stop the boot server and power every node off; a node whose BMC failed keeps its record, so `down`
        names it as left behind. The others' records go (a next `provision` boots them again)."""
        for name in self._server().stop():
            on_progress("boot-server", "stopped", name)
        done, _ = self._off(sorted(self.book.nodes), on_progress)
        return done

    def remove(self, names: Sequence[str], on_progress: Progress = quiet) -> list[str]:
        """Power these nodes off and forget their records (the boot server stays for the others); a BMC that
        failed is an error, and its node keeps its record."""
        done, failed = self._off(names, on_progress)
        if failed:
            raise OperationalError("; ".join(str(e) for e in failed.values()))
        return done

    def _off(self, names: Sequence[str], on_progress: Progress) -> tuple[list[str], dict[str, BmcError]]:
        """Power the recorded ones of `names` off through their BMCs and forget them: (forgotten, failed). A
        node gone from the inventory took its BMC address with it: its record goes, and it is named as left on."""
        in_inventory = {h.name for h in network_booted(self._topo()) if h.bmc_url}
        recorded = [n for n in names if n in self.book.nodes]
        for name in [n for n in recorded if n not in in_inventory]:
            self.book.forget(name)
            on_progress(name, "left on", "no longer in the inventory: power it off through its BMC by hand")
        known = [n for n in recorded if n in in_inventory]
        results = self.power(known, "off", on_progress) if known else {}
        failed = {n: r for n, r in results.items() if isinstance(r, BmcError)}
        for name, error in failed.items():
            on_progress(name, "failed", str(error))
        done = [n for n in known if n not in failed]
        for name in done:
            self.book.forget(name)
            on_progress(name, "off", "")
        return done, failed

    def status(self) -> dict[str, NodeStatus]:
        out = {}
        for name, rec in sorted(self.book.nodes.items()):
            state = "running" if rec.state in ("reachable", "configured") else "broken" if rec.error else "stopped"
            out[name] = NodeStatus(name, state, rec.address, None, [], rec.error or rec.state)
        return out

    def access(self) -> dict[str, Endpoint]:
        up = ("reachable", "configured")
        return {n: Endpoint(n, r.address) for n, r in sorted(self.book.nodes.items()) if r.state in up}

    def configured(self, hosts: Sequence[str]) -> None:
        for h in hosts:
            if h in self.book.nodes:
                self.book.move(h, "configured")

    def reboot(self, host: str) -> None:
        """Power-cycle into a network boot again and wait until the node reports and answers SSH."""
        (h,) = self._hosts([host])
        server = self._server()
        secrets = StackSecrets(self.spec_dir / "secrets")
        self._power_on(h, self.credentials(), server, quiet)
        self._watch(h, server, secrets, quiet, resumed=False)

    def leftovers(self) -> list[str]:
        running = [f"boot server {n} (pid {p})" for n, p in self._server().running().items() if p]
        return running + [f"{n} (not powered off)" for n in self.book.nodes]


# -- helpers ------------------------------------------------------------------------------------------------------


def _has_address(interface: str, address: str) -> bool:
    out = subprocess.run(["ip", "-o", "addr", "show", "dev", interface], capture_output=True, text=True, check=False)
    return out.returncode == 0 and any(f" {address}/" in line for line in out.stdout.splitlines())


def _dropbear_key(openssh_key: Path) -> bytes:
    """The node's host key in dropbear's format (dropbearconvert), for the stateless image's SSH server."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "key"
        proc = subprocess.run(
            ["dropbearconvert", "openssh", "dropbear", str(openssh_key), str(out)], capture_output=True, check=False
        )
        if proc.returncode != 0:
            raise OperationalError(f"dropbearconvert failed on {openssh_key}: {proc.stderr.decode(errors='replace')}")
        return out.read_bytes()


def _seed_user_data(rendered: str, secrets: StackSecrets, host: str) -> bytes:
    """The rendered user-data plus the stack's SSH key and the node's own host key: served to that node only."""
    data = yaml.safe_load(rendered) or {}
    data["ssh_authorized_keys"] = [secrets.operator_pub.read_text().strip()]
    key = secrets.host_key(host)
    data["ssh_keys"] = {
        "ed25519_private": key.read_text(),
        "ed25519_public": Path(f"{key}.pub").read_text().strip(),
    }
    return ("#cloud-config\n" + yaml.safe_dump(data, sort_keys=True)).encode()


def _ssh_ok(ep: Endpoint, secrets: StackSecrets) -> bool:
    """Log in as root with the stack's key, the host key checked against the one ffinfra generated for the node
    (the stack's known_hosts is written once every node is up: until then, a file with this node's line)."""
    with tempfile.NamedTemporaryFile("w", suffix=".known_hosts") as kh:
        kh.write(f"{ep.name},{ep.address} {secrets.public_host_key(ep.name)}\n")
        kh.flush()
        remote = Remote([ep], secrets.operator_key, Path(kh.name), connect_timeout=5)
        try:
            return remote.run(ep.name, "true", timeout=20).ok  # an unreachable node is rc 255, never an error
        finally:
            remote.close()
