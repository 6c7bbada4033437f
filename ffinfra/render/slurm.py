"""Slurm 22.05: slurm.conf, gres.conf and topology.conf, the same three files on every node.

The Slurm nodes (slurmd runs jobs there) and the controller are topology/services.py's decision: every Slurm
host (controller, nodes, login) gets the same three files. topology.conf mirrors the fat-tree: a leaf
switch per IB leaf, the spine layer of each zone as one logical switch (every leaf reaches every spine), and a
root over the zones only when jobs may cross zones.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from ffinfra.render.artifact import Artifact
from ffinfra.render.cpus import gpu_numa, numa_core_range
from ffinfra.render.env import header, render
from ffinfra.spec.hostlist import compress
from ffinfra.topology.model import Host, Topology
from ffinfra.topology.services import SLURM_ROLES

SLURM_DIR = "/etc/slurm"
ROOT_SWITCH = "fabric"
DEFAULT_PARTITION = "batch"
NVLINK_LINKS = 1  # Links= weight for an NVLink peer: Slurm only compares these counts, any value > 0 works


@dataclass(frozen=True, slots=True)
class NodeLine:
    names: str  # compressed hostlist
    cpus: int
    sockets: int
    cores_per_socket: int
    threads_per_core: int
    real_memory: int  # MB
    gres: str
    features: str


@dataclass(frozen=True, slots=True)
class PartitionLine:
    name: str
    nodes: str  # compressed hostlist, "" when the groups hold no compute hosts
    default: bool
    max_time: str


@dataclass(frozen=True, slots=True)
class SwitchLine:
    name: str
    nodes: str = ""
    switches: str = ""


@dataclass(frozen=True, slots=True)
class GresLine:
    nodes: str
    type: str
    index: int
    cores: str
    links: str


def slurm_node_hosts(topo: Topology) -> list[Host]:
    """The hosts slurm.conf declares (topology/services.py decides: the compute-role hosts)."""
    return [topo.host_by_name[name] for name in topo.services.slurm_nodes]


def real_memory_mb(memory_gb: int) -> int:
    """RealMemory for a node with `memory_gb` of DIMMs.

    slurmd drains a node that reports less memory than RealMemory, and the kernel's MemTotal is always a little
    below the nominal size (firmware and kernel reservations), so leave 5% or at least 1 GiB for the OS, but
    never more than half of the memory.
    """
    mb = memory_gb * 1024
    headroom = min(max(mb * 5 // 100, 1024), mb // 2)
    return mb - headroom


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


def node_lines(topo: Topology) -> list[NodeLine]:
    """One NodeName line per (group, zone), hosts in spec order."""
    runs: dict[tuple[str, str], list[Host]] = defaultdict(list)
    for h in slurm_node_hosts(topo):
        runs[(h.group, h.zone)].append(h)
    lines = []
    for (group, zone), hosts in runs.items():
        prof = topo.profile(hosts[0])
        cpu = prof.cpu
        gres = f"gpu:{prof.gpus.slurm_type}:{prof.gpus.count}" if prof.gpus else ""
        lines.append(
            NodeLine(
                names=compress(h.name for h in hosts),
                cpus=cpu.cores * cpu.threads_per_core,
                sockets=cpu.sockets,
                cores_per_socket=cpu.cores_per_socket,
                threads_per_core=cpu.threads_per_core,
                real_memory=real_memory_mb(prof.memory_gb),
                gres=gres,
                features=",".join(_dedupe([zone, group, *hosts[0].features])),
            )
        )
    return lines


def partition_lines(topo: Topology) -> list[PartitionLine]:
    compute = slurm_node_hosts(topo)
    parts = topo.spec.scheduler.slurm.partitions
    if not parts:
        return [PartitionLine(DEFAULT_PARTITION, compress(h.name for h in compute), True, "INFINITE")]
    out = []
    for p in parts:
        groups = set(p.groups)
        # Only compute hosts are Slurm nodes: naming another group's hosts would make slurmctld refuse to start.
        names = [h.name for h in compute if h.group in groups]
        out.append(PartitionLine(p.name, compress(names), p.default, p.max_time))
    return out


def root_switch_name(zones: list[str]) -> str:
    name = ROOT_SWITCH
    while name in zones:
        name += "-root"
    return name


def switch_lines(topo: Topology) -> tuple[list[SwitchLine], bool]:
    """Leaf lines (Nodes=), zone lines (Switches= leaves), and a root over the zones when jobs may cross them.

    Returns the lines and whether a root was emitted.
    """
    # A host sits under exactly one leaf: its first IB port's. Slurm's tree plugin warns about nodes under
    # several leaves and would count a multi-rail host once per leaf; rail 0 is the one that matters for packing.
    by_leaf: dict[str, list[str]] = defaultdict(list)
    no_ib: dict[str, list[str]] = defaultdict(list)
    for h in slurm_node_hosts(topo):
        if h.ports:
            by_leaf[h.ports[0].leaf].append(h.name)
        else:
            no_ib[h.zone].append(h.name)
    lines: list[SwitchLine] = []
    zone_lines: list[SwitchLine] = []
    for z in topo.zones:
        leaves = [s.name for s in topo.switches_in(z.name, "leaf") if by_leaf.get(s.name)]
        for leaf in leaves:
            lines.append(SwitchLine(leaf, nodes=compress(by_leaf[leaf])))
        if no_ib.get(z.name):
            # Compute hosts without an IB port still need a switch, or topology/tree never allocates them.
            pseudo = f"{z.name}-noib"
            lines.append(SwitchLine(pseudo, nodes=compress(no_ib[z.name])))
            leaves.append(pseudo)
        if leaves:
            zone_lines.append(SwitchLine(z.name, switches=compress(leaves)))
    lines += zone_lines
    zones = [zl.name for zl in zone_lines]
    root = topo.spec.scheduler.slurm.cross_zone_jobs or len(zones) <= 1
    if root and zones:
        lines.append(SwitchLine(root_switch_name(zones), switches=compress(zones)))
    return lines, root and bool(zones)


def gres_lines(topo: Topology) -> list[GresLine]:
    """One line per GPU per compute profile; Links= needs exactly one File per line."""
    by_profile: dict[str, list[str]] = defaultdict(list)
    for h in slurm_node_hosts(topo):
        if topo.profile(h).gpus:
            by_profile[h.profile_name].append(h.name)
    out = []
    for pname, names in by_profile.items():
        prof = topo.spec.hardware[pname]
        gpus = prof.gpus
        assert gpus is not None
        numa = gpu_numa(prof.cpu, gpus)
        peers: dict[int, set[int]] = defaultdict(set)
        for a, b in gpus.nvlink_pairs:
            peers[a].add(b)
            peers[b].add(a)
        nodes = compress(names)
        for i in range(gpus.count):
            lo, hi = numa_core_range(prof.cpu, numa[i])
            links = ",".join("-1" if j == i else str(NVLINK_LINKS if j in peers[i] else 0) for j in range(gpus.count))
            out.append(GresLine(nodes, gpus.slurm_type, i, f"{lo}-{hi}" if hi > lo else str(lo), links))
    return out


def render_slurm(topo: Topology) -> list[Artifact]:
    spec = topo.spec
    slurm = spec.scheduler.slurm
    ctl = topo.host_by_name[topo.services.slurm_controller]
    hdr = header("#", topo.name)
    switches, has_root = switch_lines(topo)
    gpus = any(topo.profile(h).gpus for h in slurm_node_hosts(topo))
    conf = render(
        "slurm/slurm.conf.j2",
        hdr=hdr,
        cluster_name=topo.services.slurm_cluster_name,
        ctl=ctl,
        select_type=slurm.select_type,
        gres_types="gpu" if gpus else "",
        nodes=node_lines(topo),
        partitions=partition_lines(topo),
    )
    topology = render(
        "slurm/topology.conf.j2",
        hdr=hdr,
        switches=switches,
        has_root=has_root,
        cross_zone=slurm.cross_zone_jobs,
    )
    gres = render("slurm/gres.conf.j2", hdr=hdr, lines=gres_lines(topo))
    return [
        Artifact("slurm/slurm.conf", conf, "slurm", f"{SLURM_DIR}/slurm.conf", SLURM_ROLES),
        Artifact("slurm/gres.conf", gres, "slurm", f"{SLURM_DIR}/gres.conf", SLURM_ROLES),
        Artifact("slurm/topology.conf", topology, "slurm", f"{SLURM_DIR}/topology.conf", SLURM_ROLES),
    ]
