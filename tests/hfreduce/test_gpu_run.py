"""GPU buffers through HFReduce, where there are GPUs: CUDA tensors (PyTorch) summed on one and on two "nodes", and
the NVLink-pair variant between two GPUs that can reach each other directly. Each needs PyTorch with CUDA, a visible
GPU and an HFReduce built with its GPU path (and the pair kernel, for pairs); without them each test is skipped with
the reason. This machine has no GPU: test_gpu_build.py compiles the same code here, and docs/hfreduce.md says how to
run this file on a GPU node."""

from __future__ import annotations

import os

import pytest
from hf_jobs import run_job
from test_allreduce import DTYPES, assert_all_correct

import hfreduce

pytestmark = pytest.mark.hardware

COUNTS = [1, 1023, 4097, 300_001, 3 << 20]  # odd sizes, and more than one piece of a 4 MiB buffer
SETTINGS = {"chunk_kib": 256, "buffer_mib": 4, "timeout_s": 120}


def gpus() -> int:
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def need(n_gpus: int, pair_kernel: bool = False) -> None:
    """Skips for want of hardware only (what no set-up installs). On a machine with the GPUs, a build without the
    GPU path or pair kernel is a set-up to fix, not hardware: where everything must run (FFINFRA_NO_SKIPS=1, as
    scripts/test.sh sets) it fails, elsewhere it skips; either way it names the build option that makes it."""
    have = gpus()
    if have < n_gpus:
        pytest.skip(f"needs {n_gpus} CUDA GPU(s) and PyTorch with CUDA; this machine has {have}")
    info = hfreduce.build_info()
    missing = None
    if not info["cuda"]:
        missing = "this HFReduce has no GPU path: build it where CUDA is (HFREDUCE_CUDA=ON)"
    elif pair_kernel and not info["nvlink"]:
        missing = "this HFReduce has no NVLink pair kernel: build it where nvcc is (HFREDUCE_NVLINK=ON)"
    if missing and os.environ.get("FFINFRA_NO_SKIPS") == "1":
        pytest.fail(f"the GPUs are here but {missing}")
    if missing:
        pytest.skip(missing)


def cases(seed: int) -> list[dict]:
    return [
        {"dtype": d, "count": c, "seed": seed + i} for i, (d, c) in enumerate((d, c) for d in DTYPES for c in COUNTS)
    ]


@pytest.mark.parametrize(("nodes", "per_node"), [(1, 1), (1, 2), (2, 1), (2, 2)], ids=["1x1", "1x2", "2x1", "2x2"])
def test_gpu_tensors_sum_like_host_buffers(nodes, per_node):
    """Each rank's tensor is on GPU local_rank (wrapped around the GPUs there are), copied to the host and back."""
    need(1)
    cs = cases(seed=nodes * 10 + per_node)
    job = run_job(nodes, per_node, {"cases": cs, "gpu": True, "settings": SETTINGS}, timeout=600)
    assert_all_correct(job, len(cs))


def test_root_port_turns_keep_the_sums():
    """GPUs declared behind one PCIe root port copy in turn (HFREDUCE_ROOT_PORTS)."""
    need(2)
    cs = cases(seed=300)
    job = run_job(1, 2, {"cases": cs, "gpu": True, "settings": {**SETTINGS, "root_ports": "0,0"}}, timeout=600)
    assert_all_correct(job, len(cs))


def test_nvlink_pairs_sum_over_the_bridge():
    """GPUs 0 and 1 (and 2 and 3 where there are four) as NVLink pairs: each rank reports its partner, and every
    rank still holds the whole sum (a pair's sum is rounded once more, within the check's tolerance)."""
    need(2, pair_kernel=True)
    import torch

    if not torch.cuda.can_device_access_peer(0, 1):
        pytest.skip("GPUs 0 and 1 cannot reach each other directly (no NVLink or PCIe peer access)")
    per_node = 4 if gpus() >= 4 and torch.cuda.can_device_access_peer(2, 3) else 2
    cs = [{**c, "pair_rounding": True} for c in cases(seed=500)]
    settings = {**SETTINGS, "nvlink_pairs": "0-1,2-3"}
    job = run_job(1, per_node, {"cases": cs, "gpu": True, "settings": settings}, timeout=600)
    assert_all_correct(job, len(cs))
    partners = {r["rank"]: r["partner"] for r in job.case_results()}
    assert partners == {r: r ^ 1 for r in range(per_node)}, partners
