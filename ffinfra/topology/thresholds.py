"""Acceptance pass marks: what the spec says, or derived from the hardware, always with where it came from.

Peers print numbers and leave users asking "is this normal?"; ffinfra states the expected figure up front.
"""

from __future__ import annotations

from dataclasses import dataclass

from ffinfra.topology.model import Topology


@dataclass(frozen=True, slots=True)
class Threshold:
    metric: str
    value: float | None  # None: measured and reported, not judged (no reference)
    unit: str
    source: str  # "spec" or how it was derived


def derive_thresholds(topo: Topology) -> list[Threshold]:
    spec = topo.spec
    a = spec.acceptance
    frac = a.line_rate_fraction
    pct = f"{frac:.0%}"
    link = spec.fabric.rate_gbps
    compute = [h for h in topo.hosts if h.role == "compute"]
    eth = [n.rate_gbps for h in compute for n in topo.profile(h).nics if n.kind == "ethernet"]
    eth_rate = min(eth) if eth else None
    client_ib = min(
        (sum(n.rate_gbps * n.ports for n in topo.profile(h).ib_nics) for h in compute if topo.profile(h).ib_nics),
        default=None,
    )
    gpu = any(topo.profile(h).gpus for h in compute)

    def pick(metric: str, field: str, derived: float | None, unit: str, how: str) -> Threshold:
        given = getattr(a, field)
        if given is not None:
            return Threshold(metric, given, unit, f"spec: acceptance.{field}")
        if derived is None:
            return Threshold(metric, None, unit, "no reference: reported, not judged")
        return Threshold(metric, round(derived, 2), unit, how)

    out = [
        pick("ib_write_bw", "ib_write_bw_gbit", frac * link, "Gb/s", f"{pct} of {spec.fabric.link_rate} ({link} Gb/s)"),
        pick(
            "iperf3",
            "iperf3_gbit",
            frac * eth_rate if eth_rate else None,
            "Gb/s",
            f"{pct} of the {eth_rate} Gb/s Ethernet NIC",
        ),
    ]
    if gpu:
        out.append(
            pick(
                "nccl_all_reduce_busbw",
                "nccl_busbw_gbyte",
                frac * client_ib / 8 if client_ib else None,
                "GB/s",
                f"{pct} of the compute node's {client_ib} Gb/s IB (upper bound; calibrate for PCIe nodes)",
            )
        )
    if topo.hfreduce is not None and len(compute) >= 2:  # busbw of HFReduce's benchmark (accept/allreduce.py)
        out.append(pick("hfreduce_allreduce", "hfreduce_gbyte", None, "GB/s", ""))
    out += [
        pick("fio_read", "fio_read_gbyte", None, "GB/s", ""),
        pick("fio_write", "fio_write_gbyte", None, "GB/s", ""),
    ]
    if spec.storage.threefs.enabled and client_ib:
        out.append(
            pick(
                "storage_read_per_client",
                "storage_read_gbyte_per_client",
                frac * client_ib / 8,
                "GB/s",
                f"{pct} of the client's {client_ib} Gb/s IB",
            )
        )
    return out
