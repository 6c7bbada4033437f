"""Parsers of benchmark output: text or JSON in, typed results out. Pure; no tool is run here.

Each parser raises ParseError with a reason a person can act on (what was missing, which line was odd) rather
than returning zeros: a bandwidth test that printed nothing must fail, not pass at 0 Gb/s.
"""

from ffinfra.errors import FfinfraError


class ParseError(FfinfraError):
    """The tool's output does not hold the result we need."""

    exit_code = 4
