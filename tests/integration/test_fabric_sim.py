"""The rendered fabric, run for real: ibsim + one-shot OpenSM per subnet + dump_fts + ibtracert.

For each stack: every subnet comes up under ftree with no fallback, every CA port is reachable from every leaf
with no loop, uplinks are balanced, and a trace between two leaves is leaf → spine → leaf. The negative tests
show the check fails when it should: a bad cn_guids.conf line (OpenSM silently falls back to minhop), and a
netlist missing one uplink (routing stays ftree and reaches everything, only the balance check sees it).
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import pytest

from ffinfra.compile import compile_stack
from ffinfra.errors import OperationalError
from ffinfra.render.artifact import Artifact
from ffinfra.render.targets import render_all
from ffinfra.stack import find_stack
from ffinfra.topology.model import Topology
from ffinfra.verify import FabricReport, missing_tools, verify_fabric
from ffinfra.verify.diag import run_dump_fts, run_ibtracert
from ffinfra.verify.ibsim import IbSim
from ffinfra.verify.opensm_run import run_opensm
from ffinfra.verify.stage import stage

_missing = missing_tools()
pytestmark = [
    pytest.mark.ibsim,
    pytest.mark.skipif(
        bool(_missing),
        reason=f"needs {', '.join(_missing)} (apt-get install ibsim-utils opensm infiniband-diags)",
    ),
]

TIMES: dict[str, float] = {}


def _compile(stack: str) -> tuple[Topology, list[Artifact]]:
    topo = compile_stack(find_stack(stack)).topology
    return topo, render_all(topo)


@pytest.fixture(scope="module", params=["lab", "small", "ff2"])
def checked(request, tmp_path_factory) -> tuple[Topology, FabricReport]:
    topo, arts = _compile(request.param)
    t0 = time.monotonic()
    report = verify_fabric(topo, arts, tmp_path_factory.mktemp(f"fabric-{request.param}"))
    TIMES[request.param] = time.monotonic() - t0
    print(f"\n{report.summary()}\n[{request.param}: {TIMES[request.param]:.2f} s]")
    return topo, report


def test_fabric_ok(checked) -> None:
    topo, report = checked
    assert report.ok, report.summary()
    assert [s.subnet for s in report.subnets] == [sn.name for sn in topo.subnets]


def test_opensm_ftree_no_fallback(checked) -> None:
    _, report = checked
    for s in report.subnets:
        o = s.opensm
        assert o is not None and o.rc == 0, s.summary()
        assert o.log.subnet_up
        assert o.log.engine == "ftree"  # "ftree tables configured on all switches"
        assert o.log.fallbacks == () and o.log.errors == () and o.log.unrecognized == ()


def test_discovered_cabling_is_the_plan(checked) -> None:
    topo, report = checked
    for s in report.subnets:
        zones = set(next(sn for sn in topo.subnets if sn.name == s.subnet).zones)
        planned = sum(1 for x in topo.links if x.zone in zones)  # host, uplink and interzone cables
        c = s.cabling
        assert c is not None and c.ok, c.problems if c else "no opensm-subnet.lst"
        assert c.planned == c.discovered == planned


def test_every_ca_port_reachable_from_every_leaf(checked) -> None:
    topo, report = checked
    for s in report.subnets:
        zones = set(next(sn for sn in topo.subnets if sn.name == s.subnet).zones)
        leaves = [x for x in topo.switches if x.zone in zones and x.layer == "leaf"]
        ca_ports = [p for p in topo.host_ports if p.zone in zones]
        assert s.ca_lids == len(ca_ports)
        assert s.switches_dumped == sum(1 for x in topo.switches if x.zone in zones)
        w = s.walk
        assert w is not None and w.walks == len(leaves) * len(ca_ports)
        assert (w.unreachable, w.loops, w.misdelivered) == (0, 0, 0), w.examples
        assert w.delivered == w.walks
        assert set(w.hops) == {1, 3}  # own leaf, or leaf → spine → leaf
        assert w.hops[1] == len(ca_ports)


def test_uplinks_balanced(checked) -> None:
    _, report = checked
    for s in report.subnets:
        b = s.balance
        assert b is not None and b.ok, b.problems
        assert b.pair_max_spread <= 1  # each remote leaf's CAs spread over this leaf's uplink ports ±1
        assert b.multi_spine_dests == 0 and b.local_misrouted == 0 and b.off_uplink == 0
        assert all(ld.spread <= ld.allowed for ld in b.loads)
        # The reference stacks keep every remote leaf's host count a multiple of the uplinks (or have one
        # partial leaf), so each leaf's destinations spread over its uplinks within ±1 (ff2: 39 on every uplink).
        assert b.max_spread <= 1, [ld for ld in b.loads if ld.spread > 1][:3]


def test_trace_leaf_spine_leaf(checked) -> None:
    topo, report = checked
    layer = {x.name: x.layer for x in topo.switches}
    for s in report.subnets:
        t = s.trace
        assert t is not None and t.reached, t
        assert [layer[n] for n in t.switches] == ["leaf", "spine", "leaf"]
        assert t.switches[0] != t.switches[2]


@pytest.mark.parametrize("checked", ["ff2"], indirect=True)
def test_ff2_storage_dual_homed(checked) -> None:
    topo, report = checked
    storage = [h for h in topo.hosts if h.role == "storage"]
    assert len(storage) == 180
    assert {(p.nic, p.zone) for h in storage for p in h.ports} == {("mlx5_0", "z0"), ("mlx5_1", "z1")}
    assert [s.ca_lids for s in report.subnets] == [800, 800]
    # the zones share no cable: each had an ibsim of its own, both at once
    assert sorted(p.name for p in report.workdir.glob("ibsim-*") if p.is_dir()) == ["ibsim-z0", "ibsim-z1"]
    assert TIMES["ff2"] < 120  # a few seconds normally; generous for slow CI


def test_lab_ibtracert_between_leaves(tmp_path: Path) -> None:
    """ibtracert between hosts on different leaves, run directly: 3 switch hops, leaf → spine → leaf."""
    topo, arts = _compile("lab")
    st = stage(arts, tmp_path)
    sn = topo.subnets[0]
    sub = st.subnets[sn.name]
    with IbSim(st.netlist, tmp_path) as sim:
        env = sim.env(sn.sm_nodeid)
        r = run_opensm(sub.conf, env, subnet=sn.name, engine="ftree", cache_dir=sub.cache_dir)
        assert r.ok, r.problems
        dump, _ = run_dump_fts(env)
        lids = {info.port_guid: lid for lid, info in dump.lids.items()}
        cn01, cn02 = (topo.host_by_name[h].ports[0] for h in ("cn01", "cn02"))
        assert cn01.leaf != cn02.leaf
        t = run_ibtracert(env, lids[cn01.port_guid], lids[cn02.port_guid])
    assert t.reached, t.error
    assert t.source == "cn01 mlx5_0" and t.dest == "cn02 mlx5_0"
    assert len(t.switches) == 3
    assert t.switches[0] == cn01.leaf and t.switches[2] == cn02.leaf
    assert topo.switch_by_name[t.switches[1]].layer == "spine"
    assert not sim.running


def test_bad_cn_guid_line_is_caught(tmp_path: Path) -> None:
    """One bad line in cn_guids.conf: OpenSM still reports SUBNET UP and reaches everything, with minhop."""
    topo, arts = _compile("lab")
    arts = [
        dataclasses.replace(a, content=a.content + "not-a-guid\n") if a.path == "opensm/z0/cn_guids.conf" else a
        for a in arts
    ]
    report = verify_fabric(topo, arts, tmp_path)
    assert not report.ok
    s = report.subnets[0]
    assert s.opensm.log.subnet_up and s.walk.ok  # what a naive check would look at …
    assert s.opensm.log.engine == "minhop"  # … hides the fallback
    assert any("falling back" in f for f in s.opensm.log.fallbacks)
    assert any("ERR AB23" in e for e in s.opensm.log.errors)
    assert any("got minhop tables" in p for p in s.all_problems)
    assert "FAILED" in report.summary()


def _drop_cable(netlist: str, a: tuple[str, int], b: tuple[str, int]) -> str:
    """Remove one cable from an ibsim netlist, on both ends."""
    out, node = [], None
    for line in netlist.splitlines(keepends=True):
        if m := re.match(r'(?:Switch|Hca|Ca) \d+ "([^"]+)"', line):
            node = m.group(1)
        if (node, line.split(" ")[0]) in ((a[0], f"[{a[1]}]"), (b[0], f"[{b[1]}]")):
            continue
        out.append(line)
    assert len(out) == len(netlist.splitlines()) - 2
    return "".join(out)


def _without_cable(topo, arts: list[Artifact], link) -> list[Artifact]:
    """The artifacts with one switch-to-switch cable removed from the ibsim netlist (both ends)."""
    sw = topo.switch_by_name
    ends = (sw[link.a].nodeid, link.a_port), (sw[link.b].nodeid, link.b_port)
    return [
        dataclasses.replace(a, content=_drop_cable(a.content, *ends)) if a.path == "fabric/ibsim.net" else a
        for a in arts
    ]


def test_missing_uplink_shows_as_imbalance(tmp_path: Path) -> None:
    """The plan has z0-lf01[4] ↔ z0-sp02[1]; the simulated fabric lacks it. OpenSM stays ftree and every CA is
    reached, but the other leaves send both of lf01's hosts through sp01 only."""
    topo, arts = _compile("lab")
    link = next(x for x in topo.links if x.a == "z0-lf01" and x.b == "z0-sp02")
    arts = _without_cable(topo, arts, link)
    report = verify_fabric(topo, arts, tmp_path)
    assert not report.ok
    s = report.subnets[0]
    assert s.opensm.ok and s.walk.ok
    assert s.balance.imbalanced_pairs > 0 and s.balance.pair_max_spread == 2
    assert any("z0-lf01" in ex for ex in s.balance.examples)
    assert s.cabling.missing == ["z0-lf01[4] ↔ z0-sp02[1]"]  # and the cabling check names the cable


def test_missing_parallel_uplink_is_named_by_the_cabling_check(tmp_path: Path) -> None:
    """small: 8 parallel links per leaf-spine pair. Without one of them every route still works; the
    discovered-vs-planned cabling comparison names the missing cable by switch and port."""
    topo, arts = _compile("small")
    link = next(x for x in topo.links if x.kind == "uplink")
    arts = _without_cable(topo, arts, link)
    report = verify_fabric(topo, arts, tmp_path)
    s = report.subnets[0]
    assert not report.ok
    assert s.opensm.ok and s.walk.ok
    assert s.cabling.missing == [f"{link.a}[{link.a_port}] ↔ {link.b}[{link.b_port}]"]


def test_broken_netlist_raises_with_ibsim_output(tmp_path: Path) -> None:
    net = tmp_path / "bad.net"
    net.write_text('Switch 2 "sw1"\n[1] "h1"[1]\n\nHca 1 "h1"\n[1] "sw1"[2]\n')  # sw1[1] ↔ h1 vs h1 ↔ sw1[2]
    with (
        pytest.raises(OperationalError, match=r"(?s)ibsim exited with status 255.*connect_ports: remote port 1"),
        IbSim(net, tmp_path),
    ):
        pass


def test_two_simulators_side_by_side(tmp_path: Path) -> None:
    """Private socket names: two ibsims and their SMs at once do not meet."""
    topo, arts = _compile("lab")
    sn = topo.subnets[0]
    sta, stb = stage(arts, tmp_path / "a"), stage(arts, tmp_path / "b")
    with IbSim(sta.netlist, tmp_path / "a") as a, IbSim(stb.netlist, tmp_path / "b") as b:
        assert a.sockname != b.sockname and a.pid != b.pid
        for sim, st in ((a, sta), (b, stb)):
            sub = st.subnets[sn.name]
            r = run_opensm(sub.conf, sim.env(sn.sm_nodeid), subnet=sn.name, engine="ftree", cache_dir=sub.cache_dir)
            assert r.ok, r.problems  # a second SM on the same simulated node would be refused
    assert not a.running and not b.running


@pytest.mark.slow
def test_ff2_single_subnet(tmp_path: Path) -> None:
    """ff2-single: both zones in one subnet, joined spine to spine. ftree reaches everything over 4-switch
    cross-zone paths; the intra-zone fat-trees stay balanced and the cross-zone funnel is reported."""
    topo, arts = _compile("ff2-single")
    report = verify_fabric(topo, arts, tmp_path)
    print(f"\n{report.summary()}")
    assert report.ok, report.summary()
    (s,) = report.subnets
    assert set(s.walk.hops) == {1, 3, 4} and s.walk.walks == s.walk.delivered
    assert s.balance.cross_zone_routes > 0 and max(s.balance.cross_zone_load) > 100


@pytest.mark.ibsim
def test_verify_fabric_command_reports_lab_ok(monkeypatch, capsys) -> None:
    """`ffinfra verify-fabric` (the lab by default) routes the fabric and exits 0 with a readable report."""
    import sys

    from ffinfra.cli.app import main

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    monkeypatch.setattr(sys, "argv", ["ffinfra", "verify-fabric"])
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert "fabric check of stack 'lab': OK" in out
    assert "ftree tables, SUBNET UP" in out and "0 unreachable, 0 loops" in out
