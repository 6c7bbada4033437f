"""What the Pulumi engine's dynamic resources do, in ffinfra's own terms (no Pulumi import).

Pulumi runs the dynamic providers in a process of its own and hands each call only the resource's inputs, so
every operation starts from them: the stack folder (`stack_dir`), the provider's name and the resource's own
keys. They call what `up` calls (the node providers, the roles through ansible-playbook, the probes), so a
Pulumi-driven cluster is made by exactly the code the default engine runs.

    provision_node / remove_node / read_node     one node, through apply/providers.py
    apply_role / stop_role / read_role           one role on some hosts: site.yml --tags ROLE --limit HOSTS,
                                                 `systemctl disable --now` of its daemons, the sha256 on the nodes

Node operations of one stack take a lock of their own (state/pulumi-nodes.lock), blocking: Pulumi creates
resources in parallel and the lab's record is one file. The engine already holds the stack lock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import os
import shlex
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ffinfra import assets
from ffinfra.apply.ansible import run_playbook
from ffinfra.apply.build import build_dirs
from ffinfra.apply.probe import sha256_command
from ffinfra.apply.provider import Provider, nodes_from_topology
from ffinfra.apply.providers import fabric_is_simulated, get_provider
from ffinfra.compile import Compiled, compile_stack
from ffinfra.errors import OperationalError
from ffinfra.runtime.paths import StackPaths
from ffinfra.runtime.runs import RunDir
from ffinfra.runtime.secrets import StackSecrets
from ffinfra.stack import find_stack

NODES_LOCK = "pulumi-nodes.lock"
MISSING = "missing"  # read_role: a file that is not on the node
UNREACHABLE = "unreachable"  # read_role: a node that did not answer


def _compiled(inputs: Mapping[str, Any]) -> Compiled:
    stack_dir = Path(str(inputs["stack_dir"]))
    # Pulumi's provider process serves every resource of a run: compile once per version of the stack's files
    # (ff2 takes a second to compile, and has 1,400 nodes)
    stamp = tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in stack_dir.glob("*") if p.is_file()))
    return _compile_cached(str(stack_dir), stamp)


@functools.lru_cache(maxsize=4)
def _compile_cached(stack_dir: str, _stamp: tuple[tuple[str, int, int], ...]) -> Compiled:
    return compile_stack(find_stack(stack_dir))


def _provider(c: Compiled, inputs: Mapping[str, Any]) -> tuple[Provider, StackPaths]:
    paths = StackPaths(c.stack.dir)
    return get_provider(str(inputs["provider"]), c.topology.name, paths.state_dir, c.topology), paths


@contextlib.contextmanager
def _nodes_lock(paths: StackPaths) -> Iterator[None]:
    paths.state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(paths.state_dir / NODES_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def provision_node(inputs: Mapping[str, Any], incarnation: str | None = None) -> dict[str, Any]:
    """Make one node exist (kept when it is healthy, made again when not); the stack's SSH files are rewritten
    for every node that runs. Returns its outputs: the address it answers on, and its incarnation: `incarnation`
    when the provider kept the node, a new one when it made it (anew). The role applications take the
    incarnations of their nodes as inputs, so a node made anew is an update of every role on it."""
    c = _compiled(inputs)
    name = str(inputs["name"])
    spec = [n for n in nodes_from_topology(c.topology) if n.name == name]
    if not spec:
        raise OperationalError(f"{name} is not a node of stack {c.topology.name!r} any more")
    provider, paths = _provider(c, inputs)
    provider.preflight()
    secrets = StackSecrets(paths.secrets)
    steps: list[str] = []
    with _nodes_lock(paths):
        secrets.ensure([h.name for h in c.topology.hosts], c.topology.name)
        made = provider.create(spec, secrets.dir, lambda host, status, _: steps.append(status), prune=False)
        endpoints = provider.access()
        secrets.write_known_hosts(endpoints.values())
        secrets.write_ssh_config(endpoints.values())
    kept = steps == ["kept"] and incarnation
    return {
        "address": made[name].address if name in made else str(inputs["address"]),
        "state": "running",
        "incarnation": incarnation if kept else dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ"),
    }


def remove_node(inputs: Mapping[str, Any]) -> None:
    c = _compiled(inputs)
    provider, paths = _provider(c, inputs)
    with _nodes_lock(paths):
        provider.remove([str(inputs["name"])])


def read_node(inputs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The node as its provider sees it now; None when it does not exist (Pulumi drops it from the state)."""
    c = _compiled(inputs)
    provider, _ = _provider(c, inputs)
    status = provider.status().get(str(inputs["name"]))
    if status is None:
        return None
    return {**inputs, "address": status.address or inputs.get("address", ""), "state": status.state}


def _remote(c: Compiled, inputs: Mapping[str, Any], hosts: list[str]):
    provider, paths = _provider(c, inputs)
    access = provider.access()
    down = [h for h in hosts if h not in access]
    if down:
        raise OperationalError(f"not running: {', '.join(down)} (their Node resources create them)")
    return StackSecrets(paths.secrets).remote([access[h] for h in hosts]), paths


def apply_role(inputs: Mapping[str, Any], hosts: list[str]) -> Path:
    """Run one role on `hosts` (site.yml --tags ROLE --limit HOSTS) from the files `ffinfra up --engine pulumi`
    rendered into build/<stack>/; returns the run's folder. A failed play raises, naming its hosts and the log."""
    from ffinfra.apply.up import role_vars, write_connection

    c = _compiled(inputs)
    role = str(inputs["role"])
    if not hosts:
        raise OperationalError(f"{role}: no host to apply it to")
    provider = str(inputs["provider"])
    paths = StackPaths(c.stack.dir)
    secrets = StackSecrets(paths.secrets)
    build_dir, inv_dir = build_dirs(c.stack, c.topology.name)
    if not (build_dir / "manifest.json").is_file():
        raise OperationalError(
            f"{build_dir} holds no rendered stack: run `ffinfra up {c.topology.name} --engine pulumi`"
        )
    run = RunDir.create(paths.runs, secrets.redactor())
    try:
        conn = write_connection(run.path / "connection.yml", secrets)
        extra = role_vars(c, provider, build_dir, secrets)
        run.log("apply", f"pulumi role application {role} on {', '.join(hosts)}")
        pr = run_playbook(
            assets.playbook("site.yml"),
            [inv_dir, conn],
            extra,
            run.path,
            tags=[role],
            limit=",".join(hosts),
        )
    finally:
        run.close()
    if not pr.ok:
        failed = pr.failed_hosts or hosts
        raise OperationalError(f"{role} failed on {', '.join(failed)}; log: {run.path}")
    return run.path


def role_units(c: Compiled, role: str, sim: bool) -> list[str]:
    """Every systemd unit the role starts anywhere in the stack (a host that stops running the role is no longer
    listed as running it, so its units come from the role, not the host)."""
    return sorted({d.service for s in c.topology.services.hosts.values() for d in s.daemons_on(sim) if d.role == role})


def stop_role(inputs: Mapping[str, Any], hosts: list[str]) -> None:
    """The role's daemons stop and stay off on `hosts` that still run (its files stay: they are harmless, and
    the node's next role may read them). A host that is gone has nothing to stop."""
    c = _compiled(inputs)
    role = str(inputs["role"])
    units = role_units(c, role, fabric_is_simulated(str(inputs["provider"])))
    provider, paths = _provider(c, inputs)
    access = provider.access()
    running = [h for h in hosts if h in access]
    if not units or not running:
        return
    names = " ".join(shlex.quote(u) for u in units)
    cmd = (
        f'for u in {names}; do if systemctl cat "$u" >/dev/null 2>&1; then systemctl disable --now "$u" || exit 1; '
        "fi; done"
    )
    remote = StackSecrets(paths.secrets).remote([access[h] for h in running])
    try:
        for h in running:
            r = remote.run(h, cmd, timeout=120)
            if r.rc != 0:
                raise OperationalError(f"{h}: could not stop {role}'s {', '.join(units)}: {r.stderr.strip()}")
    finally:
        remote.close()


def read_role(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The role application as the nodes hold it: each file's sha256 on its host (MISSING when absent,
    UNREACHABLE for a host that did not answer). `pulumi refresh` records it; the next `up` updates the drift."""
    c = _compiled(inputs)
    want: dict[str, dict[str, str]] = {h: dict(f) for h, f in (inputs.get("hosts") or {}).items()}
    remote, _ = _remote(c, inputs, sorted(want))

    def one(host: str) -> dict[str, str]:
        r = remote.run(host, sha256_command(want[host]), timeout=60)
        if r.rc != 0:
            return dict.fromkeys(want[host], UNREACHABLE)
        have = {path.strip(): sha for sha, _, path in (line.partition("  ") for line in r.stdout.splitlines())}
        return {dest: have.get(dest, MISSING) for dest in want[host]}

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(32, len(want)))) as pool:
            seen = dict(zip(want, pool.map(one, want), strict=True))
    finally:
        remote.close()
    return {**inputs, "hosts": seen}
