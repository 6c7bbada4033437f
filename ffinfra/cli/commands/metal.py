"""Bare-metal commands: provision (power on and network-boot the nodes) and power (through the nodes' BMCs)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from ffinfra.cli import console
from ffinfra.cli.options import StackArg, SuppressOpt, compile_arg

NodesOpt = Annotated[
    str | None, typer.Option("--nodes", "-n", help="a hostlist of the stack's nodes, e.g. cn[01-04]; default all")
]


def _progress(host: str, status: str, detail: str) -> None:
    console.out.print(f"{host:12} {status:12} {detail}".rstrip(), markup=False)


def provision(
    stack: StackArg = None,
    nodes: NodesOpt = None,
    reinstall: Annotated[
        bool,
        typer.Option("--reinstall", help="mode install: install these nodes again (their disks are wiped)"),
    ] = False,
    suppress: SuppressOpt = None,
):
    """Power on and network-boot a bare-metal stack's nodes until each answers SSH with its pinned host key.

    Through each node's BMC (inventory CSV: bmc_address as redfish://, redfish+http:// or ipmi://, and the boot
    mac) ffinfra sets a one-time network boot and powers it on; dnsmasq on this machine gives it its reserved
    address, iPXE fetches ffinfra's node image over HTTP, the node reports and ffinfra logs in. Each node's state
    (registered → powering_on → dhcp_seen → image_fetched → reported → reachable) is kept in
    state/baremetal/nodes.json: a re-run resumes, and never powers on again a node that already reported.
    Machines asking for DHCP that the inventory does not list are shown as discovered, never booted.
    In mode install, a node whose installer finished boots its disk at every later network boot; --reinstall
    sends it through the installer again.
    Exit 1 when a node did not come up (each is named with how far it got)."""
    from ffinfra.apply.provision import provision as run

    c = compile_arg(stack, suppress)
    result = run(c, nodes, _progress, reinstall)
    console.out.print(f"logs: {result.run}")
    if result.failure:
        console.err.print(f"[bold red]✗[/] {escape(str(result.failure))}", markup=True)
        raise typer.Exit(1)
    console.out.print(f"[green]✓[/] {len(result.up)} node(s) up: {', '.join(result.up)}")


def power(
    stack: Annotated[str, typer.Argument(help="the stack")],
    nodes: Annotated[str, typer.Argument(help="a hostlist of its nodes (cn[01-04]) or all")],
    action: Annotated[str, typer.Argument(help="on, off, cycle or status")],
    suppress: SuppressOpt = None,
):
    """Power nodes on, off or cycle them through their BMCs (Redfish or IPMI), or show their power state.

    Waits until each BMC reports the new state; at most provisioning.bmc.parallel at once, transient BMC errors
    retried with backoff, a refused login never retried. Exit 1 when any node failed (each is named).

    \b
    Examples:
      ffinfra power ff2 'gpu[0001-0010]' status
      ffinfra power ff2 gpu0007 cycle"""
    from ffinfra.apply.provision import power as run

    c = compile_arg(stack, suppress)
    results = run(c, nodes, action, _progress)
    for name, state in results.items():
        console.out.print(f"{name:12} {state}", markup=False)
    if any(s.startswith("error") for s in results.values()):
        raise typer.Exit(1)
