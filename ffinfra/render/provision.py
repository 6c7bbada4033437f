"""Bare-metal boot files: dnsmasq's DHCP/TFTP config, the iPXE scripts and, for disk installs, each node's preseed
and cloud-init seed. Operator files (no dest): the boot server on the machine that runs ffinfra serves them
(apply/baremetal/). Rendered only for a stack that network-boots nodes: provisioning.method pxe and at least one
boot MAC in the inventory; other stacks (the lab, specs without an inventory) get none.

    provision/dnsmasq.conf                 reservations MAC → address → hostname, iPXE chain-loading
    provision/ipxe/boot.ipxe               the first script every known MAC gets: on to its own
    provision/ipxe/<aa-bb-cc-dd-ee-ff>.ipxe one per node: kernel, initrd and command line
    provision/install/<host>/preseed.cfg   (mode install) the Debian installer's answers
    provision/install/<host>/user-data     (mode install) cloud-init for the installed system's first boot
    provision/install/<host>/meta-data     (mode install) its NoCloud instance id

Nothing here holds a secret: keys are added by the boot server when it serves a node (0600 copies), and BMC
credentials never reach a rendered file.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ffinfra.render.artifact import Artifact
from ffinfra.render.env import header, render
from ffinfra.topology.model import Host, Topology


def network_booted(topo: Topology) -> list[Host]:
    """The hosts the boot server boots: those with a boot MAC, when the stack network-boots at all."""
    if topo.spec.provisioning.method != "pxe":
        return []
    return [h for h in topo.hosts if h.mac]


def server_address(topo: Topology) -> str | None:
    """The boot server's address on the management network: provisioning.server.address, else the gateway."""
    return topo.spec.provisioning.server.address or topo.spec.network.management.gateway


def base_url(topo: Topology) -> str:
    return f"http://{server_address(topo)}:{topo.spec.provisioning.server.http_port}"


def installer_url(topo: Topology) -> str:
    inst = topo.spec.provisioning.install
    netboot = "main/installer-amd64/current/images/netboot/debian-installer/amd64"
    return f"{inst.mirror.rstrip('/')}/dists/{inst.suite}/{netboot}"


def script_name(mac: str) -> str:
    """iPXE's ${mac:hexhyp}: the node's script is found by its boot MAC."""
    return mac.lower().replace(":", "-") + ".ipxe"


def render_provision(topo: Topology) -> list[Artifact]:
    hosts = network_booted(topo)
    if not hosts:
        return []
    spec = topo.spec
    prov = spec.provisioning
    net = ipaddress.ip_network(spec.network.management.cidr)
    server = server_address(topo) or "SERVER"  # provider preflight refuses a stack without one
    url = base_url(topo)
    domain = spec.network.domain
    discovery = tuple(prov.server.discovery_range.split("-")) if prov.server.discovery_range else None
    out = [
        Artifact(
            "provision/dnsmasq.conf",
            render(
                "provision/dnsmasq.conf.j2",
                hdr=header("#", topo.name),
                interface=prov.server.interface or "MGMT_INTERFACE",
                network=str(net.network_address),
                netmask=str(net.netmask),
                gateway=spec.network.management.gateway,
                domain=domain,
                discovery=discovery,
                router_advertisements=prov.server.router_advertisements,
                server=server,
                base_url=url,
                hosts=[(h.mac, h.mgmt_ip, h.name) for h in hosts],
            ),
            "provision",
        ),
        Artifact(
            "provision/ipxe/boot.ipxe",
            render("provision/boot.ipxe.j2", hdr=header("#", topo.name), base_url=url, stack=topo.name),
            "provision",
        ),
    ]
    mirror = urlsplit(prov.install.mirror)
    for h in hosts:
        ctx = {
            "hdr": header("#", topo.name),
            "host": h.name,
            "mac": h.mac,
            "ip": h.mgmt_ip,
            "mode": prov.mode,
            "base_url": url,
            "domain": domain,
            "installer": installer_url(topo),
            "stack": topo.name,
            "install": prov.install,
            "disk": prov.install.disk,
            "timezone": prov.install.timezone,
            "mirror_host": mirror.netloc,
            "mirror_dir": mirror.path or "/",
        }
        out.append(
            Artifact(f"provision/ipxe/{script_name(h.mac or '')}", render("provision/node.ipxe.j2", **ctx), "provision")
        )
        if prov.mode == "install":
            base = f"provision/install/{h.name}"
            out.append(Artifact(f"{base}/preseed.cfg", render("provision/preseed.cfg.j2", **ctx), "provision"))
            out.append(Artifact(f"{base}/user-data", render("provision/user-data.j2", **ctx), "provision"))
            out.append(Artifact(f"{base}/meta-data", render("provision/meta-data.j2", **ctx), "provision"))
    return out
