"""Every artifact family, in one list: Topology → [Artifact]. Add a renderer here to have `build` emit it."""

from __future__ import annotations

from collections.abc import Callable

from ffinfra.render.acceptance import render_acceptance
from ffinfra.render.artifact import Artifact
from ffinfra.render.fabric import render_fabric
from ffinfra.render.hfreduce import render_hfreduce
from ffinfra.render.hosts import render_hosts
from ffinfra.render.inventory import render_inventory
from ffinfra.render.nccl import render_nccl
from ffinfra.render.opensm import render_opensm
from ffinfra.render.ostune import render_ostune
from ffinfra.render.provision import render_provision
from ffinfra.render.slurm import render_slurm
from ffinfra.render.threefs import render_threefs
from ffinfra.topology.model import Topology

RENDERERS: list[Callable[[Topology], list[Artifact]]] = [
    render_opensm,
    render_fabric,
    render_acceptance,
    render_slurm,
    render_nccl,
    render_hfreduce,
    render_ostune,
    render_threefs,
    render_hosts,
    render_inventory,
    render_provision,
]


def render_all(topo: Topology) -> list[Artifact]:
    artifacts = [a for r in RENDERERS for a in r(topo)]
    paths = [a.path for a in artifacts]
    dupes = {p for p in paths if paths.count(p) > 1} if len(set(paths)) != len(paths) else set()
    if dupes:
        raise AssertionError(f"two renderers wrote the same path: {sorted(dupes)}")
    return sorted(artifacts, key=lambda a: a.path)
