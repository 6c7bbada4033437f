"""The software ffinfra builds or installs on the nodes, as builds: which build each component is, and where.

The applied spec alone does not say which build a cluster runs: the same spec compiled by a newer ffinfra brings a
new HFReduce source (and a build option such as the SIMD ceiling changes the build too). So `up` records the
builds it applied (state.json, beside the applied spec), and the plan compares them with the builds the spec
compiles to now. A component whose build differs is a rolling change of its hosts: `up`/`upgrade` take them
through the batches (the canary first; for Slurm, slurmctld before any slurmd, as Slurm's upgrade order asks).

    builds_of(topo)                      → {"hfreduce/gpu-a100": "0.3.0+1a2b3c4d5e6f avx512 cuda ibverbs",
                                            "slurm": "22.05.8-4+deb12u3", "opensm": "distribution", ...}
    changed_software(applied, topo)      → [Software("hfreduce/gpu-a100", old, new, hosts)]

Slurm and OpenSM are the distribution's packages at the version the spec pins (scheduler.slurm.version,
fabric.subnet_manager.version), or whatever the distribution has ("distribution"). 3FS is the commit it is built
from (storage.threefs.build.commit), on every 3FS host: its storage nodes roll never two of a chain at once, each
once the last one's chains are complete again.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffinfra.topology.model import Topology
from ffinfra.topology.services import SLURM_ROLES

UNPINNED = "distribution"  # a package the spec pins no version of


@dataclass(frozen=True, slots=True)
class Software:
    component: str  # "hfreduce/<profile>"
    old: str  # the build applied
    new: str  # the build the spec compiles to now
    hosts: tuple[str, ...]  # where it is installed

    @property
    def action(self) -> str:
        """What rolling it out does, for the plan's row."""
        kind = self.component.split("/")[0]
        return ACTIONS[kind]


ACTIONS = {
    "hfreduce": "built once, installed beside the old build batch by batch (the canary first); running jobs keep "
    "theirs",
    "slurm": "that version of the Slurm packages: slurmctld first, then each batch's slurmd, drained",
    "opensm": "that version of opensm: the standby SMs first, then the masters",
    "threefs": "built once; each 3FS host's services restart batch by batch, never two storage nodes of a chain",
}


def _hfreduce(topo: Topology) -> dict[str, tuple[str, tuple[str, ...]]]:
    layout = topo.hfreduce
    if layout is None:
        return {}
    out = {}
    for b in layout.builds:
        options = [b.simd] + [
            name for name, on in (("cuda", b.cuda), ("ibverbs", b.ibverbs), ("nvlink", b.nvlink)) if on
        ]
        out[f"hfreduce/{b.profile}"] = (f"{layout.source.version}+{layout.source.short} {' '.join(options)}", b.hosts)
    return out


def _packages(topo: Topology) -> dict[str, tuple[str, tuple[str, ...]]]:
    svc = topo.services
    slurm = tuple(h for h, s in svc.hosts.items() if any(r in s.roles for r in SLURM_ROLES))
    return {
        "slurm": (topo.spec.scheduler.slurm.version or UNPINNED, slurm),
        "opensm": (topo.spec.fabric.subnet_manager.version or UNPINNED, tuple(svc.hosts_running("opensm"))),
    }


def _threefs(topo: Topology) -> dict[str, tuple[str, tuple[str, ...]]]:
    if topo.threefs is None:
        return {}
    return {"threefs": (topo.spec.storage.threefs.build.commit, topo.threefs.hosts)}


def software_hosts(topo: Topology) -> dict[str, tuple[str, tuple[str, ...]]]:
    """component → (build, the hosts it is installed on)."""
    return _hfreduce(topo) | _packages(topo) | _threefs(topo)


def builds_of(topo: Topology) -> dict[str, str]:
    """component → build, what `up` records once every host runs it."""
    return {name: build for name, (build, _) in sorted(software_hosts(topo).items())}


def changed_software(applied: dict[str, str], topo: Topology) -> list[Software]:
    """The components whose build differs from the applied one. A component the record does not name (new, or
    recorded by an ffinfra that kept no builds) is not a change of build: its hosts are new to it."""
    return [
        Software(name, applied[name], build, hosts)
        for name, (build, hosts) in sorted(software_hosts(topo).items())
        if name in applied and applied[name] != build
    ]
