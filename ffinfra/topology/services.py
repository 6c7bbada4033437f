"""Who runs what, decided once: each host's Ansible roles, the daemons they start, the packages each role needs, and
the cluster-wide facts every consumer needs (the Slurm controller, the cluster name, the Slurm nodes, the 3FS
cluster id).

Everything downstream reads this and nothing re-derives it: the renderers (slurm.conf declares `slurm_nodes`),
the inventory (one group per role, `svc_<role>`, that the plays of playbooks/site.yml target), which files go
where (render/placement.py), the no-change fast path, `up`'s closing checks, state.json, `status` and the node
suite.

    common            every host: /etc/hosts, sysctl and limits drop-ins, NCCL/HFReduce files, accounts
    munge             every Slurm host (controller, Slurm nodes, login): munged with the cluster's key
    opensm            the SM host of each subnet: one OpenSM per subnet (and, on a simulated fabric, ibsim)
    slurm_controller  the Slurm controller: slurmctld
    slurm_node        the hosts slurm.conf declares (compute role): slurmd
    slurm_client      login hosts: slurm.conf and the client commands, so users submit from there
    bench_tools       compute and storage hosts: what the acceptance suites run
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ffinfra.errors import FfinfraError
from ffinfra.spec.models import ClusterSpec
from ffinfra.topology.model import Host, Subnet

# Play order of playbooks/site.yml; a host lists its roles in this order.
ROLES = ("common", "munge", "opensm", "slurm_controller", "slurm_node", "slurm_client", "bench_tools")
SLURM_ROLES = ("slurm_controller", "slurm_node", "slurm_client")

# The Debian packages each role needs. The `common` role installs the union of a host's roles' packages in one
# step (one dpkg query, then one apt call only for what is missing), before any role writes a file or starts a
# daemon: a package check per role cost seconds per host. ROLE_SIM_PACKAGES: added on a simulated fabric only.
ROLE_PACKAGES: dict[str, tuple[str, ...]] = {
    "common": (),
    "munge": ("munge",),
    "opensm": ("opensm", "infiniband-diags"),
    "slurm_controller": ("slurmctld", "slurm-client"),
    "slurm_node": ("slurmd", "slurm-client"),
    "slurm_client": ("slurm-client",),
    "bench_tools": ("iperf3", "fio", "perftest", "infiniband-diags", "numactl"),
}
ROLE_SIM_PACKAGES: dict[str, tuple[str, ...]] = {"opensm": ("ibsim-utils",)}


@dataclass(frozen=True, slots=True)
class Daemon:
    """A long-running process a role starts: its process name (comm), its service, the role, and whether it
    only runs on a simulated fabric (ibsim, in the lab)."""

    process: str
    service: str
    role: str
    sim_only: bool = False


# The roles that install each kind of file (render/ names these on every artifact).
COMMON = ("common",)
OPENSM = ("opensm",)


def ansible_group(name: str) -> str:
    """A spec name as an Ansible group name: letters, digits and '_' only."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name)


def svc_group(role: str) -> str:
    """The inventory group of the hosts that run an Ansible role (what its play in site.yml targets)."""
    return f"svc_{role}"


def sm_group(subnet: str) -> str:
    """The inventory group of the subnet's SM host(s): its OpenSM files go there."""
    return f"sm_{ansible_group(subnet)}"


def profile_group(profile: str) -> str:
    """The inventory group of the hosts of a hardware profile: board-specific files (NCCL, HFReduce) go there."""
    return f"profile_{ansible_group(profile)}"


# The daemon every node runs whatever its roles: its sshd (how ffinfra, Ansible and users reach it).
SSHD = Daemon("sshd", "ssh", "")
IBSIM_SERVICE = "ffinfra-ibsim"


def opensm_service(subnet: str) -> str:
    return f"ffinfra-opensm@{subnet}"


@dataclass(frozen=True, slots=True)
class HostServices:
    host: str
    roles: tuple[str, ...]
    daemons: tuple[Daemon, ...]  # SSHD first, then in role order

    def runs(self, role: str) -> bool:
        return role in self.roles

    def daemons_on(self, sim: bool) -> tuple[Daemon, ...]:
        """The daemons that must run on this host, on a simulated fabric (sim) or a real one."""
        return tuple(d for d in self.daemons if sim or not d.sim_only)

    def units_on(self, sim: bool) -> tuple[str, ...]:
        """The systemd units of those daemons: what must be active (and enabled) on the host."""
        return tuple(d.service for d in self.daemons_on(sim))


@dataclass(frozen=True)
class Services:
    """The decision for the whole stack. `hosts` is in topology order."""

    slurm_controller: str
    slurm_cluster_name: str
    slurm_nodes: tuple[str, ...]  # the hosts slurm.conf declares and slurmd runs on (compute role)
    login_hosts: tuple[str, ...]
    threefs_cluster_id: str
    sm_hosts: dict[str, str]  # subnet → the host that runs its OpenSM
    hosts: dict[str, HostServices] = field(repr=False)
    # The inventory groups that place roles and files: svc_<role>, sm_<subnet>, profile_<profile> → hosts.
    groups: dict[str, tuple[str, ...]] = field(repr=False, default_factory=dict)

    def of(self, host: str) -> HostServices:
        return self.hosts[host]

    def hosts_running(self, role: str) -> list[str]:
        return [h for h, s in self.hosts.items() if role in s.roles]


def choose_slurm_controller(spec: ClusterSpec, hosts: Iterable[Host]) -> str:
    """scheduler.slurm.controller, else the first controller node, else the first management node."""
    if spec.scheduler.slurm.controller is not None:
        return spec.scheduler.slurm.controller
    hosts = list(hosts)
    for role in ("controller", "management"):
        for h in hosts:
            if h.role == role:
                return h.name
    # FF-SCHED-003 rejects such a spec before this runs; reaching here is ffinfra's bug.
    raise FfinfraError("internal error: no host for slurmctld (FF-SCHED-003 should have caught this)")


def decide_services(spec: ClusterSpec, hosts: Iterable[Host], subnets: Iterable[Subnet]) -> Services:
    hosts = list(hosts)
    subnets = list(subnets)
    controller = choose_slurm_controller(spec, hosts)
    slurm_nodes = tuple(h.name for h in hosts if h.role == "compute")
    login = tuple(h.name for h in hosts if h.role == "login")
    sm_of = {sn.name: sn.sm_host for sn in subnets}
    # sets for membership: a tuple would make this quadratic in the host count
    node_set, login_set, sm_set = set(slurm_nodes), set(login), set(sm_of.values())
    slurm_hosts = {controller} | node_set | login_set
    per_host: dict[str, HostServices] = {}
    for h in hosts:
        roles = {"common"}
        daemons = [SSHD]
        if h.name in slurm_hosts:
            roles.add("munge")
        if h.name in sm_set:
            roles.add("opensm")
        if h.name == controller:
            roles.add("slurm_controller")
        if h.name in node_set:
            roles.add("slurm_node")
        if h.name in login_set and h.name != controller:
            roles.add("slurm_client")
        if h.role in ("compute", "storage"):
            roles.add("bench_tools")
        ordered = tuple(r for r in ROLES if r in roles)
        for role in ordered:
            if role == "munge":
                daemons.append(Daemon("munged", "munge", role))
            elif role == "opensm":
                daemons += [Daemon("opensm", opensm_service(sn), role) for sn, host in sm_of.items() if host == h.name]
                daemons.append(Daemon("ibsim", IBSIM_SERVICE, role, sim_only=True))
            elif role == "slurm_controller":
                daemons.append(Daemon("slurmctld", "slurmctld", role))
            elif role == "slurm_node":
                daemons.append(Daemon("slurmd", "slurmd", role))
        per_host[h.name] = HostServices(h.name, ordered, tuple(daemons))
    groups: dict[str, tuple[str, ...]] = {
        svc_group(r): tuple(h for h, s in per_host.items() if r in s.roles) for r in ROLES
    }
    for sn, host in sm_of.items():
        groups[sm_group(sn)] = (host,)
    for profile in spec.hardware:
        groups[profile_group(profile)] = tuple(h.name for h in hosts if h.profile_name == profile)
    return Services(
        slurm_controller=controller,
        slurm_cluster_name=spec.scheduler.slurm.cluster_name or spec.name,
        slurm_nodes=slurm_nodes,
        login_hosts=login,
        threefs_cluster_id=spec.storage.threefs.cluster_id or spec.name,
        sm_hosts=sm_of,
        hosts=per_host,
        groups=groups,
    )
