"""What the storage suite expects of a running 3FS, from the compiler's layout: which service each host registers
with mgmtd, which chains must serve, and the commands that ask (admin_cli through the wrapper the threefs_common
role installs, which adds the admin token) and that try the FUSE mount."""

from __future__ import annotations

import shlex

from ffinfra.topology.chains import ChainTable
from ffinfra.topology.threefs import ADMIN_CLI, ThreeFsLayout

__all__ = ["ADMIN_CLI", "expected_chains", "expected_nodes", "mount_check_command"]
# 3FS's services stop at start-up without RDMA verbs devices, and mgmtd and meta without FoundationDB: on a
# simulated fabric the roles install the files and start nothing, and these tests say so instead of judging.
NOT_ON_A_SIMULATED_FABRIC = (
    "3FS needs RDMA verbs devices and a FoundationDB cluster, which a simulated fabric does not have: its files are "
    "installed, its services are not started (docs/threefs.md)"
)


def expected_nodes(layout: ThreeFsLayout) -> dict[str, set[str]]:
    """hostname → the node types (list-nodes' Type) it must have registered and connected."""
    out: dict[str, set[str]] = {}
    for kind, nodes in (("MGMTD", layout.mgmtd), ("META", layout.meta), ("STORAGE", layout.storage)):
        for n in nodes:
            out.setdefault(n.host, set()).add(kind)
    return out


def expected_chains(table: ChainTable | None) -> set[int]:
    return {c.chain_id for c in table.chains} if table else set()


def mount_check_command(mountpoint: str, host: str) -> str:
    """On a FUSE host: the mount is 3FS's, a file written through it reads back the same, and it is removed."""
    probe = shlex.quote(f"{mountpoint}/.ffinfra-acceptance-{host}")
    mp = shlex.quote(mountpoint)
    return (
        f"findmnt -n -o FSTYPE --target {mp} | grep -q hf3fs || {{ echo 'not a 3FS mount: {mountpoint}'; exit 3; }}; "
        f"head -c 4194304 /dev/urandom > /tmp/.ffinfra-3fs-probe && cp /tmp/.ffinfra-3fs-probe {probe} && sync && "
        f"cmp /tmp/.ffinfra-3fs-probe {probe}; rc=$?; rm -f {probe} /tmp/.ffinfra-3fs-probe; exit $rc"
    )
