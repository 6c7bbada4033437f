"""OpenSM per subnet: opensm.conf (ftree, LMC 0, QoS), GUID files, partitions, QoS policy, node-name map.

OpenSM accepts most bad input silently (a bad GUID line → minhop; a partitions syntax error → everyone a full
member), so every file here comes only from the compiled Topology, and the GUID files are strict one-per-line.
"""

from __future__ import annotations

from ffinfra.render.artifact import Artifact
from ffinfra.render.env import header, render
from ffinfra.topology.model import Subnet, Topology
from ffinfra.topology.services import OPENSM, sm_group

OPENSM_DIR = "/etc/opensm"
PARTITION_RATE = {100: 16, 200: 17, 400: 21, 800: 21}  # IBTA rate codes: 100G=16, 200G=17, 400G=21
MTU_CODE = {2048: 4, 4096: 5}


def sl2vl(topo: Topology) -> list[int]:
    """SL → VL for all 16 SLs: each class's SL to its VL, unused SLs to the 'other' class's VL."""
    classes = topo.spec.qos.classes
    table = [classes.other.vl] * 16
    for c in (classes.other, classes.hfreduce, classes.nccl, classes.storage):
        table[c.sl] = c.vl
    return table


def vlarb_low(topo: Topology) -> str:
    weights: dict[int, int] = {}
    classes = topo.spec.qos.classes
    for c in (classes.other, classes.hfreduce, classes.nccl, classes.storage):
        weights[c.vl] = weights.get(c.vl, 0) + c.weight
    return ",".join(f"{vl}:{min(255, w)}" for vl, w in sorted(weights.items()))


def subnet_dir(sn: Subnet) -> str:
    return f"{OPENSM_DIR}/{sn.name}"


def _subnet_artifacts(topo: Topology, sn: Subnet) -> list[Artifact]:
    spec = topo.spec
    sm = spec.fabric.subnet_manager
    d = subnet_dir(sn)
    cn_roles = set(sm.cn_roles)
    role = {h.name: h.role for h in topo.hosts}
    ports = [p for p in topo.host_ports if p.zone in sn.zones]
    # ftree reads CNs per leaf in file order: list them leaf by leaf, port by port, like the cabling.
    ports.sort(key=lambda p: (p.leaf, p.leaf_port))
    roots = [s for s in topo.switches if s.zone in sn.zones and s.layer == "spine"]
    switches = [s for s in topo.switches if s.zone in sn.zones]
    cas = sorted({(p.node_guid, p.description) for p in ports})
    storage_ports = [p for p in ports if role[p.host] == "storage"]
    compute_ports = [p for p in ports if role[p.host] == "compute"]
    service_ports = [p for p in ports if role[p.host] in ("management", "controller")]
    hdr = header("#", topo.name)
    ctx = {
        "hdr": hdr,
        "subnet": sn,
        "spec": spec,
        "dir": d,
        "sl2vl": ",".join(map(str, sl2vl(topo))),
        "vlarb_low": vlarb_low(topo),
        "zones": ", ".join(sn.zones),
    }
    group = sm_group(sn.name)
    base = f"opensm/{sn.name}"
    parts = spec.fabric.partitions
    return [
        Artifact(
            f"{base}/opensm.conf", render("opensm/opensm.conf.j2", **ctx), "opensm", f"{d}/opensm.conf", OPENSM, group
        ),
        Artifact(
            f"{base}/root_guids.conf",
            "".join(f"0x{s.guid:016x}\n" for s in roots),
            "opensm",
            f"{d}/root_guids.conf",
            OPENSM,
            group,
        ),
        Artifact(
            f"{base}/cn_guids.conf",
            "".join(f"0x{p.port_guid:016x}\n" for p in ports if role[p.host] in cn_roles),
            "opensm",
            f"{d}/cn_guids.conf",
            OPENSM,
            group,
        ),
        Artifact(
            f"{base}/partitions.conf",
            render(
                "opensm/partitions.conf.j2",
                **ctx,
                parts=parts,
                rate=PARTITION_RATE.get(spec.fabric.rate_gbps, 17),
                mtu=MTU_CODE[spec.fabric.mtu],
                compute=[p.port_guid for p in compute_ports],
                storage=[p.port_guid for p in storage_ports],
                service=[p.port_guid for p in service_ports],
            ),
            "opensm",
            f"{d}/partitions.conf",
            OPENSM,
            group,
        ),
        Artifact(
            f"{base}/qos-policy.conf",
            render(
                "opensm/qos-policy.conf.j2",
                **ctx,
                classes=spec.qos.classes,
                storage=[p.port_guid for p in storage_ports],
                storage_pkey=parts.storage_pkey,
            ),
            "opensm",
            f"{d}/qos-policy.conf",
            OPENSM,
            group,
        ),
        Artifact(
            f"{base}/ib-node-name-map",
            render("opensm/ib-node-name-map.j2", **ctx, switches=switches, cas=cas),
            "opensm",
            f"{d}/ib-node-name-map",
            OPENSM,
            group,
        ),
    ]


def render_opensm(topo: Topology) -> list[Artifact]:
    return [a for sn in topo.subnets for a in _subnet_artifacts(topo, sn)]
