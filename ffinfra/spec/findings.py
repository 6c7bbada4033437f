"""Findings: what a validation rule reports. Rules never raise; they return findings."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ffinfra.spec.load import LineMap, Location

SpecPath = tuple[str | int, ...]


class Severity(enum.IntEnum):
    INFO = 10
    WARNING = 20
    ERROR = 30

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Finding:
    code: str  # stable id, e.g. FF-NET-001; never changes meaning
    severity: Severity
    path: SpecPath
    message: str
    hint: str = ""
    location: Location | None = None  # filled in by validate() from the LineMap

    @property
    def is_blocking(self) -> bool:
        return self.severity >= Severity.ERROR

    def located(self, lm: LineMap) -> Finding:
        if self.location is not None:
            return self
        return Finding(self.code, self.severity, self.path, self.message, self.hint, lm.locate(self.path))

    def format(self) -> str:
        """`file:line:col: error[CODE] path: message` then an indented hint, like a compiler."""
        where = f"{self.location}: " if self.location else ""
        text = f"{where}{self.severity.label}[{self.code}] {format_path(self.path)}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, object]:
        loc = self.location
        return {
            "code": self.code,
            "severity": self.severity.label,
            "path": format_path(self.path),
            "message": self.message,
            "hint": self.hint,
            "file": loc.file if loc else None,
            "line": loc.line if loc else None,
            "col": loc.col if loc else None,
        }


def format_path(path: SpecPath) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(spec)"


def error(code: str, path: SpecPath, message: str, hint: str = "") -> Finding:
    return Finding(code, Severity.ERROR, path, message, hint)


def warning(code: str, path: SpecPath, message: str, hint: str = "") -> Finding:
    return Finding(code, Severity.WARNING, path, message, hint)


def info(code: str, path: SpecPath, message: str, hint: str = "") -> Finding:
    return Finding(code, Severity.INFO, path, message, hint)
