"""Commands that run a stack: up, down, status, and exec on one node."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ffinfra.cli import console
from ffinfra.cli.options import EngineOpt, JsonOpt, ProviderOpt, StackArg, SuppressOpt, check_engine, compile_arg

DestructiveOpt = Annotated[
    bool,
    typer.Option(
        "--allow-destructive",
        help="apply a plan that destroys data or state (e.g. a new Slurm cluster name, a node's role); "
        "unsupported changes are refused whatever this says",
    ),
]


WaitOpt = Annotated[
    float, typer.Option("--wait", help="rolling batches: seconds a drained batch's running jobs may go on")
]
OnBusyOpt = Annotated[
    str,
    typer.Option(
        "--on-busy", help="rolling batches: jobs still running after --wait are requeued, or their batch skipped"
    ),
]


def _rollout_options(wait: float, on_busy: str):
    from ffinfra.apply.rollout import RolloutOptions
    from ffinfra.errors import UserError

    if on_busy not in ("requeue", "skip"):
        raise UserError(f"--on-busy {on_busy!r}: requeue or skip")
    return RolloutOptions(wait_s=wait, on_busy=on_busy)  # type: ignore[arg-type]


def _skipped(stack: str, skipped: list[int], wait: float, command: str) -> None:
    console.err.print(
        f"[yellow]batch(es) {', '.join(map(str, skipped))} left for later: their jobs outlasted --wait "
        f"{wait:.0f} s[/]; re-run `ffinfra {command} {stack}` to continue"
    )
    raise typer.Exit(3)


def exec_cmd(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="the stack")],
    host: Annotated[str, typer.Argument(help="a node of the stack")],
    provider: ProviderOpt = "lab",
    timeout: Annotated[float, typer.Option("--timeout", help="seconds before the command is ended")] = 600,
):
    """Run a command on one node of a running stack over SSH, as root, e.g. `ffinfra exec lab ctl01 -- sinfo`.
    The command's output and exit status are passed through."""
    from ffinfra.apply.providers import get_provider
    from ffinfra.errors import UserError
    from ffinfra.runtime.paths import StackPaths
    from ffinfra.runtime.secrets import StackSecrets

    argv = [a for a in ctx.args if a != "--"]
    if not argv:
        raise UserError("give the command after the host: ffinfra exec STACK HOST -- CMD [ARGS...]")
    c = compile_arg(stack)
    if host not in c.topology.host_by_name:
        raise UserError(f"{host!r} is not a node of stack {c.topology.name!r}")
    paths = StackPaths(c.stack.dir)
    access = get_provider(provider, c.topology.name, paths.state_dir, c.topology).access()
    if host not in access:
        raise UserError(f"node {host} of stack {c.topology.name!r} is not running (ffinfra up {c.topology.name})")
    import shlex

    remote = StackSecrets(paths.secrets).remote([access[host]])
    try:
        r = remote.run(host, shlex.join(argv), timeout=timeout)
    finally:
        remote.close()
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    raise typer.Exit(r.rc)


def provider_given(ctx: typer.Context, provider: str) -> str | None:
    """--provider as the Pulumi engine takes it: when not given, the stack's Pulumi config decides."""
    from click.core import ParameterSource

    return None if ctx.get_parameter_source("provider") is ParameterSource.DEFAULT else provider


def pulumi_run(
    what: str, stack: str | None, suppress, provider: str | None, allow_destructive: bool, all_at_once: bool = False
) -> None:
    """up, preview or destroy through the Pulumi engine; Pulumi's own output is passed through as it comes."""
    from ffinfra.apply.pulumi import engine

    c = compile_arg(stack, suppress)
    console.print_findings(c.findings)
    opts = engine.EngineOptions(
        provider, allow_destructive, all_at_once, lambda line: console.out.print(line, markup=False)
    )
    result = getattr(engine, what)(c, opts)
    if result.refused:
        console.err.print(f"[bold red]✗[/] {escape(result.refused)}")
        console.err.print(f"  `ffinfra plan {c.topology.name}` shows every row; nothing was changed")
        raise typer.Exit(1)
    changes = ", ".join(f"{n} {op}" for op, n in result.changes.items()) or "nothing to do"
    console.out.print(f"[green]✓[/] pulumi {what} of {c.topology.name}: {changes}; log in {result.run_dir}")
    if what == "preview":
        raise typer.Exit(2 if result.changed else 0)


def up(
    ctx: typer.Context,
    stack: StackArg = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="show what would be done; change nothing")] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="run the roles in Ansible's check mode on the running nodes: list the files each role would "
            "install or replace there; change nothing, record nothing",
        ),
    ] = False,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="skip the closing checks (Slurm, OpenSM)")] = False,
    tags: Annotated[
        list[str] | None, typer.Option("--tags", "-t", help="apply only these Ansible roles (repeat)")
    ] = None,
    provider: ProviderOpt = "lab",
    force: Annotated[
        bool, typer.Option("--force", help="run every role on every host even when nothing changed")
    ] = False,
    allow_destructive: DestructiveOpt = False,
    all_at_once: Annotated[
        bool,
        typer.Option(
            "--all-at-once",
            help="apply a change that restarts daemons or reboots nodes everywhere at once, without batches or "
            "drains (a maintenance window with no jobs running)",
        ),
    ] = False,
    wait: WaitOpt = 3600,
    on_busy: OnBusyOpt = "skip",
    timeout: Annotated[
        float, typer.Option("--timeout", help="seconds the playbook may run before it is stopped")
    ] = 3600,
    suppress: SuppressOpt = None,
    engine: EngineOpt = "ffinfra",
):
    """Bring a stack to life, or bring it to its spec.

    \b
    plan       on a stack applied before, the plan from the applied spec (state.json) to this one, shown and
               enforced: unsupported changes are refused, destructive ones unless --allow-destructive; a
               refusal changes nothing (exit 1)
    provision  the nodes (lab: namespaces with their own address, root filesystem and key-only sshd)
    render     every artifact into build/<stack>/, the inventory into inventories/<stack>/
    apply      the Ansible roles, through Mitogen for Ansible (FFINFRA_MITOGEN=0: plain SSH). When only
               rendered files changed, only the roles that install them run, on the hosts that get them. When
               no input changed, only the roles that repair what the nodes show off (a hand-edited file, a
               stopped daemon) run, on those hosts; when nothing is off, none does. --force runs every role.
               Daemons reload where the plan says so (SIGHUP OpenSM, scontrol reconfigure), else restart
    verify     every daemon running (a missing one is named at once), Slurm answering, every Slurm node idle,
               srun on all of them, sinfo from login nodes, OpenSM SUBNET UP with its configured routing

    On a running stack, a change that restarts daemons or reboots nodes goes through the plan's rolling batches
    first, as `ffinfra upgrade` takes it (drain, wait for jobs, apply, reboot, gate, resume; journaled, so a
    re-run continues it); hot reloads never restart anything. --all-at-once skips the batches.

    --check renders, then runs every role (or --tags) in Ansible's check mode against the running nodes and lists,
    per host and role, the files that would be installed or replaced. It creates no node and records nothing.

    --engine pulumi applies the same stack as Pulumi resources (a component per zone and node group, a dynamic
    resource per node and per role application) through Pulumi's Automation API: the plan against what Pulumi
    applied is enforced first (a change that restarts daemons or reboots nodes only with --all-at-once: Pulumi
    does not drain), then `pulumi up` runs. The Pulumi CLI must be installed (docs/pulumi.md).

    Logs go to stacks/<name>/runs/<UTC time>/, what was applied to stacks/<name>/state.json. Exit 0 green, 1 bad
    input or a refused plan, 3 when a phase failed (the report names host, task, error and log)."""
    if check_engine(engine):
        if check or tags or dry_run or force:
            from ffinfra.errors import UserError

            raise UserError(
                "--engine pulumi takes none of --check, --tags, --dry-run, --force: preview with "
                "`ffinfra plan --engine pulumi`"
            )
        pulumi_run("up", stack, suppress, provider_given(ctx, provider), allow_destructive, all_at_once)
        return
    from ffinfra.apply.up import UpOptions
    from ffinfra.apply.up import up as run_up
    from ffinfra.apply.upgrade import upgrade as run_upgrade
    from ffinfra.cli.display import UpDisplay, summary_table

    c = compile_arg(stack, suppress)
    console.print_findings(c.findings)
    if dry_run:
        _print_dry_run(c, provider, allow_destructive)
        return
    opts = UpOptions(
        provider=provider,
        verify=not no_verify,
        tags=tags or None,
        force=force,
        allow_destructive=allow_destructive,
        timeout_s=timeout,
        check=check,
    )
    rollout = _rollout_options(wait, on_busy)
    with UpDisplay(console.out, [(h.name, h.role) for h in c.topology.hosts]) as ui:
        if check or tags or all_at_once:
            result = run_up(c, opts, ui)
        else:  # a running stack's change goes through its batches, if the plan has any
            rolled = run_upgrade(c, opts, rollout, ui, new_stack_ok=True)
            if rolled.skipped:
                _skipped(c.topology.name, rolled.skipped, wait, "up")
            assert rolled.final is not None
            result = rolled.final
    console.out.print(summary_table(list(ui.rows.values()), result.per_host))
    if check:
        _print_would_change(c, result)
        if result.ok:
            return
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in result.phase_seconds.items())
    if result.ok:
        changed = "apply skipped: nothing to change" if result.apply_skipped else f"{result.changed} changed"
        console.out.print(
            f"[green]✓[/] {c.topology.name} is up: {len(c.topology.hosts)} nodes, {changed}, "
            f"{result.seconds:.1f} s ({phases}); logs in {result.run_dir}"
        )
        return
    f = result.failure
    if f is not None:
        console.err.print(f"[bold red]✗ {f.phase} failed[/]" + (f" on [bold]{f.host}[/]" if f.host else ""))
        console.err.print(f"  task:  {f.task}", markup=False)
        console.err.print(f"  error: {f.error}", markup=False)
        console.err.print(f"  log:   {f.log}", markup=False)
    raise typer.Exit(3)


def _print_would_change(c, result) -> None:
    """--check: per host and role, the files Ansible's check mode says would be installed or replaced."""
    if not result.would_change:
        console.out.print("check: every file is in place; nothing would change")
    for host in (h.name for h in c.topology.hosts):
        for role, paths in sorted(result.would_change.get(host, {}).items()):
            console.out.print(f"  {host:10} {role:18} would install {len(paths)} file(s):", markup=False)
            for path in sorted(paths):
                console.out.print(f"      {path}", markup=False)
    if result.ok:
        console.out.print(f"[green]✓[/] check of {c.topology.name}: nothing was changed; logs in {result.run_dir}")


class _Lines:
    """Reports a rolling change as lines: each batch's `up` would redraw a live table per batch."""

    def phase(self, name: str) -> None:
        pass

    def host(self, host: str, phase: str, status: str, task: str = "") -> None:
        if status == "failed":
            console.out.print(f"  ✗ {host}: {task}", markup=False, highlight=False)

    def line(self, text: str) -> None:
        console.out.print(f"  {text}", markup=False, highlight=False)

    def plan(self, plan) -> None:
        pass


def upgrade(
    stack: StackArg = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", "-n", help="show the plan and its batches; change nothing")
    ] = False,
    abort: Annotated[
        bool,
        typer.Option("--abort", help="return the nodes a stopped upgrade drained to service, and forget it"),
    ] = False,
    wait: WaitOpt = 3600,
    on_busy: OnBusyOpt = "skip",
    provider: ProviderOpt = "lab",
    allow_destructive: DestructiveOpt = False,
    timeout: Annotated[float, typer.Option("--timeout", help="seconds each batch's playbook may run")] = 3600,
    suppress: SuppressOpt = None,
):
    """Take a change to a running stack through rolling batches: no job killed without notice.

    \b
    plan     the plan from the applied spec to this one, refused as `up` refuses; its batches are the ones
             `ffinfra plan` shows (upgrades.canary, upgrades.max_unavailable, 3FS chains)
    batches  per batch of Slurm nodes: drained with a reason naming the change (sinfo -R), running jobs allowed
             to finish (--wait; then --on-busy), the changed roles applied to the batch only, the nodes
             that must reboot rebooted, a health gate (files in place, daemons running, the node not down),
             resumed. Other batches: applied (rebooted) and gated.
             Every step is journaled in stacks/<name>/state/rollout.json: a crash, Ctrl-C or failed gate is
             re-run with the same command and continues where it stopped; --abort resumes what was drained
    finish   a plain `up` of the whole stack, which records the applied spec and runs the closing checks

    `ffinfra up` of a running stack does the same; `upgrade` refuses a stack never brought up. A change without
    daemon restarts or reboots is a plain `up`. Exit 0 done, 1 bad input or a refused plan, 3 when a batch failed
    or was left for later (the message says which and what to run)."""
    from ffinfra.apply.up import UpOptions
    from ffinfra.apply.upgrade import abort_upgrade
    from ffinfra.apply.upgrade import upgrade as run_upgrade

    rollout = _rollout_options(wait, on_busy)
    c = compile_arg(stack, suppress)
    console.print_findings(c.findings)
    if abort:
        resumed = abort_upgrade(c, provider)
        if resumed is None:
            console.out.print("no upgrade under way")
        else:
            back = f"{', '.join(resumed)} back in service" if resumed else "no node was drained"
            console.out.print(f"upgrade aborted: {back}")
        return
    if dry_run:
        _print_dry_run(c, provider, allow_destructive)
        return
    opts = UpOptions(provider=provider, allow_destructive=allow_destructive, timeout_s=timeout)
    result = run_upgrade(c, opts, rollout, _Lines())
    if result.skipped:
        _skipped(c.topology.name, result.skipped, wait, "upgrade")
    final = result.final
    if final is not None and final.ok:
        done = f"{result.batches_done} batch(es) rolled, then " if result.batches_done else ""
        console.out.print(
            f"[green]✓[/] {c.topology.name} upgraded: {done}up {final.seconds:.1f} s; logs in {final.run_dir}"
        )
        return
    f = final.failure if final else None
    if f is not None:
        console.err.print(f"[bold red]✗ {f.phase} failed[/]" + (f" on [bold]{f.host}[/]" if f.host else ""))
        console.err.print(f"  error: {f.error}", markup=False)
        console.err.print(f"  log:   {f.log}", markup=False)
    raise typer.Exit(3)


def _print_dry_run(c, provider: str, allow_destructive: bool) -> None:
    from ffinfra.apply.lifecycle import dry_run
    from ffinfra.plan.report import headline, print_table

    d = dry_run(c, provider, allow_destructive)
    say = lambda text: console.out.print(text, markup=False, highlight=False)  # noqa: E731
    if d.plan is None:
        say("plan: nothing applied yet: a new stack, no plan to enforce")
    else:
        say("plan: " + headline(d.plan))
        if d.plan.changed:
            print_table(d.plan, console.out)
        if d.plan.refused:
            say("up would stop here and change nothing")
    say(f"provision ({provider}):")
    for host, role, address, action in d.nodes:
        say(f"  {host:10} {role:10} {address:15} {action}")
    if d.secrets_missing:
        say("  generate the stack's operator key, node host keys and munge key")
    say(f"render: {d.artifacts} artifacts")
    say("apply: roles per host (recorded vs rendered files):")
    for host, roles in d.roles.items():
        diffs = d.drift.get(host, [])
        say(f"  {host:10} {', '.join(roles):45} " + ("in sync" if not diffs else "; ".join(diffs[:4])))
    say("verify: daemons; slurmctld; Slurm nodes idle; srun on all; sinfo from login nodes; OpenSM per subnet")
    console.out.print("[dim](dry run: nothing was changed)[/]")


def down(
    ctx: typer.Context,
    stack: StackArg = None,
    purge: Annotated[
        bool, typer.Option("--purge", help="also delete the stack's secrets (keys, munge key) and state.json")
    ] = False,
    provider: ProviderOpt = "lab",
    suppress: SuppressOpt = None,
    engine: EngineOpt = "ffinfra",
):
    """Destroy a stack's nodes: every namespace, mount and process the lab made for it is gone afterwards, and
    the applied spec is forgotten (the next `up` is a new cluster). Secrets stay (so host keys stay known)
    unless --purge; run logs always stay. Exit 3 when anything was left behind (it is named).

    --engine pulumi runs `pulumi destroy` on the stack's Pulumi state (protection lifted first: `down` is asked
    for by name); retained role applications leave the state, their nodes go with the Node resources."""
    if check_engine(engine):
        if purge:
            from ffinfra.errors import UserError

            raise UserError("--purge is the default engine's: after `down --engine pulumi`, run `ffinfra down --purge`")
        pulumi_run("destroy", stack, suppress, provider_given(ctx, provider), False)
        return
    from ffinfra.apply.lifecycle import down as run_down

    c = compile_arg(stack, suppress)

    def progress(host: str, status: str, detail: str) -> None:
        console.out.print(f"{host:10} {status} {detail}".rstrip(), markup=False)

    done, left = run_down(c, provider, purge, progress)
    if left:
        console.err.print(f"[bold red]✗[/] left behind: {', '.join(left)}")
        raise typer.Exit(3)
    console.out.print(f"[green]✓[/] {c.topology.name} is down ({len(done)} nodes destroyed)")


def status(
    stack: StackArg = None,
    provider: ProviderOpt = "lab",
    json_: JsonOpt = False,
    suppress: SuppressOpt = None,
):
    """Each node: running or not, its roles, the daemons it should run and those seen running, when it was last
    applied, and drift (what `ffinfra up` would change: rendered now vs applied last). Exit 0 in sync, 2 drift,
    a node not running or a daemon missing."""
    from ffinfra.apply.lifecycle import stack_status

    c = compile_arg(stack, suppress)
    st = stack_status(c, provider)
    names = [h.name for h in c.topology.hosts]

    def missing(n: str) -> list[str]:
        seen = set(st.nodes[n].services) if n in st.nodes else set()
        return [d for d in st.daemons[n] if d not in seen]

    if json_:
        data = {
            "stack": c.topology.name,
            "lock_pid": st.lock_pid,
            "last_run": st.state.last_run,
            "verified_at": st.state.verified_at,
            "applied_spec_sha256": st.state.applied.spec_sha256 if st.state.applied else None,
            "nodes": {
                n: {
                    "state": st.nodes[n].state if n in st.nodes else "absent",
                    "address": st.nodes[n].address if n in st.nodes else "",
                    "roles": list(st.roles[n]),
                    "daemons": list(st.daemons[n]),
                    "services": st.nodes[n].services if n in st.nodes else [],
                    "missing": missing(n),
                    "drift": st.drift.get(n, []),
                }
                for n in names
            },
        }
        console.out.print_json(json.dumps(data))
    else:
        table = Table(show_edge=False)
        for col in ("host", "node", "address", "roles", "daemons", "applied", "drift"):
            table.add_column(col)
        for h in c.topology.hosts:
            ns = st.nodes.get(h.name)
            node = ns.state if ns else "absent"
            style = "green" if node == "running" else ("red" if node == "broken" else "dim")
            gone = missing(h.name) if ns else []
            daemons = ", ".join(f"[red]{d} (down)[/]" if d in gone else d for d in st.daemons[h.name])
            hs = st.state.hosts.get(h.name)
            d = st.drift.get(h.name, [])
            table.add_row(
                h.name,
                f"[{style}]{node}[/]",
                h.mgmt_ip,
                ", ".join(st.roles[h.name]),
                daemons,
                hs.applied_at if hs else "-",
                "in sync" if not d else "; ".join(d[:3]) + (f" (+{len(d) - 3})" if len(d) > 3 else ""),
            )
        console.out.print(table)
        if st.lock_pid:
            console.out.print(f"a run holds the lock (pid {st.lock_pid})")
        if st.state.last_run:
            console.out.print(f"last run: {st.state.last_run}; verified: {st.state.verified_at or 'no'}")
    running = all(n in st.nodes and st.nodes[n].state == "running" for n in names)
    if not running or any(st.drift.get(n) or missing(n) for n in names):
        raise typer.Exit(2)
