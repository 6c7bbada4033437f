"""Who runs what, decided once: each host's Ansible roles, the daemons they start, the packages each role needs, and
the cluster-wide facts every consumer needs (the Slurm controller, the cluster name, the Slurm nodes; 3FS's are
in topology/threefs.py).

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
    hfreduce          compute hosts: HFReduce built once per hardware profile (topology/hfreduce.py decides where
                      and how), installed on every compute node of the profile, with its hfreduce.env
    threefs_common    every 3FS host: /opt/3fs, admin_cli's config, the FoundationDB cluster file and client
    fdb               3FS's FoundationDB servers (default: the mgmtd hosts)
    threefs_build     the 3FS build host: builds the pinned commit once; the other roles copy its binaries
    threefs_monitor   monitor_collector and its ClickHouse schema
    threefs_mgmtd     mgmtd (init-cluster first, once)
    threefs_meta      meta
    threefs_storage   storage_main, its XFS target disks and mount units
    threefs_bootstrap the admin host (first mgmtd host): admin user, targets, chains, chain table
    threefs_fuse      the FUSE clients: hf3fs_fuse_main, the mount

The 3FS daemons are `real_only`: they need RDMA verbs devices and FoundationDB, which a simulated fabric does not
have, so on the lab their roles install every file and start nothing (docs/threefs.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ffinfra.errors import FfinfraError
from ffinfra.spec.models import ClusterSpec
from ffinfra.topology.hfreduce import HfreduceLayout
from ffinfra.topology.model import Host, Subnet
from ffinfra.topology.threefs import ThreeFsLayout

# Play order of playbooks/site.yml; a host lists its roles in this order.
THREEFS_ROLES = (
    "threefs_common",
    "fdb",
    "threefs_build",
    "threefs_monitor",
    "threefs_mgmtd",
    "threefs_meta",
    "threefs_storage",
    "threefs_bootstrap",
    "threefs_fuse",
)
ROLES = (
    "common", "munge", "opensm", *THREEFS_ROLES, "slurm_controller", "slurm_node", "slurm_client", "bench_tools",
    "hfreduce",
)  # fmt: skip
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
    # HFReduce is built from source on each profile's build host (cmake, a C++17 compiler, Python's headers)
    "hfreduce": ("cmake", "g++", "python3-dev"),
    # 3FS's roles need nothing on a simulated fabric (they install files only); see ROLE_REAL_PACKAGES
    **dict.fromkeys(THREEFS_ROLES, ()),
}
ROLE_SIM_PACKAGES: dict[str, tuple[str, ...]] = {"opensm": ("ibsim-utils",)}
# The packages a pinned version applies to (scheduler.slurm.version, fabric.subnet_manager.version); apt brings
# their own dependencies (slurm-wlm-basic-plugins, libopensm9) at the matching version.
SLURM_PACKAGES = ("slurmctld", "slurmd", "slurm-client")
OPENSM_PACKAGES = ("opensm",)


def package_versions(spec: ClusterSpec) -> dict[str, str]:
    """package → the Debian version the spec pins it to (none pinned: the distribution's)."""
    out: dict[str, str] = {}
    for packages, version in (
        (SLURM_PACKAGES, spec.scheduler.slurm.version),
        (OPENSM_PACKAGES, spec.fabric.subnet_manager.version),
    ):
        if version:
            out |= dict.fromkeys(packages, version)
    return out


# Added on a real fabric only: what 3FS's binaries and its build need (Debian 12 names; upstream's build guide and
# runtime image). The lab installs none of them: it starts no 3FS process. libfuse ≥ 3.16.1 and FoundationDB are
# not in Debian 12 (its fuse3 is 3.14): the threefs_build and fdb roles fetch and build/install those.
THREEFS_RUNTIME = (
    "libaio1", "libboost-all-dev", "libdouble-conversion3", "libdwarf1", "libgflags2.2", "libgoogle-glog0v6",
    "libgoogle-perftools4", "libjemalloc2", "liblz4-1", "liblzma5", "libssl3", "libunwind8", "libuv1",
    "libibverbs1", "ibverbs-providers", "numactl",
)  # fmt: skip
ROLE_REAL_PACKAGES: dict[str, tuple[str, ...]] = {
    "threefs_common": (),
    "fdb": (),
    "threefs_build": (
        "git", "cmake", "meson", "ninja-build", "pkg-config", "clang-14", "lld-14", "clang-format-14",
        "clang-tidy-14", "libclang-rt-14-dev", "gcc-12", "g++-12", "rustc-web", "cargo-web", "libuv1-dev",
        "liblz4-dev", "liblzma-dev", "libdouble-conversion-dev", "libdwarf-dev", "libunwind-dev", "libaio-dev",
        "libgflags-dev", "libgoogle-glog-dev", "libgtest-dev", "libgmock-dev", "libgoogle-perftools-dev",
        "google-perftools", "libssl-dev", "libboost-all-dev", "libibverbs-dev", "librdmacm-dev", "libnuma-dev",
        "libjemalloc-dev", "udev",
    ),
    "threefs_monitor": THREEFS_RUNTIME,
    "threefs_mgmtd": THREEFS_RUNTIME,
    "threefs_meta": THREEFS_RUNTIME,
    "threefs_storage": (*THREEFS_RUNTIME, "xfsprogs"),
    "threefs_bootstrap": THREEFS_RUNTIME,
    "threefs_fuse": (*THREEFS_RUNTIME, "fuse3"),
    # its ibverbs transport (rdma-core's headers) and a build venv for nanobind and scikit-build-core
    "hfreduce": ("libibverbs-dev", "python3-venv", "python3-pip"),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Daemon:
    """A long-running process a role starts: its process name (comm), its service, the role, and whether it
    only runs on a simulated fabric (ibsim, in the lab)."""

    process: str
    service: str
    role: str
    sim_only: bool = False
    real_only: bool = False  # needs what a simulated fabric lacks (RDMA verbs, FoundationDB): 3FS's daemons


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


def host_group(host: str) -> str:
    """The one-host group of a per-node file (a 3FS node id): every host is in its own (`ffinfra_groups`)."""
    return f"host_{ansible_group(host)}"


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
        return tuple(d for d in self.daemons if (sim or not d.sim_only) and not (sim and d.real_only))

    def skipped_on(self, sim: bool) -> tuple[Daemon, ...]:
        """The daemons this host's roles have but that cannot run here (3FS's on a simulated fabric)."""
        return tuple(d for d in self.daemons if sim and d.real_only)

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
    sm_hosts: dict[str, str]  # subnet → the host that runs its OpenSM (the master)
    hosts: dict[str, HostServices] = field(repr=False)
    # The inventory groups that place roles and files: svc_<role>, sm_<subnet>, profile_<profile> → hosts.
    groups: dict[str, tuple[str, ...]] = field(repr=False, default_factory=dict)
    sm_standby: dict[str, str] = field(default_factory=dict)  # subnet → its standby OpenSM's host, if it has one

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


# 3FS role → (process, systemd unit) it starts; the unit files are rendered (render/threefs.py)
THREEFS_DAEMONS: dict[str, tuple[tuple[str, str], ...]] = {
    "fdb": (("fdbserver", "foundationdb"),),
    "threefs_monitor": (
        ("monitor_collector_main", "monitor_collector_main"),
        ("clickhouse-server", "clickhouse-server"),
    ),
    "threefs_mgmtd": (("mgmtd_main", "mgmtd_main"),),
    "threefs_meta": (("meta_main", "meta_main"),),
    "threefs_storage": (("storage_main", "storage_main"),),
    "threefs_fuse": (("hf3fs_fuse_main", "hf3fs_fuse_main"),),
}


def threefs_roles(layout: ThreeFsLayout | None) -> dict[str, set[str]]:
    """host → the 3FS roles it runs."""
    out: dict[str, set[str]] = {}
    if layout is None:
        return out

    def add(role: str, names: Iterable[str]) -> None:
        for n in names:
            out.setdefault(n, set()).add(role)

    add("threefs_common", layout.hosts)
    add("fdb", layout.fdb)
    add("threefs_build", [layout.build_host])
    add("threefs_monitor", [layout.monitor])
    add("threefs_mgmtd", (n.host for n in layout.mgmtd))
    add("threefs_meta", (n.host for n in layout.meta))
    add("threefs_storage", (n.host for n in layout.storage))
    add("threefs_bootstrap", [layout.admin_host])
    add("threefs_fuse", layout.fuse)
    return out


def decide_services(
    spec: ClusterSpec,
    hosts: Iterable[Host],
    subnets: Iterable[Subnet],
    threefs: ThreeFsLayout | None = None,
    hfreduce: HfreduceLayout | None = None,
) -> Services:
    hosts = list(hosts)
    subnets = list(subnets)
    controller = choose_slurm_controller(spec, hosts)
    slurm_nodes = tuple(h.name for h in hosts if h.role == "compute")
    login = tuple(h.name for h in hosts if h.role == "login")
    sm_of = {sn.name: sn.sm_host for sn in subnets}
    standby_of = {sn.name: sn.standby_host for sn in subnets if sn.standby_host}
    # sets for membership: a tuple would make this quadratic in the host count
    node_set, login_set = set(slurm_nodes), set(login)
    sm_set = set(sm_of.values()) | set(standby_of.values())
    slurm_hosts = {controller} | node_set | login_set
    per_host: dict[str, HostServices] = {}
    threefs_of = threefs_roles(threefs)
    for h in hosts:
        roles = {"common", *threefs_of.get(h.name, ())}
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
        if hfreduce is not None and hfreduce.build_of(h.name) is not None:
            roles.add("hfreduce")
        ordered = tuple(r for r in ROLES if r in roles)
        for role in ordered:
            if role == "munge":
                daemons.append(Daemon("munged", "munge", role))
            elif role == "opensm":
                managed = [sn for sn in sm_of if h.name in (sm_of[sn], standby_of.get(sn))]
                daemons += [Daemon("opensm", opensm_service(sn), role) for sn in managed]
                if h.name in sm_of.values():  # a simulated fabric runs where its master SMs are
                    daemons.append(Daemon("ibsim", IBSIM_SERVICE, role, sim_only=True))
            elif role == "slurm_controller":
                daemons.append(Daemon("slurmctld", "slurmctld", role))
            elif role == "slurm_node":
                daemons.append(Daemon("slurmd", "slurmd", role))
            elif role in THREEFS_DAEMONS:
                daemons += [Daemon(p, u, role, real_only=True) for p, u in THREEFS_DAEMONS[role]]
        per_host[h.name] = HostServices(h.name, ordered, tuple(daemons))
    groups: dict[str, tuple[str, ...]] = {
        svc_group(r): tuple(h for h, s in per_host.items() if r in s.roles) for r in ROLES
    }
    for sn, host in sm_of.items():  # the subnet's files go to its master and its standby
        groups[sm_group(sn)] = (host, standby_of[sn]) if sn in standby_of else (host,)
    for profile in spec.hardware:
        groups[profile_group(profile)] = tuple(h.name for h in hosts if h.profile_name == profile)
    return Services(
        slurm_controller=controller,
        slurm_cluster_name=spec.scheduler.slurm.cluster_name or spec.name,
        slurm_nodes=slurm_nodes,
        login_hosts=login,
        sm_hosts=sm_of,
        sm_standby=standby_of,
        hosts=per_host,
        groups=groups,
    )
