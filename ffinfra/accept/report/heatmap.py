"""Heatmaps as inline SVG (no plotting library, byte-identical output for the same data): cells coloured by
value ÷ pass mark, red below it, green at or above; grey where nothing was measured."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

CELL = 34
LABEL = 90


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


def heatmap_svg(
    title: str,
    rows: Sequence[str],
    cols: Sequence[str],
    values: Mapping[tuple[str, str], float],
    mark: float | None,
    unit: str,
) -> str:
    width = max(LABEL + CELL * len(cols) + 10, 8 * len(title) + 10)  # room for the title too
    height = 40 + LABEL + CELL * len(rows)
    top = max(values.values(), default=0.0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    for j, c in enumerate(cols):
        x = LABEL + CELL * j + CELL // 2
        out.append(f'<text transform="translate({x},{30 + LABEL - 4}) rotate(-60)">{escape(c)}</text>')
    for i, r in enumerate(rows):
        y = 30 + LABEL + CELL * i
        out.append(f'<text x="{LABEL - 4}" y="{y + CELL // 2 + 4}" text-anchor="end">{escape(r)}</text>')
        for j, c in enumerate(cols):
            v = values.get((r, c))
            x = LABEL + CELL * j
            tip = f"{r} → {c}: " + (f"{v:.2f} {unit}" if v is not None else "not measured")
            out.append(
                f'<rect x="{x}" y="{y}" width="{CELL - 2}" height="{CELL - 2}" fill="{_colour(v, mark, top)}">'
                f"<title>{escape(tip)}</title></rect>"
            )
            if v is not None:
                out.append(
                    f'<text x="{x + CELL // 2 - 1}" y="{y + CELL // 2 + 3}" text-anchor="middle" '
                    f'font-size="9">{v:.3g}</text>'
                )
    out.append("</svg>")
    return "\n".join(out)
