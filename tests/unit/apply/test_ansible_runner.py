"""ffinfra.apply.ansible: event parsing, the per-host summary, the generated config, and real local runs of
ansible-playbook through the ffinfra_events callback (no SSH: connection local)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ffinfra import assets
from ffinfra.apply import ansible as runner
from ffinfra.apply.ansible import HostResult, PlaybookResult, parse_event, summarize
from ffinfra.errors import OperationalError

ZERO = {"ok": 0, "changed": 0, "failed": 0, "unreachable": 0, "skipped": 0, "rescued": 0, "ignored": 0}


def ev(event: str, **kw: Any) -> dict[str, Any]:
    return {"ffinfra": 1, "event": event, **kw}


# -- parse_event ----------------------------------------------------------------------------------------------


def test_parse_event_reads_callback_lines_only() -> None:
    line = json.dumps(ev("result", host="cn01", status="ok")) + "\n"
    assert parse_event(line) == ev("result", host="cn01", status="ok")
    assert parse_event("[WARNING]: something\n") is None
    assert parse_event('{"not": "ours"}') is None
    assert parse_event("{broken json") is None
    assert parse_event("[1, 2]") is None
    assert parse_event("") is None


# -- summarize ------------------------------------------------------------------------------------------------


def test_summary_takes_counts_from_the_recap_and_the_first_failure_per_host() -> None:
    events = [
        ev("result", host="cn01", task="Install munge", role="munge", status="changed"),
        ev("result", host="cn02", task="Install munge", role="munge", status="failed", message="no key"),
        ev("result", host="cn02", task="Later", role="munge", status="failed", message="second"),
        ev("result", host="st01", task="Gathering Facts", status="unreachable", message="ssh: timeout"),
        ev(
            "stats",
            hosts={
                "cn01": {
                    "ok": 5,
                    "changed": 2,
                    "failed": 0,
                    "unreachable": 0,
                    "skipped": 1,
                    "rescued": 0,
                    "ignored": 0,
                },
                "cn02": {
                    "ok": 3,
                    "changed": 0,
                    "failed": 1,
                    "unreachable": 0,
                    "skipped": 0,
                    "rescued": 0,
                    "ignored": 0,
                },
                "st01": {
                    "ok": 0,
                    "changed": 0,
                    "failed": 0,
                    "unreachable": 1,
                    "skipped": 0,
                    "rescued": 0,
                    "ignored": 0,
                },
            },
        ),
    ]
    s = summarize(events)
    assert s["cn01"] == HostResult(ok=5, changed=2, skipped=1)
    assert s["cn02"].failed == 1 and s["cn02"].failed_task == "munge : Install munge" and s["cn02"].message == "no key"
    assert s["st01"].unreachable == 1 and s["st01"].failed_task == "Gathering Facts"
    assert not s["st01"].healthy and s["cn01"].healthy


def test_summary_without_a_recap_counts_the_result_events() -> None:
    events = [
        ev("result", host="cn01", task="a", status="ok"),
        ev("result", host="cn01", task="b", status="changed"),
        ev("result", host="cn01", task="c", status="skipped"),
        ev("result", host="cn01", task="d", status="failed", ignore_errors=True, message="ignored"),
        ev("result", host="cn02", task="e", status="failed", message="boom"),
        ev("task_start", task="a"),
    ]
    s = summarize(events)
    assert s["cn01"] == HostResult(ok=2, changed=1, skipped=1, ignored=1)
    assert s["cn02"] == HostResult(failed=1, failed_task="e", message="boom")


def test_playbook_result_ok_and_changed() -> None:
    good = {"a": HostResult(ok=3, changed=1), "b": HostResult(ok=3, changed=2)}
    r = PlaybookResult(rc=0, per_host=good, log_path=Path("x"), seconds=1.0)
    assert r.ok and r.changed == 3 and r.failed_hosts == []
    bad = PlaybookResult(rc=2, per_host={**good, "c": HostResult(failed=1)}, log_path=Path("x"), seconds=1.0)
    assert not bad.ok and bad.failed_hosts == ["c"]
    assert not PlaybookResult(rc=4, per_host=good, log_path=Path("x"), seconds=1.0).ok


# -- config -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cpus", "mem_mb", "forks"),
    [(2, 24000, 20), (1, 24000, 10), (64, 500000, 256), (32, 2000, 20), (2, 100, 5), (8, 0, 80)],
)
def test_forks_follow_cpus_and_memory(cpus: int, mem_mb: int, forks: int) -> None:
    assert runner.default_forks(cpus, mem_mb) == forks


def test_config_turns_on_pipelining_connection_reuse_and_the_event_callback(tmp_path: Path) -> None:
    cfg = runner.render_config(forks=42, control_dir=tmp_path / "cp", local_tmp=tmp_path / "tmp")
    assert "pipelining = True" in cfg
    assert "ControlMaster=auto" in cfg and "ControlPersist=" in cfg
    assert f"control_path_dir = {tmp_path / 'cp'}" in cfg and "control_path = %(directory)s/%%C" in cfg
    assert "forks = 42" in cfg
    assert "stdout_callback = ffinfra_events" in cfg
    assert f"callback_plugins = {runner.CALLBACK_DIR}" in cfg
    assert f"roles_path = {assets.roles_dir()}" in cfg
    assert "force_handlers = True" in cfg  # a failed host still reloads or restarts what it changed
    assert "gathering = explicit" in cfg
    assert (runner.CALLBACK_DIR / "ffinfra_events.py").is_file()


def test_with_mitogen_tasks_run_through_its_linear_strategy_without_ssh_multiplexing(tmp_path: Path) -> None:
    cfg = runner.render_config(
        forks=8, control_dir=tmp_path / "cp", local_tmp=tmp_path / "tmp", mitogen_dir=tmp_path / "strategy"
    )
    assert f"strategy_plugins = {tmp_path / 'strategy'}" in cfg and "strategy = mitogen_linear" in cfg
    assert "ControlPath=none" in cfg and "ControlMaster=no" in cfg  # one Mitogen connection per host, held
    plain = runner.render_config(forks=8, control_dir=tmp_path / "cp", local_tmp=tmp_path / "tmp")
    assert "strategy = linear" in plain and "mitogen_linear" not in plain


def test_mitogen_is_found_in_this_venv_and_can_be_turned_off() -> None:
    found = runner.mitogen_strategy_dir({})
    assert found is not None and (found / "mitogen_linear.py").is_file()  # a dependency of the apply extra
    for off in ("0", "false", "no", "off"):
        assert runner.mitogen_strategy_dir({"FFINFRA_MITOGEN": off}) is None


def test_a_private_control_dir_is_removed_after_the_run(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text("- hosts: localhost\n  gather_facts: false\n  tasks: []\n")
    (tmp_path / "hosts.yml").write_text("all: {hosts: {localhost: {ansible_connection: local}}}\n")
    before = set(Path("/tmp").glob("ffcp-*"))
    r = runner.run_playbook(tmp_path / "play.yml", [tmp_path / "hosts.yml"], {}, tmp_path / ("x" * 80))
    assert r.rc == 0
    assert set(Path("/tmp").glob("ffcp-*")) <= before  # nothing left behind in /tmp


def test_control_sockets_move_to_a_short_dir_when_run_dir_is_long(tmp_path: Path) -> None:
    assert runner.control_dir_for(Path("/tmp/r")) == Path("/tmp/r/cp")
    long_dir = tmp_path / ("x" * 80)
    d = runner.control_dir_for(long_dir)
    try:
        assert len(str(d)) <= runner.MAX_CONTROL_DIR and d.is_dir()
    finally:
        d.rmdir()


def test_an_inventory_folder_means_its_hosts_yml(tmp_path: Path) -> None:
    (tmp_path / "hosts.yml").write_text("all: {}\n")
    (tmp_path / "manifest.json").write_text("{}\n")
    assert runner.inventory_source(tmp_path) == tmp_path / "hosts.yml"
    assert runner.inventory_source(tmp_path / "hosts.yml") == tmp_path / "hosts.yml"
    with pytest.raises(OperationalError):
        runner.inventory_source(tmp_path / "missing.yml")


# -- real local runs ----------------------------------------------------------------------------------------

pytest.importorskip("ansible", reason="ansible-core is not installed (pip install -e '.[test]')")

SECRET = "s3cr3t-munge-key-material"
OUTCOMES = ("ok", "changed", "failed")
SECRET_TASKS = ("Handle a secret", "Fail a secret")

PLAYBOOK = """
- name: Local play
  hosts: all
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello from {{ inventory_hostname }}
    - name: Write a file
      ansible.builtin.copy:
        content: "x"
        dest: "{{ out_dir }}/{{ inventory_hostname }}.txt"
        mode: "0644"
    - name: Handle a secret
      ansible.builtin.command: echo {{ secret }}
      no_log: true
      changed_when: false
    - name: Fail a secret
      ansible.builtin.command: /bin/false {{ secret }}
      no_log: true
      when: inventory_hostname == 'h2'
    - name: Fail on h1
      ansible.builtin.command: sh -c 'echo broken >&2; exit 3'
      when: inventory_hostname == 'h1'
"""

INVENTORY = """
all:
  vars:
    ansible_connection: local
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  hosts:
    h1: {}
    h2: {}
    h3: {}
"""


@pytest.fixture
def local_run(tmp_path: Path) -> tuple[PlaybookResult, list[dict[str, Any]], Path]:
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "hosts.yml").write_text(INVENTORY)
    (inv / "manifest.json").write_text('{"artifacts": {}}\n')  # an ffinfra inventory folder has one
    out = tmp_path / "out"
    out.mkdir()
    events: list[dict[str, Any]] = []
    result = runner.run_playbook(
        tmp_path / "play.yml",
        [inv],
        {"out_dir": str(out), "secret": SECRET},
        tmp_path / "run",
        on_event=events.append,
    )
    return result, events, out


def test_local_run_streams_events_and_summarizes_per_host(local_run: tuple[PlaybookResult, list, Path]) -> None:
    result, events, out = local_run
    assert result.rc == 2 and not result.ok
    assert set(result.per_host) == {"h1", "h2", "h3"}
    assert result.per_host["h3"] == HostResult(ok=3, changed=1, skipped=2)
    assert result.per_host["h1"].failed == 1
    assert result.per_host["h1"].failed_task == "Fail on h1"
    assert "broken" in (result.per_host["h1"].message or "") and "rc=3" in (result.per_host["h1"].message or "")
    assert result.per_host["h2"].failed_task == "Fail a secret"
    assert result.changed == 3
    kinds = [e["event"] for e in events]
    assert kinds[0] == "playbook_start" and kinds[-1] == "stats" and "play_start" in kinds
    hello = [e for e in events if e.get("task") == "Say hello" and e.get("host") == "h1"]
    assert hello and hello[0]["message"] == "hello from h1" and hello[0]["status"] == "ok"
    assert all("seconds" in e for e in events if e["event"] == "result")
    broken = next(e for e in events if e.get("task") == "Fail on h1" and e.get("host") == "h1")
    assert broken["result"]["rc"] == 3 and broken["result"]["stderr"] == "broken"
    assert "invocation" not in broken["result"]
    assert sorted(p.name for p in out.iterdir()) == ["h1.txt", "h2.txt", "h3.txt"]


def test_no_log_secrets_never_reach_the_log_or_the_events(local_run: tuple[PlaybookResult, list, Path]) -> None:
    result, events, _ = local_run
    log = result.log_path.read_text()
    assert SECRET not in log
    assert SECRET not in json.dumps(events)
    assert SECRET not in (result.per_host["h2"].message or "")
    assert "no_log" in (result.per_host["h2"].message or "")
    hidden = [e for e in events if e.get("task") in SECRET_TASKS and e.get("status") in OUTCOMES]
    assert hidden and all(e["result"] == {"censored": "the output was hidden (no_log)"} for e in hidden)
    # the log has every event line, and the config the run used sits next to it
    assert log.count('"event": "result"') == sum(1 for e in events if e["event"] == "result")
    assert (result.log_path.parent / "ansible.cfg").is_file()
    assert oct((result.log_path.parent / "extra_vars.json").stat().st_mode & 0o777) == "0o600"


def test_tags_select_tasks(tmp_path: Path) -> None:
    (tmp_path / "play.yml").write_text(
        "- name: P\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Tagged\n      ansible.builtin.debug: {msg: a}\n      tags: [one]\n"
        "    - name: Untagged\n      ansible.builtin.debug: {msg: b}\n"
    )
    (tmp_path / "hosts.yml").write_text(INVENTORY)
    events: list[dict[str, Any]] = []
    r = runner.run_playbook(
        tmp_path / "play.yml", [tmp_path / "hosts.yml"], {}, tmp_path / "run", ["one"], events.append
    )
    assert r.ok and r.changed == 0
    assert {e["task"] for e in events if e["event"] == "result"} == {"Tagged"}


def test_a_missing_playbook_is_an_operational_error(tmp_path: Path) -> None:
    with pytest.raises(OperationalError):
        runner.run_playbook(tmp_path / "nope.yml", [], {}, tmp_path / "run")


def test_the_deadline_ends_a_run_that_prints_nothing(tmp_path: Path) -> None:
    """A task hung on a node prints nothing: the deadline must still end the run (and its process group)."""
    (tmp_path / "play.yml").write_text(
        "- name: P\n  hosts: h1\n  gather_facts: false\n  tasks:\n"
        "    - name: Hang quietly\n      ansible.builtin.command: sleep 617\n"
    )
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "hosts.yml").write_text(INVENTORY)
    t0 = time.monotonic()
    with pytest.raises(OperationalError, match=r"ran past 3 s"):
        runner.run_playbook(tmp_path / "play.yml", [inv], {}, tmp_path / "run", timeout_s=3)
    # Not a speed check: a deadline checked only when output arrives would have raised too, but after the task's
    # 617 s. Ended by the deadline, the run and the task's process are gone long before.
    assert time.monotonic() - t0 < 300
    assert subprocess.run(["pgrep", "-fx", "sleep 617"], capture_output=True, check=False).returncode == 1


def test_installed_artifacts_come_from_the_roles_install_results() -> None:
    events = [
        {"event": "result", "host": "cn01", "role": "common", "status": "changed", "artifacts": ["hosts/hosts"]},
        {"event": "result", "host": "cn01", "role": "common", "status": "ok", "artifacts": ["os/sysctl.conf"]},
        {"event": "result", "host": "cn01", "role": "slurm_node", "status": "failed", "artifacts": ["slurm/x"]},
        {"event": "result", "host": "cn02", "role": "common", "status": "ok"},
    ]
    assert runner.installed_artifacts(events) == {"cn01": {"common": {"hosts/hosts", "os/sysctl.conf"}}}


def test_check_mode_reports_only_the_files_an_install_loop_would_write(tmp_path: Path) -> None:
    """`up --check`: a real check-mode run of a role-style install loop names the file that is missing, not the
    one already in place, and writes neither."""
    src = tmp_path / "build"
    src.mkdir()
    (src / "a.conf").write_text("a\n")
    (src / "b.conf").write_text("b\n")
    dest = tmp_path / "node"
    dest.mkdir()
    (dest / "a.conf").write_text("a\n")  # already installed
    items = [{"key": k, "value": {"dest": str(dest / k)}} for k in ("a.conf", "b.conf")]
    (tmp_path / "play.yml").write_text(
        "- name: P\n  hosts: h1\n  gather_facts: false\n  tasks:\n"
        "    - name: Install files\n      ansible.builtin.copy:\n"
        f"        src: '{src}/{{{{ item.key }}}}'\n        dest: '{{{{ item.value.dest }}}}'\n        mode: '0644'\n"
        f"      loop: {json.dumps(items)}\n"
    )
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "hosts.yml").write_text(INVENTORY)
    r = runner.run_playbook(tmp_path / "play.yml", [inv], {}, tmp_path / "run", check=True)
    assert r.ok
    assert runner.would_change(r.events) == {"h1": {"": {"b.conf"}}}
    assert not (dest / "b.conf").exists()
