"""The NVLink-pair variant (paper §IV-C), all of it that runs without GPUs: who pairs with whom, where a pair's
buffer splits, the settings, and the host side of the algorithm. A pair's two GPUs sum their buffers over the
bridge, and each hands the host only its half of that sum; the node then sums "parts" of buffers: every rank
contributes only its part, and every rank still receives the whole sum. Those host calls are exercised here for
real, with NumPy standing in for the GPU's half of the work (the pair kernel itself is compiled in
test_gpu_build.py and runs in test_gpu_run.py where there are GPUs)."""

from __future__ import annotations

import random

import pytest
from hf_jobs import run_job
from test_allreduce import DTYPES, SMALL, assert_all_correct

import hfreduce
from hfreduce import _core

FF2 = "0-1,2-3,4-5,6-7"  # Fire-Flyer 2's bridges


@pytest.mark.parametrize(
    ("pairs", "devices", "partners"),
    [
        ([(0, 1), (2, 3)], [0, 1, 2, 3], [1, 0, 3, 2]),
        ([(0, 1), (2, 3)], [3, 2, 1, 0], [1, 0, 3, 2]),  # by GPU, whatever the rank order
        ([(0, 1), (2, 3)], [0, 1, 2], [1, 0, -1]),  # GPU 3 unused: 2 goes alone
        ([(0, 1)], [0, 1, -1, -1], [1, 0, -1, -1]),  # host buffers never pair
        ([(0, 1)], [0, 0, 1], [-1, -1, -1]),  # two ranks on GPU 0: which one would pair is not clear, so neither
        ([(1, 0)], [0, 1], [1, 0]),
        ([], [0, 1], [-1, -1]),
    ],
)
def test_ranks_pair_when_their_gpus_share_a_bridge(pairs, devices, partners):
    assert _core.pair_partners(pairs, devices) == partners


FF2_PCI = ["0000:01:00.0", "0000:21:00.0", "0000:41:00.0", "0000:61:00.0", "0000:81:00.0", "0000:a1:00.0"]


@pytest.mark.parametrize(
    ("bus_id", "index"),
    [
        ("0000:41:00.0", 2),
        ("00000000:41:00.0", 2),  # CUDA writes a 4-digit domain, NVML an 8-digit one
        ("0000:A1:00.0", 5),  # hex either case
        ("0000:41:00.1", -1),  # another function
        ("0000:42:00.0", -1),
        ("not a bus id", -1),
    ],
)
def test_a_gpu_is_found_by_its_pci_bus_id_whatever_its_cuda_number(bus_id, index):
    """With HFREDUCE_GPU_PCI (the profile's gpus.pci) a rank's GPU index is its position there: ranks that each
    see only their own GPU as CUDA device 0 (CUDA_VISIBLE_DEVICES) still pair and take root-port turns right."""
    assert _core.pci_index(FF2_PCI, bus_id) == index


def test_pci_ids_come_from_the_environment():
    s = hfreduce.settings_from_env({"HFREDUCE_GPU_PCI": ",".join(FF2_PCI)})
    assert s.gpu_pci.split(",") == FF2_PCI


@pytest.mark.parametrize("count", [0, 1, 127, 128, 129, 1000, 4097, 1 << 20])
def test_a_pair_splits_its_buffer_in_two_aligned_halves(count):
    split = _core.pair_split(count)
    assert split % 64 == 0 and split <= count - split  # 128-byte aligned halves for 2-byte types; the upper not less
    assert count - 2 * split < 128


def test_pairs_come_from_the_environment():
    s = hfreduce.settings_from_env({"HFREDUCE_NVLINK_PAIRS": FF2, "HFREDUCE_NVLINK": "1"})
    assert hfreduce.parse_pairs(s.nvlink_pairs) == [(0, 1), (2, 3), (4, 5), (6, 7)] and s.nvlink
    assert not hfreduce.settings_from_env({"HFREDUCE_NVLINK": "0"}).nvlink


@pytest.mark.parametrize("bad", ["0", "0-0", "a-b", "0-1,2", "0:1"])
def test_a_malformed_pair_list_is_refused(bad):
    with pytest.raises(hfreduce.HFReduceError, match="HFREDUCE_NVLINK_PAIRS"):
        hfreduce.parse_pairs(bad)


def parts_cases(world: int, counts: list[int], seed: int) -> list[dict]:
    """Each rank contributes a random part, empty and whole ones included."""
    rng = random.Random(seed)
    out = []
    for i, (dtype, count) in enumerate((d, c) for d in DTYPES for c in counts):
        parts = []
        for _ in range(world):
            lo, hi = sorted(rng.randrange(0, count + 1) for _ in range(2))
            parts.append(rng.choice([[lo, hi], [0, count], [lo, lo]]))
        out.append({"dtype": dtype, "count": count, "seed": seed + i, "parts": parts})
    return out


@pytest.mark.parametrize(
    ("nodes", "per_node", "single_copy"),
    [(1, 3, True), (2, 2, True), (3, 2, False), (2, 4, True), (3, 1, True)],
    ids=["1x3", "2x2", "3x2-copied", "2x4", "3x1"],
)
def test_each_rank_contributes_only_its_part(nodes, per_node, single_copy):
    cs = parts_cases(nodes * per_node, [1, 77, 1025, 70_001, 300_001], seed=nodes * 10 + per_node)
    job = run_job(nodes, per_node, {"cases": cs, "settings": {**SMALL, "single_copy": single_copy}}, timeout=180)
    assert_all_correct(job, len(cs))


@pytest.mark.parametrize(("nodes", "per_node"), [(1, 2), (2, 2), (3, 4), (2, 3)], ids=["1x2", "2x2", "3x4", "2x3"])
def test_pair_halves_sum_to_the_whole(nodes, per_node):
    """What the host sees of NVLink pairs: local ranks 2i and 2i+1 each hand over their half of the pair's sum (an
    odd one out its whole buffer); every rank gets the sum of all the job's buffers. The pair settings are on, so
    the calls also take the pairs' extra steps (with host buffers nobody pairs, but every rank takes them alike)."""
    cs = [
        {"dtype": d, "count": c, "seed": 40 + i, "pair_halves": True}
        for i, (d, c) in enumerate((d, c) for d in DTYPES for c in [1, 128, 4097, 300_001])
    ]
    job = run_job(nodes, per_node, {"cases": cs, "settings": {**SMALL, "nvlink_pairs": FF2}}, timeout=180)
    ready = [x for r in range(nodes * per_node) for x in job.lines(r) if x.get("ready")]
    assert {x["nvlink_pairs"] for x in ready} == {True}
    assert_all_correct(job, len(cs))


def test_ranks_of_a_node_with_different_pairs_refuse_to_start():
    """Pairs change the steps of every call: ranks that disagree would wait for each other forever, so they fail at
    once instead, on every rank of the node."""
    job = run_job(
        1,
        2,
        {"cases": [], "settings": {"timeout_s": 20}, "settings_by_rank": {"1": {"nvlink_pairs": FF2}}},
        timeout=60,
    )
    errors = job.errors()
    assert sorted(errors) == [0, 1] and all("NVLink pair settings" in e for e in errors.values()), errors


def test_a_part_outside_the_buffer_is_refused():
    job = run_job(1, 1, {"cases": [{"dtype": "float32", "count": 10, "seed": 1, "parts": [[7, 3]]}]}, timeout=60)
    assert "part (7, 3) is not a range of a buffer of 10 elements" in job.errors()[0]
