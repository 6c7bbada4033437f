"""`ffinfra up`: plan → provision → render → apply → verify, reported through a Reporter, recorded in state.

    plan       on a stack applied before: the plan from the applied spec (state.json) to this one, enforced:
               unsupported changes are refused, destructive ones unless --allow-destructive; a refusal changes
               nothing (apply/applied.py)
    provision  the provider makes the nodes (lab: namespaces); ffinfra writes known_hosts and ssh_config
    render     every artifact into build/<stack>/, the inventory into inventories/<stack>/
    apply      playbooks/site.yml, every role, unless nothing can have changed: then only the roles that repair
               what the probes found off on the nodes, or nothing (apply/converge.py)
    verify     causes first: every daemon running, then Slurm and OpenSM (apply/health.py)

The whole run holds the stack lock; its logs go to stacks/<name>/runs/<UTC stamp>/ (one file per phase); what
was applied goes to stacks/<name>/state.json. Secrets never reach a log or the reporter: every line passes the
stack's redactor.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffinfra import assets
from ffinfra.apply.ansible import PlaybookResult, run_playbook, would_change
from ffinfra.apply.applied import PlanRefused, applied_record, plan_against_applied, reload_only
from ffinfra.apply.build import build_dirs, require_writable_stack, write_build
from ffinfra.apply.converge import Decision, changed_roles, decide, input_parts
from ffinfra.apply.events import Reporter
from ffinfra.apply.health import Check, verify_stack
from ffinfra.apply.probe import HostProbe, probe_hosts
from ffinfra.apply.provider import Provider, nodes_from_topology
from ffinfra.apply.providers import fabric_is_simulated, get_provider
from ffinfra.apply.record import placement_mismatch, record_hosts
from ffinfra.atomic import write_if_changed
from ffinfra.compile import Compiled
from ffinfra.errors import OperationalError, UserError
from ffinfra.plan.plan import Plan
from ffinfra.render.artifact import Artifact
from ffinfra.render.placement import Placement, installed_files, place
from ffinfra.render.targets import render_all
from ffinfra.render.threefs_chains import chains_csv
from ffinfra.runtime.lock import stack_lock
from ffinfra.runtime.paths import StackPaths
from ffinfra.runtime.runs import RunDir, utc_now
from ffinfra.runtime.secrets import StackSecrets
from ffinfra.runtime.ssh import Endpoint, Remote
from ffinfra.runtime.state import StackState, load_state, save_state
from ffinfra.topology.services import ROLES

PHASES = ("plan", "provision", "render", "apply", "verify")
DEFAULT_TIMEOUT_S = 3600.0


@dataclass
class Failure:
    phase: str
    host: str
    task: str
    error: str
    log: Path


@dataclass
class UpOptions:
    provider: str = "lab"
    verify: bool = True
    tags: list[str] | None = None
    build_dir: Path | None = None  # default build/<stack> next to stacks/
    force: bool = False  # run every role even when nothing changed since the last apply
    allow_destructive: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S  # the playbook's deadline
    check: bool = False  # Ansible check mode on the running nodes: report what would change, change nothing
    # One batch of a rolling change (apply/rollout.py): the roles whose files changed, on these hosts only. It does
    # not vouch for the stack (the other hosts have not changed yet): the applied spec is recorded by the run
    # after the last batch.
    limit: list[str] | None = None
    # Run as part of the rolling change the stack's journal records (a batch, or the closing run that records
    # it): a whole `up` outside it is refused while the journal exists.
    within_rollout: bool = False


@dataclass
class UpResult:
    ok: bool
    run_dir: Path | None
    plan: Plan | None = None
    decision: Decision | None = None
    phase_seconds: dict[str, float] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    changed: int = 0
    per_host: dict[str, tuple[int, int]] = field(default_factory=dict)  # host → (ok, changed) task counts
    failure: Failure | None = None
    # --check: host → role → the install paths of the files the role would install or replace there
    would_change: dict[str, dict[str, set[str]]] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return sum(self.phase_seconds.values())

    @property
    def apply_skipped(self) -> bool:
        return self.decision is not None and not self.decision.run


@dataclass
class _Run:
    """What the phases of one `up` share."""

    c: Compiled
    opts: UpOptions
    reporter: Reporter
    provider: Provider
    paths: StackPaths
    state: StackState
    secrets: StackSecrets
    run: RunDir
    result: UpResult
    build_dir: Path
    inv_dir: Path
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    remote: Remote | None = None  # one SSH connection per node, from provision to the end of the run
    probes: dict[str, HostProbe] | None = None  # what the fast path found on the nodes
    artifacts: list[Artifact] = field(default_factory=list)
    placement: Placement = field(default_factory=dict)

    def log(self, phase: str, text: str) -> None:
        self.run.log(phase, text)

    def say(self, phase: str, text: str) -> None:
        self.run.log(phase, text)
        self.reporter.line(self.run.redact(text))


def up(c: Compiled, opts: UpOptions, reporter: Reporter) -> UpResult:
    require_writable_stack(c.stack)
    paths = StackPaths(c.stack.dir)
    if opts.provider == "baremetal" and c.spec.provisioning.mode == "stateless":
        # refused before anything starts: the roles would fail on every node, after every node was powered on
        raise UserError(
            "`ffinfra up` configures nodes with Ansible, and ffinfra's stateless node image carries no Python: it "
            "boots, reports and answers SSH, no more. Boot it with `ffinfra provision "
            f"{c.topology.name}`; for nodes `up` configures, set provisioning.mode: install (docs/baremetal.md)"
        )
    provider = get_provider(opts.provider, c.topology.name, paths.state_dir, c.topology)
    provider.preflight()
    with stack_lock(paths.lock, "ffinfra up"):
        rollout = paths.rollout_journal
        if rollout.exists() and not opts.within_rollout:  # part-applied batches: this `up` would skip the drains
            raise OperationalError(
                f"a rolling change is under way ({rollout}): continue it with `ffinfra up {c.topology.name}` or "
                f"`ffinfra upgrade {c.topology.name}`, or return its drained nodes to service with "
                f"`ffinfra upgrade {c.topology.name} --abort`"
            )
        state = load_state(paths.state_json)
        # The plan comes first: a refused change touches nothing, not even the nodes' existence.
        t = time.monotonic()
        plan = plan_against_applied(c, state, opts.allow_destructive)
        plan_seconds = time.monotonic() - t
        if plan is not None:
            reporter.plan(plan)
            if plan.refused:
                raise PlanRefused(plan)
        secrets = StackSecrets(paths.secrets)
        made = secrets.ensure([h.name for h in c.topology.hosts], c.topology.name)
        run = RunDir.create(paths.runs, secrets.redactor())
        build_dir, inv_dir = build_dirs(c.stack, c.topology.name, opts.build_dir)
        r = _Run(
            c, opts, reporter, provider, paths, state, secrets, run, UpResult(False, run.path, plan), build_dir, inv_dir
        )
        try:
            r.say(
                "plan",
                f"ffinfra up {c.topology.name}: {len(c.topology.hosts)} nodes, provider {provider.name}, "
                f"logs in {run.path}",
            )
            if made:
                r.log("provision", "generated: " + ", ".join(made))
            r.log("plan", f"plan: {'none (nothing applied yet)' if plan is None else plan.impact.label}")
            r.result.phase_seconds["plan"] = plan_seconds
            if opts.check:
                r.result.ok = _reach(r) and _render(r) and _check(r)
                return _finish(r)
            applied = _provision(r) and _render(r) and _apply(r)
            if applied and opts.verify:
                _verify(r)  # sets ok
            else:
                r.result.ok = applied
            return _finish(r)
        finally:
            if r.remote is not None:
                r.remote.close()
            run.close()


def _provision(r: _Run) -> bool:
    t = time.monotonic()
    r.reporter.phase("provision")

    def progress(host: str, status: str, detail: str) -> None:
        r.log("provision", f"{host}: {status} {detail}")
        r.reporter.host(host, "provision", status, detail)

    try:
        r.endpoints = r.provider.create(nodes_from_topology(r.c.topology), r.secrets.dir, progress)
        r.secrets.write_known_hosts(r.endpoints.values())
        r.secrets.write_ssh_config(r.endpoints.values())
        r.remote = r.secrets.remote(r.endpoints.values())
    except OperationalError as exc:
        r.log("provision", f"FAILED: {exc}")
        r.result.failure = Failure("provision", "", "create nodes", str(exc), r.run.log_path("provision"))
        return False
    finally:
        r.result.phase_seconds["provision"] = time.monotonic() - t
    return True


def _reach(r: _Run) -> bool:
    """--check: the nodes must be running already; nothing is created."""
    t = time.monotonic()
    r.reporter.phase("provision")
    try:
        status = r.provider.status()
        down = [h.name for h in r.c.topology.hosts if getattr(status.get(h.name), "state", "") != "running"]
        if down:
            raise OperationalError(
                f"up --check needs the stack's nodes running; not running: {', '.join(down)} (run `ffinfra up`)"
            )
        r.endpoints = r.provider.access()
        r.remote = r.secrets.remote(r.endpoints.values())
    except OperationalError as exc:
        r.result.failure = Failure("provision", "", "reach nodes", str(exc), r.run.log_path("provision"))
        return False
    finally:
        r.result.phase_seconds["provision"] = time.monotonic() - t
    for h in r.c.topology.hosts:
        r.reporter.host(h.name, "provision", "ok", "running")
    return True


def _check(r: _Run) -> bool:
    """Every role on every host (or --tags) in Ansible's check mode: what would change, and nothing recorded."""
    t = time.monotonic()
    r.reporter.phase("apply")
    extra_vars, conn = _apply_inputs(r)
    decision = Decision(True, "--check: Ansible check mode, nothing changed", tags=r.opts.tags)
    r.result.decision = decision
    try:
        pr = _run_playbook(r, decision, extra_vars, conn, check=True)
    finally:
        r.result.phase_seconds["apply"] = time.monotonic() - t
    r.result.changed = pr.changed
    r.result.per_host = {h: (hr.ok, hr.changed) for h, hr in pr.per_host.items()}
    dest = {a.path: a.dest for a in r.artifacts}
    r.result.would_change = {
        h: {role: {dest.get(k, k) for k in keys} for role, keys in roles.items()}
        for h, roles in would_change(pr.events).items()
    }
    if not pr.ok:
        r.result.failure = _playbook_failure(r, pr, pr.failed_hosts)
    return pr.ok


def _render(r: _Run) -> bool:
    t = time.monotonic()
    r.reporter.phase("render")
    artifacts = render_all(r.c.topology)
    r.placement = place(r.c.topology, artifacts)
    r.say("render", write_build(r.c.topology, artifacts, r.build_dir, r.inv_dir))
    for h in r.c.topology.hosts:
        r.reporter.host(h.name, "render", "done")
    r.result.phase_seconds["render"] = time.monotonic() - t
    r.artifacts = artifacts
    return True


def connection_vars(secrets: StackSecrets) -> dict[str, Any]:
    """group_vars for `all` that say how Ansible reaches this stack's nodes: its key, ssh_config, known_hosts."""
    return {
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


def write_connection(path: Path, secrets: StackSecrets) -> Path:
    """The connection file of one run: how Ansible reaches this stack's nodes."""
    import yaml

    path.write_text(
        "# Generated by ffinfra for one run: how Ansible reaches this stack's nodes.\n"
        + yaml.safe_dump(connection_vars(secrets))
    )
    return path


def role_vars(c: Compiled, provider: str, build_dir: Path, secrets: StackSecrets) -> dict[str, Any]:
    """The extra vars every run of the roles gets (`up`, and a Pulumi role application)."""
    extra_vars: dict[str, Any] = {
        "ffinfra_artifacts_dir": str(build_dir),
        "ffinfra_secrets_dir": str(secrets.dir.resolve()),
        "ffinfra_lab": provider == "lab",
        "ffinfra_fabric_sim": fabric_is_simulated(provider),
        "ffinfra_stack": c.topology.name,
        # the hfreduce role copies HFReduce's source from here to each profile's build host
        "ffinfra_hfreduce_source_dir": str(assets.asset_dir("hfreduce")),
    }
    if provider == "lab":  # the nodes see this machine's /: they build and run with ffinfra's own venv
        extra_vars["ffinfra_lab_python"] = sys.executable
    return extra_vars


def _apply_inputs(r: _Run) -> tuple[dict[str, Any], Path]:
    """The extra vars every run of the roles gets, and the connection file that tells Ansible how to reach the
    nodes."""
    conn = write_connection(r.run.path / "connection.yml", r.secrets)
    return role_vars(r.c, r.opts.provider, r.build_dir, r.secrets), conn


def _apply(r: _Run) -> bool:
    t = time.monotonic()
    r.reporter.phase("apply")
    topo = r.c.topology
    sim = fabric_is_simulated(r.opts.provider)
    extra_vars, conn = _apply_inputs(r)
    parts = input_parts(
        r.placement,
        [assets.roles_dir(), assets.asset_dir("playbooks")],
        [r.secrets.munge_key, r.secrets.operator_pub],
        {h: e.address for h, e in r.endpoints.items()},
        extra_vars,
        {a.path: a.sha256 for a in r.artifacts if a.path.startswith("inventory/")},
    )
    applied = r.state.applied_inputs
    changed_parts = {k for k, v in parts.items() if applied.get(k) != v} if applied else None
    # Not among the inputs: the files the plan judged reloadable (the roles reload their daemon for exactly these)
    # and whether destructive changes are allowed; the change itself is in it, through the files' hashes.
    extra_vars["ffinfra_reload_only"] = reload_only(r.result.plan)
    extra_vars["ffinfra_allow_destructive"] = r.opts.allow_destructive
    assert r.remote is not None
    try:
        if r.opts.limit:
            return _apply_batch(r, extra_vars, conn, parts)
        digest_matches = parts == applied
        if digest_matches and not r.opts.force and not r.opts.tags:
            units = {h: list(s.units_on(sim)) for h, s in topo.services.hosts.items()}
            r.probes = probe_hosts(r.remote, installed_files(r.placement), units)
        decision = decide(
            force=r.opts.force,
            tags=r.opts.tags,
            digest_matches=digest_matches,
            probes=r.probes,
            placement=r.placement,
            services=topo.services,
            changed_parts=changed_parts,
            changed=changed_roles(r.placement, topo.services, r.state),
        )
        r.result.decision = decision
        for host, problems in decision.repairs.items():
            r.say("apply", f"{host}: {'; '.join(problems)}")
        if not decision.run:
            r.say("apply", f"skipped: {decision.reason} (--force runs every role anyway)")
            for h in topo.hosts:
                r.reporter.host(h.name, "apply", "ok", "unchanged")
            _remember(r, parts)
            return True
        r.say("apply", f"running {assets.playbook('site.yml').name}: {decision.reason}")
        pr = _run_playbook(r, decision, extra_vars, conn)
        r.probes = None  # the playbook may have changed what they saw
    finally:
        r.result.phase_seconds["apply"] = time.monotonic() - t
    return _account(r, pr, decision, parts)


def _apply_batch(r: _Run, extra_vars: dict[str, Any], conn: Path, parts: dict[str, str]) -> bool:
    """A rolling change's batch: the roles whose files changed on its hosts (every role there if none did, as when
    the roles themselves changed), those hosts only."""
    assert r.opts.limit
    topo = r.c.topology
    changed = changed_roles(r.placement, topo.services, r.state)
    roles = {role for h in r.opts.limit for role in changed.get(h, set())}
    tags = [role for role in ROLES if role in roles] or None
    decision = Decision(True, f"rolling batch: {', '.join(tags or ['every role'])} on {', '.join(r.opts.limit)}",
                        tags=tags, limit=list(r.opts.limit))  # fmt: skip
    r.result.decision = decision
    r.say("apply", f"running {assets.playbook('site.yml').name}: {decision.reason}")
    pr = _run_playbook(r, decision, {**extra_vars, "ffinfra_rolling_batch": True}, conn)  # drained nodes are ready
    return _account(r, pr, decision, parts)


def _run_playbook(
    r: _Run, decision: Decision, extra_vars: dict[str, Any], conn: Path, check: bool = False
) -> PlaybookResult:
    def on_event(ev: dict[str, Any]) -> None:
        host = str(ev.get("host") or "")
        if not host:
            return
        task = str(ev.get("task") or "")
        if ev.get("role") and task and not task.startswith(str(ev["role"])):
            task = f"{ev['role']} : {task}"
        status = str(ev.get("status") or ev.get("event") or "")
        if status == "failed" and ev.get("ignore_errors"):
            status = "ignored"  # an expected failure (a probe that may fail), not the host's
        r.reporter.host(host, "apply", status, task)

    r.log(
        "apply",
        f"inventories {r.inv_dir}, {conn}; extra vars {sorted(extra_vars)}; "
        f"tags {decision.tags}; limit {decision.limit}",
    )
    return run_playbook(
        assets.playbook("site.yml"),
        [r.inv_dir, conn],
        extra_vars,
        r.run.path,
        tags=decision.tags,
        limit=",".join(decision.limit) if decision.limit else None,
        on_event=on_event,
        timeout_s=r.opts.timeout_s,
        check=check,
    )


def _account(r: _Run, pr: PlaybookResult, decision: Decision, parts: dict[str, str]) -> bool:
    """Record what the playbook did; a failure names the first failed host, its task and message."""
    topo = r.c.topology
    order = [h.name for h in topo.hosts]
    touched = decision.limit or order
    r.result.changed = pr.changed
    for h, hr in pr.per_host.items():
        r.result.per_host[h] = (hr.ok, hr.changed)
        r.reporter.host(h, "apply", "ok" if hr.healthy else "failed", "done" if hr.healthy else (hr.failed_task or ""))
    for h in order:
        if h not in touched:
            r.reporter.host(h, "apply", "ok", "unchanged")
    r.log("apply", f"playbook ok={pr.ok} changed={pr.changed}; ansible log {pr.log_path}")
    bad = [h for h in order if h in pr.per_host and not pr.per_host[h].healthy]
    good = [h for h in touched if h in pr.per_host and pr.per_host[h].healthy]
    full_run = decision.tags is None and decision.limit is None
    mismatch = placement_mismatch(r.placement, pr.installed) if pr.ok and full_run else []
    if mismatch:
        r.log("apply", "placement mismatch:\n" + "\n".join(mismatch))
    record_hosts(r.state, topo, r.placement, good, r.provider.name, r.endpoints, r.run.path.name, pr.per_host)
    r.provider.configured(good)
    if not pr.ok or mismatch:
        if mismatch:
            failure = Failure(
                "apply",
                mismatch[0].split(":")[0],
                "placement check",
                "internal error: Ansible installed other files than the compiler placed: " + mismatch[0],
                r.run.log_path("apply"),
            )
        else:
            failure = _playbook_failure(r, pr, bad)
        r.result.failure = failure
        save_state(r.paths.state_json, r.state)
        return False
    if not r.opts.tags and not r.opts.limit:  # some roles or hosts only: no word on the whole stack
        _remember(r, parts)
    save_state(r.paths.state_json, r.state)
    return True


def _playbook_failure(r: _Run, pr: PlaybookResult, bad: list[str]) -> Failure:
    """The first failed host, its task and its message (redacted), and how many more failed."""
    host = bad[0] if bad else ""
    hr = pr.per_host.get(host)
    more = f" (and {len(bad) - 1} more host(s))" if len(bad) > 1 else ""
    return Failure(
        "apply",
        host + more,
        (hr.failed_task if hr else None) or "?",
        r.run.redact((hr.message if hr else None) or f"the playbook failed (rc {pr.rc})"),
        pr.log_path,
    )


def _remember(r: _Run, parts: dict[str, str]) -> None:
    """Every host runs what this spec asks: the next plan starts from it, the next run may take the fast path.
    On a real fabric that includes 3FS's chain table, which the bootstrap uploaded (a simulated fabric starts no
    3FS, so it has none to record): the compiler resizes from it from now on."""
    table = r.c.topology.chain_table
    if table is not None and not fabric_is_simulated(r.opts.provider):
        write_if_changed(r.paths.applied_chains, chains_csv(table))
    r.state.applied_inputs = parts
    r.state.applied = applied_record(r.c, r.run.path.name)
    r.state.last_run = r.run.path.name
    r.state.updated_at = utc_now()
    save_state(r.paths.state_json, r.state)


def _verify(r: _Run) -> None:
    t = time.monotonic()
    r.reporter.phase("verify")
    assert r.remote is not None
    sim = fabric_is_simulated(r.opts.provider)
    checks = verify_stack(r.remote, r.c.topology, r.artifacts, sim, lambda s: r.log("verify", s), r.probes)
    r.result.checks = checks
    for ch in checks:
        r.reporter.line(f"{'✓' if ch.ok else '✗'} {ch.name}: {ch.detail}")
    r.result.phase_seconds["verify"] = time.monotonic() - t
    failed = [ch for ch in checks if not ch.ok]
    if failed:
        f = failed[0]
        r.result.failure = Failure("verify", f.host, f.name, f.detail, r.run.log_path("verify"))
        return
    r.state.verified_at = utc_now()
    save_state(r.paths.state_json, r.state)
    r.result.ok = True


def _finish(r: _Run) -> UpResult:
    res = r.result
    f = res.failure
    r.run.write_json(
        "summary.json",
        {
            "ok": res.ok,
            "changed": res.changed,
            "decision": None if res.decision is None else {"run": res.decision.run, "reason": res.decision.reason},
            "plan_impact": None if res.plan is None else res.plan.impact.label,
            "phase_seconds": {k: round(v, 2) for k, v in res.phase_seconds.items()},
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in res.checks],
            "would_change": {
                h: {r: sorted(a) for r, a in sorted(roles.items())} for h, roles in sorted(res.would_change.items())
            },
            "failure": None
            if f is None
            else {"phase": f.phase, "host": f.host, "task": f.task, "error": f.error, "log": str(f.log)},
        },
    )
    return res
