"""`ffinfra test`: the acceptance suites against a running stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ffinfra.cli import console
from ffinfra.cli.options import ProviderOpt, StackArg, SuppressOpt, compile_arg

MARK = {"passed": "[green]✓[/]", "failed": "[bold red]✗[/]", "error": "[bold red]✗[/]", "skipped": "[dim]–[/]"}


def test(
    stack: StackArg = None,
    suite: Annotated[
        list[str] | None,
        typer.Option("--suite", "-S", help="run only this suite (repeat): node, fabric, bandwidth, storage, training"),
    ] = None,
    keyword: Annotated[str, typer.Option("--keyword", "-k", help="only tests matching this pytest -k expression")] = "",
    drain_failed: Annotated[
        bool, typer.Option("--drain-failed", help="drain, in Slurm, the nodes a failed test blames (reason = tests)")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the reports here (default: stacks/<name>/runs/<time>/)")
    ] = None,
    repeats: Annotated[
        int | None, typer.Option("--repeats", min=1, max=20, help="benchmark runs before a failure is declared")
    ] = None,
    python: Annotated[
        str, typer.Option("--python", help="Python with torch on the nodes (default: lab → this venv, else python3)")
    ] = "",
    quick: Annotated[bool, typer.Option("--quick", help="shorter benchmark runs (smoke, not acceptance)")] = False,
    calibrate: Annotated[
        bool,
        typer.Option(
            "--calibrate",
            help="after the run, keep its medians as the stack's references (stacks/<name>/references.yaml): "
            "their pass mark is value × (1 − tolerance) unless the spec sets a figure",
        ),
    ] = False,
    tolerance: Annotated[
        float, typer.Option("--tolerance", min=0.0, max=0.9, help="tolerance written with --calibrate")
    ] = 0.15,
    provider: ProviderOpt = "lab",
    suppress: SuppressOpt = None,
):
    """Accept a running stack: measurements against pass marks derived from the spec's hardware (or set in
    its `acceptance:` section), each failure naming its culprit.

    \b
    Suites (in this order; default: all):
      node       daemons, rendered files on the node = compiled artifacts, sysctl, limits, mounts, GPUs, NIC rates
      fabric     ibnetdiscover vs the cabling plan (missing / moved cables by switch and port, width, speed);
                 OpenSM on ftree with no fallback, routes spread evenly over uplinks, leaf-spine-leaf traces
      bandwidth  pairing rounds that load every leaf uplink: ib_write_bw (RDMA) or iperf3, best of --repeats
      storage    fio on the 3FS mount, or on the storage nodes' directories when 3FS is not deployed
      training   a PyTorch DDP job through Slurm (srun) on ≥ 2 nodes: loss falls, all ranks end with equal weights
    Pass marks: the spec's acceptance: figure, else the stack's calibrated references.yaml (--calibrate writes
    it), else a fraction of line rate. Reports: junit.xml, results.json, summary.md and report.html (bandwidth
    heatmaps) in the run folder.
    Exit 0 all passed, 3 some failed, 1 bad input (e.g. the stack is not up)."""
    from ffinfra.accept.results import SUITES
    from ffinfra.accept.runner import TestOptions, check_suites, run_suites

    chosen = check_suites(suite or list(SUITES))
    c = compile_arg(stack, suppress)
    opts = TestOptions(
        provider=provider,
        suites=chosen,
        out_dir=output,
        drain_failed=drain_failed,
        python=python,
        repeats=repeats,
        quick=quick,
        keyword=keyword,
        suppress=list(suppress or []),
        calibrate=tolerance if calibrate else None,
    )

    def progress(ev: dict) -> None:
        if "info" in ev:  # a long step saying where it is
            console.out.print(f"  [dim]{escape(ev['info'])}[/]", highlight=False)
            return
        line = f"{MARK.get(ev['outcome'], '?')} {ev['suite']:<9} {escape(ev['test'])}"
        console.out.print(line, highlight=False)
        if ev["outcome"] in ("failed", "error", "skipped") and ev.get("message"):
            style = "dim" if ev["outcome"] == "skipped" else "red"
            console.out.print(f"    [{style}]{escape(ev['message'].splitlines()[0][:300])}[/]", highlight=False)

    console.out.print(f"testing {c.topology.name}: suites {', '.join(chosen)}")
    run = run_suites(c, opts, progress)
    r = run.results
    if run.references_path:
        console.out.print(f"calibrated {run.references_path}:")
        for metric, ref in run.references.items():
            console.out.print(
                f"  {metric}: {ref.value:g} {ref.unit} (median of {ref.subjects}), tolerance {ref.tolerance:.0%} "
                f"→ pass mark {ref.mark:g} {ref.unit}",
                highlight=False,
            )
        if not r.ok:
            console.err.print("[yellow]warning:[/] some tests failed: review the references before committing them")
    elif calibrate:
        console.out.print("nothing to calibrate: this run measured no throughput figure")
    for d in r.drained:
        console.out.print(f"drained {d['node']}: {d['reason']} ({d['result']})")
    summary = (
        f"{r.count('passed')} passed, {r.count('failed') + r.count('error')} failed, {r.count('skipped')} skipped "
        f"in {r.seconds:.0f} s; reports in {run.out_dir} (report.html, summary.md, junit.xml, results.json)"
    )
    if r.ok:
        console.out.print(f"[green]✓[/] {c.topology.name} accepted: {summary}")
        return
    console.err.print(f"[bold red]✗[/] {c.topology.name} not accepted: {summary}")
    raise typer.Exit(3)
