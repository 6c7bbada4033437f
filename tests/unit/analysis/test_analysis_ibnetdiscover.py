"""ibnetdiscover parsing (plain and ibdiagnet formats) and the plan comparison on parsed output."""

from __future__ import annotations

from pathlib import Path

import pytest
from ibsim_samples import captured_topology

from ffinfra.analysis.fabric_diff import diff_fabric
from ffinfra.analysis.parsers import ParseError
from ffinfra.analysis.parsers.ibnetdiscover import parse_ibnetdiscover

DATA = Path(__file__).resolve().parents[2] / "data"


def test_plain_ibnetdiscover_from_ibsim_lab():
    nodes = parse_ibnetdiscover((DATA / "ibsim" / "ibnetdiscover_lab.txt").read_text())
    switches = [n for n in nodes.values() if n.kind == "Switch"]
    cas = [n for n in nodes.values() if n.kind == "Ca"]
    assert (len(switches), len(cas)) == (6, 7)
    lf01 = next(n for n in switches if n.description == "z0-lf01")
    assert lf01.guid == 0x0002C90200000001 and lf01.nports == 4
    assert lf01.ports[1].peer_id == "H-0002c91000000a00" and (lf01.ports[1].width, lf01.ports[1].speed) == ("4x", "HDR")
    assert lf01.ports[3].peer_id == "S-0002c90100000001" and lf01.ports[3].peer_port == 1


def test_ibdiagnet_format_with_port_labels_and_double_blank_lines():
    text = (DATA / "tool-outputs" / "ibnetdiscover-format_ibdiagnet2.10_ndr-quantum2-cx7_excerpt.txt").read_text()
    nodes = parse_ibnetdiscover(text)
    spine = nodes["S-b0cf0e0300d33fc0"]
    assert spine.nports == 65 and spine.description.startswith("MF0;ib-switch-sequoia")
    assert spine.ports[1].peer_id == "S-fc6a1c030091cf00" and spine.ports[1].peer_port == 63
    assert (spine.ports[1].width, spine.ports[1].speed) == ("4x", "NDR")
    leaf = nodes["S-fc6a1c030091cf00"]
    assert leaf.ports[1].peer_id == "H-5c25730300e6706e"


def test_empty_discovery_is_an_error():
    with pytest.raises(ParseError, match="no nodes"):
        parse_ibnetdiscover("ibwarn: [12] mad_rpc_open_port: can't open UMAD port ((null):0)\n")


def test_the_lab_discovery_matches_the_lab_plan():
    topo = captured_topology()
    d = diff_fabric(topo, parse_ibnetdiscover((DATA / "ibsim" / "ibnetdiscover_lab.txt").read_text()))
    assert d.ok and d.found == d.planned == 15
