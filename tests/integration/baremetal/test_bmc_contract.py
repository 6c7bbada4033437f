"""The BMC clients' contract, against real BMC emulators on 127.0.0.1.

- Redfish: sushy-tools' emulator with its fake driver (no VM; a power change lands 1–11 s after the request, at
  random) and an htpasswd file, so a wrong password is really refused; a second one serves HTTPS with a self-signed
  certificate, as BMCs do.
- IPMI: OpenIPMI's ipmi_sim, whose chassis is a small script keeping the power state and the boot device in files
  the tests read; a second flavour of that script ignores power-on: a BMC that never gets there.
- Dead BMCs: a UDP socket that takes IPMI packets and never answers, a TCP listener that takes connections and never
  answers.

What is checked: power on/off/cycle are seen through to the state the BMC reports, the one-time network boot
reaches the BMC, every failure is a BmcError of the right kind naming the node and the URL (never the password)
within the timeout, and for_each_node keeps going past dead and refusing BMCs, retrying only what a retry can fix.
The fake driver's delays dominate the run time, so the Redfish power flows of several systems run at once.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sushy", reason="needs sushy (scripts/setup.sh --test)")
pytest.importorskip("pyghmi", reason="needs pyghmi (scripts/setup.sh --test)")
bcrypt = pytest.importorskip("bcrypt", reason="sushy-tools' htpasswd check needs bcrypt (scripts/setup.sh --test)")
requests = pytest.importorskip("requests")

from ffinfra.apply.baremetal.bmc import (  # noqa: E402  (after the skips: the clients need sushy and pyghmi)
    BmcAddress,
    BmcAuthError,
    BmcError,
    BmcNotFound,
    BmcPowerTimeout,
    BmcTimeout,
    BmcUnreachable,
    Credentials,
    NodeAttempt,
    connect,
    for_each_node,
    parse_bmc_address,
    set_power,
)

SUSHY_EMULATOR = Path(sys.executable).parent / "sushy-emulator"
_missing = [t for t in ("ipmi_sim", "setpriv") if not shutil.which(t)] + (
    [] if SUSHY_EMULATOR.exists() else ["sushy-emulator (sushy-tools)"]
)
pytestmark = [
    pytest.mark.baremetal,
    pytest.mark.skipif(bool(_missing), reason=f"needs {', '.join(_missing)} (scripts/setup.sh --test)"),
]

USER = "admin"
PASSWORD = "pw-7c1e-never-shown"  # distinctive, so a message that shows it is caught
GOOD = Credentials(USER, PASSWORD)
BAD = Credentials(USER, "wrong-password-9f2")
# the Redfish emulator's systems: name → (uuid, power state at start)
SYSTEMS = {f"rf{i}": (f"6c3a8f1e-0000-4000-8000-00000000000{i}", "On" if i == 2 else "Off") for i in range(1, 7)}


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    # setpriv: the emulator dies with the test run even if pytest is killed
    with log.open("wb") as out:
        return subprocess.Popen(
            ["setpriv", "--pdeathsig", "TERM", "--", *argv], stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _assert_names(exc: BmcError, node: str, address: BmcAddress) -> None:
    text = str(exc)
    assert exc.node == node and text.startswith(f"{node}: ") and address.url in text, text
    assert PASSWORD not in text and BAD.password not in text and PASSWORD not in repr(exc.args)


# ---------------------------------------------------------------------------------------------------- Redfish


@dataclass
class RedfishEmulator:
    port: int
    log: Path
    tls: bool = False

    def address(self, system: str, options: str = "") -> BmcAddress:
        path = f"/redfish/v1/Systems/{SYSTEMS[system][0]}" if system in SYSTEMS else f"/redfish/v1/Systems/{system}"
        scheme = "redfish" if self.tls else "redfish+http"
        return parse_bmc_address(f"{scheme}://127.0.0.1:{self.port}{path}{options}")

    def read(self, system: str) -> dict[str, Any]:
        """The system's resource as the emulator serves it: what the tests check the client's claims against."""
        url = f"http://127.0.0.1:{self.port}/redfish/v1/Systems/{SYSTEMS[system][0]}"
        answer = requests.get(url, auth=(USER, PASSWORD), timeout=5)
        answer.raise_for_status()
        return dict(answer.json())

    def resets(self, system: str) -> list[str]:
        """The ComputerSystem.Reset types the emulator took for the system, in order (from its log)."""
        return re.findall(rf'System "{SYSTEMS[system][0]}" power state set to "(\w+)"', self.log.read_text())


@contextlib.contextmanager
def _sushy_emulator(base: Path, tls: bool = False) -> Iterator[RedfishEmulator]:
    port = _free_port(socket.SOCK_STREAM)
    # sushy-tools accepts bcrypt digests only ($2b$...); 4 rounds keeps each request's check cheap
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (base / "htpasswd").write_text(f"{USER}:{digest}\n")
    systems = [
        {"uuid": uuid, "name": name, "power_state": power, "nics": [{"mac": f"52:54:00:00:10:0{i}", "ip": "10.9.0.1"}]}
        for i, (name, (uuid, power)) in enumerate(SYSTEMS.items())
    ]
    # the fake driver keeps its systems in SUSHY_EMULATOR_STATE_DIR, /tmp/sushy-emulator by default: shared by every
    # emulator on the machine and kept across runs, so each run gets its own
    config = (
        f"SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n"
        f"SUSHY_EMULATOR_LISTEN_PORT = {port}\n"
        f"SUSHY_EMULATOR_FAKE_DRIVER = True\n"
        f"SUSHY_EMULATOR_FAKE_SYSTEMS = {systems!r}\n"
        f"SUSHY_EMULATOR_STATE_DIR = '{base / 'state'}'\n"
        f"SUSHY_EMULATOR_AUTH_FILE = '{base / 'htpasswd'}'\n"
        # the config is Python: let the emulator log, at INFO, each reset it takes (what the tests read back)
        "import logging\n"
        "logging.getLogger('sushy_tools.emulator.main').setLevel(logging.INFO)\n"
    )
    if tls:
        _self_signed(base)
        config += f"SUSHY_EMULATOR_SSL_CERT = '{base / 'cert.pem'}'\nSUSHY_EMULATOR_SSL_KEY = '{base / 'key.pem'}'\n"
    (base / "emulator.conf").write_text(config)
    log = base / "emulator.log"
    proc = _start([str(SUSHY_EMULATOR), "--config", str(base / "emulator.conf")], log)
    try:
        deadline = time.monotonic() + 30
        while True:  # until it listens
            assert proc.poll() is None, f"sushy-emulator exited: {log.read_text()}"
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert time.monotonic() < deadline, f"sushy-emulator did not come up: {log.read_text()}"
            time.sleep(0.1)
        yield RedfishEmulator(port, log, tls)
    finally:
        _stop(proc)


def _self_signed(base: Path) -> None:
    """A key and a self-signed certificate for 127.0.0.1 (what BMCs come with)."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days",
         "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(base / "key.pem"),
         "-out", str(base / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def redfish(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedfishEmulator]:
    with _sushy_emulator(tmp_path_factory.mktemp("sushy")) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def redfish_tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedfishEmulator]:
    with _sushy_emulator(tmp_path_factory.mktemp("sushy-tls"), tls=True) as emulator:
        yield emulator


def _in_parallel(*flows: Callable[[], None]) -> None:
    with ThreadPoolExecutor(len(flows)) as pool:
        for future in [pool.submit(flow) for flow in flows]:
            future.result()


def test_redfish_powers_on_off_and_cycles_seen_through_and_sets_network_boot(redfish: RedfishEmulator) -> None:
    def on_off() -> None:  # rf1 starts off
        bmc = connect("cn01", redfish.address("rf1"), GOOD, timeout_s=5)
        assert bmc.power_state() == "off"
        bmc.set_pxe_once()
        boot = redfish.read("rf1")["Boot"]
        # sushy-tools keeps the override for every boot ("Continuous"); real BMCs honour "Once"
        assert boot["BootSourceOverrideTarget"] == "Pxe" and boot["BootSourceOverrideEnabled"] in ("Once", "Continuous")
        assert set_power("cn01", bmc, "on", wait_s=20, poll_s=0.3) == "on"
        assert redfish.read("rf1")["PowerState"] == "On"
        assert set_power("cn01", bmc, "off", wait_s=20, poll_s=0.3) == "off"
        assert redfish.read("rf1")["PowerState"] == "Off"
        bmc.close()

    def cycle() -> None:  # rf2 starts on: it must be turned off, then on again
        # (no watcher polls it meanwhile: the fake driver applies a pending change on a read, without a lock, so a
        # second reader can undo a change; the emulator's own log says which resets it took)
        bmc = connect("cn02", redfish.address("rf2"), GOOD, timeout_s=5)
        assert set_power("cn02", bmc, "cycle", wait_s=20, poll_s=0.3) == "on"
        assert redfish.resets("rf2") == ["ForceOff", "On"]
        assert redfish.read("rf2")["PowerState"] == "On"
        bmc.close()

    def already_off() -> None:  # rf3 starts off: no request, so no 1–11 s wait
        bmc = connect("cn03", redfish.address("rf3"), GOOD, timeout_s=5)
        t0 = time.monotonic()
        assert set_power("cn03", bmc, "off", wait_s=20) == "off"
        assert time.monotonic() - t0 < 1
        bmc.close()

    _in_parallel(on_off, cycle, already_off)


def test_redfish_wrong_password_is_an_auth_error_naming_the_node(redfish: RedfishEmulator) -> None:
    address = redfish.address("rf4")
    with pytest.raises(BmcAuthError) as caught:
        connect("cn04", address, BAD, timeout_s=5)
    _assert_names(caught.value, "cn04", address)
    assert caught.value.kind == "auth" and not caught.value.transient


def test_redfish_unknown_system_says_which_systems_there_are(redfish: RedfishEmulator) -> None:
    address = redfish.address("no-such-system")
    with pytest.raises(BmcNotFound) as caught:
        connect("cn05", address, GOOD, timeout_s=5)
    _assert_names(caught.value, "cn05", address)
    text = str(caught.value)
    assert "no system at /redfish/v1/Systems/no-such-system" in text
    assert SYSTEMS["rf1"][0] in text  # the listing of what the BMC does have


@pytest.fixture
def silent_tcp() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a hung BMC web server)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                held.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    yield int(listener.getsockname()[1])
    listener.close()
    for conn in held:
        conn.close()


def test_redfish_silent_bmc_times_out_within_the_timeout(silent_tcp: int) -> None:
    address = parse_bmc_address(f"redfish+http://127.0.0.1:{silent_tcp}/redfish/v1/Systems/1")
    t0 = time.monotonic()
    with pytest.raises(BmcTimeout) as caught:
        connect("cn06", address, GOOD, timeout_s=1.5)
    elapsed = time.monotonic() - t0
    assert 1.4 < elapsed < 3, elapsed
    _assert_names(caught.value, "cn06", address)
    assert caught.value.transient and "no answer within 1.5 s" in str(caught.value)


def test_redfish_closed_port_is_unreachable_at_once() -> None:
    address = parse_bmc_address(f"redfish+http://127.0.0.1:{_free_port(socket.SOCK_STREAM)}/redfish/v1/Systems/1")
    t0 = time.monotonic()
    with pytest.raises(BmcUnreachable) as caught:
        connect("cn07", address, GOOD, timeout_s=5)
    assert time.monotonic() - t0 < 1
    _assert_names(caught.value, "cn07", address)
    assert "Connection refused" in str(caught.value)


def test_redfish_over_https_with_a_self_signed_certificate_needs_verify_false(redfish_tls: RedfishEmulator) -> None:
    bmc = connect("cn08", redfish_tls.address("rf3", "?verify=false"), GOOD, timeout_s=5)
    assert bmc.power_state() == "off"
    bmc.close()
    address = redfish_tls.address("rf3")  # redfish:// checks the certificate
    with pytest.raises(BmcError) as caught:
        connect("cn08", address, GOOD, timeout_s=5)
    _assert_names(caught.value, "cn08", address)
    assert "certificate verify failed" in str(caught.value) and "?verify=false" in str(caught.value)
    assert not caught.value.transient  # a certificate does not fix itself


# ------------------------------------------------------------------------------------------------------- IPMI

# The chassis, as ipmi_sim runs it: `SCRIPT 0x20 get power` must print `power:1`; `SCRIPT 0x20 set power "1"`,
# `... set boot "pxe"` change it. IGNORE_ON=1: a BMC that takes power-on and does nothing.
CHASSIS = """#!/bin/sh
dir=$(dirname "$0")
op=$2
shift 2
echo "$op $*" >> "$dir/requests"
if [ "$op" = get ]; then
  for name in "$@"; do
    case $name in
      power) echo "power:$(cat "$dir/power")" ;;
      boot) echo "boot:$(cat "$dir/boot")" ;;
    esac
  done
  exit 0
fi
while [ $# -ge 2 ]; do
  if [ "$1" = power ] && [ "$2" = 1 ] && [ "$IGNORE_ON" = 1 ]; then shift 2; continue; fi
  echo "$2" > "$dir/$1"
  shift 2
done
"""


@dataclass
class IpmiSim:
    port: int
    folder: Path

    @property
    def address(self) -> BmcAddress:
        return parse_bmc_address(f"ipmi://127.0.0.1:{self.port}")

    def state(self, name: str) -> str:
        return (self.folder / name).read_text().strip()


@pytest.fixture(scope="module")
def ipmi_sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., IpmiSim]]:
    """start(name, ignore_on=False, after_s=0) → an ipmi_sim on a free UDP port (started after_s from now)."""
    started: list[subprocess.Popen[bytes]] = []

    def launch(sim: IpmiSim, after_s: float) -> None:
        argv = ["ipmi_sim", "-n", "-c", str(sim.folder / "lan.conf"), "-f", str(sim.folder / "sim.emu")]
        argv += ["-s", str(sim.folder / "state")]
        if after_s:
            # started now from this thread and exec'd later: the parent-death signal follows the thread that
            # started the process, so one started from a timer thread would be killed when that thread ends
            argv = ["sh", "-c", f'sleep {after_s}; exec "$@"', "sh", *argv]
        proc = _start(argv, sim.folder / "ipmi_sim.log")
        started.append(proc)
        if not after_s:
            _wait_bound(sim, proc)

    def start(name: str, ignore_on: bool = False, after_s: float = 0) -> IpmiSim:
        folder = tmp_path_factory.mktemp(f"ipmi-{name}")
        sim = IpmiSim(_free_port(socket.SOCK_DGRAM), folder)
        (folder / "state").mkdir()
        (folder / "power").write_text("0\n")
        (folder / "boot").write_text("default\n")
        chassis = folder / "chassis.sh"
        chassis.write_text(CHASSIS.replace('"$IGNORE_ON"', '"1"' if ignore_on else '"0"'))
        chassis.chmod(0o755)
        # Debian ships no sample config. The user line: number, enabled, name, password, max privilege, max
        # sessions, the authentication types allowed
        (folder / "lan.conf").write_text(
            f'name "{name}"\n'
            "set_working_mc 0x20\n"
            "  startlan 1\n"
            f"    addr 127.0.0.1 {sim.port}\n"
            "    priv_limit admin\n"
            "    allowed_auths_callback none md2 md5 straight\n"
            "    allowed_auths_user none md2 md5 straight\n"
            "    allowed_auths_operator none md2 md5 straight\n"
            "    allowed_auths_admin none md2 md5 straight\n"
            "    guid a123456789abcdefa123456789abcdef\n"
            "  endlan\n"
            f'  chassis_control "{chassis} 0x20"\n'
            f'  user 2 true "{USER}" "{PASSWORD}" admin 10 none md2 md5 straight\n'
        )
        (folder / "sim.emu").write_text(
            "mc_setbmc 0x20\nmc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\nmc_enable 0x20\n"
        )
        launch(sim, after_s)
        return sim

    yield start
    for proc in started:
        _stop(proc)


def _wait_bound(sim: IpmiSim, proc: subprocess.Popen[bytes]) -> None:
    """Until ipmi_sim holds its UDP port (binding it ourselves fails then): no packet needed."""
    deadline = time.monotonic() + 10
    while True:
        assert proc.poll() is None, f"ipmi_sim exited: {(sim.folder / 'ipmi_sim.log').read_text()}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", sim.port))
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return
                raise
        assert time.monotonic() < deadline, f"ipmi_sim did not bind: {(sim.folder / 'ipmi_sim.log').read_text()}"
        time.sleep(0.05)


def test_ipmi_powers_on_off_and_cycles_and_sets_network_boot(ipmi_sims: Callable[..., IpmiSim]) -> None:
    sim = ipmi_sims("power")
    bmc = connect("cn11", sim.address, GOOD, timeout_s=5)
    assert bmc.power_state() == "off"
    bmc.set_pxe_once()
    assert sim.state("boot") == "pxe"
    assert set_power("cn11", bmc, "on", wait_s=5, poll_s=0.2) == "on"
    assert sim.state("power") == "1"
    assert set_power("cn11", bmc, "off", wait_s=5, poll_s=0.2) == "off"
    assert sim.state("power") == "0"
    assert set_power("cn11", bmc, "on", wait_s=5, poll_s=0.2) == "on"
    sets_before = (sim.folder / "requests").read_text().count("set power")
    assert set_power("cn11", bmc, "cycle", wait_s=5, poll_s=0.2) == "on"
    sets = [line for line in (sim.folder / "requests").read_text().splitlines() if line.startswith("set power")]
    assert sets[sets_before:] == ["set power 0", "set power 1"]  # really off, then on
    assert sim.state("power") == "1"
    bmc.close()


def test_ipmi_wrong_password_is_an_auth_error_naming_the_node(ipmi_sims: Callable[..., IpmiSim]) -> None:
    sim = ipmi_sims("badpw")
    t0 = time.monotonic()
    with pytest.raises(BmcAuthError) as caught:
        connect("cn12", sim.address, BAD, timeout_s=5)
    assert time.monotonic() - t0 < 2
    _assert_names(caught.value, "cn12", sim.address)
    assert not caught.value.transient


def test_ipmi_bmc_that_never_powers_on_is_never_reached(ipmi_sims: Callable[..., IpmiSim]) -> None:
    sim = ipmi_sims("stuck", ignore_on=True)
    bmc = connect("cn13", sim.address, GOOD, timeout_s=5)
    t0 = time.monotonic()
    with pytest.raises(BmcPowerTimeout) as caught:
        set_power("cn13", bmc, "on", wait_s=2, poll_s=0.25)
    assert 1.9 < time.monotonic() - t0 < 4
    _assert_names(caught.value, "cn13", sim.address)
    assert "never reached power 'on' within 2 s" in str(caught.value) and "'off'" in str(caught.value)
    assert "set power 1" in (sim.folder / "requests").read_text()  # it was asked
    bmc.close()


@pytest.fixture
def silent_udp() -> Iterator[int]:
    """A UDP port that takes IPMI packets and never answers (a dead BMC: no ICMP error either)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        yield int(sink.getsockname()[1])


def test_ipmi_silent_bmc_times_out_within_the_timeout(silent_udp: int) -> None:
    address = parse_bmc_address(f"ipmi://127.0.0.1:{silent_udp}")
    t0 = time.monotonic()
    with pytest.raises(BmcTimeout) as caught:
        connect("cn14", address, GOOD, timeout_s=1.5)
    assert 1.4 < time.monotonic() - t0 < 2.5
    _assert_names(caught.value, "cn14", address)
    assert caught.value.transient


# ------------------------------------------------------------------------------------------------ many nodes


def test_for_each_node_keeps_going_retries_what_may_pass_and_never_a_refused_login(
    redfish: RedfishEmulator, ipmi_sims: Callable[..., IpmiSim], silent_udp: int
) -> None:
    healthy = ipmi_sims("healthy")
    late = ipmi_sims("late", after_s=1.2)  # down for the first try, up for a later one
    dead = parse_bmc_address(f"ipmi://127.0.0.1:{silent_udp}")
    targets = {
        "cn21": (healthy.address, GOOD),
        "cn22": (redfish.address("rf5"), GOOD),
        "cn23": (dead, GOOD),
        "cn24": (redfish.address("rf6"), BAD),
        "cn25": (late.address, GOOD),
    }
    tries: dict[str, int] = dict.fromkeys(targets, 0)
    spans: dict[str, list[tuple[float, float]]] = {node: [] for node in targets}  # each try's start and end
    running = [0, 0]  # now, most at once
    lock = threading.Lock()

    def read_power(node: str) -> Callable[[], str]:
        def action() -> str:
            with lock:
                tries[node] += 1
                running[0] += 1
                running[1] = max(running)
            start = time.monotonic()
            try:
                address, creds = targets[node]
                bmc = connect(node, address, creds, timeout_s=1)
                try:
                    return bmc.power_state()
                finally:
                    bmc.close()
            finally:
                with lock:
                    running[0] -= 1
                spans[node].append((start, time.monotonic()))

        return action

    events: list[NodeAttempt] = []
    results = for_each_node(
        {node: read_power(node) for node in targets}, parallel=3, retries=3, backoff_s=0.3, on_progress=events.append
    )

    assert list(results) == list(targets)
    assert results["cn21"] == "off" and results["cn22"] == "off" and results["cn25"] == "off"
    assert isinstance(results["cn23"], BmcTimeout) and results["cn23"].node == "cn23"
    assert isinstance(results["cn24"], BmcAuthError) and results["cn24"].node == "cn24"
    assert tries["cn21"] == tries["cn22"] == 1
    assert tries["cn24"] == 1  # a refused login is never tried again
    assert tries["cn23"] == 4  # the first try and 3 retries
    assert 2 <= tries["cn25"] <= 4
    assert running[1] <= 3
    # the retries of the dead BMC came after doubling pauses, and on_progress saw every try
    assert [e.retry_in_s for e in events if e.node == "cn23"] == [0.3, 0.6, 1.2, None]
    assert sorted((e.node, e.attempt) for e in events) == sorted((n, i + 1) for n, k in tries.items() for i in range(k))
    dead_spans = spans["cn23"]
    pauses = [nxt[0] - prev[1] for prev, nxt in itertools.pairwise(dead_spans)]
    assert len(pauses) == 3 and all(want <= got < want + 0.5 for want, got in zip([0.3, 0.6, 1.2], pauses, strict=True))
    for node in ("cn23", "cn24"):
        result = results[node]
        assert isinstance(result, BmcError)
        _assert_names(result, node, targets[node][0])
