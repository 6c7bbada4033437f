"""Per-node facts from a CSV inventory (what the datacentre team knows: MACs, BMC addresses, serials, GUIDs)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from ffinfra.spec.findings import Finding, error
from ffinfra.spec.load import Location
from ffinfra.topology.bmc import URL_HINT, url_problem

COLUMNS = ("hostname", "mac", "bmc_address", "serial", "mgmt_ip", "ib_guids")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_GUID = re.compile(r"^0x[0-9a-f]{1,16}$")


@dataclass(frozen=True, slots=True)
class NodeFacts:
    hostname: str
    line: int
    mac: str | None = None
    bmc_address: str | None = None
    serial: str | None = None
    mgmt_ip: str | None = None
    ib_guids: tuple[int, ...] = ()


def _bad(file: str, line: int, col: int, message: str, hint: str = "") -> Finding:
    f = error("FF-INV-001", ("inventory", "csv"), message, hint)
    return Finding(f.code, f.severity, f.path, f.message, f.hint, Location(file, line, col))


def load_facts(path: Path, display: str) -> tuple[dict[str, NodeFacts], list[Finding]]:
    """Read the CSV; every bad cell is a finding that points at its row and column."""
    findings: list[Finding] = []
    facts: dict[str, NodeFacts] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return {}, [_bad(display, 1, 1, f"cannot read the inventory CSV: {exc.strerror}")]
    except UnicodeDecodeError as exc:
        raw = exc.object[: exc.start]
        line, col = raw.count(b"\n") + 1, exc.start - (raw.rfind(b"\n") + 1) + 1
        return {}, [_bad(display, line, col, f"the inventory CSV is not UTF-8: byte 0x{exc.object[exc.start]:02x}")]
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        return {}, [_bad(display, 1, 1, "the inventory CSV is empty", f"first line: {','.join(COLUMNS)}")]
    header = [h.strip() for h in rows[0]]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown or "hostname" not in header:
        return {}, [
            _bad(
                display,
                1,
                1,
                f"unknown or missing columns: {unknown or ['hostname']}",
                f"columns: {', '.join(COLUMNS)}",
            )
        ]
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            findings.append(_bad(display, lineno, 1, f"{len(row)} cells, the header has {len(header)}"))
            continue
        cells = {h: c.strip() for h, c in zip(header, row, strict=True)}

        def col(name: str, row: list[str] = row) -> int:
            # the character column of the cell (exact for unquoted cells), like YAML locations
            return sum(len(cell) + 1 for cell in row[: header.index(name)]) + 1

        name = cells["hostname"]
        if name in facts:
            findings.append(
                _bad(display, lineno, 1, f"hostname {name!r} listed twice (first on line {facts[name].line})")
            )
            continue
        mac = cells.get("mac", "").lower() or None
        if mac and not _MAC.match(mac):
            findings.append(_bad(display, lineno, col("mac"), f"{name}: bad MAC {mac!r}", "write aa:bb:cc:dd:ee:ff"))
            mac = None
        bmc = cells.get("bmc_address") or None
        if bmc and (problem := url_problem(bmc)):
            findings.append(_bad(display, lineno, col("bmc_address"), f"{name}: {problem}", URL_HINT))
            bmc = None
        guids: list[int] = []
        for g in filter(None, (x.strip().lower() for x in cells.get("ib_guids", "").split(";"))):
            if not _GUID.match(g):
                findings.append(
                    _bad(display, lineno, col("ib_guids"), f"{name}: bad GUID {g!r}", "write 0x followed by hex digits")
                )
                continue
            guids.append(int(g, 16))
        facts[name] = NodeFacts(
            hostname=name,
            line=lineno,
            mac=mac,
            bmc_address=bmc,
            serial=cells.get("serial") or None,
            mgmt_ip=cells.get("mgmt_ip") or None,
            ib_guids=tuple(guids),
        )
    return facts, findings
