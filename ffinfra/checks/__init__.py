"""Validation rules: each a small function registered under stable codes, returning findings.

Rules read the spec plus the resolved hosts and zone sizes (they need derived numbers such as ports per leaf)
and never raise. `run_checks` runs them all, so a user sees every problem at once.
"""

from __future__ import annotations

# Importing a rule module registers its rules, in this order (the order findings are produced in).
from ffinfra.checks import fabric, hardware, network, nodes, pending, qos, scheduler, storage  # noqa: F401
from ffinfra.checks.registry import RULES, CheckContext, RegisteredRule, Rule, rule
from ffinfra.spec.findings import Finding
from ffinfra.spec.hostlist import MAX_HOSTS
from ffinfra.spec.load import MAX_BYTES, MAX_DEPTH, MAX_NODES

__all__ = ["RULES", "CheckContext", "RegisteredRule", "Rule", "all_codes", "rule", "rule_codes", "run_checks"]


def run_checks(ctx: CheckContext) -> list[Finding]:
    out: list[Finding] = []
    for r in RULES:
        for f in r.func(ctx):
            assert f.code in r.codes, f"{r.func.__name__} emitted unregistered code {f.code}"
            out.append(f)
    return out


# Codes emitted outside the rules: while loading, resolving node groups and choosing subnet managers.
OTHER_CODES = {
    "FF-YAML-001": f"YAML syntax, duplicate keys, empty file; over {MAX_BYTES // 1024} KiB, nesting over {MAX_DEPTH} "
    f"levels, over {MAX_NODES:,} nodes once aliases expand",
    "FF-SPEC-001": "schema: unknown key, missing key, wrong type or value",
    "FF-INV-001": "inventory CSV: bad header, row, MAC or GUID",
    "FF-NODE-006": "node group refers to an unknown hardware profile",
    "FF-NODE-008": "node group count exceeds its hostlist",
    "FF-NODE-011": f"hostlists name at most {MAX_HOSTS:,} hosts, each and all groups together (counted, not expanded)",
    "FF-NET-014": "node group pinned to an unknown zone",
    "FF-STO-001": "storage ratio impossible (no storage group, too few names, zero nodes)",
    "FF-SM-001": "subnet manager host unknown or without an IB port",
    "FF-SM-003": "a standby subnet manager that cannot stand by (unknown, no IB port, the master itself, priority 0)",
    "FF-SM-002": "a subnet has no host that can run its SM",
}


# One line per rule code for `ffinfra codes` and the README; a code missing here shows its rule's summary.
CODE_DOCS = {
    "FF-HW-001": "per-GPU lists (pci, numa, root_ports) have one entry per GPU",
    "FF-HW-002": "GPU and NIC NUMA nodes exist on the CPU",
    "FF-HW-003": "NVLink pairs join two distinct GPUs, each GPU in one pair",
    "FF-HW-004": "hfreduce.nvlink: true needs a compute profile with NVLink pairs",
    "FF-NET-001": "leaf down + up ports fit the switch radix",
    "FF-NET-002": "host ports, reserved ones included, fit the zone (leaves × down ports; FF2: 800 per zone)",
    "FF-NET-003": "spine ports fit the radix (leaves × links per spine + inter-zone links)",
    "FF-NET-004": "dual-homed storage has one IB port per zone; separate subnets need storage in every zone",
    "FF-NET-005": "leaf-level inter-zone links in one subnet are refused (ftree/updn lose cross-zone routes)",
    "FF-NET-006": "OpenSM ftree needs LMC 0",
    "FF-NET-007": "uplinks per leaf are a multiple of the spines (symmetric fat-tree for ftree)",
    "FF-NET-008": "every host CA, storage above all, is in OpenSM's compute-node list",
    "FF-NET-009": "zones in one subnet are joined by at least one link",
    "FF-NET-010": "no switch links between zones that are separate subnets",
    "FF-NET-011": "leaves with fewer hosts than spines leave some spines idle (warning)",
    "FF-NET-012": "leaf_uplinks overrides oversubscription (warning)",
    "FF-NET-013": "every zone has installed hosts",
    "FF-NET-016": "every leaf carries at least one host port, used or reserved",
    "FF-NET-017": "minhop/dnup on a fat-tree can form credit loops (note)",
    "FF-NET-018": "host HCAs run at the fabric's link rate (warning)",
    "FF-NET-019": "leaves whose host count is not a multiple of the uplinks skew ftree's uplink loads (note)",
    "FF-NET-020": "management, BMC and IPoIB pools have an address for every node",
    "FF-NET-021": "gateways lie inside their subnet",
    "FF-NET-022": "P_Keys are valid: a 15-bit key that is not 0, and 0x7fff for the default partition",
    "FF-NET-023": "no two partitions share a P_Key (compared on its 15-bit key), the default partition's included",
    "FF-NODE-001": "hostnames are unique across groups",
    "FF-NODE-002": "MAC addresses are unique",
    "FF-NODE-003": "IP addresses are unique (overlapping ip_offset ranges, CSV overrides)",
    "FF-NODE-004": "IB GUIDs are unique",
    "FF-NODE-005": "inventory CSV rows name nodes of the spec",
    "FF-NODE-009": "compute and storage nodes have an InfiniBand NIC (warning)",
    "FF-NODE-010": "inventory CSV lists one GUID per IB NIC (warning)",
    "FF-QOS-001": "each traffic class's VL is below max_vls",
    "FF-QOS-002": "traffic classes have distinct SLs (warning)",
    "FF-QOS-003": "traffic classes sharing a VL are not isolated (note)",
    "FF-SCHED-001": "Slurm partitions name existing node groups",
    "FF-SCHED-002": "at most one default Slurm partition",
    "FF-SCHED-003": "a controller node exists for slurmctld",
    "FF-SCHED-004": "Slurm partitions name compute groups (other roles run no slurmd)",
    "FF-SPEC-002": "a field the spec sets that ffinfra does not use yet, with the issue that will (note)",
    "FF-STO-002": "at least `replication` storage nodes (3FS chains)",
    "FF-STO-003": "storage profiles have NVMe disks for 3FS targets",
    "FF-STO-004": "3FS enabled needs storage nodes",
    "FF-STO-005": "3FS service hosts (mgmtd, meta, FUSE, FoundationDB, monitor, build) are nodes of the spec",
    "FF-STO-006": "3FS needs IPoIB addresses (network.ipoib)",
    "FF-STO-007": "3FS storage nodes have one NVMe count",
    "FF-STO-008": "3FS chain and target ids fit their fields; targets divide into chains",
    "FF-STO-009": "the monitor's ClickHouse port is not one 3FS listens on",
    "FF-STO-010": "3FS storage node ids stay stable (names end in distinct numbers)",
    "FF-STO-011": "EC chain tables are written in the CR format, unchecked against upstream (warning)",
}


def rule_codes() -> dict[str, str]:
    """Codes the registered rules may emit, with the rule's one-line summary."""
    codes: dict[str, str] = {}
    for r in RULES:
        for c in r.codes:
            codes.setdefault(c, CODE_DOCS.get(c, r.summary))
    return codes


def all_codes() -> dict[str, str]:
    """Every code a user may meet, with a one-line summary (for docs and --suppress help)."""
    return dict(sorted({**OTHER_CODES, **rule_codes()}.items()))
