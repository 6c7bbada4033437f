"""Tables as 3FS's admin_cli prints them, for tests: upstream's Printer::print (src/client/cli/common/Printer.cc)."""

from __future__ import annotations


def printed(table: list[list[str]]) -> str:
    """Every cell but a row's last padded to its column's widest cell (in bytes) plus two; rows may be short."""
    widths = [max(len(r[c].encode()) + 2 for r in table if c < len(r)) for c in range(max(map(len, table)))]
    return "".join(
        "".join(cell + " " * (widths[c] - len(cell.encode())) * (c + 1 < len(r)) for c, cell in enumerate(r)) + "\n"
        for r in table
    )
