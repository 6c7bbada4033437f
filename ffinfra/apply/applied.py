"""The plan `up` enforces: from the spec the cluster runs (state.json's `applied`) to the spec being applied.

    plan = plan_against_applied(compiled, state, allow_destructive)   # None for a stack never applied
    plan.refused → PlanRefused: unsupported changes always, destructive ones unless --allow-destructive;
                   nothing has been touched when it is raised
    reload_only(plan) → the files whose change the plan judged a reload (SIGHUP OpenSM, scontrol reconfigure):
                   the roles reload instead of restarting exactly these, so the handlers do what the plan says

The applied spec is kept normalised (every field, defaults included) with the inventory CSV's rows, and compiled
back through the same compiler as any spec, from a private temporary folder.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import tempfile
from pathlib import Path, PurePosixPath

import yaml

from ffinfra.compile import Compiled, compile_stack
from ffinfra.errors import OperationalError, SpecInvalid, UserError
from ffinfra.plan.impact import Impact
from ffinfra.plan.plan import Plan, build_plan
from ffinfra.plan.software import builds_of
from ffinfra.runtime.state import AppliedSpec, StackState
from ffinfra.stack import SPEC_FILE, StackRef
from ffinfra.topology.facts import COLUMNS, NodeFacts

APPLIED_LABEL = "applied (state.json)"


class PlanRefused(UserError):
    """`up` would apply changes its plan refuses; carries the plan so the CLI can show the rows."""

    def __init__(self, plan: Plan):
        self.plan = plan
        rows = [r for r in plan.rows if r.impact is not None and r.impact >= Impact.DESTRUCTIVE]
        what = "; ".join(f"{r.subject} ({r.impact.label if r.impact else ''})" for r in rows[:5])
        super().__init__(f"the plan is refused: {what}")


def applied_record(c: Compiled, run: str) -> AppliedSpec:
    return AppliedSpec(
        spec=c.spec.model_dump(mode="json"),
        facts={name: _facts_row(f) for name, f in sorted(c.facts.items())},
        spec_sha256=c.topology.spec_sha256,
        run=run,
        builds=builds_of(c.topology),
    )


def _facts_row(f: NodeFacts) -> dict[str, object]:
    row = dataclasses.asdict(f)
    row.pop("line", None)
    row["ib_guids"] = [f"0x{g:x}" for g in f.ib_guids]
    return row


def _facts_csv(facts: dict[str, dict[str, object]]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(COLUMNS)
    for row in facts.values():
        cells = {**row, "ib_guids": ";".join(row.get("ib_guids") or [])}  # type: ignore[arg-type]
        w.writerow(["" if cells.get(c) is None else str(cells[c]) for c in COLUMNS])
    return out.getvalue()


def compile_applied(applied: AppliedSpec, name: str) -> Compiled:
    """The cluster as last applied, compiled from state.json (with the inventory rows it was applied with)."""
    csv_rel = (applied.spec.get("inventory") or {}).get("csv")
    with tempfile.TemporaryDirectory(prefix="ffinfra-applied-") as tmp:
        # Deep enough that a CSV path like ../shared/nodes.csv still lands inside the temporary folder.
        ups = PurePosixPath(csv_rel).parts.count("..") if csv_rel else 0
        stack_dir = Path(tmp).joinpath(*(["d"] * ups), name)
        stack_dir.mkdir(parents=True)
        spec_path = stack_dir / SPEC_FILE
        spec_path.write_text(yaml.safe_dump(applied.spec, sort_keys=False))
        if csv_rel:
            csv_path = (stack_dir / csv_rel).resolve()
            csv_path.parent.mkdir(parents=True, exist_ok=True)
            csv_path.write_text(_facts_csv(applied.facts))
        try:
            return compile_stack(StackRef(name, stack_dir, spec_path, label=APPLIED_LABEL))
        except SpecInvalid as exc:
            first = exc.findings[0].format() if exc.findings else str(exc)
            raise OperationalError(
                f"the spec this stack was last applied with (state.json) no longer compiles with this ffinfra: "
                f"{first}. `up` cannot tell what the change does; move state.json aside to apply as a new stack"
            ) from None


def plan_against_applied(c: Compiled, state: StackState, allow_destructive: bool = False) -> Plan | None:
    """The plan from the applied spec to `c`; None when nothing was applied (a new stack, or state from an
    ffinfra that did not record the spec)."""
    if state.applied is None or not state.hosts:
        return None
    old = compile_applied(state.applied, c.topology.name)
    return build_plan(
        old,
        c,
        APPLIED_LABEL,
        c.stack.display_path,
        allow_destructive=allow_destructive,
        old_builds=state.applied.builds,
    )


def reload_only(plan: Plan | None) -> list[str]:
    """Artifact paths whose change the plan judged a hot reload: their roles reload the daemon instead of
    restarting it. Empty without a plan (a first apply, or a repair: restart, since what runs is unknown)."""
    if plan is None:
        return []
    return sorted(a.path for a in plan.artifacts if a.kind == "changed" and a.impact <= Impact.HOT_RELOAD)
