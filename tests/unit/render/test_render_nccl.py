"""nccl.conf and the NCCL topology XML, per GPU hardware profile (hfreduce.env: test_render_hfreduce.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ffinfra.render.cpus import cpumask, numa_core_range, numa_logical_cpus
from ffinfra.render.nccl import render_nccl
from ffinfra.spec.models import CpuSpec

PROFILE = "gpu-a100-pcie"


def files(topo) -> dict[str, str]:
    return {a.path: a.content for a in render_nccl(topo)}


def env_of(text: str) -> dict[str, str]:
    """KEY=VALUE lines parsed as NCCL does: split at the first '=', first occurrence of a key wins."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        out.setdefault(k, v)
    return out


def nccl_conf(topo, profile: str = PROFILE) -> dict[str, str]:
    return env_of(files(topo)[f"nccl/{profile}/nccl.conf"])


# --------------------------------------------------------------------------------------------- nccl.conf


def test_nccl_conf_on_ff2_has_ib_sl_2_matching_qos(stack):
    topo = stack("ff2")
    assert nccl_conf(topo)["NCCL_IB_SL"] == str(topo.spec.qos.classes.nccl.sl) == "2"


def test_ff2_nccl_conf(stack):
    assert nccl_conf(stack("ff2")) == {
        "NCCL_IB_HCA": "=mlx5_0:1",
        "NCCL_IB_SL": "2",
        "NCCL_IB_PCI_RELAXED_ORDERING": "1",
        "NCCL_IB_ADAPTIVE_ROUTING": "0",
        "NCCL_SOCKET_IFNAME": "=eno1",
        "NCCL_TOPO_FILE": "/etc/nccl/topo.xml",
    }


def test_qos_off_means_sl_0_for_nccl(edited):
    topo = edited("ff2", lambda d: d["qos"].update(enabled=False))
    assert nccl_conf(topo)["NCCL_IB_SL"] == "0"


def test_relaxed_ordering_and_adaptive_routing_follow_the_spec(edited):
    topo = edited("small", lambda d: d.update(nccl={"pci_relaxed_ordering": False, "adaptive_routing": True}))
    conf = nccl_conf(topo)
    assert (conf["NCCL_IB_PCI_RELAXED_ORDERING"], conf["NCCL_IB_ADAPTIVE_ROUTING"]) == ("0", "1")


def test_env_extras_come_sorted_after_and_replace_ffinfras_values(edited):
    topo = edited(
        "small", lambda d: d.update(nccl={"env": {"NCCL_IB_SL": "5", "NCCL_DEBUG": "WARN", "NCCL_ALGO": "Ring"}})
    )
    text = files(topo)[f"nccl/{PROFILE}/nccl.conf"]
    keys = [ln.split("=", 1)[0] for ln in text.splitlines() if not ln.startswith("#")]
    assert len(keys) == len(set(keys)), "NCCL keeps the first of a repeated key: keys must be unique"
    assert keys[-2:] == ["NCCL_ALGO", "NCCL_DEBUG"]
    assert env_of(text)["NCCL_IB_SL"] == "5"


def test_every_ib_port_is_listed_by_exact_name(edited):
    def edit(d):
        d["hardware"]["gpu-a100-pcie"]["nics"] = [
            {"device": "mlx5_0", "kind": "infiniband", "rate_gbps": 200, "numa": 0, "pci": "0000:41:00.0"},
            {"device": "mlx5_1", "kind": "infiniband", "rate_gbps": 200, "numa": 1, "pci": "0000:c1:00.0", "ports": 2},
            {"device": "eno1", "kind": "ethernet", "rate_gbps": 25},
        ]

    assert nccl_conf(edited("small", edit))["NCCL_IB_HCA"] == "=mlx5_0:1,mlx5_1:1,mlx5_1:2"


@pytest.mark.parametrize("name", ["small", "ff2"])
def test_no_comment_line_holds_an_equals_sign(stack, name):
    # Older NCCL releases do not skip '#' lines: a comment with '=' would set a junk variable.
    for path, text in files(stack(name)).items():
        if path.endswith(".conf"):
            assert not [ln for ln in text.splitlines() if ln.startswith("#") and "=" in ln]


def test_no_files_for_profiles_without_gpus(stack):
    assert render_nccl(stack("lab")) == []
    assert {a.path.split("/")[1] for a in render_nccl(stack("ff2"))} == {PROFILE}


def test_the_role_common_installs_them_on_every_host_of_the_profile(stack):
    got = {(a.path, a.roles, a.group, a.dest) for a in render_nccl(stack("ff2"))}
    group = "profile_gpu_a100_pcie"
    assert got == {
        (f"nccl/{PROFILE}/nccl.conf", ("common",), group, "/etc/nccl.conf"),
        (f"nccl/{PROFILE}/topo.xml", ("common",), group, "/etc/nccl/topo.xml"),
    }


# --------------------------------------------------------------------------------------------- topo.xml


def topo_xml(topo) -> ET.Element:
    return ET.fromstring(files(topo)[f"nccl/{PROFILE}/topo.xml"])


def test_topo_xml_is_well_formed_version_1_without_prolog_or_tabs(stack):
    text = files(stack("ff2"))[f"nccl/{PROFILE}/topo.xml"]
    assert "<?xml" not in text
    assert "\t" not in text  # NCCL's parser skips only spaces and newlines between elements
    root = ET.fromstring(text)
    assert root.tag == "system"
    assert root.attrib == {"version": "1"}


def test_topo_xml_one_cpu_per_numa_node_with_its_cores(stack):
    cpus = topo_xml(stack("ff2")).findall("cpu")
    assert [c.attrib["numaid"] for c in cpus] == ["0", "1"]
    assert [c.attrib["affinity"] for c in cpus] == ["00000000,ffffffff", "ffffffff,00000000"]
    assert {c.attrib["arch"] for c in cpus} == {"x86_64"}
    assert {c.attrib["vendor"] for c in cpus} == {"AuthenticAMD"}
    assert all("familyid" not in c.attrib for c in cpus)


def test_topo_xml_gpus_and_hca_sit_on_their_numa_node(stack):
    topo = stack("ff2")
    gpus = topo.spec.hardware[PROFILE].gpus
    cpus = {c.attrib["numaid"]: c for c in topo_xml(topo).findall("cpu")}
    for i, (busid, numa) in enumerate(zip(gpus.pci, gpus.numa, strict=True)):
        (pci,) = [p for p in cpus[str(numa)].findall("pci") if p.attrib["busid"] == busid]
        assert pci.attrib["class"] == "0x030200"
        assert pci.attrib["vendor"] == "0x10de"
        assert pci.attrib["device"] == "0x20f1"
        assert pci.find("gpu").attrib == {"dev": str(i), "sm": "80", "rank": str(i), "gdr": "1"}
    (nic,) = [p for p in cpus["1"].findall("pci") if p.attrib["class"] == "0x020700"]
    assert nic.attrib["busid"] == "0000:c1:00.0"
    assert nic.attrib["device"] == "0x101b"
    net = nic.find("nic/net").attrib
    assert (net["name"], net["dev"], net["speed"], net["port"], net["gdr"]) == ("mlx5_0", "0", "200000", "1", "1")
    assert not [p for p in cpus["0"].findall("pci") if p.attrib["class"].startswith("0x02")]


def test_intel_cpus_carry_family_and_model(edited):
    topo = edited("ff2", lambda d: d["hardware"]["gpu-a100-pcie"]["cpu"].update(vendor="intel"))
    for c in topo_xml(topo).findall("cpu"):
        assert (c.attrib["vendor"], c.attrib["familyid"], c.attrib["modelid"]) == ("GenuineIntel", "6", "106")


def test_no_topo_file_without_gpu_pci_ids(edited):
    topo = edited("small", lambda d: d["hardware"]["gpu-a100-pcie"]["gpus"].pop("pci"))
    assert f"nccl/{PROFILE}/topo.xml" not in files(topo)
    assert "NCCL_TOPO_FILE" not in nccl_conf(topo)


def test_no_topo_file_when_the_spec_turns_it_off(edited):
    topo = edited("small", lambda d: d.update(nccl={"topo_file": False}))
    assert f"nccl/{PROFILE}/topo.xml" not in files(topo)
    assert "NCCL_TOPO_FILE" not in nccl_conf(topo)


def test_cpumask_is_sys_cpumap_form():
    assert cpumask(list(range(32)), 64) == "00000000,ffffffff"
    assert cpumask(list(range(32, 64)), 64) == "ffffffff,00000000"
    assert cpumask([0, 1], 2) == "00000003"
    assert cpumask([40], 64) == "00000100,00000000"


def test_smt_siblings_follow_the_cores_of_their_numa_node():
    cpu = CpuSpec(sockets=2, cores_per_socket=32, threads_per_core=2)
    assert numa_core_range(cpu, 1) == (32, 63)
    assert numa_logical_cpus(cpu, 0) == [*range(32), *range(64, 96)]
    assert cpumask(numa_logical_cpus(cpu, 0), 128) == "00000000,ffffffff,00000000,ffffffff"


def test_nps4_splits_cores_evenly():
    cpu = CpuSpec(sockets=2, cores_per_socket=64, numa_nodes=8)
    assert [numa_core_range(cpu, n) for n in (0, 7)] == [(0, 15), (112, 127)]


def test_rendering_twice_gives_identical_text(stack):
    assert files(stack("ff2")) == files(stack("ff2"))
