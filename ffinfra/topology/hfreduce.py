"""HFReduce, decided once: for each hardware profile of the compute nodes, which host builds the library (the first
of them: the profile's nodes are identical, so one build serves all), which hosts install it, and every setting
its hfreduce.env gives the jobs, from the profile and the spec.

    layout = decide_hfreduce(spec, hosts, source)     → None when hfreduce.enabled is false or no compute node
    layout.builds[0].build_host                       → "cn01"
    layout.builds[0].env["HFREDUCE_SIMD"]             → "avx512"

The library's source is ffinfra's own hfreduce/ folder; its digest names the build, so a changed source is a new
build (and a changed hfreduce.env: `ffinfra plan` shows it). The hfreduce role builds exactly what the env file
describes and checks the installed library reports the same before it installs the file.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ffinfra.spec.models import ClusterSpec, HardwareProfile
from ffinfra.topology.model import Host

PREFIX_ROOT = "/opt/hfreduce"
ENV_PATH = "/etc/hfreduce/hfreduce.env"
# What a build is made of: everything else in the folder (build trees, caches) is not source.
SOURCE_GLOBS = ("pyproject.toml", "CMakeLists.txt", "csrc/*.cpp", "csrc/*.cu", "csrc/*.hpp", "src/hfreduce/*.py")
DEFAULT_SIMD = {"amd": "avx2", "intel": "avx2", "arm": "generic"}  # Rome/Milan and Skylake-era nodes: AVX2


@dataclass(frozen=True)
class Source:
    version: str
    digest: str  # sha256 over the source files' paths and bytes
    files: tuple[str, ...]  # relative paths, sorted: what the role copies to the build host

    @property
    def short(self) -> str:
        return self.digest[:12]


@dataclass(frozen=True)
class ProfileBuild:
    profile: str
    build_host: str
    hosts: tuple[str, ...]  # every compute node of the profile (the build host first)
    simd: str
    prefix: str  # where the build is installed on each host
    cuda: bool  # the GPU path: the profile has GPUs
    ibverbs: bool  # the RDMA transport: the profile has InfiniBand HCAs
    nvlink: bool  # the NVLink pair kernel: hfreduce.nvlink, by default whether the profile declares pairs
    env: dict[str, str] = field(hash=False)  # hfreduce.env, in order


@dataclass(frozen=True)
class HfreduceLayout:
    source: Source
    builds: tuple[ProfileBuild, ...]

    def build_of(self, host: str) -> ProfileBuild | None:
        return next((b for b in self.builds if host in b.hosts), None)


def read_source(folder: Path) -> Source:
    """The version (pyproject.toml) and digest of the HFReduce source folder."""
    files = sorted({p.relative_to(folder).as_posix() for g in SOURCE_GLOBS for p in folder.glob(g) if p.is_file()})
    h = hashlib.sha256()
    for rel in files:
        h.update(rel.encode() + b"\0" + (folder / rel).read_bytes() + b"\0")
    m = re.search(r'^version\s*=\s*"([^"]+)"', (folder / "pyproject.toml").read_text(), re.M)
    return Source(m.group(1) if m else "0", h.hexdigest(), tuple(files))


def simd_level(prof: HardwareProfile) -> str:
    return prof.cpu.simd or DEFAULT_SIMD[prof.cpu.vendor]


def reduce_threads(spec: ClusterSpec, prof: HardwareProfile) -> int:
    """Reduce threads per rank: the cores of the NIC's NUMA node shared by the GPUs (ranks) there; 0 on CPU-only
    nodes (the library shares the node's CPUs among however many ranks the job starts)."""
    if spec.hfreduce.threads is not None:
        return spec.hfreduce.threads
    if prof.gpus is None:
        return 0
    cores_per_numa = max(1, prof.cpu.cores // prof.cpu.numa)
    gpus_per_numa = max(1, prof.gpus.count // prof.cpu.numa)
    return max(1, cores_per_numa // gpus_per_numa)


def uses_nvlink(spec: ClusterSpec, prof: HardwareProfile) -> bool:
    """The NVLink-pair variant: where the profile declares pairs, unless hfreduce.nvlink turns it off (a spec that
    asks for it on a profile without pairs is refused by the checks)."""
    if prof.gpus is None or not prof.gpus.nvlink_pairs:
        return False
    return spec.hfreduce.nvlink is not False


def profile_env(spec: ClusterSpec, prof: HardwareProfile, source: Source, prefix: str, sl: int) -> dict[str, str]:
    hf = spec.hfreduce
    gpus = prof.gpus
    env = {
        # the library installed: what the role built, and checked
        "HFREDUCE_VERSION": source.version,
        "HFREDUCE_SOURCE": source.short,
        "HFREDUCE_PREFIX": prefix,
        "HFREDUCE_PYTHONPATH": f"{prefix}/python",
        "HFREDUCE_SIMD": simd_level(prof),
        # tuning
        "HFREDUCE_THREADS": str(reduce_threads(spec, prof)),
        "HFREDUCE_CHUNK_SIZE_KIB": str(hf.chunk_size_kib),
        "HFREDUCE_BUFFER_MIB": str(hf.buffer_mib),
        "HFREDUCE_TIMEOUT_S": str(hf.timeout_s),
    }
    ib = prof.ib_nics
    if hf.numa_bind and ib:
        env["HFREDUCE_NUMA_NODE"] = str(ib[0].numa)
    if ib and ib[0].netdev:  # TCP over this interface (IPoIB); unset: the interface that reaches rank 0
        env["HFREDUCE_SOCKET_IFNAME"] = ib[0].netdev
    if ib:
        env["HFREDUCE_IB_HCA"] = ",".join(n.device for n in ib)
        env["HFREDUCE_IB_SL"] = str(sl)
    if gpus:
        # GPU indexes (pairs, root ports) are nvidia-smi's: by PCI bus id where the profile lists them, else CUDA's
        # device numbers in PCI order
        env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        if gpus.pci:
            env["HFREDUCE_GPU_PCI"] = ",".join(gpus.pci)
        # the NVLink-pair variant (paper §IV-C): on or off, and the bridged pairs the library pairs ranks by
        env["HFREDUCE_NVLINK"] = "1" if uses_nvlink(spec, prof) else "0"
        if gpus.nvlink_pairs:
            env["HFREDUCE_NVLINK_PAIRS"] = ",".join(f"{a}-{b}" for a, b in gpus.nvlink_pairs)
        if gpus.root_ports:  # GPUs behind one PCIe root port copy to the host in turn (paper §IV-D3)
            env["HFREDUCE_ROOT_PORTS"] = ",".join(str(p) for p in gpus.root_ports)
    return env


def decide_hfreduce(spec: ClusterSpec, hosts: Iterable[Host], source: Source) -> HfreduceLayout | None:
    if not spec.hfreduce.enabled:
        return None
    by_profile: dict[str, list[str]] = {}
    for h in hosts:
        if h.role == "compute":
            by_profile.setdefault(h.profile_name, []).append(h.name)
    if not by_profile:
        return None
    sl = spec.qos.classes.hfreduce.sl if spec.qos.enabled else 0  # QoS off: OpenSM maps every SL to VL0
    builds = []
    for name, members in by_profile.items():  # spec order of the first host of each profile
        prof = spec.hardware[name]
        prefix = f"{PREFIX_ROOT}/{source.short}-{simd_level(prof)}"
        builds.append(
            ProfileBuild(
                profile=name,
                build_host=members[0],
                hosts=tuple(members),
                simd=simd_level(prof),
                prefix=prefix,
                cuda=prof.gpus is not None,
                ibverbs=bool(prof.ib_nics),
                nvlink=uses_nvlink(spec, prof),
                env=profile_env(spec, prof, source, prefix, sl),
            )
        )
    return HfreduceLayout(source, tuple(builds))
