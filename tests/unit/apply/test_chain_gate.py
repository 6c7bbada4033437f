"""A storage batch's 3FS gate: the next batch waits until every chain with a replica on this batch's nodes is
complete again, read from admin_cli list-chains (real-format samples in tests/data/3fs-admin); a chain that stays
short of its replicas past the timeout stops the change, naming the chain and the replica behind."""

from __future__ import annotations

from pathlib import Path

from ffinfra.apply.chain_gate import batch_chains, wait_for_chains
from ffinfra.topology.chains import Chain, ChainTable, Target

DATA = Path(__file__).resolve().parents[2] / "data" / "3fs-admin"
SERVING = (DATA / "list-chains.txt").read_text()
SYNCING = (DATA / "list-chains_syncing.txt").read_text()  # chain 900100002 syncs 101000500101 (node 10005)
OFFLINE = (DATA / "list-chains_one-target-offline.txt").read_text()


def replies(*outputs: str):
    """list_chains() answering each output in turn, the last one for ever; counts the calls."""
    seen = []

    def ask() -> str:
        seen.append(1)
        return outputs[min(len(seen), len(outputs)) - 1]

    return ask, seen


def test_the_gate_waits_while_a_chain_syncs_and_opens_once_it_is_complete():
    ask, seen = replies(OFFLINE, SYNCING, SYNCING, SERVING)
    said: list[str] = []
    assert wait_for_chains(ask, {900100002, 900100005}, 3, timeout_s=60, poll_s=0, say=said.append) == []
    assert len(seen) == 4
    assert said and "chain 900100002: status SERVING(2/3)" in said[0]  # what it waits for, once per new reason
    assert "chain 900100002: status SYNCING" in said[1] and len(said) == 2


def test_a_chain_still_behind_at_the_timeout_stops_the_change_naming_it():
    ask, _ = replies(SYNCING)
    problems = wait_for_chains(ask, {900100002}, 3, timeout_s=0, poll_s=0)
    assert problems == [
        "chain 900100002: status SYNCING, 2 of 3 targets SERVING-UPTODATE; not serving: 101000500101(SYNCING-ONLINE)"
    ]


def test_only_the_batch_s_chains_are_asked_for():
    ask, seen = replies(SYNCING)
    assert wait_for_chains(ask, {900100001, 900100003}, 3, timeout_s=0, poll_s=0) == [] and len(seen) == 1


def test_a_chain_mgmtd_does_not_list_or_an_answer_it_cannot_read_keeps_the_gate_shut():
    ask, _ = replies(SERVING)
    assert wait_for_chains(ask, {900100099}, 3, timeout_s=0, poll_s=0) == ["chain 900100099: missing from list-chains"]
    ask, _ = replies("Encounter error: 2002(RPC::kTimeout) mgmtd did not answer\n")
    (problem,) = wait_for_chains(ask, {900100001}, 3, timeout_s=0, poll_s=0)
    assert problem.startswith("admin_cli list-chains: "), problem


def test_a_batch_s_chains_are_those_with_a_target_on_its_nodes():
    def chain(cid: int, *nodes: int) -> Chain:
        return Chain(cid, 0, tuple(Target(n, 0, 0, n * 100 + cid) for n in nodes))

    table = ChainTable(2, 1, 1, (1, 2, 3), (chain(1, 1, 2), chain(2, 2, 3), chain(3, 3, 1)))
    assert batch_chains(table, [1]) == {1, 3}
    assert batch_chains(table, [2, 3]) == {1, 2, 3}
    assert batch_chains(table, []) == set()
