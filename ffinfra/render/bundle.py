"""Write artifacts to a build folder with a manifest; byte-identical for the same spec.

The manifest (manifest.json) lists each file's sha256, component, install path, installing roles and inventory
group, plus the spec's sha256: the roles select their files from it, the plan diffs it. Files a previous build
wrote that are no longer rendered are removed; nothing else in the folder is touched.
"""

from __future__ import annotations

import json
from pathlib import Path

from ffinfra import __version__
from ffinfra.atomic import write_if_changed
from ffinfra.render.artifact import Artifact
from ffinfra.topology.model import Topology

MANIFEST = "manifest.json"


def manifest(topo: Topology, artifacts: list[Artifact]) -> dict[str, object]:
    return {
        "stack": topo.name,
        "ffinfra_version": __version__,
        "spec_sha256": topo.spec_sha256,
        "artifacts": {
            a.path: {
                "sha256": a.sha256,
                "component": a.component,
                "dest": a.dest,
                "roles": list(a.roles),
                "group": a.group if a.dest else "",
                "mode": f"{a.mode:04o}",
            }
            for a in artifacts
        },
    }


def write_bundle(topo: Topology, artifacts: list[Artifact], out: Path) -> tuple[int, int, int]:
    """Returns (written, unchanged, removed) file counts."""
    out.mkdir(parents=True, exist_ok=True)
    old: set[str] = set()
    mpath = out / MANIFEST
    if mpath.exists():
        try:
            old = set(json.loads(mpath.read_text())["artifacts"])
        except (ValueError, KeyError):
            old = set()
    written = unchanged = 0
    for a in artifacts:
        if write_if_changed(out / a.path, a.content.encode(), a.mode):
            written += 1
        else:
            unchanged += 1
    removed = 0
    for stale in sorted(old - {a.path for a in artifacts}):
        p = out / stale
        if p.is_file():
            p.unlink()
            removed += 1
    write_if_changed(mpath, (json.dumps(manifest(topo, artifacts), indent=2, sort_keys=True) + "\n").encode(), 0o644)
    return written, unchanged, removed
