"""OS tuning for an RDMA/HPC cluster: one sysctl.d file and one limits.d file, the same on every host."""

from __future__ import annotations

from dataclasses import dataclass

from ffinfra.render.artifact import Artifact
from ffinfra.render.env import header, render
from ffinfra.spec.models import ClusterSpec
from ffinfra.topology.model import Topology
from ffinfra.topology.services import COMMON

SYSCTL_DEST = "/etc/sysctl.d/90-ffinfra.conf"
LIMITS_DEST = "/etc/security/limits.d/90-ffinfra.conf"
NR_OPEN_DEFAULT = 1_048_576  # the kernel's fs.nr_open: no process may raise nofile above it

# ffinfra's defaults: key → (value, why).
DEFAULT_SYSCTL: dict[str, tuple[str, str]] = {
    "fs.aio-max-nr": ("67108864", "3FS storage and fio use many async I/O contexts (3FS deploy guide value)"),
    "vm.zone_reclaim_mode": ("0", "take memory from the other NUMA node rather than reclaim page cache locally"),
    "net.core.rmem_max": ("268435456", "256 MiB socket buffers for TCP bootstrap and IPoIB bulk traffic"),
    "net.core.wmem_max": ("268435456", "256 MiB socket buffers for TCP bootstrap and IPoIB bulk traffic"),
    "net.ipv4.tcp_rmem": ("4096 87380 268435456", "let TCP autotuning grow receive windows to 256 MiB"),
    "net.ipv4.tcp_wmem": ("4096 87380 268435456", "let TCP autotuning grow send windows to 256 MiB"),
    "net.core.netdev_max_backlog": ("250000", "room for packet bursts on 25-200 Gb/s NICs before drops"),
    "kernel.numa_balancing": ("0", "no page migration under pinned, NUMA-bound GPU and RDMA buffers"),
    "vm.max_map_count": ("1048576", "large training jobs and 3FS map many regions"),
}


@dataclass(frozen=True, slots=True)
class SysctlLine:
    key: str
    value: str
    why: str


def _nofile_nr_open(spec: ClusterSpec) -> dict[str, tuple[str, str]]:
    if spec.os.nofile <= NR_OPEN_DEFAULT:
        return {}
    return {"fs.nr_open": (str(spec.os.nofile), "os.nofile is above the kernel's default fs.nr_open")}


def sysctl_lines(spec: ClusterSpec) -> list[SysctlLine]:
    """ffinfra's settings with the spec's os.sysctl on top (the spec wins), sorted by key."""
    merged = {k: SysctlLine(k, v, why) for k, (v, why) in {**DEFAULT_SYSCTL, **_nofile_nr_open(spec)}.items()}
    for key, value in spec.os.sysctl.items():
        why = "set by the spec" + (f" (ffinfra's value: {merged[key].value})" if key in merged else "")
        merged[key] = SysctlLine(key, str(value), why)
    return [merged[k] for k in sorted(merged)]


def sysctl_settings(spec: ClusterSpec) -> dict[str, str]:
    """The merged sysctl settings as key → value, sorted by key (what sysctl.conf and group_vars both carry)."""
    return {line.key: line.value for line in sysctl_lines(spec)}


def render_ostune(topo: Topology) -> list[Artifact]:
    spec = topo.spec
    hdr = header("#", topo.name)
    return [
        Artifact(
            "os/sysctl.conf",
            render("os/sysctl.conf.j2", hdr=hdr, lines=sysctl_lines(spec)),
            "os",
            SYSCTL_DEST,
            COMMON,
        ),
        Artifact(
            "os/limits.conf",
            render("os/limits.conf.j2", hdr=hdr, nofile=spec.os.nofile, memlock=spec.os.memlock),
            "os",
            LIMITS_DEST,
            COMMON,
        ),
    ]
