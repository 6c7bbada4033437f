"""HFReduce: Fire-Flyer-style allreduce for PCIe GPU nodes and CPU nodes.

Every rank of a job makes a Communicator (collectively) and calls allreduce() on a contiguous float32, float16 or
bfloat16 array or tensor, which is summed over all ranks in place. Within a node the ranks' buffers meet in shared
memory and are summed on the CPU with SIMD; between nodes each node's leader allreduces over a double binary tree.

Settings come from the arguments, else from the environment (``/etc/hfreduce/hfreduce.env``, which ffinfra
renders per hardware profile; see ``settings_from_env``), else the library's defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from hfreduce import _core
from hfreduce._core import HFReduceError

__all__ = ["Communicator", "HFReduceError", "Settings", "build_info", "parse_pairs", "settings_from_env"]

ENV_FILE = "/etc/hfreduce/hfreduce.env"


@dataclass(frozen=True)
class Settings:
    """Tuning of one process; each field's variable is in ENV_VARS."""

    timeout_s: float = 300.0
    chunk_kib: int = 4096
    buffer_mib: int = 64
    threads: int = 0  # 0: the node's CPUs shared among its ranks
    numa_node: int = -1  # -1: no binding
    simd: str = ""  # a ceiling; "" = the best the CPU and build have
    ifname: str = ""
    socket_buffer_kib: int = 0  # 0: the kernel's autotuning (net.ipv4.tcp_rmem/wmem)
    single_copy: bool = True  # read the node's other ranks' buffers directly; False: copy through shared memory
    transport: str = "auto"  # between nodes: auto (ibverbs where every node leader has RDMA), tcp, ibverbs
    ib_hca: str = ""  # the RDMA device (first of a comma list); "" = the first
    ib_sl: int = 0  # the service level of HFReduce's traffic class
    ib_gid_index: int = 0  # RoCE: the GID to address by
    root_ports: str = ""  # PCIe root port of each GPU by index, "0,1,2,3,4,5,5,6": GPUs sharing one copy in turn
    nvlink: bool = True  # sum NVLink-paired GPUs over the bridge first, where pairs are given and the build can
    nvlink_pairs: str = ""  # GPU indexes joined by NVLink Bridges, "0-1,2-3,4-5,6-7"
    gpu_pci: str = ""  # PCI bus id of each GPU by index: how a rank's GPU is told apart; "" = CUDA's device numbers
    node: str = ""  # node name; "" = hostname (tests set it to put many "nodes" on one host)


ENV_VARS = {
    "timeout_s": "HFREDUCE_TIMEOUT_S",
    "chunk_kib": "HFREDUCE_CHUNK_SIZE_KIB",
    "buffer_mib": "HFREDUCE_BUFFER_MIB",
    "threads": "HFREDUCE_THREADS",
    "numa_node": "HFREDUCE_NUMA_NODE",
    "simd": "HFREDUCE_SIMD",
    "ifname": "HFREDUCE_SOCKET_IFNAME",
    "socket_buffer_kib": "HFREDUCE_SOCKET_BUFFER_KIB",
    "single_copy": "HFREDUCE_SINGLE_COPY",
    "transport": "HFREDUCE_TRANSPORT",
    "ib_hca": "HFREDUCE_IB_HCA",
    "ib_sl": "HFREDUCE_IB_SL",
    "ib_gid_index": "HFREDUCE_IB_GID_INDEX",
    "root_ports": "HFREDUCE_ROOT_PORTS",
    "nvlink": "HFREDUCE_NVLINK",
    "nvlink_pairs": "HFREDUCE_NVLINK_PAIRS",
    "gpu_pci": "HFREDUCE_GPU_PCI",
    "node": "HFREDUCE_NODE",
}


_BOOLS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def settings_from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from HFREDUCE_* variables, then `overrides` (None values ignored). A bad value is an error."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = env.get(ENV_VARS[f.name])
        if raw is None or raw == "":
            continue
        kind = type(f.default)
        try:
            values[f.name] = _BOOLS[raw.lower()] if kind is bool else kind(raw)
        except (ValueError, KeyError):
            want = "0 or 1" if kind is bool else f"a valid {kind.__name__}"
            raise HFReduceError(f"{ENV_VARS[f.name]}={raw!r}: expected {want}") from None
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)


def build_info() -> dict[str, Any]:
    """What this build of HFReduce is and can do: version, source digest (set by ffinfra's hfreduce role), SIMD
    levels compiled in and the best this CPU runs, transports, the GPU path (CUDA) and its NVLink pair kernel."""
    return {
        "version": _core.version(),
        "source": _core.source(),
        "simd_compiled": list(_core.simd_compiled()),
        "simd_best": _core.simd_best(),
        "transports": list(_core.transports()),
        "cuda": bool(_core.cuda()),
        "nvlink": bool(_core.nvlink()),
    }


def parse_pairs(text: str) -> list[tuple[int, int]]:
    """ "0-1,2-3" -> [(0, 1), (2, 3)]: HFREDUCE_NVLINK_PAIRS, as ffinfra renders it from gpus.nvlink_pairs."""
    pairs = []
    for item in filter(None, (x.strip() for x in text.split(","))):
        a, sep, b = item.partition("-")
        if not (sep and a.strip().isdigit() and b.strip().isdigit()) or int(a) == int(b):
            raise HFReduceError(f"HFREDUCE_NVLINK_PAIRS={text!r}: expected GPU index pairs like '0-1,2-3'")
        pairs.append((int(a), int(b)))
    return pairs


class Communicator:
    """One per process. Collective: every rank of the job constructs it, with the same `world_size` and `root`."""

    def __init__(self, rank: int, world_size: int, root: str, settings: Settings | None = None) -> None:
        s = settings or settings_from_env()
        host, sep, port = root.rpartition(":")
        if not sep or not port.isdigit():
            raise HFReduceError(f"root {root!r} is not host:port")
        c = _core.Config()
        c.rank, c.world = rank, world_size
        c.root_host, c.root_port = host, int(port)
        c.node = s.node
        c.timeout_s = s.timeout_s
        c.chunk_bytes = s.chunk_kib * 1024
        c.buffer_bytes = max(s.buffer_mib * 1024 * 1024, c.chunk_bytes)
        c.threads = s.threads
        c.numa_node = s.numa_node
        c.simd = s.simd
        c.ifname = s.ifname
        c.socket_buffer_bytes = s.socket_buffer_kib * 1024
        c.single_copy = s.single_copy
        c.transport = s.transport
        c.ib_hca = s.ib_hca
        c.ib_sl = s.ib_sl
        c.ib_gid_index = s.ib_gid_index
        try:
            c.root_ports = [int(x) for x in s.root_ports.split(",")] if s.root_ports else []
        except ValueError:
            raise HFReduceError(f"HFREDUCE_ROOT_PORTS={s.root_ports!r}: expected integers, comma-separated") from None
        c.nvlink = s.nvlink
        c.nvlink_pairs = parse_pairs(s.nvlink_pairs)
        c.gpu_pci = [x.strip() for x in s.gpu_pci.split(",") if x.strip()]
        self.settings = s
        self._comm = _core.Communicator(c)

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> Communicator:
        """The job's rank and size from RANK and WORLD_SIZE (torchrun), else SLURM_PROCID and SLURM_NTASKS (srun);
        the root from HFREDUCE_ROOT, else MASTER_ADDR and HFREDUCE_PORT (default: MASTER_PORT + 1)."""
        env = os.environ
        rank = env.get("RANK") or env.get("SLURM_PROCID")
        world = env.get("WORLD_SIZE") or env.get("SLURM_NTASKS")
        if rank is None or world is None:
            raise HFReduceError(
                "neither RANK/WORLD_SIZE nor SLURM_PROCID/SLURM_NTASKS is set: cannot tell this process's rank"
            )
        root = env.get("HFREDUCE_ROOT")
        if not root:
            if "MASTER_ADDR" not in env:
                raise HFReduceError("neither HFREDUCE_ROOT nor MASTER_ADDR is set: cannot find rank 0")
            port = env.get("HFREDUCE_PORT") or str(int(env.get("MASTER_PORT", "29500")) + 1)
            root = f"{env['MASTER_ADDR']}:{port}"
        return cls(int(rank), int(world), root, settings)

    def allreduce(
        self, array: Any, dtype: str | None = None, part: tuple[int, int] | None = None, synchronize: bool = True
    ) -> Any:
        """Sums `array` over all ranks, in place, and returns it: host memory, or a CUDA GPU's where this build has
        the GPU path (build_info()["cuda"]). `dtype` names the format of raw 16-bit data ("bfloat16" for NumPy
        uint16 arrays holding bfloat16 bits). `part=(lo, hi)` (host memory): this rank contributes only elements
        lo..hi-1, the rest counting as zero; every rank still receives the whole sum. It is how an NVLink pair's
        halves meet the node's other buffers.

        A PyTorch CUDA tensor is read once the work queued on the caller's current stream is done (synchronize=False:
        the caller has seen to it), and holds the sum when the call returns."""
        if synchronize and getattr(array, "is_cuda", False):
            import torch

            torch.cuda.current_stream(array.device).synchronize()
        self._comm.allreduce(array, dtype or "", part)
        return array

    def __getattr__(self, name: str) -> Any:  # rank, world, nodes, node_index, local_rank, local_size, simd, ...
        return getattr(self._comm, name)
