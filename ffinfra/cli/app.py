"""`ffinfra`: the command-line app. The commands live in ffinfra/cli/commands/, one module per family.

Commands are thin: they call the library and print. main() is the only error boundary: user errors print as
`file:line:col: error[CODE] path: message` with no traceback; anything unexpected is a bug, logged in full.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from ffinfra import __version__
from ffinfra.cli import console
from ffinfra.cli.commands import accept, build, inspect, lifecycle, metal, plan
from ffinfra.errors import FfinfraError, SpecInvalid

app = typer.Typer(
    name="ffinfra",
    help=(
        "Infrastructure-as-code for Fire-Flyer-style AI-HPC clusters.\n\n"
        "A stack is a folder under stacks/ with a cluster.yaml; with no STACK the embedded lab stack is used.\n\n"
        "\b\nExamples:\n"
        "  ffinfra validate ff2        check a spec: every problem at once, with file:line\n"
        "  ffinfra show ff2            zones, switches, ports, bandwidth, storage ratio, a picture\n"
        "  ffinfra build ff2           render every artifact (OpenSM, fabric, Slurm, NCCL, OS, inventory)\n"
        "  ffinfra verify-fabric ff2   route the fabric with a real OpenSM on ibsim, check every route\n"
        "  ffinfra plan ff2 -b main    what a spec change does: nodes, cables, files, impact (PR review)\n"
        "  ffinfra up lab              bring the lab up on this machine: nodes, Ansible roles, Slurm, OpenSM\n"
        "  ffinfra status lab          nodes, services and drift;  ffinfra down lab  destroys the nodes\n"
        "  ffinfra provision metal     power on and network-boot a bare-metal stack's nodes (BMC, PXE)\n"
        "  ffinfra power metal all status   power on|off|cycle|status through the nodes' BMCs\n"
        "  ffinfra test lab            acceptance: node, fabric, bandwidth, storage, training vs pass marks\n"
        "  ffinfra schema > spec.json  JSON Schema for editor completion\n"
        "  ffinfra codes               every finding code and what it checks"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        console.out.print(f"ffinfra {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    pass


# One module per family of commands (ffinfra/cli/commands/); registered here in the order --help lists them.
app.command()(inspect.validate)
app.command()(inspect.show)
app.command()(build.build)
app.command("verify-fabric")(build.verify_fabric_cmd)
app.command()(plan.plan)
app.command()(plan.diff)
app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(lifecycle.exec_cmd)
app.command()(lifecycle.up)
app.command()(lifecycle.upgrade)
app.command()(lifecycle.down)
app.command()(lifecycle.status)
app.command()(metal.provision)
app.command()(metal.power)
app.command()(accept.test)
app.command()(inspect.schema)
app.command()(inspect.codes)


def _debug_log() -> Path:
    d = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ffinfra"
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        d = Path(tempfile.gettempdir())
    return d / "debug.log"


def main() -> None:
    try:
        # standalone_mode=False: usage errors and Exit come back here instead of exiting inside typer
        rc = app(standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else 0)
    except SpecInvalid as exc:
        console.print_findings(exc.findings)
        strict_only = exc.strict and not any(f.is_blocking for f in exc.findings)
        head = "spec fails --strict (warnings are fatal)" if strict_only else "spec is invalid"
        console.err.print(f"[bold red]✗[/] {head}: {console.count_line(exc.findings)}")
        sys.exit(1)
    except FfinfraError as exc:
        # the message is text, not markup: brackets in it (ffinfra[pulumi], error[CODE]) print as written
        console.err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        console.err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # the one place that catches everything: bugs are logged, not shown raw
        if isinstance(exc, typer.TyperException):  # usage errors: typer prints them itself
            exc.show()
            sys.exit(exc.exit_code)
        log = _debug_log()
        log.write_text("".join(traceback.format_exception(exc)))
        console.err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc}\n"
            f"This is a bug in ffinfra. The traceback is in {log}; please report it with your spec."
        )
        sys.exit(70)
