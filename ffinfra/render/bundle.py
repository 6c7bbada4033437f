"""Write artifacts to a build folder with a manifest; byte-identical for the same spec.

The manifest (manifest.json) lists each file's sha256, component, targets and install path, plus the spec's
sha256: the plan diffs manifests, apply records them in state. Files a previous build wrote that are no longer
rendered are removed; nothing else in the folder is touched.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ffinfra import __version__
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
                "targets": a.targets,
                "dest": a.dest,
                "mode": f"{a.mode:04o}",
            }
            for a in artifacts
        },
    }


def _write_atomic(path: Path, data: bytes, mode: int) -> bool:
    """Write only when content differs (keeps mtimes for unchanged files); returns True if written."""
    if path.exists() and path.read_bytes() == data:
        if (path.stat().st_mode & 0o777) != mode:
            path.chmod(mode)
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


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
        if _write_atomic(out / a.path, a.content.encode(), a.mode):
            written += 1
        else:
            unchanged += 1
    removed = 0
    for stale in sorted(old - {a.path for a in artifacts}):
        p = out / stale
        if p.is_file():
            p.unlink()
            removed += 1
    _write_atomic(mpath, (json.dumps(manifest(topo, artifacts), indent=2, sort_keys=True) + "\n").encode(), 0o644)
    return written, unchanged, removed
