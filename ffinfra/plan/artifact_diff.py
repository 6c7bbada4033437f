"""Artifact changes: which rendered files change, who receives them, and what applying them takes."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ffinfra.plan.impact import Impact
from ffinfra.render.artifact import Artifact


@dataclass(frozen=True, slots=True)
class ArtifactChange:
    path: str
    kind: str  # added | removed | changed
    audience: str  # who receives it: "all via common", "sm_z0 via opensm", "operator"
    component: str
    lines_added: int
    lines_removed: int
    impact: Impact
    action: str
    diff: str  # unified diff text


# (path prefix or exact path, impact, action): first match wins. opensm/ and slurm.conf are judged by _rule.
_RULES: list[tuple[str, Impact, str]] = [
    ("slurm/", Impact.ROLLING_RESTART, "slurmctld restarts, then each batch's slurmd, drained; running jobs survive"),
    ("nccl/", Impact.HOT_RELOAD, "copy to the nodes: the next job reads it"),
    ("hfreduce/", Impact.HOT_RELOAD, "copy to the nodes: the next job reads it"),
    ("os/sysctl.conf", Impact.HOT_RELOAD, "copy and apply with sysctl -p"),
    ("os/limits.conf", Impact.HOT_RELOAD, "copy: new sessions and jobs get the limits; daemons at their restart"),
    ("hosts/", Impact.HOT_RELOAD, "copy /etc/hosts to every node"),
    ("threefs/chains/", Impact.DATA_MIGRATION, "the chain table changes: see the 3FS steps"),
    ("threefs/monitor/3fs-monitor.sql", Impact.HOT_RELOAD, "the monitor role applies the schema to ClickHouse"),
    ("threefs/systemd/", Impact.ROLLING_RESTART, "daemon-reload, then restart the 3FS service node by node"),
    ("threefs/", Impact.ROLLING_RESTART, "set-config the cluster-wide files; restart the 3FS services node by node"),
    ("inventory/", Impact.NOOP, "operator file"),
    ("fabric/", Impact.NOOP, "operator file (the cabling plan)"),
    ("acceptance/", Impact.NOOP, "operator file (pass marks)"),
    ("provision/dnsmasq.conf", Impact.HOT_RELOAD, "the boot server restarts dnsmasq (running nodes keep their leases)"),
    ("provision/", Impact.HOT_RELOAD, "the boot server serves it from the next provision (a node at its next boot)"),
]
_OPENSM_ROUTING = ("opensm.conf", "root_guids.conf", "cn_guids.conf")
# opensm.conf options OpenSM re-reads on SIGHUP without a restart (can_update in opensm's osm_subnet.c option
# table); anything else (routing_engine, guid, lmc, the GUID file names) takes effect at the next start.
_OPENSM_ON_THE_FLY = re.compile(r"^(qos|qos_\w+|sm_priority|sweep_interval|log_flags|force_log_flush)$")


def _changed_lines(diff: list[str]) -> list[str]:
    """The added and removed lines of a unified diff that are neither blank nor # comments."""
    out = []
    for line in diff[2:]:  # skip the ---/+++ file headers
        if line.startswith(("+", "-")):
            text = line[1:].strip()
            if text and not text.startswith("#"):
                out.append(text)
    return out


def _rule(path: str, kind: str = "added", changed: list[str] | None = None) -> tuple[Impact, str]:
    name = path.rsplit("/", 1)[-1]
    if kind == "changed" and not changed:
        return Impact.NOOP, "comments only: copy it with the next change"
    if path.startswith("opensm/"):
        if name == "opensm.conf" and kind == "changed":
            keys = sorted({line.split()[0] for line in changed or []})
            if all(_OPENSM_ON_THE_FLY.match(k) for k in keys):
                return Impact.HOT_RELOAD, f"SIGHUP OpenSM: it re-reads {', '.join(keys)} without a restart"
            return Impact.FABRIC_REROUTE, f"restart OpenSM ({', '.join(keys)}): a heavy sweep recomputes routes"
        if name in _OPENSM_ROUTING:
            return Impact.FABRIC_REROUTE, "OpenSM re-reads its config: a heavy sweep recomputes routes"
        return Impact.HOT_RELOAD, "SIGHUP OpenSM: it re-reads partitions, QoS policy and names"
    if path == "slurm/slurm.conf" and changed and all(line.startswith("PartitionName=") for line in changed):
        return Impact.HOT_RELOAD, "scontrol reconfigure: slurmctld re-reads the partitions"
    for prefix, impact, action in _RULES:
        if path.startswith(prefix):
            return impact, action
    return Impact.HOT_RELOAD, "copy to the targets"


def diff_artifacts(old: list[Artifact], new: list[Artifact], context: int = 3) -> list[ArtifactChange]:
    a = {x.path: x for x in old}
    b = {x.path: x for x in new}
    out: list[ArtifactChange] = []
    for path in sorted(set(a) | set(b)):
        x, y = a.get(path), b.get(path)
        if x is not None and y is not None and x.content == y.content:
            continue
        kind = "added" if x is None else "removed" if y is None else "changed"
        old_lines = x.content.splitlines(keepends=True) if x else []
        new_lines = y.content.splitlines(keepends=True) if y else []
        diff = list(difflib.unified_diff(old_lines, new_lines, f"a/{path}", f"b/{path}", n=context))
        plus = sum(1 for line in diff if line.startswith("+") and not line.startswith("+++"))
        minus = sum(1 for line in diff if line.startswith("-") and not line.startswith("---"))
        impact, action = _rule(path, kind, _changed_lines(diff))
        ref = y or x
        assert ref is not None
        out.append(ArtifactChange(path, kind, ref.audience, ref.component, plus, minus, impact, action, "".join(diff)))
    return out
