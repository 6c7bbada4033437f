"""Run ansible-playbook (from this venv) with a generated config, a full log and a live per-task event stream.

    result = run_playbook(assets.playbook("site.yml"), [inventories/lab/hosts.yml, conn.yml],
                          {"ffinfra_artifacts_dir": "/abs/build/lab", ...}, run_dir, on_event=print)
    result.ok, result.changed, result.per_host["cn01"].failed_task, result.installed["cn01"]["common"]

The stdout callback ffinfra_events (ffinfra/apply/callback) prints one JSON object per line: every line goes to
run_dir/ansible.log as it arrives, and each event is handed to `on_event`. The recap ("stats") line gives the
per-host counts; the failed result events give each failed host's task and message; the result events of the
roles' file installs name the manifest artifacts each role installed on each host (`installed`), which `up`
compares with the compiler's placement. Ansible censors the results of `no_log` tasks before any callback sees
them, so no secret reaches the log or the events. `timeout_s` is a real deadline: the run is stopped when it
passes, whether or not Ansible is printing anything.

Speed: the generated ansible.cfg runs Ansible's tasks through Mitogen for Ansible when it is installed (the
`mitogen_linear` strategy: one persistent Python per host, modules run in it instead of a fresh interpreter per
task over SSH; a forced re-run of the lab went from 104 s to 34 s). Without Mitogen, or with FFINFRA_MITOGEN=0,
it is Ansible's own linear strategy with SSH pipelining and ControlPersist connection reuse. Either way no play
gathers facts, and forks are sized to this machine's CPUs and free memory (`default_forks`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ffinfra import assets
from ffinfra.errors import OperationalError

CALLBACK_DIR = Path(__file__).resolve().parent / "callback"
CALLBACK_NAME = "ffinfra_events"
LOG_NAME = "ansible.log"
CONFIG_NAME = "ansible.cfg"
EXTRA_VARS_NAME = "extra_vars.json"

# ssh appends ".XXXXXXXXXXXXXXXX" to a control socket path while creating it, and %C is 40 hex characters:
# a control dir longer than this would overflow the 108-byte limit of a unix socket path.
MAX_CONTROL_DIR = 48
CONTROL_PERSIST_S = 120
MAX_FORKS = 256
SSH_KEEPALIVE = "-o ServerAliveInterval=15 -o ServerAliveCountMax=4"
MB_PER_FORK = 100  # resident size of one ansible-playbook worker with a few modules in flight, generously


@dataclass(frozen=True, slots=True)
class HostResult:
    ok: int = 0
    changed: int = 0
    failed: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0
    failed_task: str | None = None  # the first task that failed (or found the host unreachable)
    message: str | None = None  # its message, already censored for no_log tasks

    @property
    def healthy(self) -> bool:
        return self.failed == 0 and self.unreachable == 0


@dataclass(frozen=True)
class PlaybookResult:
    rc: int
    per_host: dict[str, HostResult]
    log_path: Path
    seconds: float
    argv: tuple[str, ...] = field(default=(), repr=False)
    events: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return self.rc == 0 and all(h.healthy for h in self.per_host.values())

    @property
    def changed(self) -> int:
        """Tasks that changed something, over all hosts (0: the run was a no-op)."""
        return sum(h.changed for h in self.per_host.values())

    @property
    def failed_hosts(self) -> list[str]:
        return sorted(h for h, r in self.per_host.items() if not r.healthy)

    @property
    def installed(self) -> dict[str, dict[str, set[str]]]:
        """host → Ansible role → the manifest artifacts that role's install tasks put there in this run."""
        return installed_artifacts(self.events)


# -- pure parts ---------------------------------------------------------------------------------------------


def parse_event(line: str) -> dict[str, Any] | None:
    """The event of one output line of the ffinfra_events callback, or None for any other line."""
    s = line.strip()
    if not s.startswith("{"):
        return None
    try:
        ev = json.loads(s)
    except ValueError:
        return None
    if not isinstance(ev, dict) or ev.get("ffinfra") != 1 or "event" not in ev:
        return None
    return ev


def summarize(events: Iterable[dict[str, Any]]) -> dict[str, HostResult]:
    """Per-host results from a run's events: counts from the recap when there is one (else from the result
    events), and each host's first failing task and its message."""
    counts: dict[str, dict[str, int]] = {}
    first_fail: dict[str, tuple[str, str]] = {}
    stats: dict[str, dict[str, int]] | None = None
    for ev in events:
        kind = ev.get("event")
        if kind == "stats":
            stats = ev.get("hosts") or {}
        elif kind == "result":
            host = ev.get("host")
            if not host:
                continue
            c = counts.setdefault(host, {})
            status = ev.get("status")
            if status == "failed" and ev.get("ignore_errors"):
                c["ignored"] = c.get("ignored", 0) + 1
                continue
            if status in ("ok", "changed"):
                c["ok"] = c.get("ok", 0) + 1
                if status == "changed":
                    c["changed"] = c.get("changed", 0) + 1
            elif status in ("failed", "unreachable", "skipped"):
                c[status] = c.get(status, 0) + 1
            if status in ("failed", "unreachable") and host not in first_fail:
                task = str(ev.get("task", ""))
                if ev.get("role"):
                    task = f"{ev['role']} : {task}"
                first_fail[host] = (task, str(ev.get("message", "")))
    source = stats if stats is not None else counts
    keys = ("ok", "changed", "failed", "unreachable", "skipped", "rescued", "ignored")
    out: dict[str, HostResult] = {}
    for host in sorted(set(source) | set(first_fail)):
        c = source.get(host, {})
        task, msg = first_fail.get(host, (None, None))
        out[host] = HostResult(**{k: int(c.get(k, 0)) for k in keys}, failed_task=task, message=msg)
    return out


def installed_artifacts(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """host → role → artifact keys, from the `artifacts` the callback reports on each successful install task."""
    out: dict[str, dict[str, set[str]]] = {}
    for ev in events:
        if ev.get("event") == "result" and ev.get("artifacts") and ev.get("status") in ("ok", "changed"):
            role = str(ev.get("role") or "")
            out.setdefault(str(ev["host"]), {}).setdefault(role, set()).update(ev["artifacts"])
    return out


def would_change(events: Iterable[dict[str, Any]]) -> dict[str, dict[str, set[str]]]:
    """host → role → artifact keys whose install items a (check-mode) run reports changed: would install or
    replace."""
    out: dict[str, dict[str, set[str]]] = {}
    for ev in events:
        if ev.get("event") == "result" and ev.get("changed_artifacts") and ev.get("status") == "changed":
            role = str(ev.get("role") or "")
            out.setdefault(str(ev["host"]), {}).setdefault(role, set()).update(ev["changed_artifacts"])
    return out


def default_forks(cpus: int | None = None, mem_available_mb: int | None = None) -> int:
    """Forks for this controller: 10 per CPU, no more than free memory allows, between 5 and 256."""
    cpus = cpus or os.cpu_count() or 1
    if mem_available_mb is None:
        mem_available_mb = _mem_available_mb()
    by_mem = mem_available_mb // MB_PER_FORK if mem_available_mb else MAX_FORKS
    return max(5, min(cpus * 10, by_mem, MAX_FORKS))


def _mem_available_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def mitogen_strategy_dir(env: dict[str, str] | None = None) -> Path | None:
    """The strategy plugins of Mitogen for Ansible, or None when it is not installed or FFINFRA_MITOGEN=0."""
    env = os.environ if env is None else env
    if env.get("FFINFRA_MITOGEN", "1").strip().lower() in ("0", "false", "no", "off"):
        return None
    found = importlib.util.find_spec("ansible_mitogen")
    if found is None or not found.submodule_search_locations:
        return None
    d = Path(next(iter(found.submodule_search_locations))) / "plugins" / "strategy"
    return d if (d / "mitogen_linear.py").is_file() else None


def control_dir_for(run_dir: Path) -> Path:
    """Where the SSH control sockets go: run_dir/cp when short enough, else a private dir under /tmp."""
    d = Path(run_dir) / "cp"
    if len(str(d)) <= MAX_CONTROL_DIR:
        return d
    return Path(tempfile.mkdtemp(prefix="ffcp-", dir="/tmp"))


def render_config(
    *,
    forks: int,
    control_dir: Path,
    local_tmp: Path,
    roles_path: Path | None = None,
    callback_dir: Path = CALLBACK_DIR,
    host_key_checking: bool = True,
    mitogen_dir: Path | None = None,
) -> str:
    """The ansible.cfg of one run; with `mitogen_dir`, tasks run through Mitogen's linear strategy."""
    strategy = (
        f"strategy_plugins = {mitogen_dir}\nstrategy = mitogen_linear\n" if mitogen_dir else "strategy = linear\n"
    )
    # Mitogen holds one connection per host for the whole run, so no SSH multiplexing: without ControlPath=none,
    # its ssh could attach to a stack's short-lived master (the operator's ssh_config) as that master exits, and hang.
    ssh_args = (
        f"-o ControlMaster=no -o ControlPath=none {SSH_KEEPALIVE}"
        if mitogen_dir
        else f"-o ControlMaster=auto -o ControlPersist={CONTROL_PERSIST_S}s {SSH_KEEPALIVE}"
    )
    # force_handlers: a host that fails after a config change still restarts (or reloads) what it changed, so a
    # re-run, which sees the files already in place, does not leave a daemon on the old configuration.
    return f"""# Generated by ffinfra for one ansible-playbook run.
[defaults]
roles_path = {roles_path or assets.roles_dir()}
force_handlers = True
callback_plugins = {callback_dir}
stdout_callback = {CALLBACK_NAME}
{strategy}forks = {forks}
gathering = explicit
host_key_checking = {host_key_checking}
interpreter_python = auto_silent
retry_files_enabled = False
local_tmp = {local_tmp}
# A node's sshd has been seen to take about 30 s to accept a login for a spell (the lab, on a loaded 2-core host):
# unreachable at 30 s would fail a run that a little patience completes.
timeout = 90
internal_poll_interval = 0.005
nocows = True

[ssh_connection]
pipelining = True
ssh_args = {ssh_args}
control_path_dir = {control_dir}
control_path = %(directory)s/%%C
retries = 2
"""


def inventory_source(path: Path) -> Path:
    """The inventory file to hand to ansible-playbook. A generated inventory folder (inventories/<stack>/) holds
    hosts.yml next to group_vars/ and manifest.json: its hosts.yml is the source (Ansible still reads the
    group_vars beside it), since Ansible would also try to parse manifest.json as an inventory."""
    path = Path(path).resolve()
    if path.is_dir() and (path / "hosts.yml").is_file():
        return path / "hosts.yml"
    if not path.exists():
        raise OperationalError(f"inventory {path} does not exist")
    return path


def ansible_playbook_bin() -> Path:
    """ansible-playbook of the venv this Python runs in."""
    cand = Path(sys.executable).parent / "ansible-playbook"
    if cand.exists():
        return cand
    found = shutil.which("ansible-playbook")
    if found:
        return Path(found)
    raise OperationalError("ansible-playbook is not installed: pip install -e '.[apply]' (ansible-core)")


def close_control_masters(control_dir: Path) -> None:
    """End the ControlPersist masters of one run (by their sockets: only this run's ssh processes)."""
    if not control_dir.is_dir():
        return
    for sock in control_dir.iterdir():
        if sock.is_socket():
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    ["ssh", "-o", f"ControlPath={sock}", "-O", "exit", "ffinfra-control-master"],
                    capture_output=True,
                    timeout=10,
                    check=False,
                )


def _remove_private_control_dir(control_dir: Path, run_dir: Path) -> None:
    """Remove the /tmp control dir a long run_dir needed (control_dir_for); run_dir/cp stays with the run."""
    if control_dir.parent != run_dir:
        shutil.rmtree(control_dir, ignore_errors=True)


# -- the run ------------------------------------------------------------------------------------------------


def run_playbook(
    playbook: Path,
    inventories: list[Path],
    extra_vars: dict[str, Any],
    run_dir: Path,
    tags: list[str] | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    *,
    limit: str | None = None,
    forks: int | None = None,
    check: bool = False,
    host_key_checking: bool = True,
    timeout_s: float | None = None,
) -> PlaybookResult:
    """Run `playbook` against `inventories` with `extra_vars`; config, extra vars and log go to `run_dir`."""
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    playbook = Path(playbook).resolve()
    if not playbook.is_file():
        raise OperationalError(f"playbook {playbook} does not exist")
    inv_paths = [inventory_source(Path(inv)) for inv in inventories]
    control_dir = control_dir_for(run_dir)
    control_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    local_tmp = run_dir / "tmp"
    local_tmp.mkdir(exist_ok=True)
    cfg = run_dir / CONFIG_NAME
    cfg.write_text(
        render_config(
            forks=forks or default_forks(),
            control_dir=control_dir,
            local_tmp=local_tmp,
            host_key_checking=host_key_checking,
            mitogen_dir=mitogen_strategy_dir(),
        )
    )
    ev_path = run_dir / EXTRA_VARS_NAME
    fd = os.open(ev_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(extra_vars, fh, indent=2, sort_keys=True, default=str)

    argv = [str(ansible_playbook_bin())]
    for inv in inv_paths:
        argv += ["-i", str(inv)]
    argv += ["-e", f"@{ev_path}"]
    if tags:
        argv += ["--tags", ",".join(tags)]
    if limit:
        argv += ["--limit", limit]
    if check:
        argv += ["--check"]
    argv.append(str(playbook))

    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(cfg),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    for var in ("ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CALLBACKS_ENABLED", "ANSIBLE_LOG_PATH", "ANSIBLE_DEBUG"):
        env.pop(var, None)  # the run's own config decides; ANSIBLE_DEBUG would print module args

    log_path = run_dir / LOG_NAME
    events: list[dict[str, Any]] = []
    t0 = time.monotonic()
    deadline = t0 + timeout_s if timeout_s else None
    with log_path.open("w", encoding="utf-8") as log:
        log.write(f"# {' '.join(argv)}\n")
        log.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=run_dir,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
            start_new_session=True,
        )
        try:
            assert proc.stdout is not None
            for line in _lines_until(proc.stdout, deadline):
                log.write(line)
                log.flush()
                ev = parse_event(line)
                if ev is None:
                    continue
                events.append(ev)
                if on_event is not None:
                    on_event(ev)
            rc = proc.wait()
        except (TimeoutError, KeyboardInterrupt) as exc:
            _stop(proc)
            close_control_masters(control_dir)
            _remove_private_control_dir(control_dir, run_dir)
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise OperationalError(f"ansible-playbook ran past {timeout_s:g} s; log: {log_path}") from None
        except BaseException:
            _stop(proc)
            raise
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
    close_control_masters(control_dir)
    _remove_private_control_dir(control_dir, run_dir)
    return PlaybookResult(
        rc=rc,
        per_host=summarize(events),
        log_path=log_path,
        seconds=time.monotonic() - t0,
        argv=tuple(argv),
        events=tuple(events),
    )


_EOF = object()


def _lines_until(stream: Any, deadline: float | None) -> Iterator[str]:
    """The stream's lines as they come; TimeoutError once `deadline` (monotonic) passes, even while the stream is
    silent (a task hung on a node prints nothing): a thread reads, this generator waits with a timeout."""
    lines: queue.SimpleQueue[object] = queue.SimpleQueue()

    def pump() -> None:
        try:
            for line in stream:
                lines.put(line)
        except ValueError:  # the stream was closed under us after a timeout
            pass
        finally:
            lines.put(_EOF)

    threading.Thread(target=pump, name="ansible-output", daemon=True).start()
    while True:
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            item = lines.get(timeout=wait)
        except queue.Empty:
            raise TimeoutError from None
        if item is _EOF:
            return
        yield str(item)


def _stop(proc: subprocess.Popen[str]) -> None:
    """Stop the ansible-playbook this module started (its own process group: its forks and ssh go too)."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, 15)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 9)
        proc.wait(15)
