"""Arguments and options shared by several commands, and the one way commands compile a stack."""

from __future__ import annotations

from typing import Annotated

import typer

from ffinfra.cli import console
from ffinfra.compile import Compiled, compile_stack
from ffinfra.stack import find_stack

StackArg = Annotated[
    str | None,
    typer.Argument(help="stack name under stacks/, a stack folder, or a spec file [default: lab]", show_default=False),
]
SuppressOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--suppress",
        "-s",
        help="silence a finding code (repeat or comma-separate: -s FF-NET-011,FF-QOS-003). "
        "Also settable in the spec under validation.suppress, or FFINFRA_SUPPRESS.",
        envvar="FFINFRA_SUPPRESS",
    ),
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="treat warnings as errors", envvar="FFINFRA_STRICT")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]


def _codes(values: list[str] | None) -> tuple[str, ...]:
    return tuple(c.strip() for v in values or [] for c in v.replace(" ", ",").split(",") if c.strip())


def compile_arg(stack: str | None, suppress: list[str] | None = None, strict: bool = False) -> Compiled:
    ref = find_stack(stack)
    with console.status(f"compiling {ref.display_path}"):
        return compile_stack(ref, _codes(suppress), strict)


ProviderOpt = Annotated[
    str,
    typer.Option(
        "--provider",
        "-p",
        help="where nodes come from: lab (namespaces on this machine, needs root) or baremetal (servers with BMCs, "
        "network-booted from this machine)",
    ),
]

EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        "-e",
        help="ffinfra (its own plan, apply and state.json) or pulumi (the same stack as Pulumi resources, through "
        "Pulumi's Automation API and the Pulumi CLI; docs/pulumi.md)",
    ),
]


def check_engine(engine: str) -> bool:
    """True for the Pulumi engine; a clear error for an unknown one."""
    from ffinfra.errors import UserError

    if engine not in ("ffinfra", "pulumi"):
        raise UserError(f"--engine {engine!r}: ffinfra or pulumi")
    return engine == "pulumi"
