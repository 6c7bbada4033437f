"""Transports between nodes. The ibverbs transport (RDMA WRITE WITH IMMEDIATE) is compiled wherever rdma-core's
headers are, which scripts/setup.sh --test installs; no RDMA device exists here to run it, so what runs is the
choice: auto picks TCP when any node leader lacks an active RDMA port, and a job that demands ibverbs fails on
every rank naming the nodes without one."""

from __future__ import annotations

from hf_jobs import run_job

import hfreduce

CASE = [{"dtype": "float32", "count": 10_000, "seed": 1}]


def test_this_build_has_both_transports():
    assert hfreduce.build_info()["transports"] == ["tcp", "ibverbs"]


def test_auto_uses_tcp_when_a_leader_has_no_rdma_port():
    job = run_job(2, 2, {"cases": CASE, "settings": {"transport": "auto"}}, timeout=60)
    assert not job.errors() and all(r["ok"] for r in job.case_results())
    leaders = [x for r in (0, 2) for x in job.lines(r) if x.get("ready")]
    assert {x["transport"] for x in leaders} == {"tcp"}


def test_demanding_ibverbs_without_rdma_fails_every_rank_naming_the_nodes():
    job = run_job(2, 2, {"cases": CASE, "settings": {"transport": "ibverbs", "timeout_s": 10}}, timeout=60)
    errors = job.errors()  # the leaders and the others alike
    assert len(errors) == 4 and all("have no active RDMA port: n0, n1" in e for e in errors.values()), errors


def test_an_unknown_transport_is_refused():
    job = run_job(1, 1, {"cases": CASE, "settings": {"transport": "sockets"}}, timeout=60)
    assert "unknown transport 'sockets'" in job.errors()[0]


def test_bad_settings_in_the_environment_name_the_variable():
    import pytest

    with pytest.raises(hfreduce.HFReduceError, match="HFREDUCE_IB_SL='high': expected a valid int"):
        hfreduce.settings_from_env({"HFREDUCE_IB_SL": "high"})
    with pytest.raises(hfreduce.HFReduceError, match="HFREDUCE_SINGLE_COPY='maybe': expected 0 or 1"):
        hfreduce.settings_from_env({"HFREDUCE_SINGLE_COPY": "maybe"})
    s = hfreduce.settings_from_env({"HFREDUCE_CHUNK_SIZE_KIB": "512", "HFREDUCE_SINGLE_COPY": "0"})
    assert s.chunk_kib == 512 and s.single_copy is False
