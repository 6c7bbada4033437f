"""The one exception hierarchy. Anything not derived from FfinfraError is a bug."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ffinfra.spec.findings import Finding


class FfinfraError(Exception):
    """An expected failure: the CLI prints it without a traceback."""

    exit_code = 1


class UserError(FfinfraError):
    """Fixable by editing the input (spec, inventory CSV, command line)."""


class SpecInvalid(UserError):
    """The spec failed validation; carries every finding, not just the first."""

    def __init__(self, findings: list[Finding], strict: bool = False):
        self.findings = findings
        self.strict = strict
        errors = sum(1 for f in findings if f.is_blocking)
        if errors or not strict:
            super().__init__(f"spec is invalid: {errors} error(s)")
        else:
            super().__init__("spec fails --strict: warnings are fatal")


class StackNotFound(UserError):
    pass


class OperationalError(FfinfraError):
    """The world disagreed (a tool failed, a simulator did not come up)."""

    exit_code = 3
