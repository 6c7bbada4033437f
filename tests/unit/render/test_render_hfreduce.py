"""hfreduce.env: one per hardware profile of the compute nodes, installed by the hfreduce role on those nodes only,
describing the build (version, source digest, SIMD ceiling, prefix) and the tuning taken from the profile and the
spec (topology/hfreduce.py)."""

from __future__ import annotations

import pytest
import yaml

from ffinfra.compile import compile_stack
from ffinfra.errors import SpecInvalid
from ffinfra.render.hfreduce import render_hfreduce
from ffinfra.render.placement import place
from ffinfra.render.targets import render_all

PROFILE = "gpu-a100-pcie"


def env(topo, profile: str = PROFILE) -> dict[str, str]:
    (a,) = [a for a in render_hfreduce(topo) if a.path == f"hfreduce/{profile}/hfreduce.env"]
    return dict(line.split("=", 1) for line in a.content.splitlines() if line and not line.startswith("#"))


def test_ff2_env_describes_the_build_and_its_tuning(stack):
    topo = stack("ff2")
    e = env(topo)
    src = topo.hfreduce.source
    assert e == {
        "HFREDUCE_VERSION": src.version,
        "HFREDUCE_SOURCE": src.short,
        "HFREDUCE_PREFIX": f"/opt/hfreduce/{src.short}-avx2",
        "HFREDUCE_PYTHONPATH": f"/opt/hfreduce/{src.short}-avx2/python",
        "HFREDUCE_SIMD": "avx2",  # EPYC Rome/Milan: no AVX-512
        "HFREDUCE_THREADS": "8",  # 32 cores per NUMA node, 4 GPUs on it
        "HFREDUCE_CHUNK_SIZE_KIB": "4096",
        "HFREDUCE_BUFFER_MIB": "64",
        "HFREDUCE_TIMEOUT_S": "300",
        "HFREDUCE_NUMA_NODE": "1",
        "HFREDUCE_SOCKET_IFNAME": "ib0",  # the spec's netdev: TCP over IPoIB
        "HFREDUCE_IB_HCA": "mlx5_0",
        "HFREDUCE_IB_SL": "1",
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",  # GPU indexes as nvidia-smi numbers them
        # ... found by PCI bus id: GPU5 and GPU6 are a1/a2, behind one root port (paper Fig. 4)
        "HFREDUCE_GPU_PCI": "0000:01:00.0,0000:21:00.0,0000:41:00.0,0000:61:00.0,0000:81:00.0,0000:a1:00.0,"
        "0000:a2:00.0,0000:e1:00.0",
        "HFREDUCE_NVLINK": "1",  # the profile declares its NVLink Bridges
        "HFREDUCE_NVLINK_PAIRS": "0-1,2-3,4-5,6-7",
        "HFREDUCE_ROOT_PORTS": "0,1,2,3,4,5,5,6",  # GPU5 and GPU6 share a root port (paper Fig. 4)
    }


def test_the_lab_builds_for_its_declared_ceiling_and_shares_the_cpus_among_the_ranks(stack):
    e = env(stack("lab"), "lab-node")
    assert e["HFREDUCE_SIMD"] == "avx512" and e["HFREDUCE_PREFIX"].endswith("-avx512")
    assert e["HFREDUCE_THREADS"] == "0"
    assert "HFREDUCE_NVLINK" not in e and "HFREDUCE_SOCKET_IFNAME" not in e


def test_only_the_compute_nodes_of_the_profile_get_it(stack):
    topo = stack("lab")
    placed = place(topo, render_all(topo))
    have = sorted(h for h, roles in placed.items() if "/etc/hfreduce/hfreduce.env" in roles.get("hfreduce", {}))
    assert have == ["cn01", "cn02", "cn03", "cn04"]  # st01, st02, ctl01 share the profile but compute nothing
    assert topo.hfreduce.builds[0].build_host == "cn01"


def test_qos_off_means_sl_0(edited):
    assert env(edited("ff2", lambda d: d["qos"].update(enabled=False)))["HFREDUCE_IB_SL"] == "0"


def test_spec_knobs_reach_the_file(edited):
    def change(d):
        d["hfreduce"].update(nvlink=False, numa_bind=False, threads=3, chunk_size_kib=512, buffer_mib=16, timeout_s=9)
        d["hardware"][PROFILE]["cpu"]["simd"] = "avx512"
        d["hardware"][PROFILE]["nics"][0]["netdev"] = "ib1"

    e = env(edited("ff2", change))
    assert e["HFREDUCE_NVLINK"] == "0" and "HFREDUCE_NUMA_NODE" not in e
    assert (e["HFREDUCE_THREADS"], e["HFREDUCE_CHUNK_SIZE_KIB"], e["HFREDUCE_BUFFER_MIB"]) == ("3", "512", "16")
    assert e["HFREDUCE_TIMEOUT_S"] == "9" and e["HFREDUCE_SIMD"] == "avx512"
    assert e["HFREDUCE_SOCKET_IFNAME"] == "ib1"


def test_nvlink_defaults_to_whether_the_profile_has_pairs(edited, stack):
    topo = edited("small", lambda d: d["hardware"][PROFILE]["gpus"].update(nvlink_pairs=[]))
    assert env(topo)["HFREDUCE_NVLINK"] == "0" and "HFREDUCE_NVLINK_PAIRS" not in env(topo)
    assert not topo.hfreduce.builds[0].nvlink  # and the role builds no pair kernel
    assert stack("small").hfreduce.builds[0].nvlink


def test_without_pci_ids_the_gpus_go_by_cuda_numbers_in_pci_order(edited):
    topo = edited("ff2", lambda d: d["hardware"][PROFILE]["gpus"].update(pci=None))
    e = env(topo)
    assert "HFREDUCE_GPU_PCI" not in e and e["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


def test_nvlink_off_keeps_the_pairs_listed_and_builds_no_pair_kernel(edited):
    topo = edited("ff2", lambda d: d["hfreduce"].update(nvlink=False))
    assert env(topo)["HFREDUCE_NVLINK"] == "0" and env(topo)["HFREDUCE_NVLINK_PAIRS"] == "0-1,2-3,4-5,6-7"
    assert not topo.hfreduce.builds[0].nvlink


def test_the_build_follows_the_profile_hardware(stack):
    (lab,) = stack("lab").hfreduce.builds
    (ff2,) = stack("ff2").hfreduce.builds
    assert (lab.cuda, lab.ibverbs, lab.nvlink) == (False, True, False)
    assert (ff2.cuda, ff2.ibverbs, ff2.nvlink) == (True, True, True)


def test_no_file_and_no_role_when_disabled(edited):
    topo = edited("ff2", lambda d: d["hfreduce"].update(enabled=False))
    assert render_hfreduce(topo) == [] and topo.hfreduce is None
    assert not topo.services.hosts_running("hfreduce")


def test_a_changed_source_is_a_new_build_with_a_new_prefix(stack, tmp_path):
    from ffinfra import assets
    from ffinfra.topology.hfreduce import read_source

    src = assets.asset_dir("hfreduce")
    copy = tmp_path / "hfreduce"
    for rel in read_source(src).files:
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_bytes((src / rel).read_bytes())
    assert read_source(copy) == read_source(src)
    (copy / "csrc" / "comm.cpp").write_text((src / "csrc" / "comm.cpp").read_text() + "\n// changed\n")
    (copy / "build").mkdir()
    (copy / "build" / "junk.o").write_bytes(b"not source")
    assert read_source(copy).digest != read_source(src).digest


def test_a_buffer_smaller_than_a_chunk_is_refused(make_stack, stack_text):
    data = yaml.safe_load(stack_text("lab"))
    data["hfreduce"] = {"buffer_mib": 1, "chunk_size_kib": 4096}
    with pytest.raises(SpecInvalid) as e:
        compile_stack(make_stack(data))
    assert any("must hold at least one chunk" in f.message for f in e.value.findings)
