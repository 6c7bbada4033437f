"""The bandwidth engine: rounds from the pairing schedule, uplinks in ftree's model, commands, and culprits."""

from __future__ import annotations

import math

import pytest

from ffinfra.accept import bandwidth as bw
from ffinfra.topology.model import HostPort


@pytest.mark.parametrize("stack", ["lab", "small", "ff2"])
def test_host_level_rounds_never_use_a_host_twice_per_round(compiled_stack, stack):
    topo = compiled_stack(stack).topology
    rounds = bw.rounds(topo, host_level=True)
    leaves = max(len(topo.switches_in(z.name, "leaf")) for z in topo.zones)
    assert len(rounds) == math.ceil(math.log2(leaves))
    for pairs in rounds:
        hosts = [h for a, b in pairs for h in (a.host, b.host)]
        assert len(hosts) == len(set(hosts))
        assert all(a.leaf != b.leaf for a, b in pairs)  # every pair crosses the spines


def test_lab_rounds_pair_every_leaf_with_two_others(compiled_stack):
    topo = compiled_stack("lab").topology
    rounds = bw.rounds(topo, host_level=True)
    met = {frozenset((a.leaf, b.leaf)) for pairs in rounds for a, b in pairs}
    assert len(rounds) == 2
    for leaf in (s.name for s in topo.switches if s.layer == "leaf"):
        assert sum(leaf in m for m in met) == 2


def test_uplinks_crossed_follow_the_destination_position(compiled_stack):
    topo = compiled_stack("lab").topology
    port = {p.host: p for p in topo.host_ports}
    # cn02 is the first port of z0-lf02 → uplink 0; st02 the second → uplink 1 (2 uplinks per leaf)
    assert bw.uplinks_crossed(topo, port["cn01"], port["cn02"]) == ["z0-lf01#0", "z0-lf02#0"]
    assert bw.uplinks_crossed(topo, port["st01"], port["st02"]) == ["z0-lf01#1", "z0-lf02#1"]
    assert bw.uplinks_crossed(topo, port["cn01"], port["st01"]) == []  # same leaf: no uplink


def test_iperf3_commands_serve_once_and_retry_until_the_server_listens():
    server, client = bw.iperf3_commands("10.0.0.2", 18615, 3)
    assert server == "iperf3 -s -1 -D -p 18615 --idle-timeout 33"
    assert "iperf3 -J -c 10.0.0.2 -p 18615 -t 3" in client and "Connection refused" in client


def test_ib_write_bw_commands_use_each_ends_hca_port():
    a = HostPort("cn01", "mlx5_0", 0, 1, 0x10, "z0")
    b = HostPort("cn02", "mlx5_1", 1, 2, 0x20, "z0")
    server, client = bw.ib_write_bw_commands(a, b, "10.0.0.2", 18600, 5)
    assert server.startswith("nohup timeout 65 ib_write_bw -d mlx5_1 -i 2 ") and "--report_gbits -D 5" in server
    assert "ib_write_bw -d mlx5_0 -i 1 " in client and client.rstrip().endswith("sleep 0.3; done")
    assert "10.0.0.2" in client


def _res(topo, src, dst, gbit, rnd=0):
    port = {p.host: p for p in topo.host_ports}
    d = bw.Direction(rnd, port[src], port[dst])
    return bw.DirectionResult(d, [gbit] if gbit is not None else [], uplinks=bw.uplinks_crossed(topo, d.src, d.dst))


def _lab_results(topo, slow: set[tuple[str, str]], gbit_slow=0.5, fail=frozenset()):
    out = []
    for r, pairs in enumerate(bw.rounds(topo, host_level=True)):
        for a, b in pairs:
            for s, d in ((a.host, b.host), (b.host, a.host)):
                val = None if (s, d) in fail else (gbit_slow if (s, d) in slow else 9.0)
                out.append(_res(topo, s, d, val, r))
    return out


def test_a_throttled_sender_is_the_suspect_not_its_receivers(compiled_stack):
    topo = compiled_stack("lab").topology
    results = _lab_results(topo, slow={("cn03", "cn04"), ("cn03", "st01")})
    nodes, links = bw.suspects(results, 2.0)
    assert nodes == {"cn03": "everything it sends is slow"} and links == []


def test_a_node_that_receives_slowly_is_the_suspect(compiled_stack):
    topo = compiled_stack("lab").topology
    results = _lab_results(topo, slow={("cn04", "cn03"), ("st01", "cn03")})
    nodes, _ = bw.suspects(results, 2.0)
    assert nodes == {"cn03": "everything it receives is slow"}


def test_a_failed_run_counts_as_slow(compiled_stack):
    topo = compiled_stack("lab").topology
    results = _lab_results(topo, slow=set(), fail={("cn03", "cn04"), ("cn03", "st01")})
    assert bw.suspects(results, 2.0)[0] == {"cn03": "everything it sends is slow"}


def test_without_a_node_to_blame_the_uplinks_only_slow_directions_cross_are_named(compiled_stack):
    topo = compiled_stack("lab").topology
    results = [_res(topo, "cn01", "cn02", 0.5), _res(topo, "st01", "st02", 9.0), _res(topo, "st02", "st01", 9.0)]
    # one slow direction is too little to blame a node; its uplinks carry nothing fast
    assert bw.suspects(results, 2.0) == ({}, ["z0-lf01#0", "z0-lf02#0"])


def test_one_slow_direction_alone_blames_no_node(compiled_stack):
    topo = compiled_stack("lab").topology
    nodes, _ = bw.suspects(_lab_results(topo, slow={("cn01", "cn02")}), 2.0)
    assert nodes == {}


def test_no_suspects_when_everything_passes_or_everything_fails(compiled_stack):
    topo = compiled_stack("lab").topology
    assert bw.suspects(_lab_results(topo, slow=set()), 2.0) == ({}, [])
    everything = {(a.host, b.host) for p in bw.rounds(topo, True) for x, y in p for a, b in ((x, y), (y, x))}
    assert bw.suspects(_lab_results(topo, slow=everything), 2.0) == ({}, [])


@pytest.mark.parametrize(
    ("stack", "host_level"),
    [("lab", True), ("small", True), ("lab", False), ("small", False), ("ff2", False)],
)
def test_the_rounds_run_cross_every_uplink_of_every_leaf(compiled_stack, stack, host_level):
    """ib_write_bw runs port pairs: every uplink, every stack. iperf3 runs one pair per host per round, which on a
    one-zone fabric still crosses every uplink (ff2's dual-homed storage nodes would run two at once: not so)."""
    topo = compiled_stack(stack).topology
    crossed = {
        u
        for pairs in bw.rounds(topo, host_level=host_level)
        for a, b in pairs
        for s, d in ((a, b), (b, a))
        for u in bw.uplinks_crossed(topo, s, d)
    }
    want = {
        f"{leaf.name}#{k}" for z in topo.zones for leaf in topo.switches_in(z.name, "leaf") for k in range(z.uplinks)
    }
    assert crossed == want


def test_a_uniformly_slow_round_says_the_mark_is_above_the_environment_and_how_to_calibrate():
    from ffinfra.topology.thresholds import Threshold

    mark = Threshold("iperf3", 9.0, "Gb/s", "90% of the 10 Gb/s Ethernet NIC")
    text = bw.mark_above_environment(mark, 14, "lab16")
    assert "no node or uplink explains it" in text
    assert "9 Gb/s (90% of the 10 Gb/s Ethernet NIC)" in text and "14 directions at once" in text
    assert "ffinfra test lab16 --suite bandwidth --calibrate" in text
