"""Failures end an allreduce on every rank with an error that names the rank or node at fault, within the
configured timeout, never a hang: a killed rank (leader or not), a rank that stops answering, calls that do not
match (size or type), a job whose ranks disagree on its size, a rank that never joins."""

from __future__ import annotations

import pytest
from hf_jobs import run_job

BIG = [{"dtype": "float32", "count": 2_000_000, "seed": s} for s in range(6)]


def survivors(job, dead: int) -> dict[int, str]:
    errors = job.errors()
    return {r: errors.get(r, "<no error>") for r in range(job.nodes * job.per_node) if r != dead}


@pytest.mark.parametrize(
    ("dead", "names"),
    [(3, "rank 3 (pid"), (2, "ranks 2-3")],
    ids=["non-leader", "leader"],
)
def test_a_killed_rank_fails_every_other_rank_naming_it(dead, names):
    job = run_job(3, 2, {"cases": BIG, "die_rank": dead, "die_case": 2, "settings": {"timeout_s": 20}}, timeout=60)
    assert job.returncodes[dead] == -9
    others = survivors(job, dead)
    assert all(names in e for e in others.values()), others
    # found by the connection closing or the pid check, not by waiting out the 20 s timeout
    assert job.seconds < 15


def test_a_rank_that_stops_answering_fails_the_others_at_the_timeout():
    job = run_job(
        3, 2, {"cases": BIG, "stall_rank": 5, "stall_case": 1, "stall_s": 9, "settings": {"timeout_s": 3}}, timeout=30
    )
    others = survivors(job, 5)
    assert all("timed out after 3 s" in e and "rank(s) 5 never arrived" in e for e in others.values()), others
    stall = next(line for line in job.lines(0) if "error" in line)
    assert stall["seconds"] < 3 + 5, "the error came long after the timeout"


def test_a_stuck_leader_is_named_by_its_neighbours():
    job = run_job(
        3, 2, {"cases": BIG, "stall_rank": 4, "stall_case": 1, "stall_s": 9, "settings": {"timeout_s": 3}}, timeout=30
    )
    others = survivors(job, 4)
    assert "rank(s) 4 never arrived" in others[5]
    assert all("node 2 (n2, ranks 4-5)" in e for r, e in others.items() if r != 5), others


@pytest.mark.parametrize(
    ("per_node", "case", "expect"),
    [
        (1, {"count_by_rank": [10, 12]}, "do not match between nodes"),
        (2, {"count_by_rank": [10, 10, 10, 12]}, "do not match on this node"),
        (1, {"dtype_by_rank": ["float16", "bfloat16"]}, "10 float16 elements"),
    ],
    ids=["size-between-nodes", "size-within-node", "dtype"],
)
def test_calls_that_do_not_match_fail_on_every_rank(per_node, case, expect):
    job = run_job(
        2,
        per_node,
        {"cases": [{"dtype": "float32", "count": 10, "seed": 1, **case}], "settings": {"timeout_s": 5}},
        timeout=30,
    )
    errors = job.errors()
    assert len(errors) == 2 * per_node and all(expect in e for e in errors.values()), errors


def test_a_communicator_that_failed_refuses_later_calls():
    cases = [
        {"dtype": "float32", "count": 10, "seed": 1, "count_by_rank": [10, 12]},
        {"dtype": "float32", "count": 10, "seed": 2},
    ]
    job = run_job(2, 1, {"cases": cases, "settings": {"timeout_s": 5}, "keep_going": True}, timeout=30)
    second = [line for line in job.lines(0) if line.get("case") == 1]
    assert second and "failed earlier" in second[0]["error"]


def test_a_rank_that_never_joins_fails_the_bootstrap_naming_it():
    job = run_job(1, 3, {"cases": [], "settings": {"timeout_s": 2}}, timeout=30, absent=[2])
    errors = job.errors()
    assert "never joined" in errors[0] and "(2)" in errors[0], errors
    assert all("never joined" in e for e in errors.values()), errors


def _impostor_joins(hello: bytes) -> tuple[str, str]:
    """Rank 0 of a 2-rank job on this host, and a hand-made rank 1 that sends `hello`: what rank 0 says, and the
    error rank 1 is sent back."""
    import json
    import os
    import socket
    import struct
    import subprocess
    import sys
    import time

    from hf_jobs import WORKER, free_port

    port = free_port()
    env = {**os.environ, "HFREDUCE_NODE": "n0", "HFREDUCE_THREADS": "1"}
    job = json.dumps({"cases": [], "settings": {"timeout_s": 10}})
    p = subprocess.Popen([sys.executable, str(WORKER), "0", "2", f"127.0.0.1:{port}", job], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                assert time.monotonic() < deadline, "rank 0 never listened"
                time.sleep(0.05)
        with s:
            s.sendall(hello)
            head = s.recv(24, socket.MSG_WAITALL)
            magic, status, _, length, _ = struct.unpack("<IIQII", head)
            assert magic == 0x48465244 and status == 1
            told = s.recv(length, socket.MSG_WAITALL).decode()
        out, _ = p.communicate(timeout=30)
    finally:
        p.kill()
    return json.loads(out.splitlines()[-1])["error"], told


def _hello(version: int, build: bytes) -> bytes:
    import struct

    return struct.pack("<IIiiiiII16s64s48s", 0x48465244, version, 1, 2, 4242, 1, 0, 0, b"127.0.0.1", b"n1", build)


def test_a_rank_of_another_build_is_refused_naming_both_builds():
    """A job that straddles a rolling upgrade (nodes on both builds) fails at once, saying which build runs where."""
    import hfreduce

    said, told = _impostor_joins(_hello(3, b"0.0.1+0123456789ab"))
    assert "rank 1 (n1) runs HFReduce 0.0.1+0123456789ab, rank 0 (n0) runs " in said, said
    info = hfreduce.build_info()
    assert f"runs {info['version']}+{info['source']}: every node of a job must run one HFReduce build" in said
    assert told in said


def test_a_rank_of_an_older_protocol_is_refused_saying_so():
    said, _ = _impostor_joins(_hello(2, b""))
    assert "a rank speaks HFReduce bootstrap version 2" in said and "every node of a job must run one" in said, said
