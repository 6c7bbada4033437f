"""Update policy of every spec field: what changing it does to a running cluster, and what must be done.

One table, read top to bottom, first match wins. A pattern is a dotted spec path where `*` stands for one
segment (a dict key or a list item) and a trailing `**` for a whole subtree. A test walks the models and fails
when any field reaches no pattern, so a new field cannot ship without a policy.

A policy whose impact is None is *derived*: the field's effect depends on what it changes in the compiled
cluster (node count, leaves, storage size), so the plan takes the impact from the topology diff instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ffinfra.plan.impact import Impact

I = Impact  # noqa: E741  (short alias keeps the table readable)


@dataclass(frozen=True, slots=True)
class Policy:
    pattern: str
    impact: Impact | None  # None: derived from the topology and artifact changes
    action: str


_TABLE: list[tuple[str, Impact | None, str]] = [
    # --- identity
    ("version", I.UNSUPPORTED, "a new spec format version: migrate the spec with the matching ffinfra"),
    ("name", I.UNSUPPORTED, "the stack name keys Slurm, 3FS and every file: build a new stack instead"),
    ("description", I.NOOP, "none"),
    # --- hardware profiles: the spec describes hardware; changing it means the hardware changed
    ("hardware.*.description", I.NOOP, "none"),
    ("hardware.*.cpu.model", I.NOOP, "none"),
    ("hardware.*.cpu.vendor", I.HOT_RELOAD, "NCCL reads the new topology file at the next job"),
    (
        "hardware.*.cpu.simd",
        I.HOT_RELOAD,
        "NCCL's topology is unchanged; HFReduce is rebuilt for the new ceiling (its build row)",
    ),
    ("hardware.*.cpu.**", I.ROLLING_RESTART, "Slurm node sizes change: slurmctld restarts, then each batch's slurmd"),
    ("hardware.*.memory_gb", I.ROLLING_RESTART, "RealMemory changes: slurmctld restarts, then each batch's slurmd"),
    ("hardware.*.gpus.model", I.NOOP, "none"),
    (
        "hardware.*.gpus.slurm_type",
        I.ROLLING_RESTART,
        "GRES type changes: restart slurmctld and slurmd; update job scripts",
    ),
    ("hardware.*.gpus.**", I.ROLLING_REBOOT, "GPUs change: drain, change hardware, reboot node by node"),
    ("hardware.*.gpus", I.ROLLING_REBOOT, "GPUs added or removed: drain, change hardware, reboot node by node"),
    ("hardware.*.nics.*.netdev", I.HOT_RELOAD, "NCCL/HFReduce environments change: next job"),
    ("hardware.*.nics.*.numa", I.HOT_RELOAD, "NCCL/HFReduce NUMA binding changes: next job"),
    ("hardware.*.nics.*.pci", I.HOT_RELOAD, "the NCCL topology file changes: next job"),
    ("hardware.*.nics.*", I.ROLLING_REBOOT, "NICs added or removed: drain, change hardware, re-cable, reboot"),
    ("hardware.*.nics.**", I.ROLLING_REBOOT, "NICs change: drain, change hardware, reboot node by node"),
    ("hardware.*.nvme.model", I.NOOP, "none"),
    ("hardware.*.nvme.**", I.DATA_MIGRATION, "storage disks change: 3FS targets and chains are rebuilt"),
    ("hardware.*", None, "a profile added or removed: see the node changes"),
    # --- node groups
    ("nodes.*.role", I.DESTRUCTIVE, "a node changes what it is: re-provision it (its local data is lost)"),
    ("nodes.*.hostnames", None, "nodes added, removed or renamed: see the node changes"),
    ("nodes.*.count", None, "nodes added or removed: see the node changes"),
    ("nodes.*.profile", I.ROLLING_REBOOT, "nodes get other hardware: drain, swap, re-provision a batch at a time"),
    ("nodes.*.zone", I.FABRIC_REROUTE, "nodes move zone: re-cable them (see cable changes), OpenSM re-sweeps"),
    ("nodes.*.homing", I.FABRIC_REROUTE, "ports move zone: re-cable them (see cable changes), OpenSM re-sweeps"),
    ("nodes.*.features", I.HOT_RELOAD, "scontrol reconfigure"),
    ("nodes.*.ip_offset", I.ROLLING_REBOOT, "nodes get new addresses: re-address and reboot a batch at a time"),
    ("nodes.*", None, "a node group added or removed: see the node changes"),
    ("inventory.csv", None, "per-node facts change: see the node changes"),
    # --- fabric
    ("fabric.switch_model", I.NOOP, "none"),
    ("fabric.radix", I.UNSUPPORTED, "other switches: a new fabric"),
    ("fabric.link_rate", I.UNSUPPORTED, "other links and HCAs: a new fabric"),
    ("fabric.design", I.UNSUPPORTED, "zones become one subnet or several: a new fabric"),
    ("fabric.zones.*.name", I.UNSUPPORTED, "renaming a zone renames its switches, subnet and Slurm features"),
    ("fabric.zones.*", I.FABRIC_REROUTE, "a zone added or removed: install and cable its switches; OpenSM re-sweeps"),
    ("fabric.zones.**", I.FABRIC_REROUTE, "switches and cables change (see below); OpenSM re-sweeps"),
    ("fabric.oversubscription", I.FABRIC_REROUTE, "uplinks per leaf change: re-cable; OpenSM re-sweeps"),
    ("fabric.leaf_uplinks", I.FABRIC_REROUTE, "uplinks per leaf change: re-cable; OpenSM re-sweeps"),
    ("fabric.inter_zone.**", I.FABRIC_REROUTE, "inter-zone cables change: re-cable; OpenSM re-sweeps"),
    ("fabric.subnet_manager.hosts", I.FABRIC_REROUTE, "the SM moves: start OpenSM on the new host; it re-sweeps"),
    ("fabric.subnet_manager.routing_engine", I.FABRIC_REROUTE, "restart OpenSM: every route is recomputed"),
    ("fabric.subnet_manager.lmc", I.FABRIC_REROUTE, "restart OpenSM: LIDs and routes are reassigned"),
    ("fabric.subnet_manager.cn_roles", I.FABRIC_REROUTE, "restart OpenSM: ftree recomputes routes"),
    ("fabric.subnet_manager.sweep_interval", I.HOT_RELOAD, "SIGHUP OpenSM: it re-reads sweep_interval"),
    ("fabric.subnet_manager.version", I.ROLLING_RESTART, "the opensm package of that version: standby SMs first"),
    (
        "fabric.subnet_manager.standby_hosts",
        I.ROLLING_RESTART,
        "OpenSM starts (or stops) on the standby hosts; masters restart after their standby",
    ),
    ("fabric.subnet_manager.**", I.ROLLING_RESTART, "OpenSM restarts on each SM host, one at a time"),
    ("fabric.partitions.**", I.HOT_RELOAD, "OpenSM re-reads partitions on SIGHUP and reprograms P_Key tables"),
    ("fabric.mtu", I.HOT_RELOAD, "OpenSM re-reads partitions on SIGHUP (IPoIB multicast MTU)"),
    ("fabric.guid_oui", I.FABRIC_REROUTE, "synthetic GUIDs change: GUID files change, OpenSM re-sweeps"),
    # --- Ethernet
    ("network.domain", I.HOT_RELOAD, "/etc/hosts changes"),
    ("network.management_interface", I.HOT_RELOAD, "NCCL_SOCKET_IFNAME changes: next job"),
    ("network.management.gateway", I.HOT_RELOAD, "routes change on every node"),
    ("network.management.**", I.ROLLING_REBOOT, "nodes get new addresses: re-address and reboot a batch at a time"),
    ("network.management", I.ROLLING_REBOOT, "nodes get new addresses: re-address and reboot a batch at a time"),
    ("network.bmc.**", I.HOT_RELOAD, "BMC addresses change: re-address BMCs through provisioning"),
    ("network.bmc", I.HOT_RELOAD, "BMC addresses change: re-address BMCs through provisioning"),
    (
        "network.ipoib.**",
        I.ROLLING_RESTART,
        "IPoIB names in /etc/hosts change; ffinfra does not configure IPoIB interfaces yet",
    ),
    (
        "network.ipoib",
        I.ROLLING_RESTART,
        "IPoIB names in /etc/hosts change; ffinfra does not configure IPoIB interfaces yet",
    ),
    # --- storage / 3FS
    ("storage.ratio.**", None, "the storage node count may change: see the node changes"),
    ("storage.ratio", None, "the storage node count may change: see the node changes"),
    ("storage.threefs.enabled", I.DESTRUCTIVE, "3FS is created or torn down with its data"),
    ("storage.threefs.cluster_id", I.DESTRUCTIVE, "a new cluster id means a new 3FS: init-cluster, data lost"),
    ("storage.threefs.replication", I.DATA_MIGRATION, "new chain table: data re-replicates across targets"),
    ("storage.threefs.chain_table_type", I.DESTRUCTIVE, "CR ↔ EC cannot convert in place: re-create 3FS"),
    ("storage.threefs.chunk_size_kib", I.DESTRUCTIVE, "an init-cluster parameter: a new value needs a re-created 3FS"),
    ("storage.threefs.stripe_size", I.DESTRUCTIVE, "an init-cluster parameter: a new value needs a re-created 3FS"),
    ("storage.threefs.targets_per_disk", I.DATA_MIGRATION, "targets are re-created per disk: data moves"),
    ("storage.threefs.shuffle_method", I.DESTRUCTIVE, "binaries with another shuffle method cannot read the data"),
    ("storage.threefs.mountpoint", I.ROLLING_RESTART, "remount the FUSE client node by node"),
    ("storage.threefs.mgmtd_hosts", I.ROLLING_RESTART, "move mgmtd: start the new one, then stop the old"),
    ("storage.threefs.meta_hosts", I.ROLLING_RESTART, "move meta services one at a time"),
    ("storage.threefs.fuse_hosts", I.ROLLING_RESTART, "mount or unmount 3FS on the hosts added or removed"),
    ("storage.threefs.data_root", I.DATA_MIGRATION, "target paths move: storage services restart on the new mounts"),
    ("storage.threefs.disk_device", I.DESTRUCTIVE, "other block devices: targets would be re-created on empty disks"),
    ("storage.threefs.fdb.version", I.ROLLING_RESTART, "upgrade FoundationDB servers, then every client library"),
    ("storage.threefs.fdb.package_url", I.NOOP, "none: the next install fetches from there"),
    ("storage.threefs.fdb.**", I.DESTRUCTIVE, "new FoundationDB coordinators: 3FS's metadata must be moved by hand"),
    ("storage.threefs.monitor.retention_months", I.HOT_RELOAD, "ALTER TABLE ... MODIFY TTL on the monitor tables"),
    ("storage.threefs.monitor.**", I.ROLLING_RESTART, "every 3FS service restarts to report to the new collector"),
    ("storage.threefs.build.repo", I.NOOP, "none: the next build fetches from there"),
    ("storage.threefs.build.jobs", I.NOOP, "none"),
    ("storage.threefs.build.**", I.ROLLING_RESTART, "rebuild, then restart every 3FS service node by node"),
    ("storage.threefs.tuning.**", I.ROLLING_RESTART, "set-config, then restart the services node by node"),
    # --- QoS: SLs live in application configs (NCCL, HFReduce, 3FS); VLs and weights in OpenSM
    ("qos.classes.storage.sl", I.ROLLING_RESTART, "3FS services and clients restart node by node with the new SL"),
    ("qos.classes.*.sl", I.HOT_RELOAD, "NCCL/HFReduce pick up the new SL at the next job; OpenSM re-reads QoS"),
    ("qos.**", I.HOT_RELOAD, "OpenSM re-programs SL2VL and VL arbitration on SIGHUP"),
    # --- Slurm
    ("scheduler.kind", I.UNSUPPORTED, "another scheduler: a new cluster"),
    ("scheduler.slurm.cluster_name", I.DESTRUCTIVE, "slurmctld refuses its saved state under a new name: queue lost"),
    (
        "scheduler.slurm.controller",
        I.DESTRUCTIVE,
        "slurmctld starts on the new host without the saved state (the queue is lost); stop the old one by hand",
    ),
    ("scheduler.slurm.partitions", I.HOT_RELOAD, "scontrol reconfigure"),
    ("scheduler.slurm.partitions.**", I.HOT_RELOAD, "scontrol reconfigure"),
    (
        "scheduler.slurm.cross_zone_jobs",
        I.ROLLING_RESTART,
        "topology.conf changes: slurmctld restarts, then each batch's slurmd",
    ),
    (
        "scheduler.slurm.version",
        I.ROLLING_RESTART,
        "the Slurm packages of that version: slurmctld first, then each batch's slurmd, drained",
    ),
    ("scheduler.slurm.select_type", I.ROLLING_RESTART, "slurmctld restarts, then each batch's slurmd, drained first"),
    # --- tuning read at job start or by the kernel
    ("nccl.**", I.HOT_RELOAD, "/etc/nccl.conf changes: the next job picks it up"),
    ("hfreduce.**", I.HOT_RELOAD, "the HFReduce environment changes: the next job picks it up"),
    ("os.sysctl", I.HOT_RELOAD, "sysctl --system on every node"),
    ("os.sysctl.**", I.HOT_RELOAD, "sysctl --system on every node"),
    ("os.**", I.HOT_RELOAD, "limits change: new sessions and jobs get them; daemons at their next restart"),
    # --- things that change no running service
    ("acceptance.**", I.NOOP, "new pass marks for ffinfra test"),
    ("provisioning.image.**", I.ROLLING_REBOOT, "stateless nodes boot the new image: a batch at a time"),
    ("provisioning.mode", I.ROLLING_REBOOT, "nodes boot another way (image or installed disk): a batch at a time"),
    ("provisioning.**", I.HOT_RELOAD, "DHCP/PXE configuration changes; running nodes are untouched"),
    ("upgrades.**", I.NOOP, "applies to the next upgrade"),
    ("validation.**", I.NOOP, "none"),
]


def _regex(pattern: str) -> re.Pattern[str]:
    parts = []
    for seg in pattern.split("."):
        if seg == "**":
            parts.append(r"(?:\.[^.]+)+")
        elif seg == "*":
            parts.append(r"\.[^.]+")
        else:
            parts.append(r"\." + re.escape(seg))
    return re.compile("^" + "".join(parts)[2:] + "$")


@lru_cache(maxsize=1)
def _compiled() -> list[tuple[re.Pattern[str], Policy]]:
    return [(_regex(p), Policy(p, impact, action)) for p, impact, action in _TABLE]


def dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path)


def policy_for(path: tuple[str | int, ...]) -> Policy | None:
    """The first policy whose pattern matches the path; None when the path has none (a test forbids that)."""
    text = dotted(path)
    for rx, pol in _compiled():
        if rx.match(text):
            return pol
    return None


def patterns() -> list[str]:
    return [p for p, _, _ in _TABLE]
