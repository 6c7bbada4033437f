"""report.html: one self-contained page (no scripts, no external assets) with the verdict, every test with its
evidence, and heatmaps of bandwidth per node pair and per leaf uplink."""

from __future__ import annotations

from html import escape

from ffinfra.accept.report.heatmap import heatmap_svg
from ffinfra.accept.results import Measurement, RunResults
from ffinfra.topology.model import Topology

BANDWIDTH_METRICS = ("ib_write_bw", "iperf3")
STYLE = """
body{font-family:sans-serif;margin:2em;color:#222} table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top;font-size:13px}
.passed{color:#1a7f37}.failed,.error{color:#cf222e;font-weight:bold}.skipped{color:#777}
.verdict{font-size:1.4em} code{background:#f4f4f4;padding:1px 3px} .maps svg{margin:0 2em 1em 0}
"""


def pair_heatmap(ms: list[Measurement], unit: str, mark: float | None, title: str) -> str:
    values: dict[tuple[str, str], float] = {}
    for m in ms:
        a, b = m.extra.get("a"), m.extra.get("b")
        if a and b and m.value is not None:
            values[(a, b)] = m.value
    hosts = sorted({h for k in values for h in k})
    return heatmap_svg(title, hosts, hosts, values, mark, unit) if values else ""


def uplink_heatmap(ms: list[Measurement], topo: Topology, unit: str, mark: float | None, title: str) -> str:
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
        return ""
    leaves = [s.name for s in topo.switches if s.layer == "leaf" and any(k[0] == s.name for k in values)]
    cols = sorted({k[1] for k in values}, key=lambda c: int(c.split()[-1]))
    return heatmap_svg(title, leaves, cols, values, mark, unit)


def render_html(r: RunResults, topo: Topology) -> str:
    verdict = "PASSED" if r.ok else "FAILED"
    out = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>ffinfra test {escape(r.stack)}: {verdict}</title><style>{STYLE}</style></head><body>",
        f"<h1>ffinfra test — {escape(r.stack)}</h1>",
        f"<p class='verdict {'passed' if r.ok else 'failed'}'>{verdict}: {r.count('passed')} passed, "
        f"{r.count('failed') + r.count('error')} failed, {r.count('skipped')} skipped in {r.seconds:.0f} s</p>",
        f"<p>{escape(r.started)} → {escape(r.finished)}, provider {escape(r.provider)}, suites "
        f"{escape(', '.join(r.suites))}</p>",
    ]
    if r.thresholds:
        out.append("<h2>Pass marks</h2><table><tr><th>metric</th><th>pass mark</th><th>source</th></tr>")
        for k, t in sorted(r.thresholds.items()):
            mark = "reported only" if t["value"] is None else f"≥ {t['value']:g} {t['unit']}"
            out.append(f"<tr><td>{escape(k)}</td><td>{escape(mark)}</td><td>{escape(t['source'])}</td></tr>")
        out.append("</table>")
    bw = [m for t in r.tests for m in t.measurements if m.metric in BANDWIDTH_METRICS]
    if bw:
        metric = bw[0].metric
        ms = [m for m in bw if m.metric == metric]
        mark, unit = ms[0].threshold, ms[0].unit
        maps = [
            pair_heatmap(ms, unit, mark, f"{metric}: {unit} per node pair (row sends to column)"),
            uplink_heatmap(ms, topo, unit, mark, f"{metric}: best {unit} per leaf uplink (ftree routing model)"),
        ]
        out.append("<h2>Bandwidth</h2><div class='maps'>" + "".join(m for m in maps if m) + "</div>")
    if r.drained:
        out.append("<h2>Drained in Slurm</h2><ul>")
        out += [f"<li>{escape(d['node'])}: {escape(d['reason'])} ({escape(d['result'])})</li>" for d in r.drained]
        out.append("</ul>")
    for suite, tests in r.by_suite().items():
        out.append(
            f"<h2>{escape(suite)}</h2><table><tr><th>test</th><th>result</th><th>culprit</th>"
            "<th>evidence</th><th>s</th></tr>"
        )
        for t in tests:
            ev = [escape(t.message)] if t.message else []
            for m in t.measurements:
                val = "-" if m.value is None else f"{m.value:g} {m.unit}"
                mark = "" if m.threshold is None else f" (pass mark {m.threshold:g}, {m.source})"
                ev.append(f"{escape(m.subject)}: <b>{escape(val)}</b>{escape(mark)}")
            ev += [f"<i>{escape(n)}</i>" for n in t.notes]
            out.append(
                f"<tr><td><code>{escape(t.name)}</code></td><td class='{t.outcome}'>{t.outcome}</td>"
                f"<td>{escape(', '.join(t.culprits))}</td><td>{'<br>'.join(ev)}</td><td>{t.seconds:.1f}</td></tr>"
            )
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
