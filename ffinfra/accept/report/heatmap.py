"""Heatmaps as inline SVG (no plotting library, byte-identical output for the same data): cells coloured by
value ÷ pass mark, red below it, green at or above; grey where nothing was measured.

The geometry is computed here; templates/heatmap.svg.j2 writes it out, escaping every label and tooltip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from ffinfra.accept.report.templating import render

CELL = 34
LABEL = 90


@dataclass(frozen=True, slots=True)
class Label:
    x: int
    y: int
    text: str


@dataclass(frozen=True, slots=True)
class Cell:
    x: int
    y: int
    size: int
    fill: str
    tip: str
    value: Label | None  # the number printed in the cell; None where nothing was measured


@dataclass(frozen=True, slots=True)
class Row:
    label: Label
    cells: list[Cell]


def _colour(value: float | None, mark: float | None, top: float) -> str:
    if value is None:
        return "#d9d9d9"
    if mark:
        r = value / mark
        if r < 1:  # below the mark: red, darker the further below
            return f"rgb({200 + int(55 * r)},{int(90 * r)},{int(80 * r)})"
        g = min(1.0, (r - 1) * 4)
        return f"rgb({int(120 - 80 * g)},{int(180 + 20 * g)},{int(110 - 40 * g)})"
    g = value / top if top else 0  # no mark: blue scale by share of the best
    return f"rgb({int(230 - 170 * g)},{int(235 - 120 * g)},255)"


def _row(
    i: int,
    r: str,
    cols: Sequence[str],
    values: Mapping[tuple[str, str], float],
    mark: float | None,
    unit: str,
    top: float,
) -> Row:
    y = 30 + LABEL + CELL * i
    cells = []
    for j, c in enumerate(cols):
        v = values.get((r, c))
        x = LABEL + CELL * j
        tip = f"{r} → {c}: " + (f"{v:.2f} {unit}" if v is not None else "not measured")
        text = None if v is None else Label(x + CELL // 2 - 1, y + CELL // 2 + 3, f"{v:.3g}")
        cells.append(Cell(x, y, CELL - 2, _colour(v, mark, top), tip, text))
    return Row(Label(LABEL - 4, y + CELL // 2 + 4, r), cells)


def heatmap_svg(
    title: str,
    rows: Sequence[str],
    cols: Sequence[str],
    values: Mapping[tuple[str, str], float],
    mark: float | None,
    unit: str,
) -> Markup:
    top = max(values.values(), default=0.0)
    return render(
        "heatmap.svg.j2",
        title=title,
        width=max(LABEL + CELL * len(cols) + 10, 8 * len(title) + 10),  # room for the title too
        height=40 + LABEL + CELL * len(rows),
        cols=[Label(LABEL + CELL * j + CELL // 2, 30 + LABEL - 4, c) for j, c in enumerate(cols)],
        rows=[_row(i, r, cols, values, mark, unit, top) for i, r in enumerate(rows)],
    )
