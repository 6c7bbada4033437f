"""fio --output-format=json: per-job read and write bandwidth, IOPS and latency percentiles.

fio prints job description lines before the JSON unless run with --output; those are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ffinfra.analysis.parsers import ParseError


@dataclass(frozen=True, slots=True)
class FioDirection:
    bytes: int
    bw_bytes_per_s: float
    iops: float
    clat_p99_us: float | None

    @property
    def gbyte_per_s(self) -> float:
        return self.bw_bytes_per_s / 1e9


@dataclass(frozen=True, slots=True)
class FioJob:
    name: str
    error: int
    read: FioDirection
    write: FioDirection


def _direction(d: dict) -> FioDirection:
    pct = (d.get("clat_ns") or {}).get("percentile") or {}
    p99 = pct.get("99.000000")
    return FioDirection(
        int(d.get("io_bytes", 0)),
        float(d.get("bw_bytes", 0)),
        float(d.get("iops", 0.0)),
        p99 / 1000.0 if p99 is not None else None,
    )


def parse_fio(text: str) -> list[FioJob]:
    start = text.find("{")
    if start < 0:
        raise ParseError("no JSON in fio output (run it with --output-format=json)")
    try:
        data = json.loads(text[start:])
    except json.JSONDecodeError as exc:
        raise ParseError(f"fio JSON is malformed: {exc.msg} at line {exc.lineno}") from None
    jobs = data.get("jobs")
    if not jobs:
        raise ParseError("fio JSON has no jobs")
    out = []
    for j in jobs:
        out.append(
            FioJob(
                j.get("jobname", "?"),
                int(j.get("error", 0)),
                _direction(j.get("read", {})),
                _direction(j.get("write", {})),
            )
        )
    return out
