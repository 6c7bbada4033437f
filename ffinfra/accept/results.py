"""What a run found, test by test: outcome, the measurements behind it (value, pass mark, where the mark came
from), and the culprits (nodes, switch ports, links) a failure points at. results.json holds one RunResults;
every report is rendered from it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SUITES = ("node", "fabric", "bandwidth", "storage", "training")


@dataclass
class Measurement:
    metric: str  # e.g. "iperf3", "fio_read", "ddp_samples_per_s"
    subject: str  # what was measured: "cn01→cn02", "st01", "job 42"
    value: float | None
    unit: str
    threshold: float | None = None  # None: reported, not judged
    source: str = ""  # where the pass mark came from
    ok: bool | None = None
    samples: list[float] = field(default_factory=list)  # every repeat, in order
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. {"a": "cn01", "b": "cn02", "round": 0, "leaf_a": ...}


@dataclass
class TestRecord:
    __test__ = False  # a record, not a pytest test class
    nodeid: str
    suite: str
    name: str
    outcome: str  # passed | failed | skipped | error
    message: str = ""
    seconds: float = 0.0
    culprits: list[str] = field(default_factory=list)
    measurements: list[Measurement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class RunResults:
    stack: str
    provider: str
    suites: list[str]
    started: str
    finished: str = ""
    seconds: float = 0.0
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)
    tests: list[TestRecord] = field(default_factory=list)
    drained: list[dict[str, str]] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(t.outcome == outcome for t in self.tests)

    @property
    def ok(self) -> bool:
        return bool(self.tests) and not any(t.outcome in ("failed", "error") for t in self.tests)

    def failed(self) -> list[TestRecord]:
        return [t for t in self.tests if t.outcome in ("failed", "error")]

    def by_suite(self) -> dict[str, list[TestRecord]]:
        out: dict[str, list[TestRecord]] = {}
        for t in self.tests:
            out.setdefault(t.suite, []).append(t)
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResults:
        tests = [
            TestRecord(**{**t, "measurements": [Measurement(**m) for m in t.get("measurements", [])]})
            for t in d.get("tests", [])
        ]
        return cls(**{**d, "tests": tests})

    @classmethod
    def load(cls, path: Path) -> RunResults:
        return cls.from_dict(json.loads(Path(path).read_text()))
