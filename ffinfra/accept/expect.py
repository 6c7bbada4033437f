"""What each node should show, derived from the topology: its IB tool invocation per subnet, the sysctl keys and
session limits the rendered OS artifacts ask for. Pure functions, so they are unit-tested. (Which daemons and
files a node has is topology/services.py's and render/placement.py's decision.)"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from ffinfra.render.artifact import Artifact
from ffinfra.topology.model import Subnet, Topology

SYSCTL_DEST = "/etc/sysctl.d/90-ffinfra.conf"
LIMITS_DEST = "/etc/security/limits.d/90-ffinfra.conf"
UMAD2SIM = "/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so"
IBSIM_ENV = "/etc/default/ffinfra-ibsim"  # written by the opensm role in the lab (where ibsim listens)


def ib_prefix(topo: Topology, subnet: Subnet, sim: bool) -> tuple[str, str]:
    """(environment prefix, CA arguments) for infiniband-diags run on the subnet's SM host.

    Real fabric: the SM's own HCA port (-C dev -P port). Lab: the tools attach to the stack's ibsim through
    libumad2sim at the SM host's simulated HCA, through the address the opensm role wrote."""
    port = next(p for p in topo.host_ports if p.host == subnet.sm_host and p.port_guid == subnet.sm_port_guid)
    if sim:
        env = (
            f". {IBSIM_ENV} && export IBSIM_SERVER_NAME IBSIM_SERVER_PORT && LD_PRELOAD={UMAD2SIM} "
            f"SIM_HOST={shlex.quote(port.description)} "
        )
        return env, ""
    return "", f"-C {shlex.quote(port.nic)} -P {port.port} "


def artifact_at(artifacts: list[Artifact], dest: str) -> Artifact | None:
    return next((a for a in artifacts if a.dest == dest), None)


def sysctl_settings(text: str) -> dict[str, str]:
    """key → value of a sysctl.d file, values with their inner whitespace collapsed (as `sysctl -n` prints tabs)."""
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "=" in line:
            k, v = (s.strip() for s in line.split("=", 1))
            out[k.lstrip("-")] = " ".join(v.split())
    return out


@dataclass(frozen=True, slots=True)
class Limit:
    item: str  # nofile | memlock
    kind: str  # soft | hard
    value: str  # "unlimited" or a number (KiB for memlock)


ULIMIT_FLAG = {"nofile": "n", "memlock": "l"}


def session_limits(text: str, user: str = "root") -> list[Limit]:
    """The limits a login session of `user` should get from a limits.d file (its own lines win over '*',
    and '*' does not apply to root, as pam_limits does it)."""
    own: dict[tuple[str, str], str] = {}
    star: dict[tuple[str, str], str] = {}
    for line in text.splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) != 4 or parts[2] not in ULIMIT_FLAG:
            continue
        who, kind, item, value = parts
        kinds = ("soft", "hard") if kind == "-" else (kind,)
        for k in kinds:
            if who == user:
                own[(item, k)] = value
            elif who == "*" and user != "root":
                star[(item, k)] = value
    merged = {**star, **own}
    return [Limit(item, kind, v) for (item, kind), v in sorted(merged.items())]


def ulimit_command(limits: list[Limit]) -> str:
    return "; ".join(
        f"echo {lim.item} {lim.kind} $(ulimit -{lim.kind[0].upper()}{ULIMIT_FLAG[lim.item]})" for lim in limits
    )


_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*Gb/sec")


def ib_rate_gbps(sysfs_rate: str) -> float | None:
    """/sys/class/infiniband/<dev>/ports/<n>/rate, e.g. '200 Gb/sec (4X HDR)' → 200.0."""
    m = _RATE.match(sysfs_rate)
    return float(m.group(1)) if m else None


def parse_nvidia_smi_csv(text: str) -> list[tuple[str, str, str]]:
    """`nvidia-smi --query-gpu=index,name,driver_version --format=csv,noheader` → [(index, name, driver)]."""
    rows = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[0].isdigit():
            rows.append((parts[0], parts[1], parts[2]))
    return rows
