"""One console for all output: colour honours NO_COLOR/FORCE_COLOR, spinners only on a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console

from ffinfra.spec.findings import Finding, Severity

# Pipes and CI logs get a fixed, wide layout so tables are not squeezed to 80 columns.
_WIDTH = None if sys.stdout.isatty() else 120
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)

STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on a terminal, nothing otherwise (CI logs stay clean)."""
    if err.is_terminal:
        with err.status(message):
            yield
    else:
        yield


def print_findings(findings: list[Finding]) -> None:
    for f in findings:
        text = f.format()
        first, _, rest = text.partition("\n")
        err.print(first, style=STYLE[f.severity], markup=False)
        if rest:
            err.print(rest, markup=False, style="dim")


def count_line(findings: list[Finding]) -> str:
    n = {s: sum(1 for f in findings if f.severity == s) for s in Severity}
    return f"{n[Severity.ERROR]} error(s), {n[Severity.WARNING]} warning(s), {n[Severity.INFO]} note(s)"
