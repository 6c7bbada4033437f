"""nccl-tests (all_reduce_perf and friends) text output: the table, the devices and the trailers.

Handles the 2.x format (root and #wrong columns, `N/A` when run with -c 0), the legacy format (an `error`
column holding the max abs error), preambles that are not `#` lines (ssh warnings, NCCL INFO), rows whose
widths shift, and the error form (`Test CUDA failure ...`), which raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ffinfra.analysis.parsers import ParseError

_DEVICE = re.compile(
    r"^#\s+Rank\s+(\d+)(?:\s+Group\s+\d+)?\s+Pid\s+\d+\s+on\s+(\S+)\s+device\s+(\d+)\s+\[([^\]]+)\]\s+(.*)$"
)
_FAILURE = re.compile(r"Test (?:CUDA |NCCL )?failure (\S+) (.*)$")
_OOB = re.compile(r"^#\s*Out of bounds values\s*:\s*(\d+)\s+(OK|FAILED)")
_AVG = re.compile(r"^#\s*Avg bus bandwidth\s*:\s*([\d.eE+-]+)")


@dataclass(frozen=True, slots=True)
class Side:
    time_us: float
    algbw: float  # GB/s
    busbw: float  # GB/s
    wrong: int | None  # None: not checked (N/A) or the legacy format
    max_error: float | None  # legacy format only


@dataclass(frozen=True, slots=True)
class NcclRow:
    size: int
    count: int
    type: str
    redop: str
    root: int | None
    out_of_place: Side
    in_place: Side


@dataclass(frozen=True, slots=True)
class NcclReport:
    rows: tuple[NcclRow, ...]
    ranks: int  # devices listed (0 when the output had no device lines)
    hosts: tuple[str, ...]
    out_of_bounds: int | None
    avg_busbw: float | None  # the trailer, GB/s

    @property
    def peak_busbw(self) -> float:
        """Best bus bandwidth of the largest messages (the figure a busbw threshold is judged on)."""
        largest = max(r.size for r in self.rows)
        return max(max(r.out_of_place.busbw, r.in_place.busbw) for r in self.rows if r.size == largest)

    @property
    def wrong(self) -> int:
        return sum((s.wrong or 0) for r in self.rows for s in (r.out_of_place, r.in_place))


def _num(tok: str) -> float:
    return float(tok)


def _side(tokens: list[str], legacy: bool) -> Side:
    time, algbw, busbw, last = tokens
    if legacy:
        return Side(_num(time), _num(algbw), _num(busbw), None, _num(last))
    return Side(_num(time), _num(algbw), _num(busbw), None if last == "N/A" else int(last), None)


def parse_nccl_tests(text: str) -> NcclReport:
    lines = text.splitlines()
    for line in lines:
        m = _FAILURE.search(line)
        if m:
            raise ParseError(f"nccl-tests failed: {m.group(2).strip()} ({m.group(1)})")
    header = next((ln for ln in lines if ln.startswith("#") and "size" in ln and "count" in ln and "busbw" in ln), None)
    if header is None:
        raise ParseError("no nccl-tests result table (# size count type ... busbw): did the test start?")
    cols = header.lstrip("#").split()
    legacy = "error" in cols and "#wrong" not in cols
    has_root = "root" in cols
    rows: list[NcclRow] = []
    hosts: list[str] = []
    ranks = 0
    oob = avg = None
    for line in lines:
        if m := _DEVICE.match(line):
            ranks += 1
            if m.group(2) not in hosts:
                hosts.append(m.group(2))
            continue
        if m := _OOB.match(line):
            oob = int(m.group(1))
            continue
        if m := _AVG.match(line):
            avg = float(m.group(1))
            continue
        if line.startswith("#") or not line.strip():
            continue
        tok = line.split()
        want = 4 + (1 if has_root else 0) + 8
        if len(tok) != want or not tok[0].isdigit():
            continue  # preamble lines (ssh warnings, NCCL INFO) and anything else that is not a row
        size, count, typ, redop = int(tok[0]), int(tok[1]), tok[2], tok[3]
        root = int(tok[4]) if has_root else None
        rest = tok[5:] if has_root else tok[4:]
        try:
            rows.append(NcclRow(size, count, typ, redop, root, _side(rest[:4], legacy), _side(rest[4:], legacy)))
        except ValueError:
            raise ParseError(f"unreadable nccl-tests row: {line.strip()!r}") from None
    if not rows:
        raise ParseError("nccl-tests printed its table header but no result row")
    return NcclReport(tuple(rows), ranks, tuple(hosts), oob, avg)
