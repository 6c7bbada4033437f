"""3FS, decided once: which host runs which 3FS service with which node id, the addresses every service and client
is given, the disks and target paths, and the tuning values sized from the storage profile.

    layout = decide_threefs(spec, hosts)          → None when storage.threefs.enabled is false
    layout.storage[0]                             → ThreeFsNode(host="stor001", node_id=10001)
    layout.mgmtd_addresses                        → ("RDMA://10.2.0.11:8000", "RDMA://10.2.128.13:8000")

Every renderer of 3FS files, the roles (through the inventory) and the chain placement read this. Node ids follow
upstream's deploy guide: mgmtd 1, 2, ...; meta 100, 101, ...; storage 10000 + the number the host name ends with
(stor001 → 10001), so adding or removing a storage node never renumbers another (a storage node's id is in every
one of its target ids). Where the storage names do not end in distinct numbers, they are numbered 10001, ... in
spec order, and a removal in the middle would renumber: FF-STO-010 warns.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ffinfra.spec import hostlist
from ffinfra.spec.models import ClusterSpec
from ffinfra.topology.ipoib import address, zone_networks
from ffinfra.topology.model import Host

MGMTD_FIRST_ID = 1
META_FIRST_ID = 100
STORAGE_BASE_ID = 10_000
# Upstream's listeners (configs/*_main.toml): the RDMA service port, then the TCP "Core" port
MGMTD_PORT, META_PORT, STORAGE_PORT = 8000, 8001, 8000
CORE_PORTS = {"mgmtd": 9000, "meta": 9001, "storage": 9000}
RDMABUF_MB = 4  # upstream's rdmabuf_size = '4MB'
BIN_DIR = "/opt/3fs/bin"
ADMIN_CLI = f"{BIN_DIR}/ffinfra-admin-cli"  # admin_cli with the admin token (the threefs_common role's wrapper)
ETC_DIR = "/opt/3fs/etc"
LOG_DIR = "/var/log/3fs"


@dataclass(frozen=True, slots=True)
class ThreeFsNode:
    host: str
    node_id: int


@dataclass(frozen=True, slots=True)
class RdmaPort:
    """One IB port a 3FS process may use: its HCA, the zone it is cabled in and its IPoIB address there."""

    nic: str  # the first HCA cabled in the zone
    zone: str
    address: str


@dataclass(frozen=True, slots=True)
class Disk:
    index: int  # 0-based, as upstream's --disk-index
    device: str
    label: str  # XFS label, data1..dataN as the deploy guide formats them
    mount: str  # <data_root>/data<index+1>
    target_path: str  # <mount>/3fs

    @property
    def mount_unit(self) -> str:
        """The systemd mount unit's name (the path with '/' as '-'; data_root allows no characters to escape)."""
        return self.mount.strip("/").replace("/", "-") + ".mount"


@dataclass(frozen=True, slots=True)
class Tuning:
    """The values written into the services' configs (sized from the storage profile where the spec is silent)."""

    aio_read_threads: int
    write_threads: int
    rdmabuf_count: int
    rdma_send_concurrency: int
    fuse_io_queue: int
    fuse_rdma_buffers: int


@dataclass(frozen=True)
class ThreeFsLayout:
    cluster_id: str
    mountpoint: str
    mgmtd: tuple[ThreeFsNode, ...]
    meta: tuple[ThreeFsNode, ...]
    storage: tuple[ThreeFsNode, ...]
    fuse: tuple[str, ...]  # FUSE client hosts
    fdb: tuple[str, ...]  # FoundationDB server hosts
    monitor: str
    build_host: str
    admin_host: str  # where the bootstrap runs admin_cli (the first mgmtd host)
    mgmtd_addresses: tuple[str, ...]
    monitor_address: str  # host:port of monitor_collector, over TCP
    fdb_cluster: str  # the contents of fdb.cluster (one line)
    ports: dict[str, tuple[RdmaPort, ...]]  # host → its IB ports, for every 3FS host
    zone_subnets: tuple[tuple[str, tuple[str, ...]], ...]  # (CIDR, zones): [ib_devices] subnets
    disks: tuple[Disk, ...]  # on every storage node (FF-STO-007: storage profiles agree on the count)
    tuning: Tuning
    storage_ids_by_position: bool  # True: the names end in no distinct numbers (FF-STO-010)

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host that runs any 3FS service or client, in no particular meaning of order (sorted)."""
        names = {n.host for n in (*self.mgmtd, *self.meta, *self.storage)} | set(self.fuse) | set(self.fdb)
        return tuple(sorted(names | {self.monitor, self.build_host}))


def _expand(expr: str | None, default: Iterable[str]) -> list[str]:
    return hostlist.expand(expr) if expr is not None else list(default)


def storage_node_ids(names: list[str]) -> tuple[list[int], bool]:
    """10000 + each name's trailing number when those are distinct and fit; else 10001... in order (by position)."""
    found = [re.search(r"(\d+)$", n) for n in names]
    nums = [int(m.group(1)) for m in found if m]
    if len(nums) == len(names) and len(set(nums)) == len(nums) and all(1 <= x <= 89_999 for x in nums):
        return [STORAGE_BASE_ID + x for x in nums], False
    return [STORAGE_BASE_ID + i for i in range(1, len(names) + 1)], True


def default_service_hosts(spec: ClusterSpec, hosts: list[Host]) -> list[str]:
    """mgmtd's default home: the management nodes, else the controllers, else the first host on the fabric."""
    for role in ("management", "controller"):
        named = [h.name for h in hosts if h.role == role and h.ports]
        if named:
            return named
    return [next((h.name for h in hosts if h.ports), hosts[0].name)]


def decide_threefs(spec: ClusterSpec, hosts: Iterable[Host]) -> ThreeFsLayout | None:
    t = spec.storage.threefs
    hosts = list(hosts)
    storage_hosts = [h for h in hosts if h.role == "storage"]
    if not t.enabled or not storage_hosts:
        return None
    by_name = {h.name: h for h in hosts}
    cluster_id = t.cluster_id or spec.name
    mgmtd_hosts = _expand(t.mgmtd_hosts, default_service_hosts(spec, hosts))
    meta_hosts = _expand(t.meta_hosts, mgmtd_hosts)
    # FUSE needs RDMA: by default the compute and login nodes that have a fabric port
    fuse_hosts = _expand(t.fuse_hosts, (h.name for h in hosts if h.role in ("compute", "login") and h.ports))
    fdb_hosts = _expand(t.fdb.hosts, mgmtd_hosts)
    monitor = t.monitor.host or mgmtd_hosts[0]
    ids, by_position = storage_node_ids([h.name for h in storage_hosts])

    nets = zone_networks(spec)
    ports: dict[str, tuple[RdmaPort, ...]] = {}
    for name in {*mgmtd_hosts, *meta_hosts, *fuse_hosts, *(h.name for h in storage_hosts)}:
        h = by_name.get(name)
        if h is None:
            continue  # FF-STO-005 names it
        # One IPoIB address per zone (topology/ipoib.py): a second port in the same zone adds bandwidth, not a
        # reachable address of its own
        seen: dict[str, RdmaPort] = {}
        for p in h.ports:
            if p.zone in nets and p.zone not in seen:
                seen[p.zone] = RdmaPort(p.nic, p.zone, address(nets[p.zone], h.ip_offset))
        ports[name] = tuple(seen.values())

    def rdma(name: str, port: int) -> list[str]:
        return [f"RDMA://{p.address}:{port}" for p in ports.get(name, ())]

    profile = spec.hardware[storage_hosts[0].profile_name]
    disks = tuple(
        Disk(
            i,
            t.disk_device.format(index=i),
            f"data{i + 1}",
            f"{t.data_root.rstrip('/')}/data{i + 1}",
            f"{t.data_root.rstrip('/')}/data{i + 1}/3fs",
        )
        for i in range(profile.nvme.count)
    )
    per_disk = t.tuning.io_threads_per_disk or 2
    pool_mib = t.tuning.rdma_buffer_pool_mib or profile.memory_gb * 8
    tuning = Tuning(
        aio_read_threads=per_disk * max(1, len(disks)),
        write_threads=per_disk * max(1, len(disks)),
        rdmabuf_count=max(4, pool_mib // RDMABUF_MB),
        rdma_send_concurrency=t.tuning.rdma_send_concurrency,
        fuse_io_queue=t.tuning.fuse_io_queue,
        fuse_rdma_buffers=t.tuning.fuse_rdma_buffers,
    )
    monitor_host = by_name.get(monitor)
    fdb_addrs = [f"{by_name[n].mgmt_ip}:{t.fdb.port}" for n in fdb_hosts if n in by_name]
    # fdb.cluster is description:ID@coordinators; the ID only has to be alphanumeric and stay the same
    fdb_id = hashlib.sha256(f"ffinfra-fdb-{cluster_id}".encode()).hexdigest()[:16]
    zones_of: dict[str, list[str]] = {}
    for zone, net in nets.items():  # a single-subnet fabric: one CIDR, every zone
        zones_of.setdefault(str(net), []).append(zone)
    return ThreeFsLayout(
        cluster_id=cluster_id,
        mountpoint=t.mountpoint or f"/3fs/{cluster_id}",
        mgmtd=tuple(ThreeFsNode(n, MGMTD_FIRST_ID + i) for i, n in enumerate(mgmtd_hosts)),
        meta=tuple(ThreeFsNode(n, META_FIRST_ID + i) for i, n in enumerate(meta_hosts)),
        storage=tuple(ThreeFsNode(h.name, i) for h, i in zip(storage_hosts, ids, strict=True)),
        fuse=tuple(fuse_hosts),
        fdb=tuple(fdb_hosts),
        monitor=monitor,
        build_host=t.build.host or mgmtd_hosts[0],
        admin_host=mgmtd_hosts[0],
        mgmtd_addresses=tuple(a for n in mgmtd_hosts for a in rdma(n, MGMTD_PORT)),
        monitor_address=f"{monitor_host.mgmt_ip if monitor_host else monitor}:{t.monitor.port}",
        fdb_cluster=f"{re.sub(r'[^A-Za-z0-9_]', '_', cluster_id)}:{fdb_id}@{','.join(fdb_addrs)}",
        ports=dict(sorted(ports.items())),
        zone_subnets=tuple((cidr, tuple(zones)) for cidr, zones in sorted(zones_of.items())),
        disks=disks,
        tuning=tuning,
        storage_ids_by_position=by_position,
    )
