"""ASCII picture of the zones for `ffinfra show`: spines over leaves, what each leaf carries, how zones join."""

from __future__ import annotations

from ffinfra.topology.summary import Summary, ZoneSummary

WIDTH = 74


def _box(title: str, body: str) -> list[str]:
    inner = WIDTH - 4
    top = f"┌─ {title} " + "─" * max(0, inner - len(title) - 1) + "┐"
    return [top, f"│ {body:<{inner}} │", "└" + "─" * (WIDTH - 2) + "┘"]


def _names(prefix: str, n: int) -> str:
    width = max(2, len(str(n)))
    if n <= 6:
        return " ".join(f"{prefix}{i:0{width}d}" for i in range(1, n + 1))
    return f"{prefix}{1:0{width}d} {prefix}{2:0{width}d} {prefix}{3:0{width}d} … {prefix}{n:0{width}d}"


def zone_picture(z: ZoneSummary) -> list[str]:
    lines = [f"zone {z.name}  (subnet {z.subnet}, SM on {z.sm_host})"]
    lines += _box(
        f"{z.spines} spines", f"{_names(z.name + '-sp', z.spines)}   ports {z.spine_ports_used}/{z.spine_ports_total}"
    )
    per = f"{z.links_per_spine} link(s) to each spine" if z.links_per_spine else "no spines"
    lines.append(f"{'':>6}│ {z.uplinks_per_leaf} uplinks per leaf, {per}")
    lines += _box(
        f"{z.leaves} leaves, {z.oversubscription} down:up",
        f"{_names(z.name + '-lf', z.leaves)}   host ports {z.host_ports_used}/{z.host_ports_total}"
        + (f" +{z.host_ports_reserved} reserved" if z.host_ports_reserved else ""),
    )
    mix = " · ".join(f"{role} {lo}" + (f"-{hi}" if hi != lo else "") for role, (lo, hi) in z.roles_per_leaf.items())
    lines.append(f"{'':>6}each leaf{', reserved ports included' if z.host_ports_reserved else ''}: {mix}")
    return lines


def picture(s: Summary) -> str:
    lines: list[str] = []
    for i, z in enumerate(s.zones):
        if i:
            join = "storage NICs in every zone" if s.design == "zone-subnets" else f"{s.cross_zone_gbps} Gb/s of links"
            lines += ["", f"{'':>6}╪  zones joined by: {join}", ""]
        lines += zone_picture(z)
    return "\n".join(lines)
