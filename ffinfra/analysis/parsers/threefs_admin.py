"""3FS `admin_cli` tables (`list-chains`, `list-nodes`, `list-targets`) and the acceptance judgements on them.

The format is read from upstream's source (deepseek-ai/3FS; the copy read is the fork zhaohaidao/3FS at 815e55e4,
`src/client/cli/`); tests/data/3fs-admin/README.md gives the line numbers for every column:

- `common/Printer.cc`: one table row a line. Every cell but the row's last is padded with spaces to the widest cell
  of its column (in bytes) plus two; the last cell of a row is not padded, and a row may have fewer cells than the
  header (`list-chains`: a chain with fewer targets than the longest chain). So the header fixes where each column
  starts. Cells are cut at those offsets, not split on whitespace: `LastHeartbeatTime` holds a space and `Hostname`
  may be empty (a registered node that never started).
- `common/Dispatcher.cc`: when a command fails, admin_cli prints `Encounter error: CODE(NAME)` and the message on
  stdout instead of a table. `--verbose` and `--profile` add `> Execute ...` and `> Time: ...` lines, which are skipped.
- `admin/ListChains.cc` (without `-t`): `ChainId ReferencedBy ChainVersion Status PreferredOrder Target...`, a target
  cell is `TARGETID(PUBLICSTATE-LOCALSTATE)`, and Status is SERVING, SYNCING, UNAVAILABLE or `SERVING(k/n)`.
- `admin/ListNodes.cc`: `Id Type Status Hostname Pid Tags LastHeartbeatTime ConfigVersion ReleaseVersion`.
- `admin/ListTargets.cc` (without `--orphan`): `TargetId ChainId Role PublicState LocalState NodeId DiskIndex UsedSize`.
- `fbs/mgmtd/MgmtdTypes.h`: the state, status and type names.

A line that does not fit its column's format raises ParseError naming the line number.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

from ffinfra.analysis.parsers import ParseError

PUBLIC_STATES = frozenset({"INVALID", "SERVING", "LASTSRV", "SYNCING", "WAITING", "OFFLINE"})
LOCAL_STATES = frozenset({"INVALID", "UPTODATE", "ONLINE", "OFFLINE"})
NODE_STATUSES = frozenset(
    {"PRIMARY_MGMTD", "HEARTBEAT_CONNECTED", "HEARTBEAT_CONNECTING", "HEARTBEAT_FAILED", "DISABLED"}
)
NODE_TYPES = frozenset({"MGMTD", "META", "STORAGE", "CLIENT", "FUSE"})
CONNECTED = frozenset({"PRIMARY_MGMTD", "HEARTBEAT_CONNECTED"})
ROLES = frozenset({"HEAD", "MIDDLE", "TAIL"})

_CHAINS_HEADER = ("ChainId", "ReferencedBy", "ChainVersion", "Status", "PreferredOrder")
_NODES_HEADER = (
    "Id",
    "Type",
    "Status",
    "Hostname",
    "Pid",
    "Tags",
    "LastHeartbeatTime",
    "ConfigVersion",
    "ReleaseVersion",
)
_TARGETS_HEADER = ("TargetId", "ChainId", "Role", "PublicState", "LocalState", "NodeId", "DiskIndex", "UsedSize")

_INT = re.compile(r"\d+")
_REFERENCED_BY = re.compile(r"N/A|\d+(?:,\d+)?(?:,\.\.\.)?")
_CHAIN_STATUS = re.compile(r"SERVING|SYNCING|UNAVAILABLE|SERVING\(\d+/\d+\)")
_PREFERRED = re.compile(r"\[(\d+(?:,\d+)*)?\]")
_TARGET_CELL = re.compile(r"(\d+)\(([A-Z]+)-([A-Z]+)\)")
_HEARTBEAT = re.compile(r"N/A|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_CONFIG = re.compile(r"(\d+)(?:\((UPTODATE|DIRTY|FAILED)\))?")
_TAGS = re.compile(r"\[.*\]")
_WORD = re.compile(r"\S+")
_INT_OR_NA = re.compile(r"\d+|N/A")
_SKIPPED = ("> Execute ", "> Time: ")


@dataclass(frozen=True, slots=True)
class TargetState:
    target_id: int
    public_state: str
    local_state: str

    @property
    def serving_uptodate(self) -> bool:
        return self.public_state == "SERVING" and self.local_state == "UPTODATE"

    def __str__(self) -> str:
        return f"{self.target_id}({self.public_state}-{self.local_state})"


@dataclass(frozen=True, slots=True)
class ChainRow:
    chain_id: int
    version: int
    status: str  # SERVING, SYNCING, UNAVAILABLE or SERVING(k/n)
    targets: tuple[TargetState, ...]  # in chain order, head first
    referenced_by: str  # chain table ids as printed: "N/A", "1", "1,2" or "1,2,..."
    preferred_order: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class NodeRow:
    node_id: int
    type: str
    status: str
    hostname: str
    pid: int
    tags: tuple[str, ...]  # "key" or "key=value"
    last_heartbeat: str | None  # "YYYY-MM-DD HH:MM:SS" as printed; None for N/A (the primary mgmtd)
    config_version: int
    config_status: str | None  # UPTODATE, DIRTY, FAILED, or None when not the type's latest config
    release_version: str

    @property
    def connected(self) -> bool:
        return self.status in CONNECTED


@dataclass(frozen=True, slots=True)
class TargetRow:
    target_id: int
    chain_id: int
    role: str  # HEAD, MIDDLE or TAIL
    public_state: str
    local_state: str
    node_id: int | None
    disk_index: int | None
    used_size: int


def _rows(
    text: str, command: str, header: tuple[str, ...], repeated: str | None = None
) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, cells) for each row of an admin_cli table whose header starts with `header`."""
    starts: list[int] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.rstrip()
        if not line or line.startswith(_SKIPPED):
            continue
        if not starts:
            if line.startswith("Encounter error"):
                rest = " ".join(ln.strip() for ln in text.splitlines()[number:] if ln.strip())
                raise ParseError(f"{command}: admin_cli reported an error at line {number}: {line} {rest}".rstrip())
            names = line.split()
            extra = names[len(header) :]
            if tuple(names[: len(header)]) != header or (extra and (repeated is None or set(extra) != {repeated})):
                want = " ".join(header) + (f" {repeated}..." if repeated else "")
                raise ParseError(f"{command} line {number}: expected the header {want!r}, got {line!r}")
            starts = [m.start() for m in re.finditer(r"\S+", line)]
            continue
        raw = line.encode()
        cells = []
        for i, start in enumerate(starts):
            if len(raw) <= start:
                break
            if i and raw[start - 2 : start] != b"  ":
                raise ParseError(f"{command} line {number}: not aligned with the header's columns: {line!r}")
            end = starts[i + 1] if i + 1 < len(starts) else len(raw)
            cells.append(raw[start:end].decode(errors="replace").strip())
        yield number, cells
    if not starts:
        raise ParseError(f"{command}: no table in the output (empty, or not admin_cli's {command})")


def _cell(command: str, number: int, name: str, value: str, pattern: re.Pattern[str] | frozenset[str]) -> str:
    ok = value in pattern if isinstance(pattern, frozenset) else pattern.fullmatch(value) is not None
    if not ok:
        raise ParseError(f"{command} line {number}: unreadable {name} {value!r}")
    return value


def _count(command: str, number: int, cells: list[str], least: int, most: int | None = None) -> None:
    if len(cells) < least or (most is not None and len(cells) > most):
        raise ParseError(f"{command} line {number}: {len(cells)} columns, expected {most or f'at least {least}'}")


def parse_list_chains(text: str) -> list[ChainRow]:
    """`admin_cli list-chains` (no `-t`): one row a chain, sorted by chain id."""
    cmd = "list-chains"
    out = []
    for n, cells in _rows(text, cmd, _CHAINS_HEADER, repeated="Target"):
        _count(cmd, n, cells, len(_CHAINS_HEADER))
        chain_id, refs, version, status, preferred, *target_cells = cells
        order = _cell(cmd, n, "PreferredOrder", preferred, _PREFERRED)[1:-1]
        targets = []
        for cell in target_cells:
            m = _TARGET_CELL.fullmatch(cell)
            if m is None or m.group(2) not in PUBLIC_STATES or m.group(3) not in LOCAL_STATES:
                raise ParseError(f"{cmd} line {n}: unreadable target {cell!r} (want ID(PUBLICSTATE-LOCALSTATE))")
            targets.append(TargetState(int(m.group(1)), m.group(2), m.group(3)))
        out.append(
            ChainRow(
                int(_cell(cmd, n, "ChainId", chain_id, _INT)),
                int(_cell(cmd, n, "ChainVersion", version, _INT)),
                _cell(cmd, n, "Status", status, _CHAIN_STATUS),
                tuple(targets),
                _cell(cmd, n, "ReferencedBy", refs, _REFERENCED_BY),
                tuple(int(t) for t in order.split(",")) if order else (),
            )
        )
    return out


def parse_list_nodes(text: str) -> list[NodeRow]:
    """`admin_cli list-nodes`: one row a node, sorted by type, then status, then id."""
    cmd = "list-nodes"
    out = []
    for n, cells in _rows(text, cmd, _NODES_HEADER):
        _count(cmd, n, cells, len(_NODES_HEADER), len(_NODES_HEADER))
        node_id, type_, status, hostname, pid, tags, heartbeat, config, release = cells
        tag_list = _cell(cmd, n, "Tags", tags, _TAGS)[1:-1]
        config_m = _CONFIG.fullmatch(config)
        if config_m is None:
            raise ParseError(f"{cmd} line {n}: unreadable ConfigVersion {config!r}")
        out.append(
            NodeRow(
                int(_cell(cmd, n, "Id", node_id, _INT)),
                _cell(cmd, n, "Type", type_, NODE_TYPES),
                _cell(cmd, n, "Status", status, NODE_STATUSES),
                hostname,
                int(_cell(cmd, n, "Pid", pid, _INT)),
                tuple(tag_list.split(",")) if tag_list else (),
                None if _cell(cmd, n, "LastHeartbeatTime", heartbeat, _HEARTBEAT) == "N/A" else heartbeat,
                int(config_m.group(1)),
                config_m.group(2),
                _cell(cmd, n, "ReleaseVersion", release, _WORD),
            )
        )
    return out


def parse_list_targets(text: str) -> list[TargetRow]:
    """`admin_cli list-targets` (no `--orphan`): one row a target of a chain, chains in no particular order."""
    cmd = "list-targets"
    out = []
    for n, cells in _rows(text, cmd, _TARGETS_HEADER):
        _count(cmd, n, cells, len(_TARGETS_HEADER), len(_TARGETS_HEADER))
        target_id, chain_id, role, public, local, node_id, disk, used = cells
        out.append(
            TargetRow(
                int(_cell(cmd, n, "TargetId", target_id, _INT)),
                int(_cell(cmd, n, "ChainId", chain_id, _INT)),
                _cell(cmd, n, "Role", role, ROLES),
                _cell(cmd, n, "PublicState", public, PUBLIC_STATES),
                _cell(cmd, n, "LocalState", local, LOCAL_STATES),
                None if _cell(cmd, n, "NodeId", node_id, _INT_OR_NA) == "N/A" else int(node_id),
                None if _cell(cmd, n, "DiskIndex", disk, _INT_OR_NA) == "N/A" else int(disk),
                int(_cell(cmd, n, "UsedSize", used, _INT)),
            )
        )
    return out


def chain_problems(
    chains: Iterable[ChainRow], replication: int, expected_chain_ids: Collection[int] | None = None
) -> list[str]:
    """What stops "every chain is SERVING with `replication` targets SERVING-UPTODATE"; empty when nothing does.

    One line per missing chain (when `expected_chain_ids` is given) and one per listed chain that is not SERVING or has
    fewer than `replication` SERVING-UPTODATE targets, naming the chain and its targets that are not SERVING-UPTODATE.
    """
    if replication < 1:
        raise ValueError(f"replication must be at least 1, not {replication}")
    chains = sorted(chains, key=lambda c: c.chain_id)
    listed = {c.chain_id for c in chains}
    problems = [f"chain {cid}: missing from list-chains" for cid in sorted(set(expected_chain_ids or ()) - listed)]
    for chain in chains:
        good = sum(t.serving_uptodate for t in chain.targets)
        reasons = []
        if chain.status != "SERVING":
            reasons.append(f"status {chain.status}")
        if good < replication:
            reasons.append(f"{good} of {replication} targets SERVING-UPTODATE")
        if reasons:
            bad = " ".join(str(t) for t in chain.targets if not t.serving_uptodate)
            problems.append(f"chain {chain.chain_id}: {', '.join(reasons)}" + (f"; not serving: {bad}" if bad else ""))
    return problems


def node_problems(nodes: Iterable[NodeRow], expected: Mapping[str, str | Collection[str]]) -> list[str]:
    """What stops "every expected service is in list-nodes and connected"; empty when nothing does.

    `expected` maps a hostname (as list-nodes prints it) to the node type, or types, that should run there. A missing
    (hostname, type) is one line; so is each node of an expected (hostname, type) whose status is not PRIMARY_MGMTD or
    HEARTBEAT_CONNECTED. Nodes on other hosts are not judged.
    """
    nodes = list(nodes)
    problems = []
    for host, types in sorted(expected.items()):
        for node_type in [types] if isinstance(types, str) else sorted(types):
            if node_type not in NODE_TYPES:
                raise ValueError(f"unknown 3FS node type {node_type!r} for {host}; known: {sorted(NODE_TYPES)}")
            found = [n for n in nodes if n.hostname == host and n.type == node_type]
            if not found:
                problems.append(f"{node_type} on {host}: missing from list-nodes")
            problems += [f"{node_type} {n.node_id} on {host}: {n.status}" for n in found if not n.connected]
    return problems
