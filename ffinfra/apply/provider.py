"""Where nodes come from. A provider creates the stack's nodes, says how to reach each one over SSH, reports
their status and destroys them.

    lab          every node is a set of namespaces with an overlay root on this machine (ffinfra/apply/lab/)
    baremetal    servers powered on through their BMCs and network-booted from this machine (apply/baremetal/)

Everything above the provider (render, Ansible, the checks) sees only NodeSpec in and Endpoint out; commands on
a node go over SSH (ffinfra.runtime.ssh), never through the provider. apply/providers.py picks one by name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from ffinfra.errors import UserError
from ffinfra.runtime.ssh import Endpoint
from ffinfra.topology.model import Topology


@dataclass(frozen=True)
class NodeSpec:
    """One node the provider must bring into being: name, role and its management address."""

    name: str
    role: str
    group: str
    address: str  # management IPv4
    prefixlen: int
    interface: str = "eth0"


@dataclass
class NodeStatus:
    name: str
    state: str  # running | stopped | broken
    address: str = ""
    pid: int | None = None
    services: list[str] = field(default_factory=list)  # daemons seen running on the node
    detail: str = ""


# Progress callback: (host, phase-local status word, detail)
Progress = Callable[[str, str, str], None]


def quiet(host: str, status: str, detail: str) -> None:
    """A Progress that reports nothing."""


@runtime_checkable
class Provider(Protocol):
    name: str

    def create(
        self, nodes: Sequence[NodeSpec], secrets_dir: Path, on_progress: Progress = quiet, *, prune: bool = True
    ) -> dict[str, Endpoint]:
        """Make every node exist and accept key-only SSH with its own host key. Idempotent: nodes that are
        already healthy are kept as they are; broken or half-made ones are made again. prune: nodes this provider
        made that are not in `nodes` go (`up` passes the whole spec); without it they are left as they are (the
        Pulumi engine makes one node per resource)."""
        ...

    def remove(self, names: Sequence[str], on_progress: Progress = quiet) -> list[str]:
        """Power these nodes off and forget them, leaving the others as they are; returns the names removed."""
        ...

    def destroy(self, on_progress: Progress = quiet) -> list[str]:
        """Remove every node this provider made for the stack; returns their names. Leaves nothing behind."""
        ...

    def preflight(self) -> None:
        """Raise a clear error when this machine cannot run the provider (before anything is touched)."""
        ...

    def status(self) -> dict[str, NodeStatus]: ...

    def access(self) -> dict[str, Endpoint]:
        """How to reach the nodes that exist now (without creating anything)."""
        ...

    def reboot(self, host: str) -> None:
        """Reboot one node (its init stops every service, then it boots again on the same disk); returns once it
        runs again. What the roles enabled comes back by itself."""
        ...

    def configured(self, hosts: Sequence[str]) -> None:
        """`up` applied every role to these nodes (bare metal records it in each node's lifecycle)."""
        ...

    def leftovers(self) -> list[str]:
        """What of the stack still exists after `destroy` (must be nothing)."""
        ...


def nodes_from_topology(topo: Topology) -> list[NodeSpec]:
    mgmt = topo.spec.network.management
    net = ipaddress.ip_network(mgmt.cidr)
    iface = topo.spec.network.management_interface or "eth0"
    return [NodeSpec(h.name, h.role, h.group, h.mgmt_ip, net.prefixlen, iface) for h in topo.hosts]


def gateway_address(topo: Topology) -> str:
    """The management network's gateway: the spec's, or the last host address of the network. In the lab it is
    the switch namespace's bridge address and goes nowhere (a dead end that makes ansible_default_ipv4 exist)."""
    mgmt = topo.spec.network.management
    if mgmt.gateway:
        return str(mgmt.gateway)
    net = ipaddress.ip_network(mgmt.cidr)
    used = {h.mgmt_ip for h in topo.hosts}
    for addr in reversed(list(net.hosts())[-16:]):
        if str(addr) not in used:
            return str(addr)
    raise UserError(f"management network {net} has no free address left for the lab's switch")
