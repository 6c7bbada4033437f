"""`ffinfra`: compile a cluster spec, show it, build its artifacts.

Commands are thin: they call the library and print. main() is the only error boundary: user errors print as
`file:line:col: error[CODE] path: message` with no traceback; anything unexpected is a bug, logged in full.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ffinfra import __version__
from ffinfra.cli import console
from ffinfra.compile import Compiled, compile_stack
from ffinfra.errors import FfinfraError, SpecInvalid
from ffinfra.stack import find_stack

app = typer.Typer(
    name="ffinfra",
    help=(
        "Infrastructure-as-code for Fire-Flyer-style AI-HPC clusters.\n\n"
        "A stack is a folder under stacks/ with a cluster.yaml; with no STACK the embedded lab stack is used.\n\n"
        "\b\nExamples:\n"
        "  ffinfra validate ff2        check a spec: every problem at once, with file:line\n"
        "  ffinfra show ff2            zones, switches, ports, bandwidth, storage ratio, a picture\n"
        "  ffinfra build ff2           render every artifact (OpenSM, fabric, Slurm, NCCL, OS, inventory)\n"
        "  ffinfra verify-fabric ff2   route the fabric with a real OpenSM on ibsim, check every route\n"
        "  ffinfra plan ff2 -b main    what a spec change does: nodes, cables, files, impact (PR review)\n"
        "  ffinfra up lab              bring the lab up on this machine: nodes, Ansible roles, Slurm, OpenSM\n"
        "  ffinfra status lab          nodes, services and drift;  ffinfra down lab  destroys the nodes\n"
        "  ffinfra schema > spec.json  JSON Schema for editor completion\n"
        "  ffinfra codes               every finding code and what it checks"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

StackArg = Annotated[
    str | None,
    typer.Argument(help="stack name under stacks/, a stack folder, or a spec file [default: lab]", show_default=False),
]
SuppressOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--suppress",
        "-s",
        help="silence a finding code (repeat or comma-separate: -s FF-NET-011,FF-QOS-003). "
        "Also settable in the spec under validation.suppress, or FFINFRA_SUPPRESS.",
        envvar="FFINFRA_SUPPRESS",
    ),
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="treat warnings as errors", envvar="FFINFRA_STRICT")]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]


def _codes(values: list[str] | None) -> tuple[str, ...]:
    return tuple(c.strip() for v in values or [] for c in v.replace(" ", ",").split(",") if c.strip())


def _compile(stack: str | None, suppress: list[str] | None = None, strict: bool = False) -> Compiled:
    ref = find_stack(stack)
    with console.status(f"compiling {ref.display_path}"):
        return compile_stack(ref, _codes(suppress), strict)


def _version(value: bool) -> None:
    if value:
        console.out.print(f"ffinfra {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    pass


@app.command()
def validate(stack: StackArg = None, suppress: SuppressOpt = None, strict: StrictOpt = False, json_: JsonOpt = False):
    """Check a spec: schema, then every rule (ports vs radix, zone capacity, OpenSM ftree preconditions,
    duplicate names/MACs/IPs/GUIDs, address pools, QoS, storage ratio). Exit 0 valid, 1 invalid.

    Each finding reads `file:line:col: severity[CODE] path: message` with a hint; list codes with `ffinfra codes`.
    """
    try:
        c = _compile(stack, suppress, strict)
    except SpecInvalid as exc:
        if json_:
            console.out.print_json(json.dumps({"valid": False, "findings": [f.to_dict() for f in exc.findings]}))
            raise typer.Exit(1) from None
        raise
    if json_:
        console.out.print_json(json.dumps({"valid": True, "findings": [f.to_dict() for f in c.findings]}))
        return
    console.print_findings(c.findings)
    t = c.topology
    console.out.print(
        f"[green]✓[/] {c.stack.display_path}: valid ({len(t.hosts)} nodes, {len(t.switches)} switches, "
        f"{len(t.zones)} zone(s)); {console.count_line(c.findings)}"
    )


@app.command()
def show(stack: StackArg = None, suppress: SuppressOpt = None, json_: JsonOpt = False):
    """Summarize a compiled stack: nodes per group and zone, switches per zone and layer, ports used/free,
    bisection and cross-zone bandwidth, storage-to-compute ratio (nodes and bandwidth), and a picture."""
    from ffinfra.cli.picture import picture
    from ffinfra.topology.summary import summarize

    c = _compile(stack, suppress)
    s = summarize(c.topology)
    if json_:
        console.out.print_json(json.dumps(s.to_dict()))
        return
    o = console.out
    o.print(f"[bold]{s.stack}[/]: {s.description}")
    o.print(f"fabric: {s.design}, {s.switch}, {s.link}; {s.switches} switches, {s.cables} cables; {s.gpus} GPUs")
    nodes = Table(title="nodes", title_justify="left", show_edge=False)
    nodes.add_column("group")
    nodes.add_column("role")
    nodes.add_column("nodes", justify="right")
    for z in s.zones:
        nodes.add_column(f"in {z.name}", justify="right")
    roles = {g: spec.role for g, spec in c.spec.nodes.items()}
    for g, n in s.nodes_by_group.items():
        nodes.add_row(g, roles[g], str(n), *(str(z.nodes_by_group.get(g, 0)) for z in s.zones))
    o.print(nodes)
    zt = Table(title="zones", title_justify="left", show_edge=False)
    for col in ("zone", "SM", "spines", "leaves", "host ports", "spine ports", "down:up", "bisection"):
        zt.add_column(col, justify="left" if col in ("zone", "SM") else "right", no_wrap=True)
    for z in s.zones:
        zt.add_row(
            z.name,
            z.sm_host,
            str(z.spines),
            str(z.leaves),
            f"{z.host_ports_used} used "
            + (f"{z.host_ports_reserved} reserved " if z.host_ports_reserved else "")
            + f"{z.host_ports_free} free",
            f"{z.spine_ports_used} used {z.spine_ports_total - z.spine_ports_used} free",
            z.oversubscription,
            _gbps(z.bisection_gbps),
        )
    o.print(zt)
    o.print(f"cross-zone: {s.cross_zone}" + (f" = {_gbps(s.cross_zone_gbps)}" if s.cross_zone_gbps else ""))
    o.print(
        f"storage: {s.storage_nodes} storage for {s.compute_nodes} compute nodes = {s.storage_ratio_nodes:.3f} "
        f"by nodes, {s.storage_ratio_bandwidth:.3f} by IB bandwidth; {s.storage_raw_tb:,.0f} TB raw NVMe"
    )
    from ffinfra.topology.thresholds import derive_thresholds

    marks = "; ".join(
        f"{t.metric} {t.value:g} {t.unit}" + (" (spec)" if t.source == "spec" else "")
        for t in derive_thresholds(c.topology)
        if t.value is not None
    )
    o.print(f"acceptance: {marks}")
    for note in s.notes:
        o.print(f"note: {note}")
    o.print()
    o.print(picture(s), markup=False)
    console.print_findings(c.findings)


def _gbps(v: int) -> str:
    return f"{v / 1000:,.1f} Tb/s" if v >= 1000 else f"{v} Gb/s"


@app.command()
def build(
    stack: StackArg = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="write every artifact here. Default: build/<stack>/, and the Ansible inventory also to "
            "inventories/<stack>/",
        ),
    ] = None,
    suppress: SuppressOpt = None,
):
    """Render every artifact of a stack: OpenSM configs and GUID files per subnet, the expected fabric
    (ibnetdiscover format, ibsim netlist, cabling CSV), Slurm, NCCL/HFReduce, OS tuning, /etc/hosts and the
    Ansible inventory. Output is byte-identical for the same spec; manifest.json lists every file's sha256."""
    from ffinfra.render.bundle import write_bundle
    from ffinfra.render.targets import render_all

    c = _compile(stack, suppress)
    with console.status("rendering"):
        artifacts = render_all(c.topology)
    out = output or Path("build") / c.topology.name
    written, unchanged, removed = write_bundle(c.topology, artifacts, out)
    console.print_findings(c.findings)
    console.out.print(
        f"[green]✓[/] {len(artifacts)} artifacts in {out}/ ({written} written, {unchanged} unchanged, "
        f"{removed} removed)"
    )
    if output is None:
        inv = [a for a in artifacts if a.path.startswith("inventory/")]
        if inv:
            from dataclasses import replace

            inv_dir = Path("inventories") / c.topology.name
            moved = [replace(a, path=a.path.removeprefix("inventory/")) for a in inv]
            w, u, r = write_bundle(c.topology, moved, inv_dir)
            console.out.print(f"[green]✓[/] Ansible inventory in {inv_dir}/ ({w} written, {u} unchanged, {r} removed)")


class PlanFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"


FormatOpt = Annotated[
    PlanFormat, typer.Option("--format", "-f", help="table (terminal), markdown (PR comment) or json (change set)")
]
DetailsOpt = Annotated[bool, typer.Option("--details", help="list every node port and cable behind each row")]
DiffOpt = Annotated[bool, typer.Option("--diff", help="include unified diffs of the rendered files")]
DestructiveOpt = Annotated[
    bool, typer.Option("--allow-destructive", help="accept changes that destroy data (e.g. the 3FS chain-table type)")
]
OutOpt = Annotated[Path | None, typer.Option("--output", "-o", help="write the report to a file as well")]


def _run_plan(old_ref, new_ref, fmt: PlanFormat, details: bool, diff: bool, allow: bool, output: Path | None) -> None:
    from ffinfra.plan.plan import build_plan
    from ffinfra.plan.report import markdown, print_table, to_json

    with console.status("compiling both sides"):
        old = compile_stack(old_ref)
        new = compile_stack(new_ref)
    with console.status("comparing"):
        plan = build_plan(old, new, old_ref.display_path, new_ref.display_path, allow_destructive=allow)
    if fmt is PlanFormat.table:
        print_table(plan, console.out, details=details, diffs=diff)
        text = None
    else:
        text = markdown(plan, diffs=diff) if fmt is PlanFormat.markdown else to_json(plan, diffs=diff)
        sys.stdout.write(text)
    if output is not None:
        output.write_text(text if text is not None else (markdown(plan, diffs=diff)))
    if plan.refused:
        raise typer.Exit(1)
    raise typer.Exit(2 if plan.changed else 0)


@app.command()
def plan(
    stack: StackArg = None,
    base: Annotated[
        str,
        typer.Option(
            "--base",
            "-b",
            help="what to compare against: a git revision of the repository holding the stack (origin/main, "
            "HEAD~1) or a path to the older spec",
        ),
    ] = "HEAD",
    fmt: FormatOpt = PlanFormat.table,
    details: DetailsOpt = False,
    diff: DiffOpt = False,
    allow_destructive: DestructiveOpt = False,
    output: OutOpt = None,
):
    """Show what a spec change does to the cluster: spec changes (YAML paths), topology changes (nodes added,
    removed, renamed or moved; switches; cables by switch and port), changed files and their hosts, and the
    impact of each: no-op < hot reload < rolling restart < rolling reboot < fabric re-route < 3FS data
    migration < destructive re-create < unsupported. The plan's impact is the highest row's.

    Exit codes (like terraform plan -detailed-exitcode): 0 no change, 2 changes, 1 error or refused
    (destructive without --allow-destructive, or unsupported)."""
    from ffinfra.plan.base import base_stack

    new_ref = find_stack(stack)
    with base_stack(new_ref, base) as old_ref:
        _run_plan(old_ref, new_ref, fmt, details, diff, allow_destructive, output)


@app.command()
def diff(
    old: Annotated[str, typer.Argument(help="the older stack: name, folder or spec file")],
    new: Annotated[str, typer.Argument(help="the newer stack: name, folder or spec file")],
    fmt: FormatOpt = PlanFormat.table,
    details: DetailsOpt = False,
    diff_: DiffOpt = False,
    allow_destructive: DestructiveOpt = False,
    output: OutOpt = None,
):
    """Compare two specs as a plan (same report and exit codes as `ffinfra plan`)."""
    _run_plan(find_stack(old), find_stack(new), fmt, details, diff_, allow_destructive, output)


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
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
    c = _compile(stack)
    if host not in c.topology.host_by_name:
        raise UserError(f"{host!r} is not a node of stack {c.topology.name!r}")
    prov = get_provider(provider, c.topology.name, StackPaths(c.stack.dir).state_dir, c.topology)
    r = prov.exec(host, argv, timeout=600)
    sys.stdout.write(r.stdout)
    sys.stderr.write(r.stderr)
    raise typer.Exit(r.returncode)


@app.command("verify-fabric")
def verify_fabric_cmd(
    stack: StackArg = None,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="keep the simulator's work folder here (logs, dumps, staged files)")
    ] = None,
    suppress: SuppressOpt = None,
):
    """Route the stack's own fabric with a real OpenSM on ibsim (no InfiniBand hardware needed) and check it:
    SUBNET UP with the configured engine and no silent fallback, the discovered cabling equals the plan, every
    CA port reachable from every leaf without loops, and uplink loads balanced. Exit 0 healthy, 3 when not.
    Needs Debian's ibsim-utils, opensm and infiniband-diags (scripts/setup.sh --test installs them)."""
    from ffinfra.render.targets import render_all
    from ffinfra.verify.fabric_check import verify_fabric

    c = _compile(stack, suppress)
    artifacts = render_all(c.topology)
    with tempfile.TemporaryDirectory(prefix="ffinfra-fabric-") as tmp:
        workdir = keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        with console.status(f"routing {c.topology.name} on ibsim ({len(c.topology.subnets)} subnet(s))"):
            report = verify_fabric(c.topology, artifacts, workdir)
    console.out.print(report.summary(), markup=False)
    if not report.ok:
        raise typer.Exit(3)


ProviderOpt = Annotated[
    str, typer.Option("--provider", "-p", help="where nodes come from: lab (namespaces on this machine, needs root)")
]


@app.command()
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

    c = _compile(stack, suppress)
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


@app.command()
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

    c = _compile(stack, suppress)
    done, left = run_down(c, provider, purge, console.out)
    if left:
        console.err.print(f"[bold red]✗[/] left behind: {', '.join(left)}")
        raise typer.Exit(3)
    console.out.print(f"[green]✓[/] {c.topology.name} is down ({len(done)} nodes destroyed)")


@app.command()
def status(
    stack: StackArg = None,
    provider: ProviderOpt = "lab",
    json_: JsonOpt = False,
    suppress: SuppressOpt = None,
):
    """Nodes (running, stopped), the services running on each, and drift: what `ffinfra up` would change on
    each host (rendered now vs applied last). Exit 0 in sync, 2 drift or nodes not running."""
    from ffinfra.apply.up import stack_status

    c = _compile(stack, suppress)
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


@app.command()
def schema(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to a file instead of stdout")] = None,
):
    """Print the JSON Schema of cluster.yaml, for editor completion (e.g. YAML language server:
    `# yaml-language-server: $schema=./spec.schema.json` at the top of the spec)."""
    from ffinfra.spec.models import ClusterSpec

    text = json.dumps(ClusterSpec.model_json_schema(), indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text)
        console.out.print(f"[green]✓[/] schema written to {output}")
    else:
        sys.stdout.write(text)


@app.command()
def codes():
    """List every finding code with what it checks (use them with --suppress or validation.suppress)."""
    from ffinfra.checks import all_codes

    table = Table(show_edge=False)
    table.add_column("code")
    table.add_column("checks")
    for code, text in all_codes().items():
        table.add_row(code, text)
    console.out.print(table)


def _debug_log() -> Path:
    d = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ffinfra"
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        d = Path(tempfile.gettempdir())
    return d / "debug.log"


def main() -> None:
    try:
        # standalone_mode=False: usage errors and Exit come back here instead of exiting inside typer
        rc = app(standalone_mode=False)
        sys.exit(rc if isinstance(rc, int) else 0)
    except SpecInvalid as exc:
        console.print_findings(exc.findings)
        strict_only = exc.strict and not any(f.is_blocking for f in exc.findings)
        head = "spec fails --strict (warnings are fatal)" if strict_only else "spec is invalid"
        console.err.print(f"[bold red]✗[/] {head}: {console.count_line(exc.findings)}")
        sys.exit(1)
    except FfinfraError as exc:
        console.err.print(f"[bold red]error:[/] {exc}", markup=True)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        console.err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        console.err.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # the one place that catches everything: bugs are logged, not shown raw
        if isinstance(exc, typer.TyperException):  # usage errors: typer prints them itself
            exc.show()
            sys.exit(exc.exit_code)
        log = _debug_log()
        log.write_text("".join(traceback.format_exception(exc)))
        console.err.print(
            f"[bold red]internal error:[/] {type(exc).__name__}: {exc}\n"
            f"This is a bug in ffinfra. The traceback is in {log}; please report it with your spec."
        )
        sys.exit(70)
