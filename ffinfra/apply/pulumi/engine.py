"""`ffinfra up|plan|down --engine pulumi`: the stack's Pulumi program run through the Automation API.

    require_pulumi()        the SDK and the CLI, checked before anything is written; one clear error otherwise
    load_config(stack)      stacks/<name>/Pulumi.<name>.yaml: provider, backend, parallelism (all optional)
    up / preview / destroy  render the stack, refuse what the plan refuses, then Pulumi's up, preview or destroy

The Pulumi project is `ffinfra`, its stack the ffinfra stack's name, its working folder the stack folder (Pulumi
writes Pulumi.yaml there; Pulumi.<name>.yaml is the stack's config). The backend is a local file backend under
stacks/<name>/state/pulumi/ unless the config names another (`ffinfra:backend`, any Pulumi backend URL). Secrets
(the dynamic providers Pulumi keeps in its state) use the passphrase provider: PULUMI_CONFIG_PASSPHRASE or
PULUMI_CONFIG_PASSPHRASE_FILE when set, else an empty passphrase (the state holds no password: BMC passwords are
read at run time from where provisioning.bmc says).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ffinfra.apply.build import build_dirs, require_writable_stack, write_build
from ffinfra.apply.providers import PROVIDERS
from ffinfra.compile import Compiled
from ffinfra.errors import OperationalError, UserError
from ffinfra.plan.plan import Plan
from ffinfra.runtime.lock import stack_lock
from ffinfra.runtime.paths import StackPaths
from ffinfra.runtime.runs import RunDir
from ffinfra.runtime.secrets import StackSecrets

PROJECT = "ffinfra"
CONFIG_KEYS = ("ffinfra:provider", "ffinfra:backend", "ffinfra:parallel")
DEFAULT_PARALLEL = 4  # role applications run ansible-playbook each: a few at once, not Pulumi's default of many

INSTALL_CLI = (
    "--engine pulumi needs the Pulumi CLI (3.x), which is not installed on this machine. Install it with "
    "`curl -fsSL https://get.pulumi.com | sh` (it goes to ~/.pulumi/bin), or unpack a release from "
    "https://github.com/pulumi/pulumi/releases and put its `pulumi` on PATH (or set PULUMI_HOME to the folder "
    "holding bin/pulumi). Nothing was changed."
)
INSTALL_SDK = (
    "--engine pulumi needs Pulumi's Python SDK in ffinfra's environment: pip install 'ffinfra[pulumi]' "
    "(or pip install pulumi). Nothing was changed."
)


@dataclass(frozen=True)
class PulumiCli:
    path: Path
    root: str | None  # PulumiCommand's root: the folder holding bin/pulumi; None when it is on PATH


def find_cli(env: dict[str, str] | None = None) -> PulumiCli | None:
    """The pulumi binary: on PATH, else $PULUMI_HOME/bin, else ~/.pulumi/bin (where get.pulumi.com puts it)."""
    env = dict(os.environ if env is None else env)
    on_path = shutil.which("pulumi", path=env.get("PATH", ""))
    if on_path:
        return PulumiCli(Path(on_path), None)
    homes = [env.get("PULUMI_HOME", ""), str(Path(env.get("HOME", "~")).expanduser() / ".pulumi")]
    for home in filter(None, homes):
        binary = Path(home) / "bin" / "pulumi"
        if binary.is_file() and os.access(binary, os.X_OK):
            return PulumiCli(binary, home)
    return None


def require_pulumi(env: dict[str, str] | None = None) -> PulumiCli:
    """Raise the one error that says what to install, before the engine writes anything."""
    if importlib.util.find_spec("pulumi") is None:
        raise UserError(INSTALL_SDK)
    cli = find_cli(env)
    if cli is None:
        raise UserError(INSTALL_CLI)
    return cli


# -- stacks/<name>/Pulumi.<name>.yaml -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StackConfig:
    path: Path
    provider: str | None = None
    backend: str | None = None
    parallel: int = DEFAULT_PARALLEL
    raw: dict[str, Any] = field(default_factory=dict)


def config_path(c: Compiled) -> Path:
    return c.stack.dir / f"Pulumi.{c.topology.name}.yaml"


def load_config(c: Compiled) -> StackConfig:
    """The stack's Pulumi config: only ffinfra's keys are read; Pulumi's own (encryptionsalt) are left to it."""
    path = config_path(c)
    if not path.is_file():
        return StackConfig(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise UserError(f"{where}: error[pulumi-config] not valid YAML: {getattr(exc, 'problem', exc)}") from None
    config = data.get("config") if isinstance(data, dict) else None
    if config is None:
        return StackConfig(path)
    if not isinstance(config, dict):
        raise UserError(f"{path}: error[pulumi-config] config: a mapping of keys to values")
    unknown = sorted(k for k in config if str(k).startswith("ffinfra:") and k not in CONFIG_KEYS)
    if unknown:
        raise UserError(
            f"{path}: error[pulumi-config] config.{unknown[0]}: unknown key (known: {', '.join(CONFIG_KEYS)})"
        )
    provider = config.get("ffinfra:provider")
    if provider is not None and provider not in PROVIDERS:
        raise UserError(
            f"{path}: error[pulumi-config] config.ffinfra:provider: {provider!r} is not a provider "
            f"({', '.join(PROVIDERS)})"
        )
    parallel = config.get("ffinfra:parallel", DEFAULT_PARALLEL)
    if isinstance(parallel, str) and parallel.isdigit():  # `pulumi config set` writes strings
        parallel = int(parallel)
    if not isinstance(parallel, int) or isinstance(parallel, bool) or parallel < 1:
        raise UserError(f"{path}: error[pulumi-config] config.ffinfra:parallel: a whole number of at least 1")
    backend = config.get("ffinfra:backend")
    if backend is not None and not isinstance(backend, str):
        raise UserError(f"{path}: error[pulumi-config] config.ffinfra:backend: a Pulumi backend URL")
    return StackConfig(path, provider, backend, parallel, config)


def backend_url(c: Compiled, cfg: StackConfig) -> str:
    return cfg.backend or (StackPaths(c.stack.dir).state_dir / "pulumi").resolve().as_uri()


# -- the runs -------------------------------------------------------------------------------------------------


@dataclass
class EngineOptions:
    provider: str | None = None  # --provider; else the config's, else lab
    allow_destructive: bool = False
    all_at_once: bool = False  # a change that restarts daemons or reboots nodes, applied without batches
    on_output: Callable[[str], None] = print


@dataclass
class EngineResult:
    changes: dict[str, int]  # Pulumi's summary: create, update, replace, delete, same
    run_dir: Path
    refused: str = ""

    @property
    def changed(self) -> bool:
        return any(n for op, n in self.changes.items() if op != "same")


@dataclass
class _Session:
    c: Compiled
    cfg: StackConfig
    provider: str
    stack: Any  # pulumi.automation.Stack
    run: RunDir
    paths: StackPaths


def _open(c: Compiled, opts: EngineOptions, cli: PulumiCli, run: RunDir) -> _Session:
    from pulumi import automation as auto

    from ffinfra.apply.applied import applied_record
    from ffinfra.apply.pulumi.graph import build_graph
    from ffinfra.apply.pulumi.program import program

    cfg = load_config(c)
    provider = opts.provider or cfg.provider or "lab"
    paths = StackPaths(c.stack.dir)
    url = backend_url(c, cfg)
    if url.startswith("file://"):
        Path(url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    graph = build_graph(c, provider, str(c.stack.dir.resolve()), allow_destructive=opts.allow_destructive)
    applied = applied_record(c, run.path.name).model_dump(mode="json")
    # Pulumi starts the dynamic providers in a Python of its own: this one, which has ffinfra and the SDK
    env = {"PULUMI_SKIP_UPDATE_CHECK": "true", "PULUMI_PYTHON_CMD": sys.executable}
    if "PULUMI_CONFIG_PASSPHRASE" not in os.environ and "PULUMI_CONFIG_PASSPHRASE_FILE" not in os.environ:
        env["PULUMI_CONFIG_PASSPHRASE"] = ""
    try:
        command = auto.PulumiCommand(root=cli.root)
        ws = auto.LocalWorkspaceOptions(
            work_dir=str(c.stack.dir),
            project_settings=auto.ProjectSettings(
                name=PROJECT, runtime=_runtime(auto), backend=auto.ProjectBackend(url), description="ffinfra stacks"
            ),
            env_vars=env,
            pulumi_command=command,
        )
        stack = auto.create_or_select_stack(
            stack_name=c.topology.name, project_name=PROJECT, program=program(graph, applied), opts=ws
        )
    except auto.errors.CommandError as exc:
        raise OperationalError(f"pulumi could not open stack {c.topology.name}: {_tail(exc)}") from None
    except (auto.errors.InvalidVersionError, OSError) as exc:
        raise UserError(f"{exc}. {INSTALL_CLI}") from None
    return _Session(c, cfg, provider, stack, run, paths)


def _runtime(auto: Any) -> Any:
    """Python, in ffinfra's own virtual environment when it runs in one (where Pulumi's dynamic provider process
    must find ffinfra)."""
    if sys.prefix != sys.base_prefix:
        return auto.ProjectRuntimeInfo("python", {"virtualenv": sys.prefix})
    return "python"


def _tail(exc: Exception, n: int = 1500) -> str:
    text = str(getattr(exc, "stderr", "") or exc).strip()
    return text[-n:]


def _plan(s: _Session, allow_destructive: bool) -> Plan | None:
    """The plan from the spec Pulumi last applied (the stack's `applied` output) to this one; None for a stack
    Pulumi never applied."""
    from ffinfra.apply.applied import compile_applied
    from ffinfra.plan.plan import build_plan
    from ffinfra.runtime.state import AppliedSpec

    outputs = s.stack.outputs()
    if "applied" not in outputs:
        return None
    applied = AppliedSpec.model_validate(outputs["applied"].value)
    old = compile_applied(applied, s.c.topology.name)
    return build_plan(
        old, s.c, "applied (Pulumi)", s.c.stack.display_path, allow_destructive=allow_destructive,
        old_builds=applied.builds,
    )  # fmt: skip


def refusal(plan: Plan | None, all_at_once: bool) -> str:
    """Why `up --engine pulumi` must not run this plan; empty when it may. Unsupported changes always, destructive
    ones unless allowed (as the default engine); and a change that restarts daemons or reboots nodes unless
    --all-at-once: Pulumi applies it role application by role application, without the default engine's drains
    and health gates."""
    from ffinfra.apply.applied import PlanRefused

    if plan is None:
        return ""
    if plan.refused:
        return str(PlanRefused(plan))
    rolling = plan.batches.batches if plan.batches is not None else ()
    if rolling and not all_at_once:
        return (
            f"the plan restarts daemons or reboots nodes ({plan.impact.label}, {len(rolling)} rolling batch(es)); "
            "the Pulumi engine applies it everywhere at once, without drains or health gates. Run it in a "
            "maintenance window with --all-at-once, or roll it out batch by batch with the default engine "
            "(`ffinfra upgrade`)"
        )
    return ""


def _summary(changes: dict[str, int] | None) -> dict[str, int]:
    return {k: int(v) for k, v in sorted((changes or {}).items())}


def _printer(s: _Session, opts: EngineOptions) -> Callable[[str], None]:
    def out(line: str) -> None:
        line = line.rstrip("\n")
        s.run.log("pulumi", line)
        opts.on_output(line)

    return out


def _run(c: Compiled, opts: EngineOptions, what: str, body: Callable[[_Session], EngineResult]) -> EngineResult:
    from pulumi import automation as auto

    require_writable_stack(c.stack)
    cli = require_pulumi()  # before the lock, the run folder, the render: a missing CLI changes nothing
    paths = StackPaths(c.stack.dir)
    with stack_lock(paths.lock, f"ffinfra {what} --engine pulumi"):
        secrets = StackSecrets(paths.secrets)
        run = RunDir.create(paths.runs, secrets.redactor())
        try:
            s = _open(c, opts, cli, run)
            return body(s)
        except auto.errors.CommandError as exc:
            raise OperationalError(f"pulumi {what} failed: {_tail(exc)}; log: {run.log_path('pulumi')}") from None
        finally:
            run.close()


def _render(s: _Session) -> None:
    from ffinfra.render.targets import render_all

    c = s.c
    StackSecrets(s.paths.secrets).ensure([h.name for h in c.topology.hosts], c.topology.name)
    s.run.log("render", write_build(c.topology, render_all(c.topology), *build_dirs(c.stack, c.topology.name)))


def up(c: Compiled, opts: EngineOptions) -> EngineResult:
    def body(s: _Session) -> EngineResult:
        refused = refusal(_plan(s, opts.allow_destructive), opts.all_at_once)
        if refused:
            return EngineResult({}, s.run.path, refused)
        _render(s)
        r = s.stack.up(on_output=_printer(s, opts), parallel=s.cfg.parallel, color="never")
        return EngineResult(_summary(r.summary.resource_changes), s.run.path)

    return _run(c, opts, "up", body)


def preview(c: Compiled, opts: EngineOptions) -> EngineResult:
    """`pulumi preview` of this spec against what Pulumi applied: nothing runs on a node, nothing is rendered."""

    def body(s: _Session) -> EngineResult:
        refused = refusal(_plan(s, opts.allow_destructive), all_at_once=True)  # rolling is up's question
        if refused:
            return EngineResult({}, s.run.path, refused)
        r = s.stack.preview(on_output=_printer(s, opts), diff=True, color="never")
        return EngineResult(_summary(r.change_summary), s.run.path)

    return _run(c, opts, "preview", body)


def destroy(c: Compiled, opts: EngineOptions) -> EngineResult:
    """Every resource goes, protected ones included (`down` is asked for by name, as with the default engine):
    their protection is lifted first. Retained role applications leave the state without a delete; their nodes
    go with the Node resources."""

    def body(s: _Session) -> EngineResult:
        ws = s.stack.workspace
        ws.pulumi_command.run(
            ["state", "unprotect", "--all", "--yes", "--stack", c.topology.name],
            str(c.stack.dir),
            {**ws.env_vars},
            _printer(s, opts),
        )
        r = s.stack.destroy(on_output=_printer(s, opts), parallel=s.cfg.parallel, color="never")
        return EngineResult(_summary(r.summary.resource_changes), s.run.path)

    return _run(c, opts, "destroy", body)
