"""dump_fts parser on output captured from a real lab run, and naming it after the lab Topology."""

from __future__ import annotations

import pytest
from ibsim_samples import captured, captured_topology

from ffinfra.analysis.lft import CA, FtsDump, name_tables, parse_dump_fts
from ffinfra.analysis.routing import check_balance, walk
from ffinfra.analysis.wiring import subnet_wiring


@pytest.fixture(scope="module")
def lab():
    return captured_topology()


@pytest.fixture(scope="module")
def dump() -> FtsDump:
    return parse_dump_fts(captured("dump_fts_lab.txt"))


def test_parses_every_switch_and_entry(dump: FtsDump) -> None:
    assert len(dump.lfts) == 6
    assert dump.switch_names[0x0002C90200000004] == "z0-lf04"
    # 4 leaves list all 13 LIDs, the 2 spines miss the other spine's LID (ftree does not route spine↔spine)
    assert dump.entries == 4 * 13 + 2 * 12 == 76
    assert not dump.unparsed and not dump.conflicts


def test_entries_and_lid_map(dump: FtsDump) -> None:
    lf04 = dump.lfts[0x0002C90200000004]
    assert lf04[7] == 1  # cn04, its own host port
    assert lf04[0xD] == 0  # itself
    assert dump.lids[1].port_guid == 0x0002C91000001001
    assert dump.lids[1].kind == CA and dump.lids[1].name == "ctl01 mlx5_0"
    assert dump.lids[2].kind == "Switch" and dump.lids[2].name == "z0-sp01"
    assert sum(1 for i in dump.lids.values() if i.kind == CA) == 7


def test_conflicting_lid_and_junk_are_reported() -> None:
    text = (
        "Unicast lids [0x0-0x2] of switch DR path slid 0; dlid 0; 0 guid 0x0000000000000010 (sw):\n"
        "0x0001 001 : (Channel Adapter portguid 0x0000000000000021: 'a mlx5_0')\n"
        "0x0001 002 : (Channel Adapter portguid 0x0000000000000031: 'b mlx5_0')\n"
        "garbage\n"
    )
    d = parse_dump_fts(text)
    assert d.lfts == {0x10: {1: 2}}
    assert len(d.conflicts) == 1 and "LID 1" in d.conflicts[0]
    assert d.unparsed == ["garbage"]


def test_named_after_the_topology(lab, dump: FtsDump) -> None:
    wiring = subnet_wiring(lab, lab.subnets[0])
    t = name_tables(dump, wiring)
    assert t.problems == []
    assert set(t.lfts) == {s.name for s in lab.switches}
    assert t.dests[4] == ("cn01 mlx5_0", 1)
    assert t.lid_of[("ctl01 mlx5_0", 1)] == 1
    assert len(t.dests) == len(lab.host_ports)


def test_walk_and_balance_on_the_captured_lfts(lab, dump: FtsDump) -> None:
    wiring = subnet_wiring(lab, lab.subnets[0])
    t = name_tables(dump, wiring)
    w = walk(wiring, t.lfts, t.dests)
    assert w.ok and w.walks == 4 * 7
    assert w.hops == {1: 7, 3: 21}
    b = check_balance(wiring, t.lfts, t.dests)
    assert b.ok, b.problems
    assert b.multi_spine_dests == 0 and b.pair_max_spread <= 1


def test_dump_disagreeing_with_the_plan(lab, dump: FtsDump) -> None:
    wiring = subnet_wiring(lab, lab.subnets[0])
    d = FtsDump(
        lfts={g: t for g, t in dump.lfts.items() if g != 0x0002C90200000004} | {0x99: {}},
        switch_names=dump.switch_names | {0x99: "stray"},
        lids={lid: i for lid, i in dump.lids.items() if i.name != "cn04 mlx5_0"},
    )
    problems = "\n".join(name_tables(d, wiring).problems)
    assert "1 switch(es) not in the plan: 0x0000000000000099 (stray)" in problems
    assert "planned switch(es) not in dump_fts: z0-lf04" in problems
    assert "planned CA port(s) have no LID: cn04 mlx5_0 port 1" in problems
