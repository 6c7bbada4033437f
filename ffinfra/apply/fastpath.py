"""Skip Ansible when nothing can have changed: the same inputs as the last successful apply, and every file the
roles installed still on the nodes, byte for byte.

The inputs digest covers what a run of the playbook depends on: every installed artifact (path, target, hash),
the roles and playbooks, the secrets' fingerprints, the node addresses and ffinfra's version. The live check
reads the installed files' hashes on every node (one command per node, in parallel), so a config edited by hand
on a node is noticed and repaired by a real apply. `--force` always runs the playbook.
"""

from __future__ import annotations

import hashlib
import shlex
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ffinfra import __version__
from ffinfra.apply.provider import Provider
from ffinfra.render.artifact import Artifact
from ffinfra.render.slurm import slurm_controller
from ffinfra.topology.model import Topology


def _runs_role(topo: Topology, component: str) -> set[str]:
    """Hosts whose plays install a component (mirrors the host patterns of playbooks/site.yml)."""
    if component == "slurm":
        return {h.name for h in topo.hosts_with_role("compute")} | {slurm_controller(topo).name}
    if component == "opensm":
        return {sn.sm_host for sn in topo.subnets}
    return {h.name for h in topo.hosts}


def installed_files(topo: Topology, artifacts: list[Artifact]) -> dict[str, dict[str, str]]:
    """host → {install path: sha256} of the rendered files the roles put on it."""
    from ffinfra.apply.up import target_hosts

    out: dict[str, dict[str, str]] = {h.name: {} for h in topo.hosts}
    for a in artifacts:
        if not a.dest:
            continue
        for h in set(target_hosts(topo, a.targets)) & _runs_role(topo, a.component):
            out[h][a.dest] = a.sha256
    return out


def inputs_digest(
    topo: Topology, artifacts: list[Artifact], ansible_tree: list[Path], secrets: list[Path], addresses: dict[str, str]
) -> str:
    h = hashlib.sha256(f"ffinfra {__version__}\n".encode())
    for host, files in sorted(installed_files(topo, artifacts).items()):
        for dest, sha in sorted(files.items()):
            h.update(f"{host} {dest} {sha}\n".encode())
    for root in ansible_tree:
        for p in sorted(q for q in root.rglob("*") if q.is_file() and "__pycache__" not in q.parts):
            h.update(f"{p.relative_to(root.parent)} {hashlib.sha256(p.read_bytes()).hexdigest()}\n".encode())
    for s in secrets:
        if s.is_file():  # a fingerprint only: the digest lands in state.json, the secret must not
            h.update(f"{s.name} {hashlib.sha256(s.read_bytes()).hexdigest()}\n".encode())
    for host, addr in sorted(addresses.items()):
        h.update(f"{host} {addr}\n".encode())
    return h.hexdigest()


def sha256_command(files: dict[str, str]) -> str:
    """A shell command printing `sha256sum` lines of the files that exist (missing ones print nothing)."""
    return "sha256sum " + " ".join(shlex.quote(p) for p in sorted(files)) + " 2>/dev/null; true"


def file_drift(files: dict[str, str], sha256sum_output: str) -> list[tuple[str, str]]:
    """(path, "missing" | "changed") for every file whose hash on the node is not the expected one."""
    have = {}
    for line in sha256sum_output.splitlines():
        sha, _, path = line.partition("  ")
        have[path.strip()] = sha
    return [(p, "missing" if p not in have else "changed") for p, sha in sorted(files.items()) if have.get(p) != sha]


def live_drift(
    provider: Provider, topo: Topology, artifacts: list[Artifact], workers: int = 16
) -> dict[str, list[str]]:
    """host → installed files that are missing or differ on the node (empty: every node as applied)."""
    want = installed_files(topo, artifacts)

    def check(host: str) -> tuple[str, list[str]]:
        files = want[host]
        if not files:
            return host, []
        try:
            r = provider.exec(host, ["sh", "-c", sha256_command(files)], timeout=30)
        except Exception as exc:  # an unreachable node is drift, not a crash of the fast path
            return host, [f"cannot read files: {exc}"]
        return host, [f"{p} {why}" for p, why in file_drift(files, r.stdout)]

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(want)))) as pool:
        return dict(pool.map(check, sorted(want)))
