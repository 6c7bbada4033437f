"""The spec's shape: pydantic v2 models, the only definition of what a cluster YAML may say.

Every model forbids unknown keys (a typo is an error, not a silently ignored knob), refuses numbers that are not
finite (`.inf`, `.nan`, `1e999`, also written as strings) and is frozen.
Meaning that spans several fields (ports vs radix, pools vs hosts) lives in checks/, not here.
Fields that nothing uses yet are listed, with the issue that will use them, in spec/pending.py.
`ffinfra schema` prints the JSON Schema generated from these models for editor completion.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ffinfra.spec import hostlist


class Model(BaseModel):
    # allow_inf_nan=False: an infinite pass mark passes nothing and NaN compares false with everything, so a
    # threshold or ratio that is not finite would be accepted and then quietly judge wrong. Once here covers every
    # float of the spec, including "inf"/"nan"/"1e999" strings that pydantic would otherwise coerce.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


def refusal(code: str, message: str, hint: str = "", at: tuple[str | int, ...] = ()) -> PydanticCustomError:
    """A validation error that schema_errors reports as finding `code` (not FF-SPEC-001), at `at` below the field."""
    # The message travels in the context, not the template, so braces in user input are never format fields.
    return PydanticCustomError(code, "{message}", {"message": message, "hint": hint, "at": at})


HOSTLIST_HINT = "look for a typo in the range (a digit too many?); Fire-Flyer 2 has about 1,400 nodes"


Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$", description="lower-case name: a-z, 0-9, '-'")]
Ratio = Annotated[float, Field(gt=0, le=1)]

# IB link rates: name → (signalling per lane in Gb/s as Linux reports it, data rate of a 4x link in Gb/s)
LINK_RATES: dict[str, tuple[str, int]] = {
    "EDR": ("25.78125", 100),
    "HDR100": ("53.125", 100),  # HDR100 is a 2x link at HDR lane speed
    "HDR": ("53.125", 200),
    "NDR200": ("106.25", 200),
    "NDR": ("106.25", 400),
    "XDR": ("212.5", 800),
}
LinkRate = Literal["EDR", "HDR100", "HDR", "NDR200", "NDR", "XDR"]


# --------------------------------------------------------------------------------------------- hardware


class CpuSpec(Model):
    model: str = Field("x86_64", description="CPU model, for humans and Slurm features")
    vendor: Literal["amd", "intel", "arm"] = Field("amd", description="for the NCCL topology file")
    sockets: int = Field(1, ge=1, le=8, description="CPU sockets")
    cores_per_socket: int = Field(ge=1, le=512, description="physical cores per socket")
    threads_per_core: int = Field(1, ge=1, le=8, description="SMT threads per core")
    numa_nodes: int | None = Field(None, ge=1, le=64, description="NUMA nodes; default one per socket")
    simd: Literal["generic", "avx", "avx2", "avx512"] | None = Field(
        None,
        description="highest SIMD level HFReduce is built for (a ceiling: it never uses more than the CPU has); "
        "default avx2 on x86 (EPYC Rome/Milan), generic on Arm",
    )

    @property
    def numa(self) -> int:
        return self.numa_nodes or self.sockets

    @property
    def cores(self) -> int:
        return self.sockets * self.cores_per_socket


class GpuSpec(Model):
    model: str = Field(description="e.g. A100-PCIE-40GB")
    slurm_type: str = Field("gpu", pattern=r"^[a-z0-9_]+$", description="Slurm GRES type, e.g. a100")
    count: int = Field(ge=1, le=64, description="GPUs per node")
    memory_gb: int = Field(ge=1, description="memory per GPU")
    compute_capability: str = Field(
        "8.0", pattern=r"^\d+\.\d+$", description="CUDA compute capability (A100 8.0, H100 9.0)"
    )
    pci: list[str] | None = Field(None, description="PCI bus id per GPU, e.g. 0000:01:00.0")
    numa: list[int] | None = Field(None, description="NUMA node per GPU; default: GPUs split evenly over nodes")
    root_ports: list[int] | None = Field(
        None, description="PCIe root port per GPU; GPUs sharing one port share its ~37 GB/s (paper §IV-D3)"
    )
    nvlink_pairs: list[tuple[int, int]] = Field(default_factory=list, description="GPU index pairs joined by NVLink")


class NicSpec(Model):
    device: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$", description="kernel/RDMA device name: mlx5_0, eno1")
    kind: Literal["infiniband", "ethernet"] = Field(description="infiniband: an HCA cabled to a leaf")
    rate_gbps: int = Field(ge=1, le=3200, description="line rate per port")
    ports: int = Field(1, ge=1, le=2, description="ports per card (each is cabled)")
    numa: int = Field(0, ge=0, description="NUMA node the card hangs off (NCCL/HFReduce binding)")
    pci: str | None = Field(None, pattern=r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
    netdev: str | None = Field(None, description="netdev for IPoIB / sockets (ib0, eno1); default from device")


class NvmeSpec(Model):
    count: int = Field(0, ge=0, le=64, description="data disks per node")
    size_tb: float = Field(0, ge=0, description="size of one disk, TB")
    model: str = Field("", description="disk model, for people reading the spec (ffinfra does not read it)")


class HardwareProfile(Model):
    description: str = Field("", description="for people reading the spec (ffinfra does not read it)")
    cpu: CpuSpec
    memory_gb: int = Field(ge=1, description="installed memory in GB (Slurm RealMemory keeps headroom)")
    gpus: GpuSpec | None = Field(None, description="GPUs; omit for CPU-only nodes")
    nics: list[NicSpec] = Field(default_factory=list, description="InfiniBand HCAs and Ethernet NICs")
    nvme: NvmeSpec = Field(NvmeSpec(), description="data NVMe disks (3FS targets on storage nodes)")

    @field_validator("nics")
    @classmethod
    def _unique_devices(cls, v: list[NicSpec]) -> list[NicSpec]:
        # ports are keyed by (host, device): two NICs with one name would be cabled as one
        devices = [n.device for n in v]
        for d in devices:
            if devices.count(d) > 1:
                raise ValueError(f"NIC device {d!r} appears twice: give each NIC its own device name")
        return v

    @property
    def ib_nics(self) -> list[NicSpec]:
        return [n for n in self.nics if n.kind == "infiniband"]

    @property
    def ib_ports(self) -> int:
        return sum(n.ports for n in self.ib_nics)


# --------------------------------------------------------------------------------------------- nodes

NodeRole = Literal["compute", "storage", "management", "controller", "login"]


class NodeGroupSpec(Model):
    role: NodeRole = Field(description="what the nodes do; decides placement order, Slurm, 3FS, SM choice")
    hostnames: str = Field(description="hostlist expression, e.g. gpu[0001-1250]")
    count: int | None = Field(
        None,
        ge=0,
        description="install the first COUNT names now; leaf ports stay reserved for the rest of the hostlist, so "
        "raising count later moves no node. Storage may derive it from storage.ratio (then nothing is reserved)",
    )
    profile: str = Field(description="a key of `hardware`")
    zone: str | None = Field(None, description="pin every node of the group to this zone")
    homing: Literal["zone", "all-zones"] | None = Field(
        None,
        description="zone: all IB ports in the node's zone; all-zones: IB port i in zone i (storage default)",
    )
    features: list[str] = Field(default_factory=list, description="extra Slurm node features")
    ip_offset: int | None = Field(
        None,
        ge=1,
        description="host offset of the group's first node in every subnet (management, BMC, IPoIB); "
        "default: right after the previous group. Set it to keep addresses stable when a group grows",
    )

    @field_validator("hostnames")
    @classmethod
    def _hostlist(cls, v: str) -> str:
        try:
            n = hostlist.count(v)  # parsed and counted, never expanded here
        except hostlist.HostlistError as exc:
            raise ValueError(str(exc)) from None
        if n > hostlist.MAX_HOSTS:
            raise refusal("FF-NODE-011", str(hostlist.HostlistTooLarge(v, n, hostlist.MAX_HOSTS)), HOSTLIST_HINT)
        return v


class InventorySpec(Model):
    csv: str | None = Field(
        None,
        description="per-node facts, relative to the spec: hostname,mac,bmc_address,serial,mgmt_ip,ib_guids",
    )


# --------------------------------------------------------------------------------------------- fabric


class ZoneSpec(Model):
    name: Name
    spines: int | None = Field(None, ge=1, description="derived from leaf uplinks when omitted")
    leaves: int | None = Field(None, ge=1, description="derived from the hosts in the zone when omitted")


class InterZoneSpec(Model):
    level: Literal["spine", "leaf"] = Field(
        "spine", description="where zones join in a single subnet; leaf-level joins break ftree/updn routing"
    )
    links: int = Field(0, ge=0, description="links between each pair of zones (single-subnet design only)")


RoutingEngine = Literal["ftree", "updn", "minhop", "dnup", "ftree,updn", "updn,minhop"]


class SubnetManagerSpec(Model):
    hosts: list[str] = Field(
        default_factory=list,
        description="SM host per subnet (one per zone in the zone-subnets design); default: first management node",
    )
    routing_engine: RoutingEngine = Field("ftree", description="OpenSM routing engine (static routing, paper §VI-A2)")
    lmc: int = Field(0, ge=0, le=7, description="LID mask control; ftree needs 0")
    sm_priority: int = Field(15, ge=0, le=15, description="SM priority (15 wins)")
    version: str | None = Field(
        None,
        pattern=r"^[0-9][A-Za-z0-9.+~:-]*$",
        description="the Debian version of the opensm package on the SM hosts (e.g. 3.3.23-2+b1); none: the "
        "distribution's. A new one rolls the standby SMs first, then the masters",
    )
    standby_hosts: list[str] = Field(
        default_factory=list,
        description="a standby SM per subnet (the first with a port in it), at sm_priority - 1: it takes over "
        "while the master is down, and rolling changes restart it before the master",
    )
    sweep_interval: int = Field(10, ge=0, description="seconds between light sweeps")
    cn_roles: list[NodeRole] = Field(
        default_factory=lambda: ["compute", "storage", "management", "controller", "login"],
        description="roles listed in OpenSM's cn_guid_file; storage must stay in it (storage↔storage routes)",
    )


class PartitionsSpec(Model):
    default_pkey: str = Field("0x7fff", pattern=r"^0x[0-9a-fA-F]{1,4}$")
    compute_pkey: str = Field("0x0010", pattern=r"^0x[0-9a-fA-F]{1,4}$")
    storage_pkey: str = Field("0x0020", pattern=r"^0x[0-9a-fA-F]{1,4}$")
    default_membership: Literal["full", "limited"] = Field(
        "full",
        description="host CAs in the default partition; limited isolates them (NCCL/IPoIB then need NCCL_IB_PKEY)",
    )


class FabricSpec(Model):
    switch_model: str = Field("QM8700", description="switch model, for people and the cabling sheet")
    radix: int = Field(40, ge=4, le=256, description="ports per switch")
    link_rate: LinkRate = Field("HDR", description="IB link rate of every cable")
    design: Literal["zone-subnets", "single-subnet"] = Field(
        "zone-subnets",
        description="zone-subnets: each zone its own subnet and SM, storage dual-homed; "
        "single-subnet: one SM, zones joined by spine-level links",
    )
    zones: list[ZoneSpec] = Field(min_length=1, description="fat-tree zones (Fire-Flyer 2: two)")
    oversubscription: float = Field(1.0, ge=1.0, le=16.0, description="leaf down:up port ratio")
    leaf_uplinks: int | None = Field(None, ge=1, description="uplinks per leaf; default from oversubscription")
    inter_zone: InterZoneSpec = Field(InterZoneSpec(), description="links joining zones (single-subnet design)")
    subnet_manager: SubnetManagerSpec = Field(SubnetManagerSpec(), description="OpenSM settings")
    partitions: PartitionsSpec = Field(PartitionsSpec(), description="IB partition keys")
    mtu: Literal[2048, 4096] = Field(4096, description="IB MTU of the partitions")
    guid_oui: str = Field("0x0002c9", pattern=r"^0x[0-9a-fA-F]{6}$", description="OUI of synthetic GUIDs")

    @field_validator("zones")
    @classmethod
    def _unique_zones(cls, v: list[ZoneSpec]) -> list[ZoneSpec]:
        names = [z.name for z in v]
        for n in names:
            if names.count(n) > 1:
                raise ValueError(f"zone name {n!r} appears twice: zones are told apart by name")
        return v

    @property
    def lane_gbps(self) -> str:
        return LINK_RATES[self.link_rate][0]

    @property
    def rate_gbps(self) -> int:
        return LINK_RATES[self.link_rate][1]


# --------------------------------------------------------------------------------------------- ethernet


class SubnetSpec(Model):
    cidr: str = Field(description="network, e.g. 10.0.0.0/16")
    first_host: int = Field(10, ge=1, description="offset of the first address handed out")
    gateway: str | None = Field(None, description="default gateway, inside cidr")

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            ipaddress.ip_network(v, strict=True)
        except ValueError as exc:
            raise ValueError(f"not a network in CIDR form: {exc}") from None
        return v

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr)


class NetworkSpec(Model):
    domain: str = Field("cluster", pattern=r"^[a-z0-9.-]+$", description="DNS domain of the hosts")
    management: SubnetSpec = Field(description="management Ethernet: SSH, Slurm, NCCL bootstrap")
    management_interface: str = Field("eno1", description="netdev of the management NIC on every node")
    bmc: SubnetSpec | None = Field(None, description="BMC network (Redfish/IPMI)")
    ipoib: SubnetSpec | None = Field(None, description="IPoIB addresses, host-<name>-ib")


# --------------------------------------------------------------------------------------------- storage


class StorageRatioSpec(Model):
    compute_per_storage: float | None = Field(None, gt=0, description="e.g. 7 → one storage node per 7 compute")
    bandwidth_fraction: float | None = Field(
        None, gt=0, le=4, description="storage IB bandwidth ÷ compute IB bandwidth (Fire-Flyer 2: ≈ 0.29)"
    )

    @model_validator(mode="after")
    def _one(self) -> StorageRatioSpec:
        if self.compute_per_storage is not None and self.bandwidth_fraction is not None:
            raise ValueError("give compute_per_storage or bandwidth_fraction, not both")
        return self


THREEFS_COMMIT = "e2cef822ecc4889b411c4bb7e4e49c379bf2e225"  # the commit templates/threefs/upstream/ comes from


class FdbSpec(Model):
    """FoundationDB, where 3FS's mgmtd and meta services keep their state."""

    hosts: str | None = Field(None, description="hostlist of the FoundationDB servers; default: the mgmtd hosts")
    version: str = Field(
        "7.3.63",
        pattern=r"^\d+\.\d+\.\d+$",
        description="server and client version: every 3FS host's client library must match the servers (3FS: ≥ 7.1)",
    )
    port: int = Field(4500, ge=1, le=65535, description="fdbserver port on each FoundationDB host")
    package_url: str = Field(
        "https://github.com/apple/foundationdb/releases/download/{version}",
        description="where the fdb role fetches foundationdb-clients/-server .debs; point it at a local mirror",
    )


class ThreeFsMonitorSpec(Model):
    """monitor_collector and the ClickHouse database it writes metrics to."""

    host: str | None = Field(None, description="host of monitor_collector and ClickHouse; default: first mgmtd host")
    port: int = Field(10000, ge=1, le=65535, description="monitor_collector's TCP port (upstream's default)")
    clickhouse_port: int = Field(
        19000, ge=1, le=65535, description="ClickHouse native port; not its usual 9000, where mgmtd and storage listen"
    )
    db: str = Field("3fs", pattern=r"^[A-Za-z0-9_]+$", description="ClickHouse database of the metrics")
    retention_months: int = Field(1, ge=1, le=120, description="TTL of metric rows (upstream's schema: 1 month)")


class ThreeFsBuildSpec(Model):
    """Where 3FS is built from: one source, one commit, built once and copied to every 3FS host."""

    repo: str = Field("https://github.com/deepseek-ai/3FS", description="git repository (or a local mirror)")
    commit: str = Field(
        THREEFS_COMMIT,
        pattern=r"^[0-9a-f]{40}$",
        description="the pinned commit; ffinfra's config templates are upstream's at this commit",
    )
    host: str | None = Field(None, description="the host that builds; default: the first mgmtd host")
    jobs: int | None = Field(None, ge=1, le=1024, description="parallel compile jobs; default: the host's cores")


class ThreeFsTuningSpec(Model):
    """Service knobs; unset values are sized from the storage profile (docs/threefs.md says how)."""

    io_threads_per_disk: int | None = Field(
        None, ge=1, le=64, description="storage AIO read and write threads per NVMe; default 2 (upstream: 32 for 16)"
    )
    rdma_buffer_pool_mib: int | None = Field(
        None,
        ge=16,
        description="storage RDMA buffer pool; default 8 MiB per GB of memory (upstream: 1,024 × 4 MB at 512 GB)",
    )
    rdma_send_concurrency: int = Field(
        64, ge=1, le=4096, description="RDMA transmissions in flight per peer (rdma_control; upstream's 64)"
    )
    fuse_io_queue: int = Field(1024, ge=16, le=65536, description="FUSE client I/O job queue (upstream's 1,024)")
    fuse_rdma_buffers: int = Field(1024, ge=16, le=65536, description="FUSE client RDMA buffers (upstream's 1,024)")


class ThreeFsSpec(Model):
    """3FS: services, chains and tuning. Compiled into every service's config and the chain table."""

    enabled: bool = True
    cluster_id: str | None = Field(None, pattern=r"^[a-z][a-z0-9_-]{0,62}$", description="default: the stack name")
    replication: int = Field(3, ge=1, le=8, description="chain length (CR) or group size")
    chain_table_type: Literal["CR", "EC"] = "CR"
    chunk_size_kib: int = Field(1024, ge=64)
    stripe_size: int = Field(16, ge=1)
    targets_per_disk: int = Field(6, ge=1, le=64)
    shuffle_method: Literal["g++10", "g++11", "stdshuffle"] = Field(
        "g++11", description="-DSHUFFLE_METHOD: fixed for the life of the cluster"
    )
    mountpoint: str | None = Field(None, pattern=r"^/", description="FUSE mount; default /3fs/<cluster_id>")
    mgmtd_hosts: str | None = Field(None, description="hostlist; default: management nodes (else the controller)")
    meta_hosts: str | None = Field(None, description="hostlist; default: the mgmtd hosts")
    fuse_hosts: str | None = Field(None, description="hostlist of FUSE clients; default: compute and login nodes")
    data_root: str = Field("/storage", pattern=r"^/", description="disk i is mounted at <data_root>/data<i+1>")
    disk_device: str = Field(
        "/dev/nvme{index}n1",
        pattern=r"\{index\}",
        description="block device of data disk {index} (0-based); by-id paths are safer",
    )
    fdb: FdbSpec = Field(FdbSpec(), description="FoundationDB")
    monitor: ThreeFsMonitorSpec = Field(ThreeFsMonitorSpec(), description="metrics collector and ClickHouse")
    build: ThreeFsBuildSpec = Field(ThreeFsBuildSpec(), description="source and build host")
    tuning: ThreeFsTuningSpec = Field(ThreeFsTuningSpec(), description="service knobs")


class StorageSpec(Model):
    ratio: StorageRatioSpec | None = Field(None, description="derive the storage node count")
    threefs: ThreeFsSpec = Field(ThreeFsSpec(), description="3FS settings")


# --------------------------------------------------------------------------------------------- QoS


class TrafficClassSpec(Model):
    sl: int = Field(ge=0, le=15, description="IB service level set by the application")
    vl: int = Field(ge=0, le=14, description="virtual lane the SL maps to (VL15 is management only)")
    weight: int = Field(ge=1, le=255, description="VL arbitration weight, in 64-byte units")


class TrafficClassesSpec(Model):
    hfreduce: TrafficClassSpec = TrafficClassSpec(sl=1, vl=1, weight=64)
    nccl: TrafficClassSpec = TrafficClassSpec(sl=2, vl=2, weight=64)
    storage: TrafficClassSpec = TrafficClassSpec(sl=3, vl=3, weight=128)
    other: TrafficClassSpec = TrafficClassSpec(sl=0, vl=0, weight=32)


class QosSpec(Model):
    enabled: bool = Field(True, description="turn on OpenSM QoS (SL2VL + VL arbitration)")
    max_vls: Literal[1, 2, 4, 8, 15] = Field(4, description="data VLs to program")
    high_limit: int = Field(0, ge=0, le=255, description="0: everything in the low-priority table")
    classes: TrafficClassesSpec = Field(TrafficClassesSpec(), description="the four traffic classes")


# --------------------------------------------------------------------------------------------- scheduler


class SlurmPartitionSpec(Model):
    name: Name
    groups: list[str] = Field(min_length=1, description="node groups in the partition")
    default: bool = Field(False, description="the partition jobs land in without -p")
    max_time: str = Field("INFINITE", pattern=r"^(INFINITE|UNLIMITED|\d+(-\d+)?(:\d+){0,2})$")


class SlurmSpec(Model):
    cluster_name: str | None = Field(None, description="default: the stack name")
    controller: str | None = Field(None, description="hostname of slurmctld; default: first controller node")
    partitions: list[SlurmPartitionSpec] = Field(default_factory=list)
    cross_zone_jobs: bool = Field(
        False, description="false: topology.conf has no root above the zones, so no job spans zones"
    )
    select_type: Literal["select/cons_tres", "select/linear"] = "select/cons_tres"
    version: str | None = Field(
        None,
        pattern=r"^[0-9][A-Za-z0-9.+~:-]*$",
        description="the Debian version of the Slurm packages every Slurm host installs (e.g. 22.05.8-4+deb12u3); "
        "none: whatever the distribution has. A new one rolls slurmctld first, then the slurmd batches",
    )


class SchedulerSpec(Model):
    kind: Literal["slurm"] = Field("slurm", description="the scheduler (Slurm today)")
    slurm: SlurmSpec = Field(SlurmSpec(), description="Slurm settings")


# --------------------------------------------------------------------------------------------- tuning


class NcclSpec(Model):
    pci_relaxed_ordering: bool = Field(True, description="paper §VI-A3")
    adaptive_routing: bool = Field(False, description="paper §VI-A2: static routing, AR off")
    topo_file: bool = Field(True, description="render an NCCL topology XML per GPU profile")
    env: dict[str, str] = Field(default_factory=dict, description="extra NCCL_* variables, verbatim")

    @field_validator("env")
    @classmethod
    def _names(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not re.fullmatch(r"NCCL_[A-Z0-9_]+", key):
                raise ValueError(f"{key!r} is not an NCCL_* variable name")
        return v


class HfreduceSpec(Model):
    enabled: bool = True
    chunk_size_kib: int = Field(4096, ge=4, description="pipelining chunk of the inter-node allreduce")
    nvlink: bool | None = Field(None, description="reduce in NVLink pairs first; default: profile has pairs")
    numa_bind: bool = Field(True, description="bind reduce/receive buffers to the IB NIC's NUMA node")
    threads: int | None = Field(
        None,
        ge=0,
        le=256,
        description="reduce threads per rank; default: the NIC's NUMA node's cores per GPU there "
        "(0 on CPU-only nodes: the node's CPUs shared by the job's ranks)",
    )
    buffer_mib: int = Field(64, ge=1, le=65536, description="shared memory per rank; larger calls go in pieces")
    timeout_s: int = Field(300, ge=1, description="a call without progress for this long fails on every rank")

    @model_validator(mode="after")
    def _buffer_holds_a_chunk(self) -> HfreduceSpec:
        if self.buffer_mib * 1024 < self.chunk_size_kib:
            raise ValueError(
                f"buffer_mib ({self.buffer_mib} MiB) must hold at least one chunk ({self.chunk_size_kib} KiB)"
            )
        return self


class OsSpec(Model):
    sysctl: dict[str, str | int] = Field(default_factory=dict, description="added to / overriding ffinfra's set")
    nofile: int = Field(1_000_000, ge=1024)
    memlock: Literal["unlimited"] | int = "unlimited"


class AcceptanceSpec(Model):
    """Pass marks for `ffinfra test`. Unset values are derived from the hardware (see `ffinfra show`)."""

    line_rate_fraction: Ratio = Field(0.9, description="pass mark as a fraction of line rate (NVIDIA, aznhc: 90%)")
    ib_write_bw_gbit: float | None = Field(
        None, gt=0, description="ib_write_bw per port, Gb/s; default: fraction × link rate"
    )
    iperf3_gbit: float | None = Field(
        None, gt=0, description="iperf3 between nodes, Gb/s; default: fraction × Ethernet rate"
    )
    nccl_busbw_gbyte: float | None = Field(
        None,
        gt=0,
        description="all_reduce_perf busbw across nodes, GB/s; default: fraction × the NIC's GB/s (an upper bound: "
        "PCIe nodes reach far less, e.g. ~4 GB/s on Fire-Flyer 2, paper §IV-D2; calibrate it)",
    )
    hfreduce_gbyte: float | None = Field(
        None,
        gt=0,
        description="HFReduce allreduce busbw across the compute nodes at 64 MiB, GB/s (paper: 6.3-8.1 algbw at 186 "
        "MiB); no default: reported, not judged",
    )
    storage_read_gbyte_per_client: float | None = Field(
        None, gt=0, description="3FS read per client node, GB/s; default: fraction × the client's IB GB/s"
    )
    fio_directory: str = Field(
        "/var/lib/ffinfra/fio",
        pattern=r"^/",
        description="where the storage suite runs fio on each storage node while no 3FS mount is deployed",
    )
    fio_read_gbyte: float | None = Field(
        None, gt=0, description="fio sequential read per storage node directory, GB/s; unset: reported, not judged"
    )
    fio_write_gbyte: float | None = Field(
        None, gt=0, description="fio sequential write per storage node directory, GB/s; unset: reported, not judged"
    )
    repeats: int = Field(3, ge=1, le=20, description="runs before a failure is declared")


class BmcAccessSpec(Model):
    """How ffinfra logs in to the BMCs. The password is given by reference only, never in the spec."""

    username: str = Field("admin", min_length=1, description="the BMC user (Redfish and IPMI)")
    password_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="an environment variable holding the password"
    )
    password_file: str | None = Field(
        None, description="a file holding the password (first line), relative to the spec; must be mode 0600 or less"
    )
    vault_file: str | None = Field(
        None,
        description="an Ansible Vault file (relative to the spec) holding YAML `bmc_password: ...`; decrypted with "
        "ansible-vault and the vault password file below (or ANSIBLE_VAULT_PASSWORD_FILE)",
    )
    vault_password_file: str | None = Field(None, description="ansible-vault's --vault-password-file")
    timeout_s: float = Field(20, gt=0, le=600, description="one BMC request; a BMC silent for longer is unreachable")
    parallel: int = Field(16, ge=1, le=1024, description="BMCs driven at once")
    retries: int = Field(3, ge=0, le=10, description="retries of a failed BMC request (never of a refused login)")

    @model_validator(mode="after")
    def _one_source(self) -> BmcAccessSpec:
        given = [n for n in ("password_env", "password_file", "vault_file") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(f"give the BMC password one way, not {' and '.join(given)}")
        return self


class ProvisioningServerSpec(Model):
    """The machine that runs ffinfra serves DHCP, TFTP and HTTP to the nodes' boot NICs on the management network."""

    address: str | None = Field(
        None, description="this machine's IPv4 address on the management network; default: the management gateway"
    )
    interface: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_.:-]{1,15}$",
        description="the netdev dnsmasq serves on (the nodes' boot NICs are on its segment, or a DHCP relay forwards)",
    )
    http_port: int = Field(8069, ge=1, le=65535, description="port of the boot HTTP server (iPXE scripts, images)")
    router_advertisements: bool = Field(
        False,
        description="send IPv6 router advertisements (no prefix handed out) so iPXE stops waiting ~13 s for one; only "
        "on a segment where no router sends them",
    )
    discovery_range: str | None = Field(
        None,
        pattern=r"^\d+\.\d+\.\d+\.\d+-\d+\.\d+\.\d+\.\d+$",
        description="FIRST-LAST addresses leased to machines not in the inventory, so they show up as discovered "
        "(never enrolled, never booted); none: they are only seen asking, in dnsmasq's log",
    )


class NodeImageSpec(Model):
    """The stateless node image ffinfra builds: a Debian kernel and an initramfs (busybox, dropbear, NIC drivers)."""

    kernel_package: str | None = Field(
        None,
        pattern=r"^linux-image-[A-Za-z0-9.+-]+$",
        description="the Debian kernel package, e.g. linux-image-6.1.0-41-amd64; none: what linux-image-amd64 "
        "depends on when the image is first built (recorded in its manifest)",
    )
    modules: list[str] = Field(
        default_factory=list, description="kernel modules to carry beyond ffinfra's NIC drivers (e.g. a RAID driver)"
    )


class InstallSpec(Model):
    """Unattended OS install onto disks (boot mode `install`): the Debian installer with a preseed file; the
    installed system takes its hostname and keys from a cloud-init NoCloud seed on the boot server."""

    disk: str = Field("/dev/sda", pattern=r"^/dev/", description="the disk the installer partitions")
    mirror: str = Field("http://deb.debian.org/debian", description="Debian mirror (a local one on an air gap)")
    suite: str = Field("bookworm", pattern=r"^[a-z]+$", description="Debian suite")
    timezone: str = Field("Etc/UTC", description="timezone of the installed system")


class ProvisioningSpec(Model):
    """Bare metal: powered-off servers with BMCs, network-booted (provider `baremetal`; docs/baremetal.md)."""

    method: Literal["pxe", "none"] = Field(
        "pxe", description="pxe: ffinfra powers nodes on and network-boots them; none: nodes are installed already"
    )
    boot_loader: Literal["ipxe"] = Field("ipxe", description="PXE chain-loads iPXE, which fetches the rest by HTTP")
    mode: Literal["stateless", "install"] = Field(
        "stateless",
        description="stateless: every boot runs ffinfra's node image from memory; install: an unattended Debian "
        "install onto the disk",
    )
    image: NodeImageSpec = Field(NodeImageSpec(), description="the stateless node image")
    install: InstallSpec = Field(InstallSpec(), description="the unattended install (mode install)")
    bmc_protocol: Literal["redfish", "ipmi"] = Field(
        "redfish", description="the protocol of an inventory BMC address given without a URL scheme"
    )
    bmc: BmcAccessSpec = Field(BmcAccessSpec(), description="BMC login and request limits")
    server: ProvisioningServerSpec = Field(ProvisioningServerSpec(), description="the DHCP/TFTP/HTTP boot server")
    boot_timeout_s: int = Field(
        900, ge=30, le=7200, description="power-on to the node's report; servers spend minutes in firmware"
    )


class UpgradesSpec(Model):
    """Rolling changes: how many nodes a change may take out of service at once (plan/batches.py)."""

    max_unavailable: int | str = Field(
        1,
        description="compute nodes of a zone (and storage nodes) down at once: a count, or a percentage such as "
        "'25%' (rounded down, at least 1)",
    )
    canary: int = Field(1, ge=0, le=16, description="compute nodes changed alone, first, before any other batch")
    resync_timeout_s: int = Field(
        7200,
        ge=60,
        description="how long a storage batch waits for its 3FS chains to be complete again (every replica "
        "SERVING-UPTODATE) before the next batch; past it the change stops, the batch named",
    )

    @field_validator("max_unavailable")
    @classmethod
    def _count_or_percent(cls, v: int | str) -> int | str:
        if isinstance(v, int):
            if v < 1:
                raise ValueError("at least 1 node")
            return v
        m = re.fullmatch(r"(\d{1,3})%", v)
        if m is None or not 1 <= int(m.group(1)) <= 100:
            raise ValueError(f"{v!r} is neither a count nor a percentage from 1% to 100%")
        return v


class ValidationSpec(Model):
    suppress: list[str] = Field(default_factory=list, description="finding codes to silence, e.g. FF-NET-011")


# --------------------------------------------------------------------------------------------- root


class ClusterSpec(Model):
    version: Literal[1] = Field(1, description="spec format version")
    name: Name = Field(description="stack name: Slurm cluster name, 3FS cluster id and file names derive from it")
    description: str = ""
    hardware: dict[str, HardwareProfile] = Field(min_length=1, description="hardware profiles by name")
    nodes: dict[str, NodeGroupSpec] = Field(min_length=1, description="node groups by name, in placement order")
    inventory: InventorySpec = Field(InventorySpec(), description="per-node facts (MACs, BMCs, serials, GUIDs)")
    fabric: FabricSpec = Field(description="the InfiniBand fabric: switches, zones, subnet manager")
    network: NetworkSpec = Field(description="management Ethernet, BMC and IPoIB addressing")
    storage: StorageSpec = Field(StorageSpec(), description="storage ratio and 3FS")
    qos: QosSpec = Field(QosSpec(), description="traffic classes → SL → VL weights (paper §VI-A1)")
    scheduler: SchedulerSpec = Field(SchedulerSpec(), description="Slurm")
    nccl: NcclSpec = Field(NcclSpec(), description="NCCL environment per GPU node model")
    hfreduce: HfreduceSpec = Field(HfreduceSpec(), description="HFReduce tuning knobs (paper §IV)")
    os: OsSpec = Field(OsSpec(), description="OS tuning: sysctl and limits")
    acceptance: AcceptanceSpec = Field(AcceptanceSpec(), description="acceptance thresholds for `ffinfra test`")
    provisioning: ProvisioningSpec = Field(ProvisioningSpec(), description="bare-metal provisioning")
    upgrades: UpgradesSpec = Field(UpgradesSpec(), description="rolling upgrades")
    validation: ValidationSpec = Field(ValidationSpec(), description="finding codes to suppress")

    @field_validator("nodes")
    @classmethod
    def _group_names(cls, v: dict[str, NodeGroupSpec]) -> dict[str, NodeGroupSpec]:
        for key in v:
            if not re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", key):
                raise ValueError(f"group name {key!r}: use a-z, 0-9, '-', '_'")
        return v

    @field_validator("nodes")
    @classmethod
    def _total_hosts(cls, v: dict[str, NodeGroupSpec]) -> dict[str, NodeGroupSpec]:
        # Each hostlist is within MAX_HOSTS (NodeGroupSpec checks it); many groups together must be too, or the
        # compiler would expand them all. Reported at the hostnames of the group that crosses the limit.
        total = 0
        for name, group in v.items():
            total += hostlist.count(group.hostnames)
            if total > hostlist.MAX_HOSTS:
                raise refusal(
                    "FF-NODE-011",
                    f"the node groups up to {name!r} name {total:,} hosts, more than the {hostlist.MAX_HOSTS:,} "
                    "ffinfra takes in one spec",
                    HOSTLIST_HINT,
                    at=(name, "hostnames"),
                )
        return v
