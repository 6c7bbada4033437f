"""What `up` writes into state.json after applying: per host, per Ansible role, the files that role installed,
and the applied spec once every host took it. The same placement (render/placement.py) the roles selected from,
so state.json, the fast path and the node suite can never disagree about what belongs where."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ffinfra import __version__
from ffinfra.apply.ansible import HostResult
from ffinfra.render.placement import Placement
from ffinfra.runtime.runs import utc_now
from ffinfra.runtime.ssh import Endpoint
from ffinfra.runtime.state import HostState, RoleState, StackState
from ffinfra.topology.model import Topology


def record_hosts(
    state: StackState,
    topo: Topology,
    placement: Placement,
    hosts: Iterable[str],
    provider: str,
    endpoints: Mapping[str, Endpoint],
    run_id: str,
    results: Mapping[str, HostResult],
) -> None:
    now = utc_now()
    state.stack = topo.name
    state.provider = provider
    state.ffinfra_version = __version__
    state.spec_sha256 = topo.spec_sha256
    state.updated_at = now
    state.last_run = run_id
    for h in hosts:
        hr = results.get(h, HostResult())
        state.hosts[h] = HostState(
            address=endpoints[h].address if h in endpoints else "",
            applied_at=now,
            run=run_id,
            ffinfra_version=__version__,
            spec_sha256=topo.spec_sha256,
            ok=hr.ok,
            changed=hr.changed,
            runs=list(topo.services.of(h).roles),
            roles={
                role: RoleState(
                    files={dest: a.sha256 for dest, a in files.items()}, applied_at=now, ffinfra_version=__version__
                )
                for role, files in placement.get(h, {}).items()
            },
        )


def drift(placement: Placement, state: StackState) -> dict[str, list[str]]:
    """host → what differs between the files that would be installed now and those recorded as applied (empty:
    in sync). Compares the record, not the node: the probe (apply/probe.py) reads the node itself."""
    out: dict[str, list[str]] = {}
    for host, roles in placement.items():
        got = state.hosts.get(host)
        if got is None:
            out[host] = ["never applied"]
            continue
        diffs = []
        for role, files in roles.items():
            have = got.roles[role].files if role in got.roles else {}
            for dest, a in files.items():
                if dest not in have:
                    diffs.append(f"{dest} new")
                elif have[dest] != a.sha256:
                    diffs.append(f"{dest} changed")
            diffs += [f"{p} removed" for p in have if p not in files]
        diffs += [f"role {role} no longer runs here" for role in got.roles if role not in roles]
        out[host] = diffs
    for host in state.hosts:
        if host not in out:
            out[host] = ["no longer in the spec"]
    return out


def placement_mismatch(placement: Placement, installed: Mapping[str, Mapping[str, set[str]]]) -> list[str]:
    """Where Ansible's own report of what it installed (a complete run) differs from the compiler's placement: an
    ffinfra bug, since both read the same decision. Empty when they agree."""
    out = []
    for host in sorted(set(placement) | set(installed)):
        want = {role: {a.path for a in files.values()} for role, files in placement.get(host, {}).items() if files}
        got = {role: set(paths) for role, paths in installed.get(host, {}).items() if paths}
        if want != got:
            out.append(f"{host}: compiler placed {_fmt(want)}, Ansible installed {_fmt(got)}")
    return out


def _fmt(roles: Mapping[str, set[str]]) -> str:
    return "; ".join(f"{r}: {', '.join(sorted(p))}" for r, p in sorted(roles.items())) or "nothing"
