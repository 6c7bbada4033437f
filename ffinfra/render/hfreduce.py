"""HFReduce's environment file per hardware profile of the compute nodes: /etc/hfreduce/hfreduce.env.

It describes the library the hfreduce role installed (version, source digest, SIMD ceiling, where it is) and how
jobs should tune it (threads, chunk, buffer, timeout, NUMA node, interface, HCAs and SL); topology/hfreduce.py
decides every value. Jobs read it with `set -a; . /etc/hfreduce/hfreduce.env; set +a` and import hfreduce from
$HFREDUCE_PYTHONPATH. The role checks the built library against this file before it installs it.
"""

from __future__ import annotations

from ffinfra.render.artifact import Artifact
from ffinfra.render.env import header, render
from ffinfra.topology.hfreduce import ENV_PATH
from ffinfra.topology.model import Topology
from ffinfra.topology.services import profile_group

ROLES = ("hfreduce",)


def render_hfreduce(topo: Topology) -> list[Artifact]:
    layout = topo.hfreduce
    if layout is None:
        return []
    hdr = header("#", topo.name)
    return [
        Artifact(
            f"hfreduce/{b.profile}/hfreduce.env",
            render("hfreduce/hfreduce.env.j2", hdr=hdr, profile=b.profile, build_host=b.build_host, env=b.env),
            "hfreduce",
            ENV_PATH,
            ROLES,
            profile_group(b.profile),
        )
        for b in layout.builds
    ]
