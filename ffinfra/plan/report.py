"""A Plan as text: a terminal table, Markdown for a pull-request comment, or a JSON change set.

Pure functions of the Plan; the CLI decides where the text goes. The Markdown puts the summary table first and
folds every detail (per-node ports, cables, file diffs) so a reviewer sees the impact before the wall of text.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from ffinfra.plan.impact import MEANING, Impact
from ffinfra.plan.plan import Plan, Row

MAX_DIFF_LINES = 400  # per file in Markdown: GitHub comments are capped at 65,536 characters
MAX_BATCHES_SHOWN = 12  # in the terminal without --details


def _impact(row: Row) -> str:
    return "derived" if row.impact is None else row.impact.label


def headline(plan: Plan) -> str:
    if not plan.changed:
        return f"No changes: stack '{plan.stack}' compiles to the same cluster ({plan.old_label} → {plan.new_label})."
    n = {s: len(plan.section(s)) for s in ("spec", "topology", "software", "artifact")}
    builds = f"{n['software']} build(s) changed, " if n["software"] else ""
    text = (
        f"Plan for '{plan.stack}' ({plan.old_label} → {plan.new_label}): {n['spec']} spec change(s), "
        f"{n['topology']} topology change(s), {builds}{n['artifact']} file(s) changed. Impact: {plan.impact.label}."
    )
    if plan.refused:
        text += " " + refusal(plan)
    return text


def refusal(plan: Plan) -> str:
    if plan.impact >= Impact.UNSUPPORTED:
        return "Refused: it contains changes ffinfra cannot apply to a running cluster."
    return "Refused: it destroys data; re-run with --allow-destructive if that is intended."


# ------------------------------------------------------------------------------------------------ terminal


def print_table(plan: Plan, console: Console, details: bool = False, diffs: bool = False) -> None:
    if not plan.changed:
        console.print(headline(plan), markup=False)
        return
    table = Table(show_edge=False, expand=False)
    for col in ("", "change", "what", "impact", "action"):
        table.add_column(col, overflow="fold")
    for r in plan.rows:
        style = "bold red" if (r.impact or 0) >= Impact.DESTRUCTIVE else None
        table.add_row(r.section, r.subject, r.change, _impact(r), r.action, style=style)
    console.print(table)
    if details:
        for r in plan.rows:
            if r.details:
                console.print(f"\n{r.subject}:", markup=False)
                for line in r.details:
                    console.print(f"  {line}", markup=False)
    if plan.batches is not None:
        console.print("\nRolling batches (upgrades.max_unavailable, upgrades.canary):", markup=False)
        for line in plan.batches.lines(None if details else MAX_BATCHES_SHOWN):
            console.print(f"  {line}", markup=False, highlight=False)
    if diffs:
        for a in plan.artifacts:
            console.print(a.diff, markup=False, highlight=False)
    console.print()
    console.print(headline(plan), markup=False, style="bold red" if plan.refused else "bold")


# ------------------------------------------------------------------------------------------------ Markdown


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(plan: Plan, diffs: bool = False) -> str:
    out = [f"### ffinfra plan: `{plan.stack}`", ""]
    if not plan.changed:
        out.append(headline(plan))
        return "\n".join(out) + "\n"
    icon = "⛔" if plan.refused else ("⚠️" if plan.impact >= Impact.FABRIC_REROUTE else "✅")
    out.append(f"{icon} **Impact: {plan.impact.label}**: {MEANING[plan.impact]}.")
    if plan.refused:
        out.append(f"**{refusal(plan)}**")
    out += ["", f"`{plan.old_label}` → `{plan.new_label}`", ""]
    out += ["| | change | what | impact | action |", "|---|---|---|---|---|"]
    for r in plan.rows:
        subject = f"`{r.subject}`" if r.section in ("spec", "artifact") else r.subject
        impact = f"**{_impact(r)}**" if r.impact == plan.impact else _impact(r)
        out.append(f"| {r.section} | {_cell(subject)} | {_cell(r.change)} | {impact} | {_cell(r.action)} |")
    detailed = [r for r in plan.rows if r.details]
    for r in detailed:
        out += ["", f"<details><summary>{_cell(r.subject)}: {len(r.details)} item(s)</summary>", "", "```"]
        out += list(r.details)
        out += ["```", "", "</details>"]
    if plan.batches is not None:
        b = plan.batches
        out += ["", f"<details><summary>Rolling batches: {len(b.batches)} (no fewer possible than {b.lower_bound})"
                "</summary>", "", "```", *b.lines(MAX_BATCHES_SHOWN), "```", "", "</details>"]  # fmt: skip
    if diffs and plan.artifacts:
        out += ["", f"<details><summary>File diffs ({len(plan.artifacts)} file(s))</summary>", ""]
        for a in plan.artifacts:
            lines = a.diff.splitlines()
            cut = len(lines) - MAX_DIFF_LINES
            out += [f"`{a.path}` → {a.audience}", "", "```diff", *lines[:MAX_DIFF_LINES]]
            if cut > 0:
                out.append(f"… {cut} more line(s): run `ffinfra plan --diff` locally")
            out += ["```", ""]
        out.append("</details>")
    out += ["", "<sub>Impact levels, lowest first: " + ", ".join(i.label for i in Impact) + ".</sub>"]
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------ JSON


def change_set(plan: Plan, diffs: bool = False) -> dict[str, Any]:
    t = plan.topo
    return {
        "stack": plan.stack,
        "base": plan.old_label,
        "new": plan.new_label,
        "changed": plan.changed,
        "impact": plan.impact.slug,
        "refused": plan.refused,
        "spec": [
            {
                "path": c.display_path,
                "kind": c.kind,
                "old": c.old,
                "new": c.new,
                "impact": c.policy.impact.slug if c.policy and c.policy.impact is not None else "derived",
                "action": c.policy.action if c.policy else "",
            }
            for c in plan.spec
        ],
        "topology": {
            "nodes_added": [
                {
                    "name": h.name,
                    "group": h.group,
                    "zone": h.zone,
                    "mgmt_ip": h.mgmt_ip,
                    "ports": [
                        {"nic": p.nic, "port": p.port, "leaf": p.leaf, "leaf_port": p.leaf_port} for p in h.ports
                    ],
                }
                for h in t.added
            ],
            "nodes_removed": [h.name for h in t.removed],
            "nodes_renamed": [{"old": o.name, "new": n.name} for o, n in t.renamed],
            "ports_moved": [
                {"host": m.host, "nic": m.nic, "port": m.port, "old": m.old, "new": m.new} for m in t.moved
            ],
            "nodes_readdressed": [{"name": n.name, "old": o.mgmt_ip, "new": n.mgmt_ip} for o, n in t.readdressed],
            "switches_added": t.switches_added,
            "switches_removed": t.switches_removed,
            "cables": [
                {"switch": c.switch, "port": c.port, "old": c.old, "new": c.new, "change": kind}
                for kind, cs in (
                    ("plugged", t.cables_added),
                    ("unplugged", t.cables_removed),
                    ("re-plugged", t.cables_replugged),
                )
                for c in cs
            ],
        },
        "artifacts": [
            {
                "path": a.path,
                "kind": a.kind,
                "audience": a.audience,
                "component": a.component,
                "lines_added": a.lines_added,
                "lines_removed": a.lines_removed,
                "impact": a.impact.slug,
                "action": a.action,
                **({"diff": a.diff} if diffs else {}),
            }
            for a in plan.artifacts
        ],
        "batches": None
        if plan.batches is None
        else {
            "lower_bound": plan.batches.lower_bound,
            "bound": [{"rule": rule, "batches": n, "why": why} for rule, n, why in plan.batches.bound],
            "limits": plan.batches.limits,
            "order": [
                {"index": b.index, "kind": b.kind, "hosts": list(b.hosts), "reboot": list(b.reboot), "why": b.why}
                for b in plan.batches.batches
            ],
        },
        "rows": [
            {
                "section": r.section,
                "subject": r.subject,
                "change": r.change,
                "impact": r.impact.slug if r.impact is not None else "derived",
                "action": r.action,
            }
            for r in plan.rows
        ],
    }


def to_json(plan: Plan, diffs: bool = False) -> str:
    return json.dumps(change_set(plan, diffs), indent=2, sort_keys=False) + "\n"
