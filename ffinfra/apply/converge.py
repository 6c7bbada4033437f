"""Whether `up` runs Ansible, and which roles on which hosts: pure decisions, unit-tested without a cluster.

digest   what a run of the playbook depends on (every installed file's hash and host, the roles and
         playbooks, the secrets' fingerprints, the node addresses, the extra vars, ffinfra's version)
decide   --force or --tags: run as asked. Inputs changed since the last complete apply: run every role.
         Same inputs: the probes say what is off on the nodes (a file edited by hand, a daemon stopped, a
         node unreadable), and only the roles that own it run, only on those hosts. Nothing off: skip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ffinfra import __version__
from ffinfra.apply.probe import HostProbe
from ffinfra.render.placement import Placement, installed_files
from ffinfra.topology.services import ROLES, Services


@dataclass(frozen=True)
class Decision:
    run: bool
    reason: str
    tags: list[str] | None = None  # None: every role
    limit: list[str] | None = None  # None: every host
    repairs: dict[str, list[str]] = field(default_factory=dict)  # host → what is off there


def inputs_digest(
    placement: Placement,
    ansible_trees: Iterable[Path],
    secrets: Iterable[Path],
    addresses: Mapping[str, str],
    extra_vars: Mapping[str, object],
) -> str:
    h = hashlib.sha256(f"ffinfra {__version__}\n".encode())
    for host, files in sorted(installed_files(placement).items()):
        for dest, sha in sorted(files.items()):
            h.update(f"{host} {dest} {sha}\n".encode())
    for root in ansible_trees:
        for p in sorted(q for q in root.rglob("*") if q.is_file() and "__pycache__" not in q.parts):
            h.update(f"{p.relative_to(root.parent)} {hashlib.sha256(p.read_bytes()).hexdigest()}\n".encode())
    for s in secrets:
        if s.is_file():  # a fingerprint only: the digest lands in state.json, the secret must not
            h.update(f"{s.name} {hashlib.sha256(s.read_bytes()).hexdigest()}\n".encode())
    for host, addr in sorted(addresses.items()):
        h.update(f"{host} {addr}\n".encode())
    h.update(repr(sorted((k, repr(v)) for k, v in extra_vars.items())).encode())
    return h.hexdigest()


def roles_to_repair(probe: HostProbe, placement: Placement, services: Services) -> set[str]:
    """The roles whose run on this host puts right what its probe found: the owner of each drifted file and of
    each daemon that is down; every role of the host when it could not be read."""
    host = probe.host
    if probe.error:
        return set(services.of(host).roles)
    roles = {role for path, _ in probe.drifted for role, files in placement.get(host, {}).items() if path in files}
    for unit in probe.down_units:
        roles |= {d.role for d in services.of(host).daemons if d.service == unit and d.role}
    return roles


def decide(
    *,
    force: bool,
    tags: list[str] | None,
    digest_matches: bool,
    probes: Mapping[str, HostProbe] | None,
    placement: Placement,
    services: Services,
) -> Decision:
    if force:
        return Decision(True, "--force: every role on every host")
    if tags:
        return Decision(True, f"--tags {','.join(tags)}", tags=list(tags))
    if not digest_matches:
        return Decision(True, "the inputs changed since the last complete apply: every role on every host")
    if probes is None:
        return Decision(True, "the nodes were not probed: every role on every host")
    off = {h: p for h, p in sorted(probes.items()) if not p.healthy}
    if not off:
        return Decision(
            False, "nothing changed since the last apply, every installed file matches and every daemon runs"
        )
    roles: set[str] = set()
    for p in off.values():
        roles |= roles_to_repair(p, placement, services)
    repairs = {h: p.problems() for h, p in off.items()}
    if not roles:  # e.g. only sshd is down: no role starts it; the run fails on the host and says so
        return Decision(
            True, "a node is off in a way no role owns: every role on it", limit=sorted(off), repairs=repairs
        )
    ordered = [r for r in ROLES if r in roles]
    return Decision(
        True,
        f"repair: {', '.join(ordered)} on {', '.join(sorted(off))}",
        tags=ordered,
        limit=sorted(off),
        repairs=repairs,
    )
