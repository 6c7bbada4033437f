"""Acceptance pass marks as a file the test suites read: every metric with its value, unit and source."""

from __future__ import annotations

import json

from ffinfra.render.artifact import Artifact
from ffinfra.topology.model import Topology
from ffinfra.topology.thresholds import derive_thresholds


def render_acceptance(topo: Topology) -> list[Artifact]:
    a = topo.spec.acceptance
    data = {
        "stack": topo.name,
        "repeats": a.repeats,
        "thresholds": {
            t.metric: {"value": t.value, "unit": t.unit, "source": t.source} for t in derive_thresholds(topo)
        },
    }
    return [
        Artifact(
            "acceptance/thresholds.json",
            json.dumps(data, indent=2, sort_keys=True) + "\n",
            "acceptance",
        )
    ]
