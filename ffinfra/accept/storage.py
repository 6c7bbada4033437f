"""Where and how the storage suite runs fio.

With 3FS mounted on the compute nodes (at the stack's mountpoint, topology/threefs.py), fio runs on each
client against the mount and is judged on the 3FS per-client pass mark. Until 3FS is deployed (and in the lab),
fio runs on each storage node in `acceptance.fio_directory`, judged on `fio_read_gbyte` / `fio_write_gbyte`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


@dataclass(frozen=True)
class StoragePlan:
    mode: str  # "3fs" | "local"
    hosts: tuple[str, ...]
    directory: str  # per host: f"{directory}/ffinfra-fio-{host}" on 3FS, the directory itself locally
    read_metric: str
    write_metric: str


def storage_plan(cluster) -> StoragePlan:
    topo = cluster.topo
    compute = [h.name for h in topo.hosts_with_role("compute")]
    if topo.threefs is not None and compute:
        mount = topo.threefs.mountpoint
        if cluster.sh(compute[0], f"mountpoint -q {shlex.quote(mount)}").ok:
            return StoragePlan("3fs", tuple(compute), mount, "storage_read_per_client", "fio_write")
    storage = tuple(h.name for h in topo.hosts_with_role("storage"))
    return StoragePlan("local", storage, topo.spec.acceptance.fio_directory, "fio_read", "fio_write")


def fio_command(directory: str, rw: str, size_mb: int, name: str) -> str:
    """Sequential 1 MiB I/O with O_DIRECT (the page cache would flatter reads), one JSON document out."""
    return (
        f"mkdir -p {shlex.quote(directory)} && fio --name={name} --directory={shlex.quote(directory)} "
        f"--rw={rw} --bs=1M --size={size_mb}M --direct=1 --ioengine=libaio --iodepth=16 --numjobs=1 "
        "--end_fsync=1 --output-format=json"
    )
