"""NCCL per GPU hardware profile: /etc/nccl.conf and an NCCL topology XML.

Both go to every host of the profile (inventory group profile_<name>), since what they describe is the board:
which HCAs to use, which NUMA node each GPU and HCA hangs off, which SL each traffic class uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffinfra.render.artifact import Artifact
from ffinfra.render.cpus import cpumask, gpu_numa, numa_logical_cpus
from ffinfra.render.env import header, render
from ffinfra.spec.models import HardwareProfile
from ffinfra.topology.model import Topology
from ffinfra.topology.services import COMMON, profile_group

NCCL_CONF = "/etc/nccl.conf"
TOPO_XML = "/etc/nccl/topo.xml"

CPU_VENDOR = {"amd": "AuthenticAMD", "intel": "GenuineIntel"}
# PCI device ids of GPU models ffinfra knows. NCCL takes vendor/device from the file only when present and
# detects them otherwise, so an unknown model simply leaves `device` out.
GPU_DEVICE_ID = {
    "A100-PCIE-40GB": "0x20f1",
    "A100-PCIE-80GB": "0x20b5",
    "A100-SXM4-40GB": "0x20b0",
    "A100-SXM4-80GB": "0x20b2",
    "H100-PCIE": "0x2331",
    "H100-SXM5-80GB": "0x2330",
}
# ConnectX generation by HCA rate: HDR/200G is ConnectX-6, NDR/400G ConnectX-7. Others: left for NCCL to detect.
NIC_DEVICE_ID = {200: "0x101b", 400: "0x1021"}
NIC_PCIE = {400: "32.0 GT/s PCIe"}  # ConnectX-7 is PCIe Gen5; the others here Gen4


def profiles_with_gpus_and_ib(topo: Topology) -> list[str]:
    """Profiles that some host uses, with GPUs and an IB HCA, in spec order."""
    used = {h.profile_name for h in topo.hosts}
    return [n for n, p in topo.spec.hardware.items() if n in used and p.gpus is not None and p.ib_nics]


def ib_hca_list(prof: HardwareProfile) -> str:
    """Every IB port as device:port, e.g. mlx5_0:1,mlx5_1:1."""
    return ",".join(f"{n.device}:{p}" for n in prof.ib_nics for p in range(1, n.ports + 1))


def class_sl(topo: Topology, traffic_class: str) -> int:
    """The SL a traffic class sets in its QPs; 0 when QoS is off (OpenSM then maps every SL to VL0 anyway)."""
    qos = topo.spec.qos
    return getattr(qos.classes, traffic_class).sl if qos.enabled else 0


def has_topo_file(topo: Topology, prof: HardwareProfile) -> bool:
    return topo.spec.nccl.topo_file and prof.gpus is not None and prof.gpus.pci is not None


def nccl_env(topo: Topology, prof: HardwareProfile) -> dict[str, str]:
    """NCCL variables in file order: ffinfra's, then nccl.env extras sorted (an extra replaces ffinfra's value).

    NCCL sets each line with setenv(..., overwrite=0): a variable already in the environment wins, and the first
    line of a key wins over later ones, so keys must be unique.
    """
    spec = topo.spec
    env = {
        "NCCL_IB_HCA": "=" + ib_hca_list(prof),  # leading '=': exact device names, not prefixes
        "NCCL_IB_SL": str(class_sl(topo, "nccl")),
        "NCCL_IB_PCI_RELAXED_ORDERING": "1" if spec.nccl.pci_relaxed_ordering else "0",
        "NCCL_IB_ADAPTIVE_ROUTING": "1" if spec.nccl.adaptive_routing else "0",
        "NCCL_SOCKET_IFNAME": "=" + spec.network.management_interface,
    }
    if has_topo_file(topo, prof):
        env["NCCL_TOPO_FILE"] = TOPO_XML
    for key in sorted(spec.nccl.env):
        env[key] = spec.nccl.env[key]
    return env


@dataclass(frozen=True, slots=True)
class XmlGpu:
    index: int
    busid: str
    device: str
    link_speed: str
    sm: int


@dataclass(frozen=True, slots=True)
class XmlNet:
    name: str
    dev: int
    port: int
    speed: int  # Mb/s


@dataclass(frozen=True, slots=True)
class XmlNic:
    busid: str
    device: str
    link_speed: str
    nets: tuple[XmlNet, ...]


@dataclass(frozen=True, slots=True)
class XmlCpu:
    numaid: int
    affinity: str
    gpus: tuple[XmlGpu, ...]
    nics: tuple[XmlNic, ...]


def topo_cpus(prof: HardwareProfile) -> list[XmlCpu]:
    """One <cpu> per NUMA node, holding the GPUs and IB HCAs with a PCI address on that node."""
    gpus = prof.gpus
    assert gpus is not None and gpus.pci is not None
    cpu = prof.cpu
    numa = gpu_numa(cpu, gpus)
    sm = round(float(gpus.compute_capability) * 10)
    gpu_speed = "32.0 GT/s PCIe" if sm >= 90 else "16.0 GT/s PCIe"  # Hopper is PCIe Gen5, Ampere Gen4
    dev = 0
    nics: list[tuple[int, XmlNic]] = []
    for n in prof.ib_nics:
        nets = tuple(XmlNet(n.device, dev + p, p + 1, n.rate_gbps * 1000) for p in range(n.ports))
        dev += n.ports
        if n.pci:
            speed = NIC_PCIE.get(n.rate_gbps, "16.0 GT/s PCIe")
            nics.append((n.numa, XmlNic(n.pci, NIC_DEVICE_ID.get(n.rate_gbps, ""), speed, nets)))
    total = cpu.cores * cpu.threads_per_core
    out = []
    for node in range(cpu.numa):
        node_gpus = tuple(
            XmlGpu(i, gpus.pci[i].lower(), GPU_DEVICE_ID.get(gpus.model, ""), gpu_speed, sm)
            for i in range(gpus.count)
            if numa[i] == node
        )
        node_nics = tuple(x for nn, x in nics if nn == node)
        out.append(XmlCpu(node, cpumask(numa_logical_cpus(cpu, node), total), node_gpus, node_nics))
    return out


def render_nccl(topo: Topology) -> list[Artifact]:
    spec = topo.spec
    out: list[Artifact] = []
    for pname in profiles_with_gpus_and_ib(topo):
        prof = spec.hardware[pname]
        group = profile_group(pname)
        hdr = header("#", topo.name)
        out.append(
            Artifact(
                f"nccl/{pname}/nccl.conf",
                render("nccl/nccl.conf.j2", hdr=hdr, profile=pname, env=nccl_env(topo, prof)),
                "nccl",
                NCCL_CONF,
                COMMON,
                group,
            )
        )
        if has_topo_file(topo, prof):
            assert prof.gpus is not None
            out.append(
                Artifact(
                    f"nccl/{pname}/topo.xml",
                    render(
                        "nccl/topo.xml.j2",
                        hdr=header("<!--", topo.name) + " -->",
                        profile=pname,
                        cpus=topo_cpus(prof),
                        arch="arm64" if prof.cpu.vendor == "arm" else "x86_64",
                        vendor=CPU_VENDOR.get(prof.cpu.vendor, ""),
                    ),
                    "nccl",
                    TOPO_XML,
                    COMMON,
                    group,
                )
            )
    return out
