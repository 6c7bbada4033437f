"""Commands that run a stack: up, down, status, and exec on one node."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from ffinfra.cli import console
from ffinfra.cli.options import (
    JsonOpt,
    ProviderOpt,
    StackArg,
    SuppressOpt,
    compile_arg,
)


def exec_cmd(
    ctx: typer.Context,
    stack: Annotated[str, typer.Argument(help="the stack")],
    host: Annotated[str, typer.Argument(help="a node of the stack")],
    provider: ProviderOpt = "lab",
):
    """Run a command on one node of a running stack, e.g. `ffinfra exec lab ctl01 -- sinfo`. The command's
    output and exit status are passed through."""
    from ffinfra.apply.provider import get_provider
    from ffinfra.apply.state import StackPaths
    from ffinfra.errors import UserError

    argv = [a for a in ctx.args if a != "--"]
    if not argv:
        raise UserError("give the command after the host: ffinfra exec STACK HOST -- CMD [ARGS...]")
    c = compile_arg(stack)
    if host not in c.topology.host_by_name:
        raise UserError(f"{host!r} is not a node of stack {c.topology.name!r}")
    prov = get_provider(provider, c.topology.name, StackPaths(c.stack.dir).state_dir, c.topology)
    r = prov.exec(host, argv, timeout=600)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    raise typer.Exit(r.returncode)


def up(
    stack: StackArg = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="show what would be done; change nothing")] = False,
    no_verify: Annotated[bool, typer.Option("--no-verify", help="skip the closing checks (Slurm, OpenSM)")] = False,
    tags: Annotated[
        list[str] | None, typer.Option("--tags", "-t", help="apply only these Ansible role tags (repeat)")
    ] = None,
    provider: ProviderOpt = "lab",
    force: Annotated[
        bool, typer.Option("--force", help="run every role even when nothing changed since the last apply")
    ] = False,
    suppress: SuppressOpt = None,
):
    """Bring a stack to life: provision its nodes (lab: namespaces with their own address, root filesystem and
    key-only sshd), render every artifact, apply the Ansible roles, then verify: every compute node idle in
    Slurm, `srun` on all of them, OpenSM SUBNET UP with ftree routing. Idempotent: a second run changes nothing,
    and when no input changed and every installed file still matches, it skips Ansible (--force runs it).
    Logs go to stacks/<name>/runs/<UTC time>/, what was applied to stacks/<name>/state.json. Exit 0 green,
    3 when a phase failed (the report names host, task, error and log)."""
    from ffinfra.apply.up import UpOptions, summary_table
    from ffinfra.apply.up import up as run_up

    c = compile_arg(stack, suppress)
    console.print_findings(c.findings)
    opts = UpOptions(provider=provider, verify=not no_verify, dry_run=dry_run, tags=tags or None, force=force)
    result = run_up(c, opts, console.out)
    if dry_run:
        console.out.print("[dim](dry run: nothing was changed)[/]")
        return
    if result.rows:
        console.out.print(summary_table(result))
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in result.phase_seconds.items())
    if result.ok:
        changed = "apply skipped: nothing changed" if result.apply_skipped else f"{result.changed} changed"
        console.out.print(
            f"[green]✓[/] {c.topology.name} is up: {len(result.rows)} nodes, {changed}, "
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


def down(
    stack: StackArg = None,
    purge: Annotated[
        bool, typer.Option("--purge", help="also delete the stack's secrets (keys, munge key) and state.json")
    ] = False,
    provider: ProviderOpt = "lab",
    suppress: SuppressOpt = None,
):
    """Destroy a stack's nodes: every namespace, mount and process the lab made for it is gone afterwards.
    Secrets stay (so host keys stay known) unless --purge; run logs always stay."""
    from ffinfra.apply.up import down as run_down

    c = compile_arg(stack, suppress)
    done, left = run_down(c, provider, purge, console.out)
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
    """Nodes (running, stopped), the services running on each, and drift: what `ffinfra up` would change on
    each host (rendered now vs applied last). Exit 0 in sync, 2 drift or nodes not running."""
    from ffinfra.apply.up import stack_status

    c = compile_arg(stack, suppress)
    st = stack_status(c, provider)
    names = [h.name for h in c.topology.hosts]
    if json_:
        data = {
            "stack": c.topology.name,
            "lock_pid": st.lock_pid,
            "last_run": st.state.get("last_run"),
            "verified_at": st.state.get("verified_at"),
            "nodes": {
                n: {
                    "state": st.nodes[n].state if n in st.nodes else "absent",
                    "address": st.nodes[n].address if n in st.nodes else "",
                    "services": st.nodes[n].services if n in st.nodes else [],
                    "drift": st.drift.get(n, []),
                }
                for n in names
            },
        }
        console.out.print_json(json.dumps(data))
    else:
        table = Table(show_edge=False)
        for col in ("host", "role", "node", "address", "services", "applied", "drift"):
            table.add_column(col)
        for h in c.topology.hosts:
            ns = st.nodes.get(h.name)
            node = ns.state if ns else "absent"
            style = "green" if node == "running" else ("red" if node == "broken" else "dim")
            applied = st.state.get("hosts", {}).get(h.name, {}).get("applied_at", "-")
            d = st.drift.get(h.name, [])
            table.add_row(
                h.name,
                h.role,
                f"[{style}]{node}[/]",
                h.mgmt_ip,
                ", ".join(ns.services) if ns else "",
                applied,
                "in sync" if not d else "; ".join(d[:3]) + (f" (+{len(d) - 3})" if len(d) > 3 else ""),
            )
        console.out.print(table)
        if st.lock_pid:
            console.out.print(f"a run holds the lock (pid {st.lock_pid})")
        if st.state.get("last_run"):
            console.out.print(f"last run: {st.state['last_run']}; verified: {st.state.get('verified_at', 'no')}")
    running = all(n in st.nodes and st.nodes[n].state == "running" for n in names)
    if not running or any(st.drift.get(n) for n in names):
        raise typer.Exit(2)
