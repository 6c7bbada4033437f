"""Calibrated references (ReFrame's idea): the figures a healthy cluster measured, kept in the stack next to its
spec, each with a tolerance. The pass mark is value × (1 − tolerance).

    stacks/<name>/references.yaml      written by `ffinfra test --calibrate`, reviewed and committed like the spec

Precedence of a pass mark: a figure the spec's `acceptance:` section sets (explicit beats measured), then the
calibrated reference, then the figure derived from the hardware (a fraction of line rate).
"""

from __future__ import annotations

import statistics
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ffinfra.accept.results import RunResults
from ffinfra.atomic import write_atomic
from ffinfra.errors import UserError
from ffinfra.topology.thresholds import Threshold

FILE = "references.yaml"
# Metrics a reference can calibrate: throughput figures where more is better.
CALIBRATED = (
    "ib_write_bw",
    "iperf3",
    "nccl_all_reduce_busbw",
    "hfreduce_allreduce",
    "fio_read",
    "fio_write",
    "storage_read_per_client",
)


class Reference(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: float = Field(gt=0, description="the calibrated figure (median over the subjects measured)")
    unit: str
    tolerance: float = Field(0.15, ge=0, lt=1, description="pass mark = value × (1 − tolerance)")
    calibrated: str = Field("", description="UTC time of the calibration run")
    run: str = Field("", description="the run folder it came from")
    subjects: int = Field(0, ge=0, description="measurements the median was taken over")

    @property
    def mark(self) -> float:
        return round(self.value * (1 - self.tolerance), 4)


def load_references(stack_dir: Path) -> dict[str, Reference]:
    path = Path(stack_dir) / FILE
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of metric → reference")
    out = {}
    for metric, body in data.items():
        if metric not in CALIBRATED:
            raise UserError(f"{path}: {metric!r} cannot be calibrated (known: {', '.join(CALIBRATED)})")
        try:
            out[metric] = Reference.model_validate(body)
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in (metric, *first["loc"]))
            raise UserError(f"{path}: {where}: {first['msg']}") from None
    return out


def apply_references(thresholds: dict[str, Threshold], refs: dict[str, Reference]) -> dict[str, Threshold]:
    out = dict(thresholds)
    for metric, ref in refs.items():
        t = out.get(metric)
        if t is not None and t.source.startswith("spec:"):
            continue  # the spec's own figure wins
        out[metric] = Threshold(
            metric,
            ref.mark,
            ref.unit,
            f"calibrated {ref.value:g} {ref.unit} − {ref.tolerance:.0%} ({ref.calibrated or 'undated'})",
        )
    return out


def calibrate(results: RunResults, tolerance: float, run: str) -> dict[str, Reference]:
    """A reference per calibratable metric measured in `results`: the median of its values."""
    values: dict[str, list[float]] = {}
    units: dict[str, str] = {}
    for t in results.tests:
        for m in t.measurements:
            if m.metric in CALIBRATED and m.value is not None and m.value > 0:
                values.setdefault(m.metric, []).append(m.value)
                units[m.metric] = m.unit
    return {
        metric: Reference(
            value=round(statistics.median(vs), 4),
            unit=units[metric],
            tolerance=tolerance,
            calibrated=results.finished or results.started,
            run=run,
            subjects=len(vs),
        )
        for metric, vs in sorted(values.items())
    }


def save_references(stack_dir: Path, new: dict[str, Reference], stack: str) -> Path:
    """Merge `new` into the stack's references.yaml (metrics not measured this time keep their reference)."""
    refs = {**load_references(stack_dir), **new}
    body = {k: refs[k].model_dump() for k in sorted(refs)}
    text = (
        f"# Calibrated references of stack '{stack}', written by `ffinfra test --calibrate` (ReFrame-style).\n"
        "# Pass mark = value × (1 − tolerance). The spec's acceptance: figures, where set, still win.\n"
        "# Review and commit this file like the spec; edit a tolerance by hand if a figure is noisy.\n"
        + yaml.safe_dump(body, sort_keys=True, allow_unicode=True)
    )
    path = Path(stack_dir) / FILE
    write_atomic(path, text)
    return path


def with_references(thresholds: dict[str, Threshold], stack_dir: Path) -> dict[str, Threshold]:
    return apply_references(thresholds, load_references(stack_dir))
