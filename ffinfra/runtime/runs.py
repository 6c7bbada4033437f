"""One folder per run under stacks/<name>/runs/, with a log file per phase; every line passes the redactor."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from ffinfra.errors import OperationalError


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class RunDir:
    """runs/<UTC timestamp>/ with one log file per phase; every line goes through the redactor."""

    def __init__(self, path: Path, redact: Callable[[str], str] = lambda s: s):
        self.path = path
        self.redact = redact
        self._files: dict[str, TextIO] = {}

    @classmethod
    def create(cls, runs: Path, redact: Callable[[str], str] = lambda s: s, now: dt.datetime | None = None) -> RunDir:
        stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
        runs.mkdir(parents=True, exist_ok=True)
        for i in range(1000):
            p = runs / (stamp if i == 0 else f"{stamp}-{i}")
            try:
                p.mkdir(mode=0o750)
            except FileExistsError:
                continue
            return cls(p, redact)
        raise OperationalError(f"cannot create a run folder under {runs}")

    def log_path(self, phase: str) -> Path:
        return self.path / f"{phase}.log"

    def log(self, phase: str, line: str) -> None:
        fh = self._files.get(phase)
        if fh is None:
            fh = self._files[phase] = self.log_path(phase).open("a", buffering=1)
        stamp = dt.datetime.now(dt.UTC).strftime("%H:%M:%S.%f")[:-3]
        for part in self.redact(line).splitlines() or [""]:
            fh.write(f"{stamp} {part}\n")

    def write_json(self, name: str, data: object) -> Path:
        p = self.path / name
        p.write_text(self.redact(json.dumps(data, indent=2, sort_keys=True)) + "\n")
        return p

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()
        self._files.clear()
