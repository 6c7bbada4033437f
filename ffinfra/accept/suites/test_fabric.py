"""fabric suite: the live fabric against the compiled plan, from each subnet's SM host.

Cabling comes from ibnetdiscover (every problem by switch name and port); routing from OpenSM's log (the
configured engine, no fallback) and from the switches' programmed tables (dump_fts): every leaf reaches every CA
port, routes spread evenly over each leaf's uplinks, and an ibtracert between two leaves goes leaf → spine → leaf.
In the lab the tools attach to the stack's ibsim on the SM node, exactly where the lab's OpenSM runs.

One fault, one failure: the routing tests walk the cables ibnetdiscover found (analysis/discovered.py), which are
the cables OpenSM routed, so a miscabled port fails test_cabling_matches_plan, naming it, and nothing else. Where
the discovered fabric cannot be judged by a routing test's rules, that test is skipped and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from ffinfra.accept import expect
from ffinfra.analysis.discovered import DiscoveredWiring, discovered_wiring
from ffinfra.analysis.fabric_diff import diff_fabric
from ffinfra.analysis.lft import RoutingTables, name_tables, parse_dump_fts
from ffinfra.analysis.opensm_log import configured_engine, log_command, parse_opensm_log, sweep_problems
from ffinfra.analysis.parsers.ibnetdiscover import DiscoveredNode, parse_ibnetdiscover
from ffinfra.analysis.routing import check_balance, walk
from ffinfra.analysis.trace import parse_ibtracert
from ffinfra.analysis.wiring import subnet_wiring
from ffinfra.verify.fabric_check import check_trace, trace_pair

_PORT = re.compile(r"([\w.-]+)\[(\d+)\]")
DIFFERS = "the cabling differs from the plan: see test_cabling_matches_plan"


def _subnet(cluster, name):
    return next(sn for sn in cluster.topo.subnets if sn.name == name)


def _ib(cluster, subnet, tool: str, timeout: float = 30):
    sn = _subnet(cluster, subnet)
    env, ca = expect.ib_prefix(cluster.topo, sn, cluster.sim)
    r = cluster.sh(sn.sm_host, f"{env}{tool.split()[0]} {ca}{' '.join(tool.split()[1:])}", timeout)
    if r.rc != 0 or not r.stdout.strip():
        pytest.fail(f"subnet {subnet}: {r.brief()}")
    return r


@pytest.fixture(scope="module", autouse=True)
def simulator_running(cluster):
    """Lab: the stack's ibsim must be alive on each SM node, or every IB tool would hang until its timeout."""
    if not cluster.sim:
        return
    for host in sorted({sn.sm_host for sn in cluster.topo.subnets}):
        r = cluster.sh(host, "pgrep -x ibsim >/dev/null || { tail -n 5 /var/log/ffinfra-ibsim.log; exit 1; }")
        if not r.ok:
            pytest.fail(f"the fabric simulator (ibsim) is not running on {host}: {r.stdout.strip()[-400:]}")


@dataclass
class Fabric:
    """One subnet as found: read once, shared by the cabling and the routing tests."""

    nodes: dict[str, DiscoveredNode]  # ibnetdiscover's
    found: DiscoveredWiring  # the same, in the plan's names


@pytest.fixture(scope="module")
def fabric(cluster):
    cache: dict[str, Fabric] = {}

    def get(subnet: str) -> Fabric:
        if subnet not in cache:
            planned = subnet_wiring(cluster.topo, _subnet(cluster, subnet))
            nodes = parse_ibnetdiscover(_ib(cluster, subnet, "ibnetdiscover").stdout)
            cache[subnet] = Fabric(nodes, discovered_wiring(planned, nodes))
        return cache[subnet]

    return get


@pytest.fixture(scope="module")
def tables(cluster, fabric):
    """(programmed LFTs named after the fabric, the discovered wiring to walk them over), read once per subnet.
    A fabric with nodes the plan does not have cannot be named after it: the routing tests are skipped."""
    cache: dict[str, tuple[RoutingTables, DiscoveredWiring]] = {}

    def get(subnet: str) -> tuple[RoutingTables, DiscoveredWiring]:
        found = fabric(subnet).found
        if found.unknown:
            pytest.skip(f"{DIFFERS} ({len(found.unknown)} node(s) not in the plan, e.g. {found.unknown[0]})")
        if subnet not in cache:
            dump = parse_dump_fts(_ib(cluster, subnet, "dump_fts").stdout)
            cache[subnet] = (name_tables(dump, found.wiring), found)
        return cache[subnet]

    return get


def _walked_as_found(evidence, found: DiscoveredWiring) -> None:
    if found.differs:
        evidence.note(f"{DIFFERS}; routes were followed over the cables as found")


def test_cabling_matches_plan(cluster, evidence, subnet, fabric):
    """ibnetdiscover finds every planned cable in its planned port, at the planned width and speed."""
    sn = _subnet(cluster, subnet)
    d = diff_fabric(cluster.topo, fabric(subnet).nodes, sn.zones)
    evidence.measure("cables_found", f"subnet {subnet}", d.found, f"of {d.planned} planned")
    problems = d.problems()
    switches = {s.name for s in cluster.topo.switches}
    for p in problems:  # the switch ports a technician goes to: where the cable is, and where it belongs
        evidence.blame(*(f"{n}[{port}]" for n, port in _PORT.findall(p) if n in switches))
    if problems:
        pytest.fail(f"subnet {subnet}: {len(problems)} cabling problem(s): " + "; ".join(problems))


def test_routing_engine(cluster, evidence, subnet):
    """OpenSM swept the subnet with the configured engine (ftree) and fell back to nothing."""
    sn = _subnet(cluster, subnet)
    conf = next((a for a in cluster.artifacts if a.path == f"opensm/{subnet}/opensm.conf"), None)
    if conf is None:
        pytest.skip(f"no opensm.conf rendered for subnet {subnet}")
    r = cluster.sh(sn.sm_host, log_command(conf.content, subnet))
    if r.rc != 0:
        evidence.blame(sn.sm_host)
        pytest.fail(f"subnet {subnet}: no OpenSM log on {sn.sm_host}: {r.brief()}")
    log = parse_opensm_log(r.stdout)
    problems = sweep_problems(log, configured_engine(conf.content))
    where = r.stdout.splitlines()[0].removeprefix("==> ")
    evidence.note(f"{where} on {sn.sm_host}: engine {log.engine}")
    if problems:
        evidence.blame(sn.sm_host)
        pytest.fail(f"subnet {subnet} (SM {sn.sm_host}): " + "; ".join(problems))


def test_every_route_delivers(cluster, evidence, subnet, tables):
    """From every leaf, following the programmed tables hop by hop reaches every CA port, without loops."""
    t, found = tables(subnet)
    _walked_as_found(evidence, found)
    rep = walk(found.wiring, t.lfts, t.dests)
    evidence.measure("routes_delivered", f"subnet {subnet}", rep.delivered, f"of {rep.walks} leaf→CA routes")
    evidence.note(rep.summary())
    problems = t.problems + rep.problems
    if problems:
        pytest.fail(f"subnet {subnet}: " + "; ".join(problems + rep.examples[:5]))


def test_routes_spread_over_uplinks(cluster, evidence, subnet, tables):
    """Each leaf's remote destinations are spread over its uplinks within one route of each other."""
    t, found = tables(subnet)
    if not found.same_switch_links:  # a leaf short of an uplink, or with one too many, is no fat-tree to balance
        pytest.skip(
            f"{DIFFERS} (the leaf–spine links are not the planned ones, so the fat-tree balance rules do not apply)"
        )
    _walked_as_found(evidence, found)
    rep = check_balance(found.wiring, t.lfts, t.dests, max_spread=1)
    evidence.note(rep.summary())
    if rep.problems:
        pytest.fail(f"subnet {subnet}: " + "; ".join(rep.problems))


def test_leaf_spine_leaf_path(cluster, evidence, subnet, tables):
    """A trace between CAs on two leaves of a zone goes leaf → spine → leaf."""
    t, found = tables(subnet)
    wiring = found.wiring
    pair = trace_pair(wiring, t.lid_of)
    if pair is None:
        pytest.skip(f"subnet {subnet} has no two leaves with CAs")
    src, dst, a, b = pair
    r = _ib(cluster, subnet, f"ibtracert {src} {dst}")
    trace = parse_ibtracert(r.stdout, src, dst)
    trace.rc = r.rc
    evidence.note(f"lid {src} ({a}) → lid {dst} ({b}): {' → '.join(trace.switches)}")
    problems = check_trace(trace, a, b, wiring)
    if problems:
        pytest.fail(f"subnet {subnet}: " + "; ".join(problems))
