"""Commands that look at a spec: validate, show, schema, codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ffinfra.cli import console
from ffinfra.cli.options import (
    JsonOpt,
    StackArg,
    StrictOpt,
    SuppressOpt,
    compile_arg,
)
from ffinfra.errors import SpecInvalid


def validate(stack: StackArg = None, suppress: SuppressOpt = None, strict: StrictOpt = False, json_: JsonOpt = False):
    """Check a spec: schema, then every rule (ports vs radix, zone capacity, OpenSM ftree preconditions,
    duplicate names/MACs/IPs/GUIDs, address pools, QoS, storage ratio). Exit 0 valid, 1 invalid.

    Each finding reads `file:line:col: severity[CODE] path: message` with a hint; list codes with `ffinfra codes`.
    """
    try:
        c = compile_arg(stack, suppress, strict)
    except SpecInvalid as exc:
        if json_:
            console.out.print_json(json.dumps({"valid": False, "findings": [f.to_dict() for f in exc.findings]}))
            raise typer.Exit(1) from None
        raise
    if json_:
        console.out.print_json(json.dumps({"valid": True, "findings": [f.to_dict() for f in c.findings]}))
        return
    console.print_findings(c.findings)
    t = c.topology
    console.out.print(
        f"[green]✓[/] {c.stack.display_path}: valid ({len(t.hosts)} nodes, {len(t.switches)} switches, "
        f"{len(t.zones)} zone(s)); {console.count_line(c.findings)}"
    )


def show(stack: StackArg = None, suppress: SuppressOpt = None, json_: JsonOpt = False):
    """Summarize a compiled stack: nodes per group and zone, switches per zone and layer, ports used/free,
    bisection and cross-zone bandwidth, storage-to-compute ratio (nodes and bandwidth), and a picture."""
    from ffinfra.cli.picture import picture
    from ffinfra.topology.summary import summarize

    c = compile_arg(stack, suppress)
    s = summarize(c.topology)
    if json_:
        console.out.print_json(json.dumps(s.to_dict()))
        return
    o = console.out
    o.print(f"[bold]{s.stack}[/]: {s.description}")
    o.print(f"fabric: {s.design}, {s.switch}, {s.link}; {s.switches} switches, {s.cables} cables; {s.gpus} GPUs")
    nodes = Table(title="nodes", title_justify="left", show_edge=False)
    nodes.add_column("group")
    nodes.add_column("role")
    nodes.add_column("nodes", justify="right")
    for z in s.zones:
        nodes.add_column(f"in {z.name}", justify="right")
    roles = {g: spec.role for g, spec in c.spec.nodes.items()}
    for g, n in s.nodes_by_group.items():
        nodes.add_row(g, roles[g], str(n), *(str(z.nodes_by_group.get(g, 0)) for z in s.zones))
    o.print(nodes)
    zt = Table(title="zones", title_justify="left", show_edge=False)
    for col in ("zone", "SM", "spines", "leaves", "host ports", "spine ports", "down:up", "bisection"):
        zt.add_column(col, justify="left" if col in ("zone", "SM") else "right", no_wrap=True)
    for z in s.zones:
        zt.add_row(
            z.name,
            z.sm_host,
            str(z.spines),
            str(z.leaves),
            f"{z.host_ports_used} used "
            + (f"{z.host_ports_reserved} reserved " if z.host_ports_reserved else "")
            + f"{z.host_ports_free} free",
            f"{z.spine_ports_used} used {z.spine_ports_total - z.spine_ports_used} free",
            z.oversubscription,
            _gbps(z.bisection_gbps),
        )
    o.print(zt)
    o.print(f"cross-zone: {s.cross_zone}" + (f" = {_gbps(s.cross_zone_gbps)}" if s.cross_zone_gbps else ""))
    o.print(
        f"storage: {s.storage_nodes} storage for {s.compute_nodes} compute nodes = {s.storage_ratio_nodes:.3f} "
        f"by nodes, {s.storage_ratio_bandwidth:.3f} by IB bandwidth; {s.storage_raw_tb:,.0f} TB raw NVMe"
    )
    from ffinfra.accept.references import with_references
    from ffinfra.topology.thresholds import derive_thresholds

    thresholds = with_references({t.metric: t for t in derive_thresholds(c.topology)}, c.stack.dir)
    marks = "; ".join(
        f"{t.metric} {t.value:g} {t.unit}"
        + (" (spec)" if t.source.startswith("spec:") else " (calibrated)" if t.source.startswith("calibrated") else "")
        for t in thresholds.values()
        if t.value is not None
    )
    o.print(f"acceptance: {marks}")
    for note in s.notes:
        o.print(f"note: {note}")
    o.print()
    o.print(picture(s), markup=False)
    console.print_findings(c.findings)


def _gbps(v: int) -> str:
    return f"{v / 1000:,.1f} Tb/s" if v >= 1000 else f"{v} Gb/s"


def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to a file instead of stdout")] = None,
):
    """Print the JSON Schema of cluster.yaml, for editor completion (e.g. YAML language server:
    `# yaml-language-server: $schema=./spec.schema.json` at the top of the spec)."""
    from ffinfra.spec.models import ClusterSpec

    text = json.dumps(ClusterSpec.model_json_schema(), indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text)
        console.out.print(f"[green]✓[/] schema written to {output}")
    else:
        sys.stdout.write(text)


def codes():
    """List every finding code with what it checks (use them with --suppress or validation.suppress)."""
    from ffinfra.checks import all_codes

    table = Table(show_edge=False)
    table.add_column("code")
    table.add_column("checks")
    for code, text in all_codes().items():
        table.add_row(code, text)
    console.out.print(table)
