"""CPU and GPU placement facts shared by the Slurm (gres.conf) and NCCL (topo.xml) renderers.

The spec does not list which cores belong to which NUMA node; ffinfra assumes the usual Linux numbering on
x86 servers: cores are numbered NUMA node by NUMA node (node n owns cores n*C/N .. (n+1)*C/N-1 of C cores in
N nodes), and with SMT the second hardware thread of core c is logical CPU c + C (the third c + 2C, ...).
"""

from __future__ import annotations

from ffinfra.spec.models import CpuSpec, GpuSpec


def numa_core_range(cpu: CpuSpec, node: int) -> tuple[int, int]:
    """First and last core index (Slurm's Cores= numbering, one per physical core) of NUMA node `node`."""
    n, c = cpu.numa, cpu.cores
    return node * c // n, (node + 1) * c // n - 1


def numa_logical_cpus(cpu: CpuSpec, node: int) -> list[int]:
    """Logical CPU ids (what /sys cpumap and sched_setaffinity count) of NUMA node `node`, all threads."""
    lo, hi = numa_core_range(cpu, node)
    return [t * cpu.cores + core for t in range(cpu.threads_per_core) for core in range(lo, hi + 1)]


def cpumask(cpus: list[int], total: int) -> str:
    """A /sys cpumap string: comma-separated 32-bit hex words, most significant first (e.g. 00000000,ffffffff)."""
    mask = 0
    for i in cpus:
        mask |= 1 << i
    words = max(1, -(-total // 32))
    return ",".join(f"{(mask >> (32 * w)) & 0xFFFFFFFF:08x}" for w in reversed(range(words)))


def gpu_numa(cpu: CpuSpec, gpus: GpuSpec) -> list[int]:
    """NUMA node of each GPU: as the spec gives it, or GPUs split evenly over the nodes in index order."""
    if gpus.numa is not None:
        return list(gpus.numa)
    return [i * cpu.numa // gpus.count for i in range(gpus.count)]
