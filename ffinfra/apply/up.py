"""`ffinfra up`: provision → render → apply → verify, with a live view per host, a summary and state.

    provision  the provider makes the nodes (lab: namespaces) and ffinfra writes known_hosts and ssh_config
    render     render_all + write_bundle into build/<stack>/ (and the inventory into inventories/<stack>/)
    apply      playbooks/site.yml through ffinfra.apply.ansible.run_playbook, every role, per host progress
    verify     Slurm idle on every compute node, srun on all of them, OpenSM SUBNET UP with ftree

The whole run holds the stack lock; its logs go to stacks/<name>/runs/<UTC stamp>/ (one file per phase); what
was applied goes to stacks/<name>/state.json. Secrets never reach a log or the screen: every line passes the
stack's redactor. The display is the caller's (a Console); the library itself never prints elsewhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ffinfra import __version__
from ffinfra.apply.provider import NodeAccess, Provider, get_provider, nodes_from_topology
from ffinfra.apply.secrets import HostEntry, StackSecrets
from ffinfra.apply.state import RunDir, StackPaths, load_state, save_state, stack_lock, utc_now
from ffinfra.apply.verify import Check, verify_stack
from ffinfra.compile import Compiled
from ffinfra.errors import OperationalError
from ffinfra.render.artifact import Artifact
from ffinfra.topology.model import Topology

PHASES = ("provision", "render", "apply", "verify")
REPO = Path(__file__).resolve().parent.parent.parent
PLAYBOOK = REPO / "playbooks" / "site.yml"
# Which Ansible role installs the artifacts of a component (state.json records per host, per role).
COMPONENT_ROLE = {"os": "common", "hosts": "common", "slurm": "slurm", "opensm": "opensm", "hfreduce": "nccl"}


# -- which hosts receive which artifact -------------------------------------------------------------------------


def target_hosts(topo: Topology, targets: str) -> list[str]:
    kind, _, name = targets.partition(":")
    if kind == "all":
        return [h.name for h in topo.hosts]
    if kind == "group":
        return [h.name for h in topo.hosts if h.group == name]
    if kind == "role":
        return [h.name for h in topo.hosts if h.role == name]
    if kind == "host":
        return [name] if name in topo.host_by_name else []
    if kind == "profile":
        return [h.name for h in topo.hosts if h.profile_name == name]
    return []  # operator


def expected_per_host(topo: Topology, artifacts: list[Artifact]) -> dict[str, dict[str, dict[str, str]]]:
    """host → role → {artifact path: sha256}, for artifacts installed on hosts (those with a dest)."""
    out: dict[str, dict[str, dict[str, str]]] = {h.name: {} for h in topo.hosts}
    for a in artifacts:
        if not a.dest:
            continue
        role = COMPONENT_ROLE.get(a.component, a.component)
        for h in target_hosts(topo, a.targets):
            out[h].setdefault(role, {})[a.path] = a.sha256
    return out


def drift(topo: Topology, artifacts: list[Artifact], state: dict[str, Any]) -> dict[str, list[str]]:
    """host → what differs between what would be rendered now and what was applied last (empty: in sync)."""
    out: dict[str, list[str]] = {}
    applied_hosts = state.get("hosts", {})
    for host, roles in expected_per_host(topo, artifacts).items():
        got = applied_hosts.get(host)
        if not got:
            out[host] = ["never applied"]
            continue
        diffs = []
        for role, files in roles.items():
            have = got.get("roles", {}).get(role, {}).get("artifacts", {})
            for path, sha in files.items():
                if path not in have:
                    diffs.append(f"{path} new")
                elif have[path] != sha:
                    diffs.append(f"{path} changed")
            diffs += [f"{p} removed" for p in have if p not in files]
        for role in got.get("roles", {}):
            if role not in roles and got["roles"][role].get("artifacts"):
                diffs.append(f"role {role} no longer has artifacts here")
        out[host] = diffs
    for host in applied_hosts:
        if host not in out:
            out[host] = ["no longer in the spec"]
    return out


# -- what a person sees -----------------------------------------------------------------------------------------


@dataclass
class HostView:
    name: str
    role: str
    phase: str = "waiting"
    status: str = ""
    task: str = ""
    changed: int = 0
    ok: int = 0
    failed: bool = False


class Display:
    """Per host rows: a live table on a terminal, plain timestamped lines otherwise (CI logs)."""

    def __init__(self, console: Console, hosts: list[tuple[str, str]], redact: Callable[[str], str]):
        self.console = console
        self.redact = redact
        self.rows = {h: HostView(h, r) for h, r in hosts}
        self.live: Live | None = None
        self.t0 = time.monotonic()
        self.phase = ""

    def __enter__(self) -> Display:
        if self.console.is_terminal:
            self.live = Live(self._table(), console=self.console, refresh_per_second=8, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live:
            self.live.update(self._table())
            self.live.__exit__(None, None, None)
            self.live = None

    def _table(self) -> Table:
        t = Table(title=f"{self.phase} ({time.monotonic() - self.t0:.0f} s)", show_edge=False, title_justify="left")
        for col in ("host", "role", "phase", "status", "task", "changed"):
            t.add_column(col)
        for r in self.rows.values():
            style = "red" if r.failed else ("green" if r.status in ("ready", "kept", "ok", "done") else "")
            t.add_row(r.name, r.role, r.phase, r.status, r.task[:60], str(r.changed), style=style)
        return t

    def line(self, text: str) -> None:
        text = self.redact(text)
        if self.live:
            self.live.console.print(text, markup=False, highlight=False)
        else:
            self.console.print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", markup=False, highlight=False)

    def set_phase(self, phase: str) -> None:
        self.phase = phase
        self.line(f"== {phase}")
        self._refresh()

    def host(self, host: str, phase: str, status: str, task: str = "") -> None:
        r = self.rows.get(host)
        if r is None:
            return
        r.phase, r.status = phase, status
        if task:
            r.task = self.redact(task)
        if status in ("failed", "unreachable"):
            r.failed = True
        if not self.live:
            self.line(f"{phase:9} {host:10} {status}" + (f"  {r.task}" if task else ""))
        self._refresh()

    def _refresh(self) -> None:
        if self.live:
            self.live.update(self._table())


# -- the run ----------------------------------------------------------------------------------------------------


@dataclass
class Failure:
    phase: str
    host: str
    task: str
    error: str
    log: Path


@dataclass
class UpResult:
    ok: bool
    run_dir: Path | None
    rows: list[HostView] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    changed: int = 0
    failure: Failure | None = None
    dry_run_lines: list[str] = field(default_factory=list)
    apply_skipped: str = ""  # why the playbook did not run (nothing changed), empty when it ran

    @property
    def seconds(self) -> float:
        return sum(self.phase_seconds.values())


@dataclass
class UpOptions:
    provider: str = "lab"
    verify: bool = True
    dry_run: bool = False
    tags: list[str] | None = None
    build_dir: Path | None = None  # default build/<stack> next to stacks/
    force: bool = False  # run the playbook even when nothing changed since the last apply


def repo_root_for(stack_dir: Path) -> Path:
    d = stack_dir.resolve()
    return d.parent.parent if d.parent.name == "stacks" else Path.cwd()


def _render(c: Compiled, build_dir: Path, inv_dir: Path) -> tuple[list[Artifact], str]:
    from ffinfra.render.bundle import write_bundle
    from ffinfra.render.targets import render_all

    artifacts = render_all(c.topology)
    w, u, r = write_bundle(c.topology, artifacts, build_dir)
    inv = [replace(a, path=a.path.removeprefix("inventory/")) for a in artifacts if a.path.startswith("inventory/")]
    iw, iu, ir = write_bundle(c.topology, inv, inv_dir)
    return artifacts, (
        f"{len(artifacts)} artifacts in {build_dir} ({w} written, {u} unchanged, {r} removed); "
        f"inventory in {inv_dir} ({iw} written, {iu} unchanged, {ir} removed)"
    )


def connection_inventory(secrets: StackSecrets) -> str:
    """group_vars for `all` that say how to reach the nodes: the stack's key, ssh_config and known_hosts."""
    import yaml

    data = {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(secrets.operator_key.resolve()),
                "ansible_ssh_common_args": f"-F {secrets.ssh_config.resolve()}",
                "ansible_ssh_pipelining": True,
                "ansible_host_key_checking": True,
            }
        }
    }
    return "# Generated by ffinfra for one run: how Ansible reaches this stack's nodes.\n" + yaml.safe_dump(data)


def _record(
    state: dict[str, Any],
    topo: Topology,
    artifacts: list[Artifact],
    hosts: list[str],
    provider: str,
    access: dict[str, NodeAccess],
    run_id: str,
    per_host: dict[str, Any],
) -> None:
    now = utc_now()
    expected = expected_per_host(topo, artifacts)
    state["stack"] = topo.name
    state["provider"] = provider
    state["ffinfra_version"] = __version__
    state["spec_sha256"] = topo.spec_sha256
    state["updated_at"] = now
    state["last_run"] = run_id
    for h in hosts:
        hr = per_host.get(h)
        state["hosts"][h] = {
            "address": access[h].address if h in access else "",
            "applied_at": now,
            "run": run_id,
            "ffinfra_version": __version__,
            "spec_sha256": topo.spec_sha256,
            "ansible": {"ok": getattr(hr, "ok", 0), "changed": getattr(hr, "changed", 0)},
            "roles": {
                role: {"artifacts": files, "applied_at": now, "ffinfra_version": __version__}
                for role, files in sorted(expected.get(h, {}).items())
            },
        }


def up(c: Compiled, opts: UpOptions, console: Console) -> UpResult:
    topo = c.topology
    paths = StackPaths(c.stack.dir)
    root = repo_root_for(c.stack.dir)
    build_dir = (opts.build_dir or root / "build" / topo.name).resolve()
    inv_dir = (root / "inventories" / topo.name).resolve()
    if opts.dry_run:
        return _dry_run(c, opts, paths, build_dir, console)

    provider = get_provider(opts.provider, topo.name, paths.state_dir, topo)
    if opts.provider == "lab":
        from ffinfra.apply.lab import require_root, require_tools

        require_root()
        require_tools()
    with stack_lock(paths.lock, "ffinfra up"):
        return _up_locked(c, opts, console, provider, paths, build_dir, inv_dir)


def _up_locked(
    c: Compiled,
    opts: UpOptions,
    console: Console,
    provider: Provider,
    paths: StackPaths,
    build_dir: Path,
    inv_dir: Path,
) -> UpResult:
    topo = c.topology
    secrets = StackSecrets(paths.secrets)
    made = secrets.ensure([h.name for h in topo.hosts], topo.name)
    redact = secrets.redactor()
    run = RunDir.create(paths.runs, redact)
    result = UpResult(ok=False, run_dir=run.path)
    hosts = [(h.name, h.role) for h in topo.hosts]
    state = load_state(paths.state_json)
    artifacts: list[Artifact] = []
    with Display(console, hosts, redact) as ui:
        ui.line(f"ffinfra up {topo.name}: {len(hosts)} nodes, provider {provider.name}, logs in {run.path}")
        if made:
            run.log("provision", "generated: " + ", ".join(made))

        # provision
        t = time.monotonic()
        ui.set_phase("provision")

        def prov(host: str, status: str, detail: str) -> None:
            run.log("provision", f"{host}: {status} {detail}")
            ui.host(host, "provision", status, detail)

        try:
            access = provider.create(nodes_from_topology(topo), secrets.dir, prov)
            entries = [HostEntry(a.name, a.address, a.proxy_command) for a in access.values()]
            secrets.write_known_hosts(entries)
            secrets.write_ssh_config(entries)
        except OperationalError as exc:
            run.log("provision", f"FAILED: {exc}")
            result.failure = Failure("provision", "", "create nodes", str(exc), run.log_path("provision"))
            return _finish(result, run, ui, t, "provision")
        result.phase_seconds["provision"] = time.monotonic() - t

        # render
        t = time.monotonic()
        ui.set_phase("render")
        artifacts, msg = _render(c, build_dir, inv_dir)
        run.log("render", msg)
        ui.line(msg)
        for h, _ in hosts:
            ui.host(h, "render", "done")
        result.phase_seconds["render"] = time.monotonic() - t

        # apply
        t = time.monotonic()
        ui.set_phase("apply")
        conn = run.path / "connection.yml"
        conn.write_text(connection_inventory(secrets))
        extra_vars = {
            "ffinfra_artifacts_dir": str(build_dir),
            "ffinfra_secrets_dir": str(secrets.dir.resolve()),
            "ffinfra_lab": opts.provider == "lab",
            "ffinfra_fabric_sim": opts.provider == "lab",
            "ffinfra_stack": topo.name,
        }
        run.log("apply", f"playbook {PLAYBOOK}; inventories {inv_dir}, {conn}; extra vars {sorted(extra_vars)}")
        from ffinfra.apply.fastpath import inputs_digest, live_drift

        digest = inputs_digest(
            topo,
            artifacts,
            [REPO / "roles", REPO / "playbooks"],
            [secrets.dir / "munge.key", secrets.operator_key.with_suffix(".pub")],
            {h: a.address for h, a in access.items()} | {"extra_vars": repr(sorted(extra_vars.items()))},
        )
        if not opts.force and not opts.tags and state.get("applied_digest") == digest:
            stale = {h: d for h, d in live_drift(provider, topo, artifacts).items() if d}
            if not stale:
                result.apply_skipped = "nothing changed since the last apply and every installed file matches"
                run.log("apply", f"skipped: {result.apply_skipped} (inputs {digest[:12]}); --force runs the roles")
                ui.line(f"apply: skipped, {result.apply_skipped} (--force runs every role anyway)")
                for h, _ in hosts:
                    ui.host(h, "apply", "ok", "unchanged")
                result.phase_seconds["apply"] = time.monotonic() - t
                return _verify_and_finish(c, opts, provider, artifacts, result, run, ui, state, paths)
            run.log(
                "apply", "files differ on the nodes: " + "; ".join(f"{h}: {', '.join(d)}" for h, d in stale.items())
            )
        try:
            from ffinfra.apply.ansible import run_playbook
        except ImportError as exc:
            raise OperationalError(f"the playbook runner ffinfra.apply.ansible is not available: {exc}") from None

        failed_events: dict[str, tuple[str, str]] = {}  # host → (task, message) of its first failure

        def on_event(ev: dict[str, Any]) -> None:
            host = str(ev.get("host") or "")
            status = str(ev.get("status") or ev.get("event") or "")
            task = str(ev.get("task") or ev.get("name") or "")
            if host and status in ("failed", "unreachable") and not ev.get("ignore_errors"):
                failed_events.setdefault(host, (task, str(ev.get("message") or ev.get("msg") or "")))
            if ev.get("role") and task and not task.startswith(str(ev["role"])):
                task = f"{ev['role']} : {task}"
            if host:
                ui.host(host, "apply", status, task)

        pr = run_playbook(PLAYBOOK, [inv_dir, conn], extra_vars, run.path, tags=opts.tags, on_event=on_event)
        result.changed = int(getattr(pr, "changed", 0) or 0)
        per_host = dict(getattr(pr, "per_host", {}) or {})
        for h, hr in per_host.items():
            if h in ui.rows:
                ui.rows[h].changed = int(getattr(hr, "changed", 0) or 0)
                ui.rows[h].ok = int(getattr(hr, "ok", 0) or 0)
                bad = _host_failed(hr) or h in failed_events
                ui.host(h, "apply", "failed" if bad else "ok", "" if bad else "done")
        run.log("apply", f"playbook ok={pr.ok} changed={result.changed}; ansible log {pr.log_path}")
        result.phase_seconds["apply"] = time.monotonic() - t
        good = [h for h, _ in hosts if h in per_host and not _host_failed(per_host[h]) and h not in failed_events]
        if not pr.ok or failed_events:
            order = [h for h, _ in hosts]
            bad = [h for h in order if (h in per_host and _host_failed(per_host[h])) or h in failed_events]
            bad_host = bad[0] if bad else ""
            hr = per_host.get(bad_host)
            ev_task, ev_msg = failed_events.get(bad_host, ("", ""))
            more = f" (and {len(bad) - 1} more host(s))" if len(bad) > 1 else ""
            result.failure = Failure(
                "apply",
                bad_host + more,
                str(getattr(hr, "failed_task", "") or ev_task or "?"),
                redact(
                    str(getattr(hr, "message", "") or ev_msg or f"the playbook failed (rc {getattr(pr, 'rc', '?')})")
                ),
                Path(pr.log_path) if pr.log_path else run.log_path("apply"),
            )
            _record(state, topo, artifacts, good, provider.name, access, run.path.name, per_host)
            save_state(paths.state_json, state)
            return _finish(result, run, ui, None, "apply")
        _record(state, topo, artifacts, [h for h, _ in hosts], provider.name, access, run.path.name, per_host)
        if not opts.tags:  # a partial run (some roles only) does not vouch for the whole stack
            state["applied_digest"] = digest
        save_state(paths.state_json, state)
        return _verify_and_finish(c, opts, provider, artifacts, result, run, ui, state, paths)


def _verify_and_finish(
    c: Compiled,
    opts: UpOptions,
    provider: Provider,
    artifacts: list[Artifact],
    result: UpResult,
    run: RunDir,
    ui: Display,
    state: dict[str, Any],
    paths: StackPaths,
) -> UpResult:
    if opts.verify:
        t = time.monotonic()
        ui.set_phase("verify")
        result.checks = verify_stack(provider, c.topology, artifacts, lambda s: run.log("verify", s))
        for ch in result.checks:
            ui.line(f"{'✓' if ch.ok else '✗'} {ch.name}: {ch.detail}")
        result.phase_seconds["verify"] = time.monotonic() - t
        failed = [ch for ch in result.checks if not ch.ok]
        if failed:
            f = failed[0]
            result.failure = Failure("verify", f.host, f.name, f.detail, run.log_path("verify"))
            return _finish(result, run, ui, None, "verify")
        state["verified_at"] = utc_now()
        save_state(paths.state_json, state)
    result.ok = True
    return _finish(result, run, ui, None, "")


def _host_failed(hr: object) -> bool:
    return bool(getattr(hr, "failed", 0) or getattr(hr, "unreachable", 0))


def _finish(result: UpResult, run: RunDir, ui: Display, t: float | None, phase: str) -> UpResult:
    if t is not None and phase:
        result.phase_seconds[phase] = time.monotonic() - t
    result.rows = list(ui.rows.values())
    run.write_json(
        "summary.json",
        {
            "ok": result.ok,
            "changed": result.changed,
            "phase_seconds": {k: round(v, 2) for k, v in result.phase_seconds.items()},
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in result.checks],
            "failure": None
            if result.failure is None
            else {
                "phase": result.failure.phase,
                "host": result.failure.host,
                "task": result.failure.task,
                "error": result.failure.error,
                "log": str(result.failure.log),
            },
        },
    )
    run.close()
    return result


def summary_table(result: UpResult) -> Table:
    t = Table(show_edge=False, title="summary", title_justify="left")
    for col in ("host", "role", "result", "ok", "changed"):
        t.add_column(col)
    for r in result.rows:
        res = "[red]failed[/]" if r.failed else f"{r.phase} {r.status}".strip()
        t.add_row(r.name, r.role, res, str(r.ok), str(r.changed))
    return t


# -- dry run ----------------------------------------------------------------------------------------------------


def _dry_run(c: Compiled, opts: UpOptions, paths: StackPaths, build_dir: Path, console: Console) -> UpResult:
    from ffinfra.render.targets import render_all

    topo = c.topology
    lines: list[str] = []
    provider = get_provider(opts.provider, topo.name, paths.state_dir, topo)
    status = provider.status()
    lines.append(f"provision ({provider.name}):")
    for n in nodes_from_topology(topo):
        st = status.get(n.name)
        act = "keep (running)" if st and st.state == "running" else "create"
        lines.append(f"  {n.name:10} {n.role:10} {n.address:15} {act}")
    for gone in sorted(set(status) - {h.name for h in topo.hosts}):
        lines.append(f"  {gone:10} remove (no longer in the spec)")
    if not paths.secrets.exists():
        lines.append("  generate the stack's operator key, node host keys and munge key")
    artifacts = render_all(topo)
    lines.append(f"render: {len(artifacts)} artifacts into {build_dir}")
    d = drift(topo, artifacts, load_state(paths.state_json))
    tags = f", tags {opts.tags}" if opts.tags else ""
    lines.append(f"apply: {PLAYBOOK.relative_to(REPO)} on {len(topo.hosts)} hosts{tags}")
    for host, diffs in d.items():
        lines.append(f"  {host:10} " + ("in sync (expect no change)" if not diffs else "; ".join(diffs[:4])))
    if opts.verify:
        lines.append("verify: Slurm idle on every compute node; srun on all; OpenSM SUBNET UP with ftree per subnet")
    for line in lines:
        console.print(line, markup=False, highlight=False)
    return UpResult(ok=True, run_dir=None, dry_run_lines=lines)


# -- down / status ----------------------------------------------------------------------------------------------


def down(c: Compiled, provider_kind: str, purge: bool, console: Console) -> tuple[list[str], list[str]]:
    """Destroy the nodes; returns (destroyed, leftovers). The lock keeps a running `up` from racing it."""
    topo = c.topology
    paths = StackPaths(c.stack.dir)
    provider = get_provider(provider_kind, topo.name, paths.state_dir, topo)
    with stack_lock(paths.lock, "ffinfra down"):
        done = provider.destroy(lambda h, s, d: console.print(f"{h:10} {s} {d}".rstrip(), markup=False))
        state = load_state(paths.state_json)
        if state.get("hosts") or paths.state_json.exists():
            state["hosts"] = {}
            state["destroyed_at"] = utc_now()
            state.pop("verified_at", None)
            save_state(paths.state_json, state)
        if purge:
            from ffinfra.apply.secrets import remove_secrets

            remove_secrets(paths.secrets)
            paths.state_json.unlink(missing_ok=True)
    left = provider.leftovers() if hasattr(provider, "leftovers") else []
    return done, left


@dataclass
class StackStatus:
    nodes: dict[str, Any]
    drift: dict[str, list[str]]
    state: dict[str, Any]
    lock_pid: int | None


def stack_status(c: Compiled, provider_kind: str) -> StackStatus:
    from ffinfra.apply.state import lock_holder
    from ffinfra.render.targets import render_all

    topo = c.topology
    paths = StackPaths(c.stack.dir)
    provider = get_provider(provider_kind, topo.name, paths.state_dir, topo)
    state = load_state(paths.state_json)
    nodes = provider.status()
    return StackStatus(nodes, drift(topo, render_all(topo), state), state, lock_holder(paths.lock))
