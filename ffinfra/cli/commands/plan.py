"""Commands that compare specs: plan (against a git revision or older spec) and diff (any two)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ffinfra.cli import console
from ffinfra.cli.options import EngineOpt, StackArg, check_engine
from ffinfra.compile import compile_stack
from ffinfra.stack import find_stack


class PlanFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"


FormatOpt = Annotated[
    PlanFormat, typer.Option("--format", "-f", help="table (terminal), markdown (PR comment) or json (change set)")
]
DetailsOpt = Annotated[bool, typer.Option("--details", help="list every node port and cable behind each row")]
DiffOpt = Annotated[bool, typer.Option("--diff", help="include unified diffs of the rendered files")]
DestructiveOpt = Annotated[
    bool, typer.Option("--allow-destructive", help="accept changes that destroy data (e.g. the 3FS chain-table type)")
]
OutOpt = Annotated[Path | None, typer.Option("--output", "-o", help="write the report to a file as well")]


def _run_plan(old_ref, new_ref, fmt: PlanFormat, details: bool, diff: bool, allow: bool, output: Path | None) -> None:
    from ffinfra.plan.plan import build_plan
    from ffinfra.plan.report import markdown, print_table, to_json

    with console.status("compiling both sides"):
        old = compile_stack(old_ref)
        new = compile_stack(new_ref)
    with console.status("comparing"):
        plan = build_plan(old, new, old_ref.display_path, new_ref.display_path, allow_destructive=allow)
    if fmt is PlanFormat.table:
        print_table(plan, console.out, details=details, diffs=diff)
        text = None
    else:
        text = markdown(plan, diffs=diff) if fmt is PlanFormat.markdown else to_json(plan, diffs=diff)
        sys.stdout.write(text)
    if output is not None:
        output.write_text(text if text is not None else (markdown(plan, diffs=diff)))
    if plan.refused:
        raise typer.Exit(1)
    raise typer.Exit(2 if plan.changed else 0)


def plan(
    stack: StackArg = None,
    base: Annotated[
        str | None,
        typer.Option(
            "--base",
            "-b",
            help="what to compare against: a git revision of the repository holding the stack (origin/main, "
            "HEAD~1) or a path to the older spec [default: HEAD]",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOpt = PlanFormat.table,
    details: DetailsOpt = False,
    diff: DiffOpt = False,
    allow_destructive: DestructiveOpt = False,
    output: OutOpt = None,
    engine: EngineOpt = "ffinfra",
):
    """Show what a spec change does to the cluster: spec changes (YAML paths), topology changes (nodes added,
    removed, renamed or moved; switches; cables by switch and port), changed files and their hosts, and the
    impact of each: no-op < hot reload < rolling restart < rolling reboot < fabric re-route < 3FS data
    migration < destructive re-create < unsupported. The plan's impact is the highest row's.

    Exit codes (like terraform plan -detailed-exitcode): 0 no change, 2 changes, 1 error or refused
    (destructive without --allow-destructive, or unsupported).

    --engine pulumi: the plan against what Pulumi applied (the refusals above), then `pulumi preview --diff` of the
    stack's resources: which nodes and role applications would be created, updated, replaced or deleted. Same
    exit codes; needs the Pulumi CLI (docs/pulumi.md)."""
    from ffinfra.plan.base import base_stack

    if check_engine(engine):
        from ffinfra.cli.commands.lifecycle import pulumi_run
        from ffinfra.errors import UserError

        if base is not None:
            raise UserError("--engine pulumi compares against what Pulumi applied: --base does not apply")
        if fmt is not PlanFormat.table or details or diff or output is not None:
            raise UserError(
                "--engine pulumi prints Pulumi's preview: --format, --details, --diff and --output are the "
                "default engine's"
            )
        pulumi_run("preview", stack, None, None, allow_destructive)
        return
    new_ref = find_stack(stack)
    with base_stack(new_ref, base or "HEAD") as old_ref:
        _run_plan(old_ref, new_ref, fmt, details, diff, allow_destructive, output)


def diff(
    old: Annotated[str, typer.Argument(help="the older stack: name, folder or spec file")],
    new: Annotated[str, typer.Argument(help="the newer stack: name, folder or spec file")],
    fmt: FormatOpt = PlanFormat.table,
    details: DetailsOpt = False,
    diff_: DiffOpt = False,
    allow_destructive: DestructiveOpt = False,
    output: OutOpt = None,
):
    """Compare two specs as a plan (same report and exit codes as `ffinfra plan`)."""
    _run_plan(find_stack(old), find_stack(new), fmt, details, diff_, allow_destructive, output)
