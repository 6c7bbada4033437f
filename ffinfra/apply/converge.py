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
from ffinfra.render.placement import Placement
from ffinfra.runtime.state import StackState
from ffinfra.topology.services import ROLES, Services


@dataclass(frozen=True)
class Decision:
    run: bool
    reason: str
    tags: list[str] | None = None  # None: every role
    limit: list[str] | None = None  # None: every host
    repairs: dict[str, list[str]] = field(default_factory=dict)  # host → what is off there


def input_parts(
    placement: Placement,
    ansible_trees: Iterable[Path],
    secrets: Iterable[Path],
    addresses: Mapping[str, str],
    extra_vars: Mapping[str, object],
    inventory: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A digest of each kind of input a run of the playbook depends on: the files placed on each host by each role
    (and the roles each host runs), the roles and playbooks, the secrets' fingerprints, the node addresses, the
    extra vars with ffinfra's version, and the rendered inventory (`inventory`: path → sha256; its group_vars
    carry what no placed file does, such as each role's packages). state.json keeps them, so the next `up` knows
    what kind of change it faces."""

    def digest(lines: Iterable[str]) -> str:
        h = hashlib.sha256()
        for line in lines:
            h.update(f"{line}\n".encode())
        return h.hexdigest()

    def tree() -> Iterable[str]:
        for root in ansible_trees:
            for p in sorted(q for q in root.rglob("*") if q.is_file() and "__pycache__" not in q.parts):
                yield f"{p.relative_to(root.parent)} {hashlib.sha256(p.read_bytes()).hexdigest()}"

    return {
        "files": digest(
            f"{host} {role} {dest} {a.sha256}"
            for host, roles in sorted(placement.items())
            for role, files in sorted(roles.items())
            for dest, a in sorted(files.items())
        ),
        "ansible": digest(tree()),
        # fingerprints only: the digest lands in state.json, the secret must not
        "secrets": digest(f"{s.name} {hashlib.sha256(s.read_bytes()).hexdigest()}" for s in secrets if s.is_file()),
        "addresses": digest(f"{host} {addr}" for host, addr in sorted(addresses.items())),
        "vars": digest([f"ffinfra {__version__}", repr(sorted((k, repr(v)) for k, v in extra_vars.items()))]),
        "inventory": digest(f"{path} {sha}" for path, sha in sorted((inventory or {}).items())),
    }


def changed_roles(placement: Placement, services: Services, state: StackState) -> dict[str, set[str]]:
    """host → the roles whose work there differs from what state.json records as applied: a file added, changed
    or gone, a role the host now runs, or a host never applied (all its roles)."""
    out: dict[str, set[str]] = {}
    for host, hs in services.hosts.items():
        recorded = state.hosts.get(host)
        if recorded is None:
            out[host] = set(hs.roles)
            continue
        want = {r: {d: a.sha256 for d, a in files.items()} for r, files in placement.get(host, {}).items()}
        have = {r: rs.files for r, rs in recorded.roles.items()}
        roles = {r for r in set(want) | set(have) if want.get(r, {}) != have.get(r, {}) and r in hs.roles}
        roles |= set(hs.roles) - set(recorded.runs)
        if roles:
            out[host] = roles
    return out


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
    changed_parts: set[str] | None = None,
    changed: Mapping[str, set[str]] | None = None,
) -> Decision:
    """`changed_parts`: the kinds of input that differ from the last complete apply (None: unknown, e.g. a state
    from an older ffinfra); `changed`: host → roles whose files differ from the record (changed_roles)."""
    if force:
        return Decision(True, "--force: every role on every host")
    if tags:
        return Decision(True, f"--tags {','.join(tags)}", tags=list(tags))
    if not digest_matches:
        if changed_parts == {"files"} and changed:
            # Only rendered files changed: the roles that install them, on the hosts that get them.
            roles = [r for r in ROLES if any(r in rs for rs in changed.values())]
            hosts = sorted(changed)
            return Decision(True, f"changed files: {', '.join(roles)} on {', '.join(hosts)}", tags=roles, limit=hosts)
        what = ", ".join(sorted(changed_parts)) if changed_parts else "the inputs"
        return Decision(True, f"{what} changed since the last complete apply: every role on every host")
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
