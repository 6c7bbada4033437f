"""The bare-metal test bench: one virtual server that really network-boots, behind two real BMC emulators.

VmBench builds, under a base folder, everything the bare-metal integration tests need and nothing more:

- a network namespace ff-bm-SUFFIX holding a bridge br0, joined to the host by a veth pair whose host end (ffbmSUFFIX)
  carries the provisioning server's addresses. The provisioning server (dnsmasq, an HTTP server) runs in the HOST
  namespace bound to that interface; the VM's NIC sits on br0, so DHCP, TFTP, HTTP and SSH cross the bridge;
- libvirtd and virtlogd inside that namespace (the domain's tap joins br0 only if libvirtd creates it there), in a
  private mount namespace where their config, state, logs and sockets are the bench's own files: a system libvirtd,
  the host's /etc/libvirt and another bench are never touched;
- one QEMU domain (TCG, e1000 NIC on br0, an empty disk, serial console to a file, network boot), defined, shut off;
- sushy-emulator (Redfish, libvirt driver) and ipmi_sim (IPMI, driving the same domain through virsh), both on
  127.0.0.1, both requiring the bench's username and password.

Teardown ends only what the bench started (by PID), deletes the veth and the namespace, and runs even when set-up
failed halfway. Every daemon is started with a parent-death signal, so a test run that is killed takes its BMC
emulators and libvirtd with it; a QEMU left running by such a crash lives in the namespace and is ended, with the
namespace, by the next bench of the same suffix.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid as uuidlib
from pathlib import Path
from types import TracebackType

# what the bench runs, and dnsmasq, the provisioning server every test on the bench runs: Debian's packages
# (scripts/setup.sh --test installs them)
NEEDED_TOOLS = [
    "ip",
    "unshare",
    "nsenter",
    "setpriv",
    "qemu-system-x86_64",
    "qemu-img",
    "/usr/sbin/libvirtd",
    "/usr/sbin/virtlogd",
    "virsh",
    "ipmi_sim",
    "/usr/sbin/dnsmasq",
    # the e1000's option ROM (ipxe-qemu): without it QEMU refuses to start the VM
    "/usr/lib/ipxe/qemu/efi-e1000.rom",
]
QEMU = "/usr/bin/qemu-system-x86_64"
# SeaBIOS and iPXE print to the serial console only when told which port it is (0x3f8, little-endian)
SERCON_PORT = b"\xf8\x03"
# Unix sockets' paths are limited to 107 bytes; libvirtd's socket lives in the bench's base folder
_SUN_PATH_MAX = 107


class BenchError(RuntimeError):
    """The bench could not be set up; the message says which step and where its log is."""


def missing_tools() -> list[str]:
    """The tools the bench needs that this machine lacks (empty when it can run)."""
    return [t for t in NEEDED_TOOLS if not (Path(t).exists() if t.startswith("/") else shutil.which(t))]


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing listens on now (TCP by default, UDP with socket.SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(argv: list[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=timeout)


def _used_ipv4_networks() -> list[ipaddress.IPv4Network]:
    out = _run(["ip", "-4", "-o", "addr", "show"]).stdout
    return [ipaddress.IPv4Interface(m).network for m in re.findall(r"inet (\S+)", out)]


def _free_subnet(start: int) -> int:
    """The third octet N of a 10.213.N.0/24 no host interface is on, trying from `start` (so concurrent benches
    of different test sessions get different subnets: each routes its subnet to its own veth)."""
    used = _used_ipv4_networks()
    for i in range(254):
        n = (start + i) % 254 + 1
        net = ipaddress.IPv4Network(f"10.213.{n}.0/24")
        if not any(net.overlaps(u) for u in used):
            return n
    raise BenchError("no free 10.213.N.0/24 subnet for the bench's provisioning network")


class VmBench:
    """A network-booting VM behind a Redfish and an IPMI BMC; a context manager (see the module's docstring).

    Parameters (all optional but `base`):
      base          folder for every file the bench writes (config, disk, logs, serial console, sockets)
      suffix        names the namespace ff-bm-SUFFIX and the host interface ffbmSUFFIX ([a-z0-9], 1-11 chars);
                    default: p + this process's PID in hex, unique among live processes (and the mark of a bench
                    whose owner can be checked: see _clear_leftovers)
      server_cidr   the provisioning server's IPv4 address on the host interface, e.g. "10.213.0.1/24";
                    default: 10.213.N.1/24 on a subnet no host interface uses
      server_cidr6  its IPv6 ULA (Debian's iPXE waits ~13 s for a router advertisement unless dnsmasq sends one on
                    that prefix); default fd77:0:0:N::1/64, N the IPv4 subnet's third octet
      mac           the VM NIC's MAC (lower-case, colons); default 52:54:00 + three bytes from the suffix
      domain        the libvirt domain's name; default ff-bm-SUFFIX-node1
      username, password   what both BMCs require; default "admin" and a random 12-character password
      memory_mib    the VM's memory (512 MiB boots a Debian kernel + a small initramfs)

    Attributes once entered: suffix, netns, interface, server_ip, server_cidr, subnet (IPv4Network), server_ip6,
    server_cidr6, ra_prefix (for dnsmasq's `dhcp-range=PREFIX,ra-only,64`), mac, domain, uuid, username, password,
    serial_log (Path), libvirt_uri, redfish_root ("http://127.0.0.1:PORT"), redfish_port, system_path
    ("/redfish/v1/Systems/UUID"), redfish_url ("redfish+http://127.0.0.1:PORT/redfish/v1/Systems/UUID"),
    ipmi_host, ipmi_port, ipmi_url ("ipmi://127.0.0.1:PORT"), base.
    """

    def __init__(
        self,
        base: Path,
        *,
        suffix: str | None = None,
        server_cidr: str | None = None,
        server_cidr6: str | None = None,
        mac: str | None = None,
        domain: str | None = None,
        username: str = "admin",
        password: str | None = None,
        memory_mib: int = 512,
    ) -> None:
        self.base = Path(base).resolve()
        self.suffix = suffix or f"p{os.getpid():x}"
        if not re.fullmatch(r"[a-z0-9]{1,11}", self.suffix):
            raise ValueError(f"bench suffix {self.suffix!r}: 1-11 characters of [a-z0-9] (interface names are short)")
        self.netns = f"ff-bm-{self.suffix}"
        self.interface = f"ffbm{self.suffix}"
        self._server_cidr_arg = server_cidr
        self._server_cidr6_arg = server_cidr6
        digest = hashlib.sha256(self.suffix.encode()).digest()
        self.mac = (mac or "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])).lower()
        self.domain = domain or f"{self.netns}-node1"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.domain):
            raise ValueError(f"bench domain name {self.domain!r}: letters, digits, '.', '_' and '-' only")
        self.uuid = str(uuidlib.uuid4())
        self.username = username
        # hex: no character that lan.conf's quoting or a shell would read specially; 12 fits IPMI's 16-byte limit
        self.password = password if password is not None else secrets.token_hex(6)
        self.memory_mib = memory_mib
        self.serial_log = self.base / "serial.log"
        self.ipmi_host = "127.0.0.1"
        self.server_cidr = ""
        self.server_ip = ""
        self.subnet = ipaddress.IPv4Network("0.0.0.0/32")
        self.server_cidr6 = ""
        self.server_ip6 = ""
        self.ra_prefix = ""
        self.libvirt_uri = ""
        self.redfish_port = 0
        self.redfish_root = ""
        self.system_path = f"/redfish/v1/Systems/{self.uuid}"
        self.redfish_url = ""
        self.ipmi_port = 0
        self.ipmi_url = ""
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._boot_requests = self.base / "ipmi" / "boot-requests"

    # -- life cycle -------------------------------------------------------------------------------------------------

    def __enter__(self) -> VmBench:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Set everything up; on any failure, tear down what was set up and raise."""
        try:
            self._clear_leftovers()
            self.base.mkdir(parents=True, exist_ok=True)
            self._network()
            self._libvirtd()
            self._define_domain()
            self._sushy()
            self._ipmi_sim()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Tear down: the domain first, then each daemon the bench started (by PID), then the veth and namespace.
        Safe to call more than once and after a set-up that failed at any step."""
        if self.libvirt_uri and any(name == "libvirtd" and p.poll() is None for name, p in self._procs):
            self.virsh("destroy", self.domain, check=False)
        for _name, proc in reversed(self._procs):
            _stop(proc)
        self._procs.clear()
        self._delete_network()

    # -- what tests use -------------------------------------------------------------------------------------------

    def virsh(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """virsh against the bench's own libvirtd."""
        return _run(["virsh", "-q", "-c", self.libvirt_uri, *args], check=check, timeout=timeout)

    def domain_state(self) -> str:
        """libvirt's word for the domain's state: "shut off", "running", "paused", ..."""
        return self.virsh("domstate", self.domain).stdout.strip()

    def wait_state(self, state: str, timeout: float = 60) -> None:
        """Wait until the domain is in `state` (e.g. "shut off"); AssertionError with the last state if not."""
        deadline = time.monotonic() + timeout
        seen = self.domain_state()
        while seen != state and time.monotonic() < deadline:
            time.sleep(0.2)
            seen = self.domain_state()
        assert seen == state, f"domain {self.domain} is {seen!r} after {timeout:.0f} s, not {state!r}"

    def power_off(self) -> None:
        """Force the VM off from libvirt's side (not through a BMC): puts a shared VM back for the next test."""
        if self.domain_state() != "shut off":
            self.virsh("destroy", self.domain, check=False)
            self.wait_state("shut off", timeout=30)

    def serial_size(self) -> int:
        """How many bytes the serial console has written so far: take it before a power-on, then read
        serial_text(since=that) to see only the new boot (the log is appended to across power cycles)."""
        try:
            return self.serial_log.stat().st_size
        except FileNotFoundError:
            return 0

    def serial_text(self, since: int = 0) -> str:
        """The serial console's output (SeaBIOS, iPXE, the kernel, /init), from byte `since` on."""
        try:
            with self.serial_log.open("rb") as f:
                f.seek(since)
                return f.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def ipmi_boot_requests(self) -> list[str]:
        """Every boot device set through IPMI, in order ("pxe", "default", ...), as ipmi_sim passed them on."""
        try:
            return self._boot_requests.read_text(encoding="utf-8").split()
        except FileNotFoundError:
            return []

    def netns_exec(self, *argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a command inside the bench's network namespace (where br0 and the VM's tap are)."""
        return _run(["ip", "netns", "exec", self.netns, *argv], check=check, timeout=timeout)

    # -- set-up steps -------------------------------------------------------------------------------------------

    def _clear_leftovers(self) -> None:
        """A crashed earlier bench may have left its namespace (with a QEMU still running in it) and its veth:
        everything in such a namespace was started by that bench, so it is ended here. That is this bench's own
        suffix, and every default-named bench (ff-bm-pPID) whose test process is gone."""
        self._delete_network()
        for name in _run(["ip", "netns", "list"], check=False).stdout.split():
            m = re.fullmatch(r"ff-bm-(p([0-9a-f]+))", name)
            if m and name != self.netns and not Path(f"/proc/{int(m.group(2), 16)}").exists():
                _delete_network(name, f"ffbm{m.group(1)}")

    def _network(self) -> None:
        n = _free_subnet(os.getpid() % 254) if self._server_cidr_arg is None else None
        cidr = self._server_cidr_arg or f"10.213.{n}.1/24"
        iface = ipaddress.IPv4Interface(cidr)
        self.server_cidr, self.server_ip, self.subnet = cidr, str(iface.ip), iface.network
        third = int(str(iface.ip).split(".")[2])
        cidr6 = self._server_cidr6_arg or f"fd77:0:0:{third:x}::1/64"
        iface6 = ipaddress.IPv6Interface(cidr6)
        self.server_cidr6, self.server_ip6 = cidr6, str(iface6.ip)
        self.ra_prefix = str(iface6.network.network_address)
        ns, host = self.netns, self.interface
        steps = [
            ["ip", "netns", "add", ns],
            ["ip", "-n", ns, "link", "set", "lo", "up"],
            # STP off (the default): a port forwards at once, so the VM's first DHCPDISCOVER is not dropped
            ["ip", "-n", ns, "link", "add", "br0", "type", "bridge"],
            ["ip", "-n", ns, "link", "set", "br0", "up"],
            # the pair is created with its far end already in the namespace: no name clash in the host's
            ["ip", "link", "add", host, "type", "veth", "peer", "name", "uplink", "netns", ns],
            ["ip", "-n", ns, "link", "set", "uplink", "master", "br0"],
            ["ip", "-n", ns, "link", "set", "uplink", "up"],
            ["ip", "addr", "add", cidr, "dev", host],
            # nodad: dnsmasq's router advertisements need the address usable at once, not after DAD
            ["ip", "-6", "addr", "add", cidr6, "dev", host, "nodad"],
            ["ip", "link", "set", host, "up"],
        ]
        for argv in steps:
            r = _run(argv, check=False)
            if r.returncode:
                raise BenchError(f"bench network: {' '.join(argv)} failed: {r.stderr.strip()}")

    def _libvirtd(self) -> None:
        lv = self.base / "libvirt"
        for sub in ("etc-qemu", "lib", "cache", "log/qemu", "sock"):
            (lv / sub).mkdir(parents=True, exist_ok=True)
        sock_dir = lv / "sock"
        if len(str(sock_dir / "libvirt-sock-ro")) > _SUN_PATH_MAX:
            raise BenchError(f"bench base folder {self.base} is too long for libvirtd's Unix socket paths")
        # QEMU as root: libvirt's probe cannot check /dev/kvm (0600) for libvirt-qemu, treats its capability cache
        # as stale and re-probes on every define (52 s each); no AppArmor or SELinux labelling of the bench's files
        (lv / "qemu.conf").write_text('user = "root"\ngroup = "root"\nsecurity_driver = "none"\n', encoding="utf-8")
        (lv / "libvirtd.conf").write_text(
            f'unix_sock_dir = "{sock_dir}"\n'
            'unix_sock_ro_perms = "0700"\nunix_sock_rw_perms = "0700"\nunix_sock_admin_perms = "0700"\n'
            # root only reaches the sockets (0700), and there is no polkit here to ask
            'auth_unix_ro = "none"\nauth_unix_rw = "none"\n'
            f'log_outputs = "3:file:{lv / "libvirtd.log"}"\n',
            encoding="utf-8",
        )
        # Run in a private mount namespace: tmpfs over /run (libvirtd's pid and state files, virtlogd's socket) and
        # the bench's folders over libvirt's config, state, cache and log folders; the host's stay untouched
        binds = {
            lv / "etc-qemu": "/etc/libvirt/qemu",
            lv / "qemu.conf": "/etc/libvirt/qemu.conf",
            lv / "lib": "/var/lib/libvirt",
            lv / "cache": "/var/cache/libvirt",
            lv / "log": "/var/log/libvirt",
        }
        script = "set -e\nmount -t tmpfs -o mode=0755 ff-bm-run /run\nmkdir -p /run/libvirt\n"
        script += "".join(f"mount --bind '{src}' '{dst}'\n" for src, dst in binds.items())
        script += f"exec libvirtd -f '{lv / 'libvirtd.conf'}' -p /run/libvirt/libvirtd.pid\n"
        self.libvirt_uri = f"qemu:///system?socket={sock_dir / 'libvirt-sock'}"
        proc = self._spawn(
            "libvirtd",
            [
                "ip",
                "netns",
                "exec",
                self.netns,
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "--",
                "sh",
                "-c",
                script,
            ],
            lv / "libvirtd.out",
        )
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise BenchError(f"libvirtd exited ({proc.returncode}): see {lv / 'libvirtd.out'}")
            if (sock_dir / "libvirt-sock").exists() and self.virsh("uri", check=False, timeout=10).returncode == 0:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"libvirtd did not answer on {sock_dir} within 60 s: see {lv / 'libvirtd.log'}")
            time.sleep(0.1)
        # virtlogd (QEMU's output goes through it) in libvirtd's namespaces, where its socket is libvirtd's to find;
        # this process's child, so teardown ends and reaps it like the others
        self._spawn(
            "virtlogd", ["nsenter", "--target", str(proc.pid), "--mount", "--net", "virtlogd"], lv / "virtlogd.log"
        )

    def _define_domain(self) -> None:
        disk = self.base / "disk.qcow2"
        # the libvirt driver of sushy-tools refuses boot device Hdd for a domain without a disk
        _run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "1G"])
        sercon = self.base / "sercon-port"
        sercon.write_bytes(SERCON_PORT)
        self.serial_log.write_bytes(b"")
        xml = f"""<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{self.domain}</name>
  <uuid>{self.uuid}</uuid>
  <memory unit='MiB'>{self.memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='network'/>
  </os>
  <!-- a guest reboot or crash powers the VM off (QEMU's -no-reboot; libvirt 9 sets it as QEMU's reboot action
       over QMP): only a BMC powers it on, and a failing boot does not loop -->
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{QEMU}</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='{disk}'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='{self.mac}'/>
      <model type='e1000'/>
    </interface>
    <serial type='file'>
      <source path='{self.serial_log}' append='on'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
    <qemu:arg value='-fw_cfg'/>
    <qemu:arg value='name=etc/sercon-port,file={sercon}'/>
  </qemu:commandline>
</domain>
"""
        xml_file = self.base / "domain.xml"
        xml_file.write_text(xml, encoding="utf-8")
        r = self.virsh("define", str(xml_file), check=False, timeout=180)
        if r.returncode:
            raise BenchError(f"virsh define {self.domain} failed: {r.stderr.strip()}")

    def _sushy(self) -> None:
        import bcrypt  # sushy-tools' own dependency (its auth file takes bcrypt digests only)

        d = self.base / "sushy"
        d.mkdir(exist_ok=True)
        # few rounds: sushy-tools checks the password on every request, and 12 rounds cost ~0.25 s each
        digest = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=4)).decode()
        (d / "htpasswd").write_text(f"{self.username}:{digest}\n", encoding="utf-8")
        (d / "htpasswd").chmod(0o600)
        self.redfish_port = free_port()
        (d / "emulator.conf").write_text(
            f"SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n"
            f"SUSHY_EMULATOR_LISTEN_PORT = {self.redfish_port}\n"
            f"SUSHY_EMULATOR_LIBVIRT_URI = {self.libvirt_uri!r}\n"
            f"SUSHY_EMULATOR_ALLOWED_INSTANCES = [{self.uuid!r}]\n"
            "SUSHY_EMULATOR_IGNORE_BOOT_DEVICE = False\n"
            f"SUSHY_EMULATOR_AUTH_FILE = {str(d / 'htpasswd')!r}\n",
            encoding="utf-8",
        )
        # the emulator reads these from its environment over its config file
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("SUSHY_EMULATOR_CONFIG", "SUSHY_EMULATOR_LIBVIRT_URI", "SUSHY_EMULATOR_LIBVIRT_URL")
        }
        exe = Path(sys.executable).parent / "sushy-emulator"
        proc = self._spawn("sushy-emulator", [str(exe), "--config", str(d / "emulator.conf")], d / "sushy.log", env=env)
        self.redfish_root = f"http://127.0.0.1:{self.redfish_port}"
        self.redfish_url = f"redfish+http://127.0.0.1:{self.redfish_port}{self.system_path}"
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        request = urllib.request.Request(
            self.redfish_root + self.system_path, headers={"Authorization": f"Basic {token}"}
        )
        # straight to 127.0.0.1, whatever proxy the environment names
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise BenchError(f"sushy-emulator exited ({proc.returncode}): see {d / 'sushy.log'}")
            try:
                with no_proxy.open(request, timeout=5) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"sushy-emulator did not serve {self.system_path} within 60 s: see {d / 'sushy.log'}")
            time.sleep(0.2)

    def _ipmi_sim(self) -> None:
        d = self.base / "ipmi"
        (d / "state").mkdir(parents=True, exist_ok=True)
        chassis = d / "chassis_control"
        chassis.write_text(
            _CHASSIS_CONTROL.format(uri=self.libvirt_uri, domain=self.domain, boot_file=self._boot_requests),
            encoding="utf-8",
        )
        chassis.chmod(0o755)
        self.ipmi_port = free_port(socket.SOCK_DGRAM)
        (d / "lan.conf").write_text(
            f'name "{self.netns}"\n'
            "set_working_mc 0x20\n"
            "  startlan 1\n"
            f"    addr {self.ipmi_host} {self.ipmi_port}\n"
            "    priv_limit admin\n"
            # no "none" authentication and no anonymous user: a wrong password is refused
            "    allowed_auths_callback md5\n"
            "    allowed_auths_user md5\n"
            "    allowed_auths_operator md5\n"
            "    allowed_auths_admin md5\n"
            "    guid a123456789abcdefa123456789abcdef\n"
            "  endlan\n"
            f'  chassis_control "{chassis} 0x20"\n'
            f'  user 2 true "{self.username}" "{self.password}" admin 10 md5\n',
            encoding="utf-8",
        )
        (d / "lan.conf").chmod(0o600)
        # the BMC itself: an MC at 0x20 with chassis support (device support 0x9f)
        (d / "sim.emu").write_text(
            "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02\nmc_enable 0x20\n",
            encoding="utf-8",
        )
        proc = self._spawn(
            "ipmi_sim",
            ["ipmi_sim", "-n", "-c", str(d / "lan.conf"), "-f", str(d / "sim.emu"), "-s", str(d / "state")],
            d / "ipmi_sim.log",
        )
        self.ipmi_url = f"ipmi://{self.ipmi_host}:{self.ipmi_port}"
        deadline = time.monotonic() + 30
        while not _udp_bound(self.ipmi_port):
            if proc.poll() is not None:
                raise BenchError(f"ipmi_sim exited ({proc.returncode}): see {d / 'ipmi_sim.log'}")
            if time.monotonic() > deadline:
                raise BenchError(f"ipmi_sim did not bind UDP {self.ipmi_port} within 30 s: see {d / 'ipmi_sim.log'}")
            time.sleep(0.1)

    # -- helpers ----------------------------------------------------------------------------------------------

    def _spawn(
        self, name: str, argv: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a daemon in the foreground, output to `log`, with SIGTERM as its parent-death signal (setpriv
        execs it: the PID is the daemon's), and remember it for teardown."""
        with log.open("ab") as out:
            proc = subprocess.Popen(
                ["setpriv", "--pdeathsig", "TERM", "--", *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self._procs.append((name, proc))
        return proc

    def _delete_network(self) -> None:
        _delete_network(self.netns, self.interface)


def _delete_network(netns: str, interface: str) -> None:
    """End every process in a bench's namespace (all the bench's: libvirtd, virtlogd, QEMU), delete it and the
    host end of its veth."""
    pids = _run(["ip", "netns", "pids", netns], check=False)
    if pids.returncode == 0:
        for pid in pids.stdout.split():
            _kill_and_wait(int(pid))
        _run(["ip", "netns", "del", netns], check=False)
    if Path(f"/sys/class/net/{interface}").exists():
        _run(["ip", "link", "del", interface], check=False)


# ipmi_sim runs `SCRIPT 0x20 get power` (answer "power:1|0"), `... set power 1|0`, `... set reset 1`,
# `... set boot pxe|default|none|cdrom|bios`, `... get boot` (answer "boot:NAME"), `... set shutdown 1`
_CHASSIS_CONTROL = """#!/bin/sh
# chassis_control for ipmi_sim: drives the bench's libvirt domain; written by tests/integration/baremetal/bench.py
uri='{uri}'
dom='{domain}'
boot_file='{boot_file}'
shift
op=$1
shift
state() {{ virsh -q -c "$uri" domstate "$dom"; }}
on() {{ s=$(state) || return 1; [ "$s" != "shut off" ] && [ "$s" != "crashed" ]; }}
case $op in
get)
  for parm in "$@"; do
    case $parm in
      power) if on; then echo power:1; else state >/dev/null || exit 1; echo power:0; fi ;;
      boot) echo "boot:$(tail -n 1 "$boot_file" 2>/dev/null || echo default)" ;;
      *) echo "unsupported parameter $parm"; exit 1 ;;
    esac
  done ;;
set)
  while [ $# -ge 2 ]; do
    parm=$1; val=$2; shift 2
    case $parm in
      power)
        if [ "$val" = 1 ]; then on || virsh -q -c "$uri" start "$dom" >/dev/null || exit 1
        else ! on || virsh -q -c "$uri" destroy "$dom" >/dev/null || exit 1; fi ;;
      # a hard reset: the domain turns guest resets into power-offs (on_reboot destroy), so off and on again
      reset)
        ! on || virsh -q -c "$uri" destroy "$dom" >/dev/null
        virsh -q -c "$uri" start "$dom" >/dev/null || exit 1 ;;
      shutdown) ! on || virsh -q -c "$uri" shutdown "$dom" >/dev/null || exit 1 ;;
      boot) echo "$val" >>"$boot_file" ;;
      identify) ;;
      *) echo "unsupported parameter $parm"; exit 1 ;;
    esac
  done ;;
*) echo "unsupported operation $op"; exit 1 ;;
esac
"""


def _udp_bound(port: int) -> bool:
    """Whether something listens on UDP `port` (from the kernel's socket tables: no packet sent)."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            rows = [line.split() for line in Path(table).read_text().splitlines()[1:]]
        except FileNotFoundError:
            continue
        if any(len(row) > 1 and row[1].endswith(f":{port:04X}") for row in rows):
            return True
    return False


def _kill_and_wait(pid: int, grace: float = 10) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; for a PID that is not this process's child."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or _zombie(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def _stop(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
