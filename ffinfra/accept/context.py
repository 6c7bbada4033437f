"""What one `ffinfra test` run needs, written to context.json in the run folder and read by the pytest process
the runner starts (pytest runs in a child so its plugins, capture and exit never touch the CLI's process)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

ENV = "FFINFRA_TEST_CONTEXT"


@dataclass
class RunContext:
    stack: str  # the stack argument, resolved to its folder
    provider: str
    suites: list[str]
    out_dir: str
    python: str = ""  # a Python with torch on the nodes; "" = this venv's (lab) or python3
    repeats: int | None = None  # None: the spec's acceptance.repeats
    quick: bool = False  # shorter benchmark runs (the repo's own integration tests use it)
    suppress: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: Path) -> RunContext:
        return cls(**json.loads(Path(path).read_text()))
