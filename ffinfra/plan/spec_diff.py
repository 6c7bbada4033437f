"""Spec changes: the validated specs compared field by field (defaults filled in), as YAML paths.

Lists of named things (zones, NICs, partitions) are matched by name, so inserting one does not look like a
change to every item after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ffinfra.plan.policy import Policy, policy_for
from ffinfra.spec.models import ClusterSpec
from ffinfra.topology.nodes import default_homing, group_counts

Path = tuple[str | int, ...]
_LIST_KEYS = ("name", "device")  # how items of a list are identified, when they have one of these


@dataclass(frozen=True, slots=True)
class SpecChange:
    path: Path
    old: Any  # None when added
    new: Any  # None when removed
    kind: str  # added | removed | changed
    policy: Policy | None

    @property
    def display_path(self) -> str:
        out = ""
        for p in self.path:
            out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
        return out


def _key(items: list[Any]) -> str | None:
    for k in _LIST_KEYS:
        if items and all(isinstance(i, dict) and k in i for i in items):
            names = [i[k] for i in items]
            if len(set(names)) == len(names):
                return k
    return None


def _walk(old: Any, new: Any, path: Path, out: list[tuple[Path, Any, Any, str]]) -> None:
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            if k not in new:
                out.append(((*path, k), old[k], None, "removed"))
            elif k not in old:
                out.append(((*path, k), None, new[k], "added"))
            else:
                _walk(old[k], new[k], (*path, k), out)
        return
    if isinstance(old, list) and isinstance(new, list):
        key = _key(old) if old else _key(new)  # an empty list takes the new items' key
        if key is not None and (not new or _key(new) == key):
            o = {i[key]: i for i in old}
            n = {i[key]: i for i in new}
            # An item whose name changed in place (one gone, one new, at the same position) is a rename, reported
            # as a change of its name under the old name (fabric.zones.z1.name), not as one removed + one added.
            renamed = {
                old[i][key]: new[i][key]
                for i in range(min(len(old), len(new)))
                if old[i][key] not in n and new[i][key] not in o
            }
            for name in list(o) + [x for x in n if x not in o and x not in renamed.values()]:
                if name in renamed:
                    _walk(o[name], n[renamed[name]], (*path, name), out)
                elif name not in n:
                    out.append(((*path, name), o[name], None, "removed"))
                elif name not in o:
                    out.append(((*path, name), None, n[name], "added"))
                else:
                    _walk(o[name], n[name], (*path, name), out)
            return
        if all(not isinstance(i, dict | list) for i in old + new):
            out.append((path, old, new, "changed"))  # a list of scalars reads best whole
            return
        for i in range(max(len(old), len(new))):
            if i >= len(new):
                out.append(((*path, i), old[i], None, "removed"))
            elif i >= len(old):
                out.append(((*path, i), None, new[i], "added"))
            else:
                _walk(old[i], new[i], (*path, i), out)
        return
    out.append((path, old, new, "changed"))


def effective(spec: ClusterSpec) -> dict[str, Any]:
    """The spec as data with the defaults that other fields decide filled in, so that writing out a default
    (homing: all-zones where it was already implied) is not reported as a change."""
    data = spec.model_dump(mode="json")
    installed = group_counts(spec)[0].counts  # `count` left out means the whole hostlist: say how many
    for name, g in spec.nodes.items():
        data["nodes"][name]["homing"] = default_homing(spec, g)
        data["nodes"][name]["count"] = installed[name]
    for name, prof in spec.hardware.items():
        data["hardware"][name]["cpu"]["numa_nodes"] = prof.cpu.numa
    data["storage"]["threefs"]["cluster_id"] = spec.storage.threefs.cluster_id or spec.name
    data["scheduler"]["slurm"]["cluster_name"] = spec.scheduler.slurm.cluster_name or spec.name
    return data


def diff_specs(old: ClusterSpec, new: ClusterSpec) -> list[SpecChange]:
    raw: list[tuple[Path, Any, Any, str]] = []
    _walk(effective(old), effective(new), (), raw)

    def implied_twice(p: Path) -> bool:
        # A count left out on both sides only follows the hostlist, whose change is already a row.
        if len(p) != 3 or p[0] != "nodes" or p[2] != "count":
            return False
        a, b = old.nodes.get(str(p[1])), new.nodes.get(str(p[1]))
        return a is not None and b is not None and a.count is None and b.count is None

    return [SpecChange(p, o, n, k, policy_for(p)) for p, o, n, k in raw if not implied_twice(p)]
