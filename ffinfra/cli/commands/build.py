"""Commands that render a stack: build (every artifact) and verify-fabric (route it on ibsim)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ffinfra.cli import console
from ffinfra.cli.options import (
    StackArg,
    SuppressOpt,
    compile_arg,
)


def build(
    stack: StackArg = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="write every artifact here. Default: build/<stack>/, and the Ansible inventory also to "
            "inventories/<stack>/",
        ),
    ] = None,
    suppress: SuppressOpt = None,
):
    """Render every artifact of a stack: OpenSM configs and GUID files per subnet, the expected fabric
    (ibnetdiscover format, ibsim netlist, cabling CSV), Slurm, NCCL/HFReduce, OS tuning, /etc/hosts and the
    Ansible inventory. Output is byte-identical for the same spec; manifest.json lists every file's sha256."""
    from ffinfra.render.bundle import write_bundle
    from ffinfra.render.targets import render_all

    c = compile_arg(stack, suppress)
    with console.status("rendering"):
        artifacts = render_all(c.topology)
    out = output or Path("build") / c.topology.name
    written, unchanged, removed = write_bundle(c.topology, artifacts, out)
    console.print_findings(c.findings)
    console.out.print(
        f"[green]✓[/] {len(artifacts)} artifacts in {out}/ ({written} written, {unchanged} unchanged, "
        f"{removed} removed)"
    )
    if output is None:
        inv = [a for a in artifacts if a.path.startswith("inventory/")]
        if inv:
            from dataclasses import replace

            inv_dir = Path("inventories") / c.topology.name
            moved = [replace(a, path=a.path.removeprefix("inventory/")) for a in inv]
            w, u, r = write_bundle(c.topology, moved, inv_dir)
            console.out.print(f"[green]✓[/] Ansible inventory in {inv_dir}/ ({w} written, {u} unchanged, {r} removed)")


def verify_fabric_cmd(
    stack: StackArg = None,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="keep the simulator's work folder here (logs, dumps, staged files)")
    ] = None,
    suppress: SuppressOpt = None,
):
    """Route the stack's own fabric with a real OpenSM on ibsim (no InfiniBand hardware needed) and check it:
    SUBNET UP with the configured engine and no silent fallback, the discovered cabling equals the plan, every
    CA port reachable from every leaf without loops, and uplink loads balanced. Exit 0 healthy, 3 when not.
    Needs Debian's ibsim-utils, opensm and infiniband-diags (scripts/setup.sh --test installs them)."""
    from ffinfra.render.targets import render_all
    from ffinfra.verify.fabric_check import verify_fabric

    c = compile_arg(stack, suppress)
    artifacts = render_all(c.topology)
    with tempfile.TemporaryDirectory(prefix="ffinfra-fabric-") as tmp:
        workdir = keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with console.status(f"routing {c.topology.name} on ibsim ({len(c.topology.subnets)} subnet(s))"):
            report = verify_fabric(c.topology, artifacts, workdir)
    console.out.print(report.summary(), markup=False)
    if not report.ok:
        raise typer.Exit(3)
