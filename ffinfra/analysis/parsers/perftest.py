"""perftest (ib_write_bw, ib_read_bw, ib_send_bw) bandwidth reports.

Accepts the unit in the header as Gb/sec (--report_gbits), MB/sec (older) or MiB/sec (perftest ≥ 24.07), with
warnings (CPU frequency) between the header and the rows, and spaces or tabs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ffinfra.analysis.parsers import ParseError

_HEADER = re.compile(
    r"#bytes\s+#iterations\s+BW peak\[(Gb/sec|MB/sec|MiB/sec)\]\s+BW average\[(?:Gb/sec|MB/sec|MiB/sec)\]"
)
_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$")
_TO_GBIT = {"Gb/sec": 1.0, "MB/sec": 8e6 / 1e9, "MiB/sec": 8 * 1048576 / 1e9}


@dataclass(frozen=True, slots=True)
class BwRow:
    bytes: int
    iterations: int
    peak_gbit: float
    average_gbit: float
    msg_rate_mpps: float


@dataclass(frozen=True, slots=True)
class BwReport:
    test: str  # e.g. "RDMA_Write BW Test"
    device: str | None
    link_type: str | None
    unit: str  # as printed
    rows: tuple[BwRow, ...]

    @property
    def average_gbit(self) -> float:
        """The average bandwidth of the largest message size: what a line-rate threshold is judged on."""
        return max(self.rows, key=lambda r: r.bytes).average_gbit


def parse_bw(text: str) -> BwReport:
    header = _HEADER.search(text)
    if header is None:
        raise ParseError("no perftest bandwidth table (#bytes #iterations BW peak ...): did the test connect?")
    unit = header.group(1)
    scale = _TO_GBIT[unit]
    rows = []
    for line in text[header.end() :].splitlines():
        m = _ROW.match(line)
        if m:
            b, it, peak, avg, rate = m.groups()
            rows.append(BwRow(int(b), int(it), float(peak) * scale, float(avg) * scale, float(rate)))
    if not rows:
        raise ParseError("perftest printed its table header but no result row")
    title = next((ln.strip() for ln in text.splitlines() if ln.strip().endswith("BW Test")), "")
    dev = re.search(r"Device\s*:\s*(\S+)", text)
    link = re.search(r"Link type\s*:\s*(\S+)", text)
    return BwReport(title, dev.group(1) if dev else None, link.group(1) if link else None, unit, tuple(rows))
