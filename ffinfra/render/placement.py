"""Which files each role installs on each host: the one answer the fast path, state.json, `up`'s verify, `status`
and the node suite read.

A host gets an artifact from role r when the artifact names r among its roles, the host runs r
(topology/services.py) and the host is in the artifact's group. The roles make the same selection in Ansible from
manifest.json and the inventory groups (`ffinfra_groups` in group_vars/all.yml), so the two agree by
construction; tests/unit/roles/test_roles.py has Ansible itself evaluate the roles' selection on every reference
stack and compares, and `up` checks Ansible's report of what it installed against it on every complete run.
"""

from __future__ import annotations

from ffinfra.render.artifact import Artifact
from ffinfra.topology.model import Topology
from ffinfra.topology.services import host_group

# host → Ansible role → install path → the artifact installed there
Placement = dict[str, dict[str, dict[str, Artifact]]]


def place(topo: Topology, artifacts: list[Artifact]) -> Placement:
    services = topo.services
    groups = services.groups | {"all": tuple(h.name for h in topo.hosts)}
    groups |= {host_group(h.name): (h.name,) for h in topo.hosts}  # per-node files (a 3FS node id)
    members = {name: set(hosts) for name, hosts in groups.items()}
    out: Placement = {h.name: {} for h in topo.hosts}
    for a in artifacts:
        if not a.dest:
            continue
        for host in members.get(a.group, set()):
            for role in a.roles:
                if services.of(host).runs(role):
                    out[host].setdefault(role, {})[a.dest] = a
    # Roles in play order, files by path: the same spec gives the same state.json, byte for byte.
    return {
        h: {r: dict(sorted(roles[r].items())) for r in services.of(h).roles if r in roles} for h, roles in out.items()
    }


def installed_files(placement: Placement) -> dict[str, dict[str, str]]:
    """host → {install path: sha256} over all its roles (what must be on the node, byte for byte)."""
    return {
        h: {dest: a.sha256 for files in roles.values() for dest, a in files.items()} for h, roles in placement.items()
    }
