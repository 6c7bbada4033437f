"""One row per finding code: a small edit of the lab (or a two-zone) spec that triggers it, located at the key.

Every code a rule registers (ffinfra.checks.all_codes()) must have a row here, so a new rule without a test fails
the meta-test below. Rows also cover the codes emitted outside rules (schema, YAML, inventory, host resolution,
subnet managers).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ffinfra.checks import all_codes
from ffinfra.compile import compile_stack
from ffinfra.errors import SpecInvalid
from ffinfra.spec import pending
from ffinfra.spec.findings import Finding, Severity
from ffinfra.spec.models import ProvisioningSpec

E, W, N = Severity.ERROR, Severity.WARNING, Severity.INFO  # N: a note (info)

# The lab sets 3FS fields that ffinfra does not use yet (issue 12): each gets an FF-SPEC-002 note, which the tests
# below that are about other findings set aside.
PENDING = "FF-SPEC-002"
LAB_PENDING: list[tuple[str, ...]] = []  # the lab stack sets no field that ffinfra does not use yet


def others(findings: list[Finding]) -> list[Finding]:
    """The findings apart from the notes on fields that ffinfra does not use yet."""
    return [f for f in findings if f.code != PENDING]


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in others(findings)]


# A two-zone cluster in the Fire-Flyer 2 shape, scaled down: 8-port switches, storage dual-homed (one NIC per zone).
TWO_ZONE = """\
version: 1
name: duo
hardware:
  node:
    cpu: {cores_per_socket: 2}
    memory_gb: 2
    nics:
      - {device: mlx5_0, kind: infiniband, rate_gbps: 200}
      - {device: eth0, kind: ethernet, rate_gbps: 10}
    nvme: {count: 1, size_tb: 1}
  storage-node:
    cpu: {cores_per_socket: 2}
    memory_gb: 2
    nics:
      - {device: mlx5_0, kind: infiniband, rate_gbps: 200}
      - {device: mlx5_1, kind: infiniband, rate_gbps: 200}
      - {device: eth0, kind: ethernet, rate_gbps: 10}
    nvme: {count: 2, size_tb: 1}
nodes:
  compute:
    role: compute
    hostnames: cn[01-08]
    profile: node
  storage:
    role: storage
    hostnames: st[01-02]
    profile: storage-node
  mgmt:
    role: management
    hostnames: mgmt[01-02]
    profile: node
fabric:
  radix: 8
  design: zone-subnets
  zones:
    - name: z0
    - name: z1
network:
  management: {cidr: 10.0.0.0/24}
  ipoib: {cidr: 10.1.0.0/24}
storage:
  threefs: {replication: 2}
scheduler:
  slurm:
    partitions:
      - {name: batch, groups: [compute], default: true}
"""

QOS = """\
qos:
  max_vls: {max_vls}
  classes:
    hfreduce: {{sl: 1, vl: 1, weight: 64}}
    nccl: {{sl: {nccl_sl}, vl: {nccl_vl}, weight: 64}}
    storage: {{sl: 3, vl: {storage_vl}, weight: 128}}
    other: {{sl: 0, vl: 0, weight: 32}}
"""


def qos(max_vls: int = 4, nccl_sl: int = 2, nccl_vl: int = 2, storage_vl: int = 3) -> str:
    return QOS.format(max_vls=max_vls, nccl_sl=nccl_sl, nccl_vl=nccl_vl, storage_vl=storage_vl)


GPUS = """\
    gpus:
      model: A100
      count: 2
      memory_gb: 40
"""
INVENTORY = "inventory: {csv: nodes.csv}\n"
PLAIN_PROFILE = "hardware:\n  plain:\n    cpu: {cores_per_socket: 2}\n    memory_gb: 2\n"


@dataclass(frozen=True)
class Case:
    id: str
    code: str
    severity: Severity
    edits: tuple[tuple[str, str], ...]  # (old, new) text replacements, each must match
    at: str  # the line of the first use of this marker is where the finding must point
    col_of: str | None = None  # column: this text, searched from the marker (default: the stripped marker)
    base: str = "lab"  # "lab" or "two"
    files: dict[str, str] = field(default_factory=dict)
    file: str = "cluster.yaml"  # the file the location names: cluster.yaml, or a side file such as nodes.csv


def after(anchor: str, added: str) -> tuple[str, str]:
    return (anchor, anchor + added)


# The lab's subnet_manager block (a standby SM on st01): cases set other keys of it beside the standby.
LAB_SM = "  subnet_manager:\n    standby_hosts: [st01]"


def sm(*lines: str) -> tuple[str, str]:
    return (LAB_SM, "  subnet_manager:\n" + "".join(f"    {line}\n" for line in lines) + "    standby_hosts: [st01]")


# A top-level section goes in front of the lab's `acceptance:` key, wherever that section ends.
TOP = "\nacceptance:\n"


def before_acceptance(section: str) -> tuple[str, str]:
    return (TOP, "\n" + section + TOP[1:])


IB_NIC = "      - {device: mlx5_0, kind: infiniband, rate_gbps: 200, numa: 0}\n"
ZONE = "    - name: z0\n"
CTL = "    hostnames: ctl01\n"
RADIX = "  radix: 4 "
DESIGN = "  design: zone-subnets\n"
DESCRIPTION = "description: one-zone lab cluster for a single machine (simulated fabric, namespace nodes)\n"
DEEP = "[" * 40 + "]" * 40  # nested 41 levels below the root: past load.MAX_DEPTH (32)


def partitions(**keys: str) -> tuple[str, str]:
    """Add `partitions: {...}` with these P_Keys (quoted: YAML would read 0x0010 as the integer 16) to the fabric."""
    return after(DESIGN, "  partitions: {" + ", ".join(f'{k}_pkey: "{v}"' for k, v in keys.items()) + "}\n")


def acceptance(line: str) -> tuple[str, str]:
    """Replace the lab's iperf3 pass mark."""
    return ("  iperf3_gbit: 2\n", f"  iperf3_gbit: {line}\n")


CASES: list[Case] = [
    # ---------------------------------------------------------------- outside the rules: YAML, schema, resolution
    Case("yaml-duplicate-key", "FF-YAML-001", E, (after("  memory_gb: 2\n", "    memory_gb: 3\n"),), "memory_gb: 3"),
    Case("yaml-syntax", "FF-YAML-001", E, (("  link_rate: HDR\n", "  link_rate: [HDR\n"),), "  design:", ":"),
    Case("spec-unknown-key", "FF-SPEC-001", E, (("  switch_model:", "  switch_modle:"),), "switch_modle"),
    Case("spec-wrong-type", "FF-SPEC-001", E, ((RADIX, "  radix: four "),), "radix: four", "radix"),
    Case("spec-vl15", "FF-SPEC-001", E, (before_acceptance(qos(nccl_vl=15)),), "nccl: {sl: 2, vl: 15", "vl"),
    Case("spec-sl16", "FF-SPEC-001", E, (before_acceptance(qos(nccl_sl=16)),), "nccl: {sl: 16", "sl"),
    # numbers that are not finite, however written, anywhere: pass marks, ratios, sizes
    Case("spec-inf-pass-mark", "FF-SPEC-001", E, (acceptance(".inf"),), "iperf3_gbit: .inf"),
    Case("spec-nan-pass-mark", "FF-SPEC-001", E, (acceptance(".nan"),), "iperf3_gbit: .nan"),
    Case("spec-inf-as-string", "FF-SPEC-001", E, (acceptance('"inf"'),), 'iperf3_gbit: "inf"'),
    Case("spec-nan-as-string", "FF-SPEC-001", E, (acceptance("NaN"),), "iperf3_gbit: NaN"),
    Case("spec-1e999", "FF-SPEC-001", E, (acceptance("1e999"),), "iperf3_gbit: 1e999"),
    Case("spec-overflowing-float", "FF-SPEC-001", E, (acceptance("1.0e+999"),), "iperf3_gbit: 1.0e+999"),
    Case(
        "spec-inf-ratio",
        "FF-SPEC-001",
        E,
        (after("\nstorage:\n", "  ratio: {compute_per_storage: .inf}\n"),),
        "  ratio:",
        "compute_per_storage",
    ),
    Case("spec-nan-disk-size", "FF-SPEC-001", E, (("size_tb: 0.01", "size_tb: .nan"),), "size_tb: .nan", "size_tb"),
    Case(
        "spec-inf-oversubscription",
        "FF-SPEC-001",
        E,
        (after(DESIGN, "  oversubscription: -.inf\n"),),
        "oversubscription: -.inf",
    ),
    # YAML that nests deeper than any spec key: refused while reading, before Python's recursion limit
    Case(
        "yaml-deep-nesting",
        "FF-YAML-001",
        E,
        ((DESCRIPTION, f"description: {DEEP}\n"),),
        "description: [",
        "[" * 9 + "]",
    ),
    Case(
        "spec-ratio-both",
        "FF-SPEC-001",
        E,
        (after("\nstorage:\n", "  ratio: {compute_per_storage: 2, bandwidth_fraction: 0.3}\n"),),
        "  ratio:",
    ),
    Case(
        "inventory-bad-mac",
        "FF-INV-001",
        E,
        (("version: 1\n", "version: 1\n" + INVENTORY),),
        "zz",
        files={"nodes.csv": "hostname,mac\ncn01,zz\n"},
        file="nodes.csv",
    ),
    Case(
        "unknown-profile",
        "FF-NODE-006",
        E,
        (("hostnames: ctl01\n    profile: lab-node", "hostnames: ctl01\n    profile: ghost"),),
        "profile: ghost",
    ),
    Case("count-over-hostlist", "FF-NODE-008", E, (after(CTL, "    count: 3\n"),), "count: 3"),
    # hostlists are counted, never expanded, before they are refused: at the limit (100,000), each and together
    Case(
        "hostlist-too-large",
        "FF-NODE-011",
        E,
        (("hostnames: cn[01-04]", "hostnames: gpu[0000001-9999999]"),),
        "hostnames: gpu[0000001",
    ),
    Case(
        "hostlist-product-too-large",
        "FF-NODE-011",
        E,
        ((CTL, "    hostnames: r[1-999]n[1-999]\n"),),
        "hostnames: r[1-999]",
    ),
    Case(
        "hostlists-too-large-together",  # 60,000 + 60,000: each fits, the second group crosses the limit
        "FF-NODE-011",
        E,
        (
            ("hostnames: cn[01-04]", "hostnames: cn[000001-060000]"),
            ("hostnames: st[01-02]", "hostnames: st[000001-060000]"),
        ),
        "hostnames: st[",
    ),
    Case("unknown-zone", "FF-NET-014", E, (after(CTL, "    zone: z9\n"),), "zone: z9"),
    Case(
        "ratio-needs-more-than-named",
        "FF-STO-001",
        E,
        (after("\nstorage:\n", "  ratio: {compute_per_storage: 1}\n"),),
        "  ratio:",
    ),
    Case(
        "ratio-with-count",
        "FF-STO-001",
        E,
        (
            after("\nstorage:\n", "  ratio: {compute_per_storage: 2}\n"),
            after("hostnames: st[01-02]\n", "    count: 2\n"),
        ),
        "  ratio:",
    ),
    Case(
        "ratio-without-compute",
        "FF-STO-001",
        E,
        (after("\nstorage:\n", "  ratio: {compute_per_storage: 2}\n"), ("    role: compute\n", "    role: login\n")),
        "  ratio:",
    ),
    Case(
        "ratio-without-storage-group",
        "FF-STO-001",
        E,
        (after("\nstorage:\n", "  ratio: {compute_per_storage: 2}\n"), ("    role: storage\n", "    role: login\n")),
        "  ratio:",
    ),
    Case(
        "ratio-bandwidth-without-ib",
        "FF-STO-001",
        E,
        (
            after("\nstorage:\n", "  ratio: {bandwidth_fraction: 0.3}\n"),
            ("hostnames: st[01-02]\n    profile: lab-node", "hostnames: st[01-02]\n    profile: plain"),
            ("hardware:\n", PLAIN_PROFILE),
        ),
        "bandwidth_fraction",
    ),
    Case(
        "sm-host-unknown",
        "FF-SM-001",
        E,
        (sm("hosts: [nobody]"),),
        "[nobody]",
        "nobody",
    ),
    Case(
        "sm-host-without-ib",
        "FF-SM-001",
        E,
        (
            sm("hosts: [ctl01]"),
            ("hostnames: ctl01\n    profile: lab-node", "hostnames: ctl01\n    profile: plain"),
            ("hardware:\n", PLAIN_PROFILE),
        ),
        "[ctl01]",
        "ctl01",
    ),
    Case("sm-none-in-subnet", "FF-SM-002", E, ((IB_NIC, ""),), "  zones:"),
    Case(
        "sm-standby-unknown",
        "FF-SM-003",
        E,
        ((LAB_SM, "  subnet_manager:\n    standby_hosts: [nobody]"),),
        "[nobody]",
        "nobody",
    ),
    Case(
        "sm-standby-is-the-master",
        "FF-SM-003",
        E,
        (sm("hosts: [st01]"),),
        "standby_hosts: [st01]",
        "st01]",
    ),
    Case(
        "sm-standby-without-a-lower-priority",
        "FF-SM-003",
        E,
        (sm("sm_priority: 0"),),
        "sm_priority: 0",
        "sm_priority",
    ),
    # ---------------------------------------------------------------- hardware
    Case(
        "gpu-list-length",
        "FF-HW-001",
        E,
        (after("  memory_gb: 2\n", GPUS + '      pci: ["0000:01:00.0"]\n'),),
        "pci: [",
        "pci",
    ),
    Case("nic-numa", "FF-HW-002", E, (("rate_gbps: 200, numa: 0}", "rate_gbps: 200, numa: 2}"),), "numa: 2"),
    Case(
        "gpu-numa",
        "FF-HW-002",
        E,
        (after("  memory_gb: 2\n", GPUS + "      numa: [0, 3]\n"),),
        "numa: [0, 3]",
        "3",
    ),
    Case(
        "nvlink-pair",
        "FF-HW-003",
        E,
        (after("  memory_gb: 2\n", GPUS + "      nvlink_pairs: [[0, 0]]\n"),),
        "nvlink_pairs: [[0, 0]]",
        "[0, 0]",
    ),
    Case("nvlink-without-pairs", "FF-HW-004", E, (before_acceptance("hfreduce: {nvlink: true}\n"),), "nvlink: true"),
    # ---------------------------------------------------------------- fabric
    # leaf down + up ports ≤ radix: every port an uplink leaves no host port
    Case(
        "leaf-uplinks-fill-radix",
        "FF-NET-001",
        E,
        (after("  link_rate: HDR\n", "  leaf_uplinks: 4\n"),),
        "leaf_uplinks: 4",
    ),
    Case(
        "leaf-uplinks-over-radix",
        "FF-NET-001",
        E,
        (after("  link_rate: HDR\n", "  leaf_uplinks: 6\n"),),
        "leaf_uplinks: 6",
    ),
    Case(
        "zone-over-given-leaves",
        "FF-NET-002",
        E,
        ((ZONE, "    - {name: z0, spines: 2, leaves: 3}\n"),),
        "leaves: 3",
        "leaves",
    ),
    Case("zone-over-spine-capacity", "FF-NET-002", E, (("hostnames: cn[01-04]", "hostnames: cn[01-09]"),), "name: z0"),
    Case(
        "zone-over-capacity-with-reserved-ports",  # 2 installed, but the whole hostlist must fit: 9 + 3 > 8
        "FF-NET-002",
        E,
        (("hostnames: cn[01-04]\n", "hostnames: cn[01-09]\n    count: 2\n"),),
        "name: z0",
    ),
    Case("spine-over-radix", "FF-NET-003", E, ((ZONE, "    - {name: z0, leaves: 5}\n"),), "{name: z0", "{"),
    Case(
        "storage-one-nic-two-zones",
        "FF-NET-004",
        E,
        (("profile: storage-node", "profile: node"),),
        "  storage:\n    role",
        "storage",
        base="two",
    ),
    Case(
        "storage-homed-in-one-zone",
        "FF-NET-004",
        E,
        (after("hostnames: st[01-02]\n", "    homing: zone\n"),),
        "homing: zone",
        base="two",
    ),
    Case(
        "leaf-level-join",
        "FF-NET-005",
        E,
        (("  design: zone-subnets\n", "  design: single-subnet\n  inter_zone: {level: leaf, links: 2}\n"),),
        "level: leaf",
        "level",
        base="two",
    ),
    Case(
        "lmc-with-ftree",
        "FF-NET-006",
        E,
        (sm("lmc: 1"),),
        "lmc: 1",
    ),
    Case(
        "uplinks-not-multiple-of-spines",
        "FF-NET-007",
        E,
        ((ZONE, "    - {name: z0, spines: 3}\n"),),
        "spines: 3",
        "spines",
    ),
    Case(
        "storage-not-in-cn-roles",
        "FF-NET-008",
        E,
        (sm("cn_roles: [compute, controller]"),),
        "cn_roles",
    ),
    Case(
        "role-not-in-cn-roles",
        "FF-NET-008",
        W,
        (sm("cn_roles: [compute, storage]"),),
        "cn_roles",
    ),
    Case(
        "single-subnet-without-links",
        "FF-NET-009",
        E,
        (("  design: zone-subnets\n", "  design: single-subnet\n  inter_zone: {links: 0}\n"),),
        "links: 0",
        "links",
        base="two",
    ),
    Case(
        "links-between-separate-subnets",
        "FF-NET-010",
        E,
        (after("  design: zone-subnets\n", "  inter_zone: {links: 2}\n"),),
        "links: 2",
        "links",
        base="two",
    ),
    Case(
        "idle-spines",
        "FF-NET-011",
        W,
        ((RADIX, "  radix: 8 "), (ZONE, "    - {name: z0, leaves: 7}\n")),
        "{name: z0",
        "{",
    ),
    Case(
        "ftree-uplink-skew",
        "FF-NET-019",
        N,
        ((RADIX, "  radix: 8 "), (ZONE, "    - {name: z0, spines: 2, leaves: 3}\n")),  # 3/2/2 hosts, 4 uplinks
        "{name: z0",
        "{",
    ),
    Case(
        "uplinks-override-oversubscription",
        "FF-NET-012",
        W,
        (after("  link_rate: HDR\n", "  oversubscription: 1.0\n  leaf_uplinks: 1\n"),),
        "leaf_uplinks: 1",
    ),
    Case("zone-without-hosts", "FF-NET-013", E, ((IB_NIC, ""),), "name: z0"),
    Case(
        "empty-leaves",
        "FF-NET-016",
        E,
        ((RADIX, "  radix: 8 "), (ZONE, "    - {name: z0, leaves: 16}\n")),  # more leaves than the lab has hosts
        "leaves: 16",
        "leaves",
    ),
    Case(
        "minhop-routing",
        "FF-NET-017",
        N,
        (sm("routing_engine: minhop"),),
        "routing_engine",
    ),
    Case(
        "hca-rate",
        "FF-NET-018",
        W,
        (("rate_gbps: 200, numa: 0}", "rate_gbps: 100, numa: 0}"),),
        "rate_gbps: 100",
        "rate_gbps",
    ),
    Case(
        "pool-exhausted",
        "FF-NET-020",
        E,
        (("cidr: 10.210.0.0/24, first", "cidr: 10.210.0.0/28, first"),),
        "cidr: 10.210.0.0/28",
        "cidr",
    ),
    Case(
        "ipoib-pool-exhausted",
        "FF-NET-020",
        E,
        (("{cidr: 10.211.0.0/24}", "{cidr: 10.211.0.0/29}"),),
        "cidr: 10.211.0.0/29",
        "cidr",
    ),
    # P_Keys: OpenSM drops or merges bad partitions quietly, so ffinfra refuses them
    Case("pkey-zero", "FF-NET-022", E, (partitions(compute="0x0000"),), "compute_pkey"),
    Case("pkey-membership-bit-only", "FF-NET-022", E, (partitions(storage="0x8000"),), "storage_pkey"),
    Case("pkey-default-not-7fff", "FF-NET-022", E, (partitions(default="0x0030"),), "default_pkey"),
    Case("pkey-compute-is-default", "FF-NET-023", E, (partitions(compute="0xffff"),), "compute_pkey"),
    Case("pkey-storage-is-default", "FF-NET-023", E, (partitions(storage="0x7fff"),), "storage_pkey"),
    Case("pkey-shared", "FF-NET-023", E, (partitions(compute="0x0030", storage="0x0030"),), "storage_pkey"),
    Case(
        "pkey-shared-but-membership-bit",
        "FF-NET-023",
        E,
        (partitions(compute="0x0030", storage="0x8030"),),
        "storage_pkey",
    ),
    Case(
        "gateway-outside",
        "FF-NET-021",
        E,
        (("first_host: 10}", "first_host: 10, gateway: 10.9.0.1}"),),
        "gateway: 10.9",
        "gateway",
    ),
    # ---------------------------------------------------------------- node identities and inventory
    Case("hostname-in-two-groups", "FF-NODE-001", E, ((CTL, "    hostnames: cn04\n"),), "hostnames: cn04"),
    Case(
        "hostname-reserved-in-another-group",  # cn04 is beyond compute's count, but still compute's name
        "FF-NODE-001",
        E,
        (("hostnames: cn[01-04]\n", "hostnames: cn[01-04]\n    count: 2\n"), (CTL, "    hostnames: cn04\n")),
        "hostnames: cn[01-04]",
    ),
    Case(
        "hostname-twice-in-a-group",
        "FF-NODE-001",
        E,
        (("hostnames: cn[01-04]", "hostnames: cn[01-04],cn02"),),
        "hostnames: cn[01-04]",
    ),
    Case(
        "duplicate-mac",
        "FF-NODE-002",
        E,
        (("version: 1\n", "version: 1\n" + INVENTORY),),
        "hostnames: cn[01-04]",
        files={"nodes.csv": "hostname,mac\ncn01,aa:bb:cc:dd:ee:01\ncn03,AA:BB:CC:DD:EE:01\n"},
    ),
    Case("duplicate-ip-by-offset", "FF-NODE-003", E, (after(CTL, "    ip_offset: 12\n"),), "hostnames: ctl01"),
    Case(
        "reserved-offset-taken",  # cn03-04 are not installed, but their offsets 12-13 are theirs
        "FF-NODE-003",
        E,
        (("hostnames: cn[01-04]\n", "hostnames: cn[01-04]\n    count: 2\n"), after(CTL, "    ip_offset: 13\n")),
        "hostnames: cn[01-04]",
    ),
    Case(
        "duplicate-ip-in-inventory",
        "FF-NODE-003",
        E,
        (("version: 1\n", "version: 1\n" + INVENTORY),),
        "hostnames: st[01-02]",
        files={"nodes.csv": "hostname,mgmt_ip\ncn02,10.210.0.99\nst01,10.210.0.99\n"},
    ),
    Case(
        "duplicate-guid",
        "FF-NODE-004",
        E,
        (("version: 1\n", "version: 1\n" + INVENTORY),),
        "hostnames: cn[01-04]",
        files={"nodes.csv": "hostname,ib_guids\ncn01,0x0002c90300aa0001\ncn02,0x0002c90300AA0001\n"},
    ),
    Case(
        "inventory-row-for-no-node",
        "FF-NODE-005",
        E,
        (("version: 1\n", "version: 1\n" + INVENTORY),),
        "ghost01",
        files={"nodes.csv": "hostname,mac\ncn01,aa:bb:cc:dd:ee:01\nghost01,aa:bb:cc:dd:ee:02\n"},
        file="nodes.csv",
    ),
    Case(
        "compute-without-ib",
        "FF-NODE-009",
        W,
        (
            ("hostnames: cn[01-04]\n    profile: lab-node", "hostnames: cn[01-04]\n    profile: plain"),
            ("hardware:\n", PLAIN_PROFILE),
        ),
        "profile: plain",
    ),
    Case(
        "inventory-guid-count",
        "FF-NODE-010",
        W,
        (("version: 1\n", "version: 1\n" + INVENTORY),),
        "cn02",
        files={"nodes.csv": "hostname,ib_guids\ncn01,0x1\ncn02,0x2;0x3\n"},
        file="nodes.csv",
    ),
    # ---------------------------------------------------------------- QoS: SL/VL validity
    Case(
        "vl-beyond-max-vls",
        "FF-QOS-001",
        E,
        (before_acceptance(qos(max_vls=2, nccl_vl=1, storage_vl=2)),),
        "storage: {sl: 3, vl: 2",
        "vl",
    ),
    Case("sl-shared", "FF-QOS-002", W, (before_acceptance(qos(nccl_sl=1)),), "nccl: {sl: 1", "sl"),
    Case("vl-shared", "FF-QOS-003", N, (before_acceptance(qos(nccl_vl=1)),), "nccl: {sl: 2, vl: 1", "vl"),
    # ---------------------------------------------------------------- scheduler
    Case(
        "partition-unknown-group",
        "FF-SCHED-001",
        E,
        (("groups: [compute]", "groups: [compute, gpus]"),),
        "[compute, gpus]",
        "gpus",
    ),
    Case(
        "two-default-partitions",
        "FF-SCHED-002",
        E,
        (after("default: true}\n", "      - {name: lab2, groups: [storage], default: true}\n"),),
        "name: lab2",
        "default",
    ),
    Case(
        "partition-names-a-storage-group",
        "FF-SCHED-004",
        W,
        (("groups: [compute]", "groups: [compute, storage]"),),
        "[compute, storage]",
        "storage",
    ),
    Case(
        "controller-not-a-node",
        "FF-SCHED-003",
        E,
        (after("  slurm:\n", "    controller: ghost\n"),),
        "controller: ghost",
    ),
    Case(
        "no-controller-node",
        "FF-SCHED-003",
        E,
        (("    role: controller\n", "    role: login\n"),),
        "\nnodes:\n",
        "nodes",
    ),
    # ---------------------------------------------------------------- storage
    Case("replication-over-storage-nodes", "FF-STO-002", E, (("replication: 2", "replication: 3"),), "replication: 3"),
    Case(
        "single-storage-node",
        "FF-STO-002",
        W,
        (("replication: 2", "replication: 1"), ("st[01-02]", "st01")),
        "replication: 1",
    ),
    Case("storage-without-nvme", "FF-STO-003", E, (("nvme: {count: 1,", "nvme: {count: 0,"),), "count: 0", "count"),
    Case("threefs-without-storage", "FF-STO-004", E, (("    role: storage\n", "    role: login\n"),), "  threefs:"),
    Case("mgmtd-hosts-unknown", "FF-STO-005", E, (after("  threefs:\n", "    mgmtd_hosts: mg[1-2]\n"),), "mgmtd_hosts"),
    Case(
        "mgmtd-hosts-too-large",  # counted before expanding: the limit is said, nothing is built
        "FF-STO-005",
        E,
        (after("  threefs:\n", "    mgmtd_hosts: m[0000001-9999999]\n"),),
        "mgmtd_hosts",
    ),
    Case("fuse-hosts-unknown", "FF-STO-005", E, (after("  threefs:\n", "    fuse_hosts: gpu[1-2]\n"),), "fuse_hosts"),
    Case("fdb-hosts-unknown", "FF-STO-005", E, (after("  threefs:\n", "    fdb: {hosts: fdb01}\n"),), "fdb:", "hosts"),
    Case("threefs-without-ipoib", "FF-STO-006", E, (("  ipoib: {cidr: 10.211.0.0/24}\n", ""),), "network:"),
    Case(
        "targets-not-divisible-into-chains",  # 3 nodes × 1 target per disk cannot all join chains of 2
        "FF-STO-008",
        E,
        (("targets_per_disk: 2", "targets_per_disk: 1"), ("st[01-02]", "st[01-03]")),
        "targets_per_disk: 1",
    ),
    Case(
        "clickhouse-on-mgmtd-port",
        "FF-STO-009",
        E,
        (after("  threefs:\n", "    monitor: {clickhouse_port: 9000}\n"),),
        "monitor:",
        "clickhouse_port",
    ),
    Case(
        "storage-disk-counts-differ",
        "FF-STO-007",
        E,
        (
            after(
                "hardware:\n",
                "  big:\n    cpu: {cores_per_socket: 2}\n    memory_gb: 2\n    nics:\n"
                + IB_NIC
                + "    nvme: {count: 2, size_tb: 0.01}\n",
            ),
            ("st[01-02]", "st01"),
            after("nodes:\n", "  big:\n    role: storage\n    hostnames: st02\n    profile: big\n"),
        ),
        "  threefs:",
    ),
    Case("ec-chain-table", "FF-STO-011", W, (after("  threefs:\n", "    chain_table_type: EC\n"),), "chain_table_type"),
    Case("storage-names-without-numbers", "FF-STO-010", W, (("st[01-02]", "sta,stb"),), "nodes:"),
    # ---------------------------------------------------------------- fields the spec sets that nothing uses yet
    Case(
        "pending-field",
        "FF-SPEC-002",
        N,
        (before_acceptance("provisioning:\n  bmc_protocol: ipmi\n"),),
        "  bmc_protocol:",
        "bmc_protocol",
    ),
    Case(
        "pending-field-flow",
        "FF-SPEC-002",
        N,
        (before_acceptance("provisioning: {bmc_protocol: ipmi}\n"),),
        "bmc_protocol",
    ),
]

EXTRA_CODES = {
    "FF-SPEC-001",
    "FF-YAML-001",
    "FF-INV-001",
    "FF-NODE-006",
    "FF-NODE-008",
    "FF-NODE-011",
    "FF-NET-014",
    "FF-STO-001",
    "FF-SM-001",
    "FF-SM-002",
    "FF-SM-003",
}


def line_col(text: str, marker: str, col_of: str | None = None) -> tuple[int, int]:
    i = text.index(marker)
    i = text.index(col_of or marker.strip(), i)
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


def build(case: Case, lab_text: str) -> str:
    text = {"lab": lab_text, "two": TWO_ZONE}[case.base]
    for old, new in case.edits:
        assert old in text, f"{case.id}: edit anchor {old!r} is not in the {case.base} spec"
        text = text.replace(old, new, 1)
    return text


@pytest.fixture
def pending_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """A spec field as if a later issue were to use it (every issue so far reads its own fields)."""
    monkeypatch.setitem(pending.PENDING, ProvisioningSpec, {"bmc_protocol": pending.Issue(99, "a later issue")})


@pytest.mark.usefixtures("pending_field")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_code_fires_at_the_offending_key(
    case: Case, stack_text: Callable[[str], str], make_stack, findings_of: Callable[..., list[Finding]]
) -> None:
    text = build(case, stack_text("lab"))
    ref = make_stack(text, case.files)
    found = findings_of(ref)
    hits = [f for f in found if f.code == case.code and f.severity is case.severity]
    assert hits, f"{case.code} ({case.severity.label}) not reported; got:\n" + "\n".join(f.format() for f in found)
    source = text if case.file == "cluster.yaml" else case.files[case.file]
    want = line_col(source, case.at, case.col_of)
    located = [(f.location.line, f.location.col) for f in hits if f.location]
    assert want in located, f"{case.code} at {located}, expected {want}:\n" + "\n".join(f.format() for f in hits)
    assert all(f.location and Path(f.location.file).name == case.file for f in hits)


def test_the_unchanged_bases_are_clean_but_for_notes_on_fields_not_used_yet(
    stack_text, make_stack, findings_of
) -> None:
    lab = findings_of(make_stack(stack_text("lab"), name="lab"))
    assert others(lab) == []
    assert [(f.code, f.severity, f.path) for f in lab] == [(PENDING, N, p) for p in LAB_PENDING]
    two = findings_of(make_stack(TWO_ZONE, name="two"))
    assert [(f.code, f.path) for f in two] == []


def test_every_code_has_a_row() -> None:
    """A rule's new code needs a row in CASES (and every listed code must still exist)."""
    codes = set(all_codes())
    covered = {c.code for c in CASES}
    assert codes - covered == set(), "codes without a triggering spec in CASES"
    assert covered - codes - EXTRA_CODES == set(), "rows for codes that no rule registers"
    assert covered >= EXTRA_CODES


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


# ------------------------------------------------------------------------------------------------- the issue's checks


def _ff2_with_801_ports_per_zone(ff2: str, compiled_stack) -> str:
    """ff2 with enough compute nodes added to each zone's group (gpu-z0, gpu-z1) for 801 host ports per zone."""
    ports = [z.host_ports for z in compiled_stack("ff2").topology.zones]
    assert ports[0] == ports[1] <= 800
    extra = 801 - ports[0]
    m = re.search(r"hostnames: gpu\[0001-(\d+)\](?s:.*?)hostnames: gpu\[(\d+)-(\d+)\](?s:.*?)ip_offset: (\d+)", ff2)
    assert m, "ff2's compute hostlists changed shape"
    z0_last, z1_first, z1_last, z1_offset = (int(g) for g in m.groups())
    assert z1_first == z0_last + 1
    return (
        ff2.replace(f"gpu[0001-{z0_last:04d}]", f"gpu[0001-{z0_last + extra:04d}]")
        .replace(f"gpu[{z1_first:04d}-{z1_last:04d}]", f"gpu[{z1_first + extra:04d}-{z1_last + 2 * extra:04d}]")
        .replace(f"ip_offset: {z1_offset}", f"ip_offset: {z1_offset + extra}")
    )


def test_fire_flyer_zone_holds_800_host_ports(stack_text, make_stack, findings_of, compiled_stack) -> None:
    """20 spines + 40 leaves of 40 ports → 800 host ports per zone: the shipped ff2 fits, 801 is FF-NET-002."""
    ff2 = stack_text("ff2")
    assert others(findings_of(make_stack(ff2, name="ok"))) == []
    text = _ff2_with_801_ports_per_zone(ff2, compiled_stack)
    found = findings_of(make_stack(text, name="over"))
    over = [f for f in found if f.code == "FF-NET-002"]
    assert [f.path for f in over] == [("fabric", "zones", 0, "leaves"), ("fabric", "zones", 1, "leaves")]
    assert "801 host ports" in over[0].message and "= 800" in over[0].message
    assert (over[0].location.line, over[0].location.col) == line_col(text, "{name: z0,", "leaves")
    assert (over[1].location.line, over[1].location.col) == line_col(text, "{name: z1,", "leaves")


def test_fire_flyer_zone_with_derived_leaves_overflows_as_ff_net_002(
    stack_text, make_stack, findings_of, compiled_stack
) -> None:
    text = (
        _ff2_with_801_ports_per_zone(stack_text("ff2"), compiled_stack)
        .replace("{name: z0, spines: 20, leaves: 40}", "{name: z0}")
        .replace("{name: z1, spines: 20, leaves: 40}", "{name: z1}")
    )
    over = [f for f in findings_of(make_stack(text)) if f.code == "FF-NET-002"]
    assert [f.path for f in over] == [("fabric", "zones", 0), ("fabric", "zones", 1)]
    assert "801 host ports" in over[0].message
    assert "at most 40 leaves × 20 down ports = 800" in over[0].message


def test_leaf_down_plus_up_never_exceeds_the_radix(stack_text, make_stack, findings_of) -> None:
    for uplinks, ok in ((1, True), (2, True), (3, True), (4, False), (9, False)):
        text = stack_text("lab").replace("  link_rate: HDR\n", f"  link_rate: HDR\n  leaf_uplinks: {uplinks}\n")
        codes = {f.code for f in findings_of(make_stack(text, name=f"u{uplinks}")) if f.is_blocking}
        assert ("FF-NET-001" not in codes) is ok, (uplinks, codes)


def test_storage_dual_homing_needs_one_nic_per_zone(make_stack, findings_of) -> None:
    three = TWO_ZONE.replace("    - name: z1\n", "    - name: z1\n    - name: z2\n")
    (f,) = [f for f in findings_of(make_stack(three)) if f.code == "FF-NET-004"]
    assert "reaches all 3 zones but profile 'storage-node' has 2 IB port(s)" in f.message
    two_ports = three.replace(
        "      - {device: mlx5_1, kind: infiniband, rate_gbps: 200}\n",
        "      - {device: mlx5_1, kind: infiniband, rate_gbps: 200, ports: 2}\n",
    )
    assert not [f for f in findings_of(make_stack(two_ports, name="b")) if f.code == "FF-NET-004"]


# ------------------------------------------------------------------------------------------------- suppression, strict


def _lab_with_warnings(lab: str) -> str:
    """FF-NET-018 (warning), FF-NET-017 (info) and FF-QOS-002 (warning)."""
    return (
        lab.replace("rate_gbps: 200, numa: 0}", "rate_gbps: 100, numa: 0}")
        .replace(LAB_SM, sm("routing_engine: minhop")[1])
        .replace(*before_acceptance(qos(nccl_sl=1)))
        .replace(*before_acceptance("provisioning: {bmc_protocol: ipmi}\n"))  # a note: a field not used yet
    )


@pytest.mark.usefixtures("pending_field")
def test_warnings_and_notes_are_returned_sorted(stack_text, make_stack) -> None:
    c = compile_stack(make_stack(_lab_with_warnings(stack_text("lab"))))
    assert [(f.code, f.severity) for f in others(c.findings)] == [
        ("FF-NET-018", W),
        ("FF-QOS-002", W),
        ("FF-NET-017", N),
    ]


@pytest.mark.usefixtures("pending_field")
def test_suppress_in_the_spec(stack_text, make_stack) -> None:
    text = _lab_with_warnings(stack_text("lab")) + "validation:\n  suppress: [FF-NET-018, FF-NET-017]\n"
    c = compile_stack(make_stack(text))
    assert codes(c.findings) == ["FF-QOS-002"]


@pytest.mark.usefixtures("pending_field")
def test_suppress_argument_takes_several_codes_and_adds_to_the_spec(stack_text, make_stack) -> None:
    text = _lab_with_warnings(stack_text("lab")) + "validation:\n  suppress: [FF-NET-017]\n"
    ref = make_stack(text)
    assert codes(compile_stack(ref, suppress=("FF-NET-018", "FF-QOS-002")).findings) == []
    assert codes(compile_stack(ref, suppress=("FF-QOS-002",)).findings) == ["FF-NET-018"]


@pytest.mark.usefixtures("pending_field")
def test_strict_makes_warnings_fatal_but_not_notes(stack_text, make_stack) -> None:
    ref = make_stack(_lab_with_warnings(stack_text("lab")))
    with pytest.raises(SpecInvalid) as info:
        compile_stack(ref, strict=True)
    assert set(codes(info.value.findings)) == {"FF-NET-018", "FF-QOS-002", "FF-NET-017"}
    c = compile_stack(ref, suppress=("FF-NET-018", "FF-QOS-002"), strict=True)
    assert codes(c.findings) == ["FF-NET-017"]
    assert {f.code for f in c.findings} == {"FF-NET-017", PENDING}  # notes of either kind never fail --strict


def test_errors_cannot_be_suppressed(stack_text, make_stack) -> None:
    """Compiling past an error (here: one hostname in two groups) would cable a broken fabric."""
    text = stack_text("lab").replace(CTL, "    hostnames: cn04\n") + "validation:\n  suppress: [FF-NODE-001]\n"
    with pytest.raises(SpecInvalid) as info:
        compile_stack(make_stack(text), suppress=("FF-NODE-001",))
    assert codes(info.value.findings) == ["FF-NODE-001"]


def test_suppressing_a_code_keeps_its_errors_but_drops_its_warnings(stack_text, make_stack) -> None:
    base = stack_text("lab")
    warn = make_stack(base.replace("  subnet_manager:\n", "  subnet_manager:\n    cn_roles: [compute, storage]\n"))
    assert others(compile_stack(warn, suppress=("FF-NET-008",)).findings) == []
    err = make_stack(base.replace("  subnet_manager:\n", "  subnet_manager:\n    cn_roles: [compute]\n"), name="e")
    with pytest.raises(SpecInvalid) as info:
        compile_stack(err, suppress=("FF-NET-008",))
    assert {(f.code, f.severity) for f in others(info.value.findings)} == {("FF-NET-008", E)}


def test_findings_are_all_reported_at_once_errors_first(stack_text, make_stack) -> None:
    text = (
        stack_text("lab")
        .replace("replication: 2", "replication: 3")
        .replace("rate_gbps: 200, numa: 0}", "rate_gbps: 100, numa: 0}")
        .replace("groups: [compute]", "groups: [gpus]")
    )
    with pytest.raises(SpecInvalid) as info:
        compile_stack(make_stack(text))
    assert codes(info.value.findings) == ["FF-STO-002", "FF-SCHED-001", "FF-NET-018"]
    assert str(info.value) == "spec is invalid: 2 error(s)"


def test_a_groups_whole_hostlist_must_fit_its_zone_whatever_its_count(
    stack_text, make_stack, findings_of, compiled_stack
) -> None:
    """FF-NET-002 counts reserved ports: cn[01-09] overflows the lab's 8 host ports, even with 2 installed."""
    lab = stack_text("lab")
    rest = compiled_stack("lab").topology.zones[0].host_ports - 4  # the ports of the groups other than cn[01-04]
    for count in ("", "    count: 2\n", "    count: 0\n"):
        text = lab.replace("hostnames: cn[01-04]\n", "hostnames: cn[01-09]\n" + count)
        (over,) = [f for f in findings_of(make_stack(text, name=f"c{len(count)}")) if f.code == "FF-NET-002"]
        assert f"has {9 + rest} host ports" in over.message and "= 8" in over.message
        assert ("reserved for hostlist names beyond `count`" in over.message) is bool(count)
    last = 8 - rest  # as many compute names as leave the zone exactly full
    fits = lab.replace("hostnames: cn[01-04]\n", f"hostnames: cn[01-{last:02d}]\n    count: 2\n")
    assert others(findings_of(make_stack(fits, name="fits"))) == []


def test_a_zone_with_only_reserved_ports_has_no_hosts(stack_text, make_stack, findings_of) -> None:
    text = (
        stack_text("lab")
        .replace("  radix: 4 ", "  radix: 8 ")
        .replace("  design: zone-subnets\n", "  design: single-subnet\n  inter_zone: {links: 1}\n")
        .replace("    - name: z0\n", "    - name: z0\n    - name: z1\n")
        .replace("hostnames: cn[01-04]\n", "hostnames: cn[01-04]\n    zone: z0\n")
        .replace("hostnames: st[01-02]\n", "hostnames: st[01-02]\n    zone: z0\n")
        .replace(
            "\nfabric:\n",
            "  spare:\n    role: compute\n    hostnames: sp[01-02]\n    count: 0\n    profile: lab-node\n"
            "    zone: z1\n\nfabric:\n",
        )
    )
    found = findings_of(make_stack(text))
    (f,) = [f for f in found if f.code == "FF-NET-013"]
    assert f.path == ("fabric", "zones", 1)
    assert "no installed hosts, only 2 reserved port(s)" in f.message
    assert "raise `count`" in (f.hint or "")
