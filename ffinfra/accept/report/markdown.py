"""summary.md: what a PR comment or a ticket needs — verdict, counts per suite, every failure with its culprit,
and the measurements against their pass marks."""

from __future__ import annotations

from ffinfra.accept.results import RunResults

ICON = {"passed": "✅", "failed": "❌", "error": "💥", "skipped": "⏭"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(r: RunResults) -> str:
    verdict = "PASSED" if r.ok else "FAILED"
    lines = [
        f"# ffinfra test — {r.stack}: {verdict}",
        "",
        f"{r.count('passed')} passed, {r.count('failed') + r.count('error')} failed, {r.count('skipped')} skipped "
        f"in {r.seconds:.0f} s ({r.started} → {r.finished}, provider {r.provider})",
        "",
        "| suite | passed | failed | skipped |",
        "|---|---:|---:|---:|",
    ]
    for suite, tests in r.by_suite().items():
        n = {o: sum(t.outcome == o for t in tests) for o in ICON}
        lines.append(f"| {suite} | {n['passed']} | {n['failed'] + n['error']} | {n['skipped']} |")
    if r.failed():
        lines += ["", "## Failures", "", "| test | culprit | message |", "|---|---|---|"]
        for t in r.failed():
            lines.append(
                f"| {ICON[t.outcome]} `{t.suite}/{t.name}` | {', '.join(t.culprits) or '-'} | {_cell(t.message)} |"
            )
    if r.drained:
        lines += ["", "## Drained in Slurm", ""]
        lines += [f"- {d['node']}: {d['reason']} ({d['result']})" for d in r.drained]
    meas = [(t, m) for t in r.tests for m in t.measurements]
    if meas:
        lines += [
            "",
            "## Measurements",
            "",
            "| test | subject | value | pass mark | source |",
            "|---|---|---:|---:|---|",
        ]
        for t, m in meas:
            ok = "" if m.ok is None else (" ✅" if m.ok else " ❌")
            val = "-" if m.value is None else f"{m.value:g} {m.unit}"
            mark = "-" if m.threshold is None else f"≥ {m.threshold:g} {m.unit}"
            lines.append(f"| {t.suite}/{m.metric} | {_cell(m.subject)} | {val}{ok} | {mark} | {_cell(m.source)} |")
    skipped = [t for t in r.tests if t.outcome == "skipped"]
    if skipped:
        lines += ["", "## Skipped, and why", ""]
        lines += [f"- `{t.suite}/{t.name}`: {t.message}" for t in skipped]
    return "\n".join(lines) + "\n"
