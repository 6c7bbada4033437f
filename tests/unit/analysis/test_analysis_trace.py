"""ibtracert parser (output captured from a lab run) and the leaf → spine → leaf check."""

from __future__ import annotations

from ibsim_samples import captured

from ffinfra.analysis.trace import parse_ibtracert
from ffinfra.analysis.wiring import Wiring
from ffinfra.verify.fabric_check import check_trace


def test_parse_captured_trace() -> None:
    t = parse_ibtracert(captured("ibtracert_lab.txt"), 4, 5)
    assert t.source == "cn01 mlx5_0" and t.dest == "cn02 mlx5_0" and t.reached
    assert t.switches == ["z0-lf01", "z0-sp01", "z0-lf02"]
    assert [(h.out_port, h.in_port) for h in t.hops] == [(1, 1), (3, 1), (2, 3), (1, 1)]
    assert t.hops[-1].kind == "ca" and t.hops[-1].guid == 0x0002C91000000B01
    assert str(t) == "cn01 mlx5_0 → z0-lf01[1] → z0-sp01[1] → z0-lf02[3] → cn02 mlx5_0[1]"


def test_check_trace() -> None:
    w = Wiring.build([], leaves=["z0-lf01", "z0-lf02"], spines=["z0-sp01"])
    t = parse_ibtracert(captured("ibtracert_lab.txt"), 4, 5)
    assert check_trace(t, "z0-lf01", "z0-lf02", w) == []
    assert "expected z0-lf02 → <spine> → z0-lf01" in check_trace(t, "z0-lf02", "z0-lf01", w)[0]
    failed = parse_ibtracert("", 4, 99)
    failed.rc, failed.error = 255, "ibwarn: find_route: can't reach to/from ports"
    assert not failed.reached
    assert "can't reach" in check_trace(failed, "z0-lf01", "z0-lf02", w)[0]
