"""`ffinfra provision` and `ffinfra power`: the bare-metal provider's phase on its own, under the stack lock, with
a run folder of logs (the BMC password scrubbed from every line), known_hosts and ssh_config written for the nodes
that came up. `up` runs the same provider call as its provision phase."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ffinfra.apply.provider import Progress, nodes_from_topology, quiet
from ffinfra.compile import Compiled
from ffinfra.errors import OperationalError, UserError
from ffinfra.runtime.lock import stack_lock
from ffinfra.runtime.paths import StackPaths
from ffinfra.runtime.runs import RunDir
from ffinfra.runtime.secrets import StackSecrets
from ffinfra.spec import hostlist

POWER_ACTIONS = ("on", "off", "cycle", "status")


@dataclass
class ProvisionResult:
    run: Path
    up: list[str] = field(default_factory=list)
    failure: str = ""


def _provider(c: Compiled):
    from ffinfra.apply.baremetal.provider import BaremetalProvider

    paths = StackPaths(c.stack.dir)
    return BaremetalProvider(c.topology.name, paths.state_dir / "baremetal", c.topology, c.stack.dir)


def select(c: Compiled, nodes: str | None) -> list[str]:
    """A hostlist expression (or all) → the stack's hosts it names, in spec order; unknown names are an error."""
    names = [h.name for h in c.topology.hosts]
    if not nodes or nodes == "all":
        return names
    try:
        want = hostlist.expand(nodes)
    except hostlist.HostlistError as exc:
        raise UserError(f"nodes {nodes!r}: {exc}") from None
    unknown = [n for n in want if n not in names]
    if unknown:
        raise UserError(f"not nodes of stack {c.topology.name}: {', '.join(unknown)}")
    return [n for n in names if n in want]


def provision(
    c: Compiled, nodes: str | None = None, on_progress: Progress = quiet, reinstall: bool = False
) -> ProvisionResult:
    paths = StackPaths(c.stack.dir)
    provider = _provider(c)
    chosen = set(select(c, nodes))
    if reinstall:
        if c.spec.provisioning.mode != "install":
            raise UserError("--reinstall is for provisioning.mode install: a stateless node boots its image every time")
        provider.reinstall = chosen
    specs = [n for n in nodes_from_topology(c.topology) if n.name in chosen]
    with stack_lock(paths.lock, "ffinfra provision"):
        provider.preflight()  # bad input changes nothing: before any key, folder or BMC request
        secrets = StackSecrets(paths.secrets)
        secrets.ensure([h.name for h in c.topology.hosts], c.topology.name)
        redact = secrets.redactor().with_secret(provider.credentials().password)
        run = RunDir.create(paths.runs, redact)
        result = ProvisionResult(run.path)

        def progress(host: str, status: str, detail: str) -> None:
            run.log("provision", f"{host}: {status} {detail}")
            on_progress(host, status, redact(detail))

        try:
            run.log("provision", f"ffinfra provision {c.topology.name}: {len(specs)} nodes")
            try:
                endpoints = provider.create(specs, secrets.dir, progress)
            except (OperationalError, UserError) as exc:
                run.log("provision", f"FAILED: {exc}")
                result.failure = redact(str(exc))
                endpoints = provider.access()
            else:
                result.up = sorted(endpoints)
            every = provider.access()
            if every:
                secrets.write_known_hosts(every.values())
                secrets.write_ssh_config(every.values())
            return result
        finally:
            run.close()


def power(c: Compiled, nodes: str | None, action: str, on_progress: Progress = quiet) -> dict[str, str]:
    """Each node's power after the action (status: as the BMC reports it), or its error."""
    if action not in POWER_ACTIONS:
        raise UserError(f"power action {action!r}: one of {', '.join(POWER_ACTIONS)}")
    provider = _provider(c)
    names = select(c, nodes)
    creds = provider.credentials()
    paths = StackPaths(c.stack.dir)
    secrets = StackSecrets(paths.secrets)
    redact = secrets.redactor().with_secret(creds.password)
    run = RunDir.create(paths.runs, redact)
    try:
        results = provider.power(names, action, on_progress)
        out = {n: (r if isinstance(r, str) else f"error: {redact(str(r))}") for n, r in results.items()}
        for n, r in out.items():
            run.log("power", f"{n}: {action} → {r}")
        return out
    finally:
        run.close()
