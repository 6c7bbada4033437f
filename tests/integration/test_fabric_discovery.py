"""The discovered fabric against the plan, on ibsim: a healthy lab matches; a missing cable, a cable in the
wrong port and a link at the wrong width are each named by switch and port; and two cables swapped on a leaf are
a cabling fault only: OpenSM's routing of the cables that exist walks cleanly over the discovered wiring."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from netlist_edit import swap_ports

from ffinfra.analysis.discovered import discovered_wiring
from ffinfra.analysis.fabric_diff import diff_fabric
from ffinfra.analysis.lft import name_tables, parse_dump_fts
from ffinfra.analysis.parsers.ibnetdiscover import parse_ibnetdiscover
from ffinfra.analysis.routing import check_balance, walk
from ffinfra.analysis.wiring import subnet_wiring
from ffinfra.compile import compile_stack
from ffinfra.render.targets import render_all
from ffinfra.stack import find_stack
from ffinfra.topology.model import Topology
from ffinfra.verify.ibsim import IbSim
from ffinfra.verify.opensm_run import run_opensm
from ffinfra.verify.stage import stage
from ffinfra.verify.tools import missing_tools, run_tool

pytestmark = [
    pytest.mark.ibsim,
    pytest.mark.skipif(bool(missing_tools()), reason=f"needs {missing_tools()} (scripts/setup.sh --test)"),
]
ROOT = Path(__file__).resolve().parents[2]


def _lab() -> tuple[Topology, str]:
    topo = compile_stack(find_stack(str(ROOT / "stacks" / "lab"))).topology
    net = next(a.content for a in render_all(topo) if a.path == "fabric/ibsim.net")
    return topo, net


def _discover(topo: Topology, net: str, tmp: Path) -> str:
    (tmp / "net").write_text(net)
    with IbSim(tmp / "net", tmp) as sim:
        run = run_tool(["ibnetdiscover"], sim.env(topo.subnets[0].sm_nodeid), 60)
    assert run.rc == 0, run.stderr
    return run.stdout


def _ids(topo: Topology) -> dict[str, str]:
    ids = {s.name: s.nodeid for s in topo.switches}
    ids.update({p.host: p.nodeid for p in topo.host_ports})
    return ids


def test_healthy_lab_matches_the_plan(tmp_path: Path):
    topo, net = _lab()
    d = diff_fabric(topo, parse_ibnetdiscover(_discover(topo, net, tmp_path)))
    assert d.ok, d.problems()
    assert d.found == d.planned == len(topo.links)


def test_missing_miswired_and_narrow_links_are_named_by_switch_and_port(tmp_path: Path):
    topo, net = _lab()
    i = _ids(topo)
    lf01, lf02, lf04, sp02 = i["z0-lf01"], i["z0-lf02"], i["z0-lf04"], i["z0-sp02"]
    cn02, cn04 = i["cn02"], i["cn04"]
    # missing: lf01[4] ↔ sp02[1] unplugged at both ends
    net = net.replace(f'[4] "{sp02}"[1]\n', "").replace(f'[1] "{lf01}"[4]\n', "")
    # wrong port: cn04 plugged into lf04 port 2 instead of port 1
    net = net.replace(f'[1] "{cn04}"[1]\n', f'[2] "{cn04}"[1]\n').replace(f'[1] "{lf04}"[1]\n', f'[1] "{lf04}"[2]\n')
    # wrong width: lf02[1] ↔ cn02 trains at 1x
    net = net.replace(f'[1] "{cn02}"[1]\n', f'[1] "{cn02}"[1] w=1\n').replace(
        f'[1] "{lf02}"[1]\n', f'[1] "{lf02}"[1] w=1\n'
    )
    d = diff_fabric(topo, parse_ibnetdiscover(_discover(topo, net, tmp_path)))
    assert d.missing == ["z0-lf01[4] should connect to z0-sp02[1]: the port is empty"]
    assert d.miswired == ["cn04 mlx5_0[1] is in z0-lf04[2], the plan says z0-lf04[1]"]
    assert d.unexpected == []
    assert d.wrong_link == ["z0-lf02[1] ↔ cn02 mlx5_0[1] runs 1xHDR, planned 4xHDR"]
    assert not d.ok


def test_swapped_cables_read_as_miswired(tmp_path: Path):
    topo, net = _lab()
    # cn01 and st01 swap their ports on lf01
    net = swap_ports(net, _ids(topo)["z0-lf01"], 1, 2)
    d = diff_fabric(topo, parse_ibnetdiscover(_discover(topo, net, tmp_path)))
    assert d.miswired == [
        "z0-lf01[1] connects to st01 mlx5_0[1], the plan says cn01 mlx5_0[1]",
        "z0-lf01[2] connects to cn01 mlx5_0[1], the plan says st01 mlx5_0[1]",
    ]
    assert d.missing == [] and d.unexpected == []


def _sweep(topo: Topology, net: str, tmp: Path) -> tuple[str, str]:
    """(ibnetdiscover, dump_fts) after one OpenSM sweep of `net` with the stack's own opensm.conf."""
    artifacts = [dataclasses.replace(a, content=net) if a.path == "fabric/ibsim.net" else a for a in render_all(topo)]
    staged = stage(artifacts, tmp)
    sn = topo.subnets[0]
    conf = staged.subnets[sn.name]
    with IbSim(staged.netlist, tmp) as sim:
        env = sim.env(sn.sm_nodeid)
        engine = topo.spec.fabric.subnet_manager.routing_engine
        osm = run_opensm(conf.conf, env, subnet=sn.name, engine=engine, cache_dir=conf.cache_dir)
        assert osm.ok, osm.problems
        disc, dump = (run_tool([tool], env, 60) for tool in ("ibnetdiscover", "dump_fts"))
    assert disc.rc == 0 and dump.rc == 0, disc.stderr + dump.stderr
    return disc.stdout, dump.stdout


@pytest.mark.parametrize("ports", [(1, 2), (3, 4)], ids=["host-cables", "uplinks"])
def test_two_cables_swapped_on_a_leaf_are_a_cabling_fault_not_a_routing_one(tmp_path: Path, ports):
    topo, net = _lab()
    disc, dump = _sweep(topo, swap_ports(net, _ids(topo)["z0-lf01"], *ports), tmp_path)
    nodes = parse_ibnetdiscover(disc)
    d = diff_fabric(topo, nodes)
    assert [p.split(" connects")[0] for p in d.miswired] == [f"z0-lf01[{ports[0]}]", f"z0-lf01[{ports[1]}]"]
    plan = subnet_wiring(topo, topo.subnets[0])
    found = discovered_wiring(plan, nodes)
    assert found.differs and found.same_switch_links and found.unknown == ()
    t = name_tables(parse_dump_fts(dump), found.wiring)
    assert t.problems == []
    rep = walk(found.wiring, t.lfts, t.dests)
    assert rep.ok, rep.examples
    assert check_balance(found.wiring, t.lfts, t.dests).problems == []
    # over the planned wiring, the same correct tables fail a routing check: why the suite walks the found one
    assert (walk(plan, t.lfts, t.dests).problems, check_balance(plan, t.lfts, t.dests).problems) != ([], [])
