"""The bandwidth suite's engine: the pairing schedule (analysis/pairing.py) run round by round on the nodes.

Every pair of a round runs at the same time, in one direction and then the other, so each leaf's uplinks carry
traffic together, as a training job loads them. The tool is ib_write_bw on the pair's HCA ports where the nodes
have RDMA devices, iperf3 over the management network otherwise (the lab: its HCAs live in ibsim, which carries
management datagrams only). A direction below the pass mark is measured again, up to `repeats` runs in all, and
judged on its best run: one slow sample is noise, every sample slow is a finding.

Each measurement names the leaf uplinks it crossed in ftree's model (the k-th CA port of a leaf is reached through
uplink k mod U from every other leaf, and through the same spine), so failures can be pinned on a node (every
pair with it failed) or on an uplink (only the pairs over it failed).
"""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ffinfra.analysis.pairing import schedule
from ffinfra.analysis.parsers import ParseError
from ffinfra.analysis.parsers.iperf3 import parse_iperf3
from ffinfra.analysis.parsers.perftest import parse_bw
from ffinfra.runtime.ssh import CmdResult
from ffinfra.topology.model import HostPort, Topology
from ffinfra.topology.thresholds import Threshold

# The nodes the bench_tools role equips (iperf3, fio, perftest): the ones whose bandwidth matters.
BENCH_ROLES = ("compute", "storage")
BASE_PORT = 18515  # perftest's default TCP port; iperf3 pairs use BASE_PORT + 100 + i


@dataclass(frozen=True, slots=True)
class Direction:
    round: int
    src: HostPort
    dst: HostPort

    @property
    def key(self) -> str:
        return f"{self.src.host}→{self.dst.host}"


@dataclass
class DirectionResult:
    d: Direction
    samples: list[float] = field(default_factory=list)  # Gb/s per run; failed runs are absent
    errors: list[str] = field(default_factory=list)
    uplinks: list[str] = field(default_factory=list)  # "leaf#k"

    @property
    def best(self) -> float | None:
        return max(self.samples) if self.samples else None


def rounds(topo: Topology, host_level: bool) -> list[list[tuple[HostPort, HostPort]]]:
    """The schedule's rounds as port pairs; host_level (TCP tools) keeps one pair per host pair per round and
    never lets a host serve two pairs of one round."""
    out = []
    for rnd in schedule(topo, roles=BENCH_ROLES):
        pairs, busy = [], set()
        for p in rnd.pairs:
            if host_level and (p.a.host == p.b.host or p.a.host in busy or p.b.host in busy):
                continue  # a host with ports on both leaves would test against itself
            busy |= {p.a.host, p.b.host}
            pairs.append((p.a, p.b))
        if pairs:
            out.append(pairs)
    return out


def uplinks_crossed(topo: Topology, src: HostPort, dst: HostPort) -> list[str]:
    """Leaf uplinks a src → dst transfer uses in ftree's model: uplink k = (dst's position on its leaf) mod U,
    up from src's leaf and down into dst's leaf through the same spine."""
    if src.leaf == dst.leaf:
        return []
    ports = sorted(topo.ports_by_leaf[dst.leaf], key=lambda q: q.leaf_port)
    pos = next(i for i, q in enumerate(ports) if (q.host, q.nic, q.port) == (dst.host, dst.nic, dst.port))
    zone = next(z for z in topo.zones if z.name == dst.zone)
    k = pos % zone.uplinks
    return [f"{src.leaf}#{k}", f"{dst.leaf}#{k}"]


def iperf3_commands(server_ip: str, port: int, seconds: float) -> tuple[str, str]:
    """(server, client) commands. The server serves one test and exits, or exits when no client came (so a failed
    client leaves no listener behind on the port); the client retries while the server starts."""
    server = f"iperf3 -s -1 -D -p {port} --idle-timeout {int(seconds) + 30}"
    client = (
        f"for i in 1 2 3 4 5 6 7 8 9 10; do out=$(iperf3 -J -c {shlex.quote(server_ip)} -p {port} -t {seconds:g}) "
        "&& break; case \"$out\" in *'Connection refused'*|*'unable to connect'*) sleep 0.3;; *) break;; esac; "
        "done; printf '%s\\n' \"$out\""
    )
    return server, client


def ib_write_bw_commands(src: HostPort, dst: HostPort, server_ip: str, port: int, seconds: float) -> tuple[str, str]:
    common = f"-F --report_gbits -D {max(1, round(seconds))} -p {port} -q 4 -s 1048576"
    # the server gives up after a while if no client came, so a failed client leaves no listener behind
    server = f"nohup timeout {round(seconds) + 60} ib_write_bw -d {_dev(dst)} -i {dst.port} {common} >/dev/null 2>&1 &"
    client = (
        f"for i in 1 2 3 4 5 6 7 8 9 10; do ib_write_bw -d {_dev(src)} -i {src.port} {common} "
        f"{shlex.quote(server_ip)} && break; sleep 0.3; done"
    )
    return server, client


def _dev(p: HostPort) -> str:
    return shlex.quote(p.nic)


def parse_gbit(tool: str, out: str) -> float:
    if tool == "iperf3":
        return parse_iperf3(out).received_gbit
    return parse_bw(out).average_gbit


def run_directions(cluster, tool: str, dirs: list[Direction], seconds: float) -> dict[Direction, CmdResult]:
    """One run of every direction at once: servers first, then all clients in parallel."""
    ip = {h.name: h.mgmt_ip for h in cluster.topo.hosts}
    cmds = {}
    for i, d in enumerate(dirs):
        port = BASE_PORT + 100 + i
        if tool == "iperf3":
            cmds[d] = iperf3_commands(ip[d.dst.host], port, seconds)
        else:
            cmds[d] = ib_write_bw_commands(d.src, d.dst, ip[d.dst.host], port, seconds)
    for d, (server, _) in cmds.items():
        r = cluster.sh(d.dst.host, server, timeout=15)
        if r.rc != 0:
            raise RuntimeError(f"cannot start the {tool} server on {d.dst.host}: {r.brief()}")
    with ThreadPoolExecutor(max_workers=max(1, len(dirs))) as pool:
        futs = {d: pool.submit(cluster.sh, d.src.host, client, seconds + 60) for d, (_, client) in cmds.items()}
        return {d: f.result() for d, f in futs.items()}


def measure(
    cluster, tool: str, seconds: float, mark: float | None, repeats: int, say: Callable[[str], None] = print
) -> list[DirectionResult]:
    results: list[DirectionResult] = []
    all_rounds = rounds(cluster.topo, host_level=(tool == "iperf3"))
    for r_index, pairs in enumerate(all_rounds):
        for forward in (True, False):
            dirs = [Direction(r_index, a, b) if forward else Direction(r_index, b, a) for a, b in pairs]
            res = {d: DirectionResult(d, uplinks=uplinks_crossed(cluster.topo, d.src, d.dst)) for d in dirs}
            todo = dirs
            for attempt in range(repeats):
                way = "forward" if forward else "back"
                again = f", run {attempt + 1} of {repeats} for {len(todo)} below the mark" if attempt else ""
                say(f"{tool} round {r_index + 1}/{len(all_rounds)} {way}: {len(todo)} directions at once{again}")
                for d, cr in run_directions(cluster, tool, todo, seconds).items():
                    try:
                        res[d].samples.append(parse_gbit(tool, cr.stdout))
                    except ParseError as e:
                        res[d].errors.append(f"{cr.brief(200)} ({e})")
                todo = [d for d in todo if mark is not None and (res[d].best is None or res[d].best < mark)]
                todo += [d for d in dirs if res[d].best is None and d not in todo]
                if not todo:
                    break
            results.extend(res.values())
    return results


def suspects(results: list[DirectionResult], mark: float | None) -> tuple[dict[str, str], list[str]]:
    """(node → why, uplinks) to blame. A node is suspect when every direction it sends, or every direction it
    receives (two or more), is slow while other directions are fine (a throttled or narrow NIC, a bad cable at
    the node); failing that, the uplinks crossed only by slow directions."""

    def bad(r: DirectionResult) -> bool:
        return r.best is None or (mark is not None and r.best < mark)

    failing = [r for r in results if bad(r)]
    if not failing or len(failing) == len(results):
        return {}, []
    # Candidates: nodes all of whose sent (or received) directions are slow. Accept them greedily, most
    # evidence first, skipping one whose slow directions an accepted suspect already explains (its victims).
    cands: list[tuple[str, str, set[Direction]]] = []
    for what, end in (("sends", "src"), ("receives", "dst")):
        mine: dict[str, list[DirectionResult]] = defaultdict(list)
        for r in results:
            mine[getattr(r.d, end).host].append(r)
        # two slow directions at least: one alone cannot tell its sender from its receiver or the path
        cands += [(h, what, {r.d for r in rs}) for h, rs in mine.items() if len(rs) >= 2 and all(bad(r) for r in rs)]
    cands.sort(key=lambda c: (-len(c[2]), c[0], c[1]))
    nodes: dict[str, str] = {}
    explained: set[Direction] = set()
    for h, what, dirs in cands:
        if dirs <= explained:
            continue
        explained |= dirs
        nodes[h] = f"{nodes[h]}, and everything it {what}" if h in nodes else f"everything it {what} is slow"
    if nodes:
        return dict(sorted(nodes.items())), []
    good_links = {u for r in results if not bad(r) for u in r.uplinks}
    links = sorted({u for r in failing for u in r.uplinks} - good_links)
    return {}, links


def mark_above_environment(mark: Threshold | None, at_once: int, stack: str) -> str:
    """What to say when every direction of a round measured, all below the mark, and no node or uplink explains
    it: the mark is more than this environment delivers with that many directions at once (a lab's veths share
    the host's CPUs; a real fabric this uniformly slow has a cause outside the pairs, such as congestion control or
    a wrong link speed everywhere)."""
    where = f" ({mark.source})" if mark is not None else ""
    value = f"{mark.value:g} {mark.unit}" if mark is not None and mark.value is not None else "the mark"
    return (
        f"every direction is slow and no node or uplink explains it: the pass mark {value}{where} is likely above "
        f"what this environment delivers with {at_once} directions at once; measure it with "
        f"`ffinfra test {stack} --suite bandwidth --calibrate`, or set the figure in the spec's acceptance:"
    )
