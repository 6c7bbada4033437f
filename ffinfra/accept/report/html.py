"""report.html: one self-contained page (no scripts, no external assets) with the verdict, every test with its
evidence, and heatmaps of bandwidth per node pair and per leaf uplink.

The page is templates/report.html.j2, rendered with autoescaping: test names, messages, culprits and notes come
from the cluster (a hostname, a tool's output) and are shown as text, never interpreted as markup."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from ffinfra.accept.report.heatmap import heatmap_svg
from ffinfra.accept.report.templating import render
from ffinfra.accept.results import Measurement, RunResults, TestRecord
from ffinfra.topology.model import Topology

BANDWIDTH_METRICS = ("ib_write_bw", "iperf3")


@dataclass(frozen=True, slots=True)
class Evidence:
    """One line of a test's evidence cell: its message, a measurement, or a note."""

    kind: str  # message | measurement | note
    text: str = ""
    subject: str = ""
    value: str = ""
    mark: str = ""


def evidence(t: TestRecord) -> list[Evidence]:
    items = [Evidence("message", t.message)] if t.message else []
    for m in t.measurements:
        val = "-" if m.value is None else f"{m.value:g} {m.unit}"
        mark = "" if m.threshold is None else f" (pass mark {m.threshold:g}, {m.source})"
        items.append(Evidence("measurement", subject=m.subject, value=val, mark=mark))
    return items + [Evidence("note", n) for n in t.notes]


def pair_heatmap(ms: list[Measurement], unit: str, mark: float | None, title: str) -> Markup | None:
    values: dict[tuple[str, str], float] = {}
    for m in ms:
        a, b = m.extra.get("a"), m.extra.get("b")
        if a and b and m.value is not None:
            values[(a, b)] = m.value
    hosts = sorted({h for k in values for h in k})
    return heatmap_svg(title, hosts, hosts, values, mark, unit) if values else None


def uplink_heatmap(ms: list[Measurement], topo: Topology, unit: str, mark: float | None, title: str) -> Markup | None:
    """Each leaf uplink gets the best bandwidth of the directions routed over it (ftree's model, see pairing.py):
    red only when every direction over it was slow, so one slow node does not paint the uplinks it used."""
    values: dict[tuple[str, str], float] = {}
    for m in ms:
        for u in m.extra.get("uplinks", []):
            leaf, _, idx = u.partition("#")
            key = (leaf, f"uplink {idx}")
            if m.value is not None:
                values[key] = max(values.get(key, m.value), m.value)
    if not values:
        return None
    leaves = [s.name for s in topo.switches if s.layer == "leaf" and any(k[0] == s.name for k in values)]
    cols = sorted({k[1] for k in values}, key=lambda c: int(c.split()[-1]))
    return heatmap_svg(title, leaves, cols, values, mark, unit)


def bandwidth_maps(r: RunResults, topo: Topology) -> list[Markup]:
    """The heatmaps of the first bandwidth metric measured: per node pair, and per leaf uplink."""
    bw = [m for t in r.tests for m in t.measurements if m.metric in BANDWIDTH_METRICS]
    if not bw:
        return []
    metric = bw[0].metric
    ms = [m for m in bw if m.metric == metric]
    mark, unit = ms[0].threshold, ms[0].unit
    maps = [
        pair_heatmap(ms, unit, mark, f"{metric}: {unit} per node pair (row sends to column)"),
        uplink_heatmap(ms, topo, unit, mark, f"{metric}: best {unit} per leaf uplink (ftree routing model)"),
    ]
    return [m for m in maps if m]


def render_html(r: RunResults, topo: Topology) -> str:
    page = render(
        "report.html.j2",
        r=r,
        verdict="PASSED" if r.ok else "FAILED",
        maps=bandwidth_maps(r, topo),
        evidence=evidence,
    )
    return str(page) + "\n"
