"""/etc/hosts for every host: management names, then <name>-ib (IPoIB) and <name>-bmc names when those exist.

Slurm, Ansible, NCCL's bootstrap and 3FS all resolve node names; a static file keeps that working when DNS
is down and needs no DNS server on day one.
"""

from __future__ import annotations

from ffinfra.render.artifact import Artifact
from ffinfra.render.env import header, render
from ffinfra.topology.model import Topology


def host_entries(topo: Topology) -> dict[str, list[tuple[str, str, str]]]:
    """Section → [(address, fqdn, short name)] in spec host order."""
    domain = topo.spec.network.domain
    net = topo.spec.network
    sections: dict[str, list[tuple[str, str, str]]] = {
        "management": [(h.mgmt_ip, f"{h.name}.{domain}", h.name) for h in topo.hosts]
    }
    if net.ipoib:
        # Only hosts with an IB port have an IPoIB interface; the others keep their unused address unnamed.
        sections["IPoIB"] = [
            (h.ipoib_ip, f"{h.name}-ib.{domain}", f"{h.name}-ib") for h in topo.hosts if h.ipoib_ip and h.ports
        ]
    if net.bmc:
        sections["BMC"] = [(h.bmc_ip, f"{h.name}-bmc.{domain}", f"{h.name}-bmc") for h in topo.hosts if h.bmc_ip]
    return sections


def render_hosts(topo: Topology) -> list[Artifact]:
    sections = host_entries(topo)
    width = max((len(a) for rows in sections.values() for a, _, _ in rows), default=9)
    return [
        Artifact(
            "hosts/hosts",
            render("hosts/hosts.j2", hdr=header("#", topo.name), sections=sections, width=max(width, 9)),
            "hosts",
            "/etc/hosts",
            ("common",),
        )
    ]
