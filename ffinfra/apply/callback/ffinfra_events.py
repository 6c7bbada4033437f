"""Ansible stdout callback: one JSON object per line for each playbook, play, task, host result and the recap.

ffinfra.apply.ansible reads these lines to stream per-host progress and to build the per-host summary; the raw
lines are the run's log, each result with its module output (clipped) under "result". Every line is
`{"ffinfra": 1, "event": ..., ...}`. Results of `no_log` tasks arrive
here already censored by Ansible, and this plugin drops their messages as well: secrets never reach the log.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: ffinfra_events
    type: stdout
    short_description: one JSON line per task result (ffinfra up)
    description:
      - Prints one JSON object per line for playbook, play and task starts, every host result and the recap.
"""

MESSAGE_ACTIONS = ("ansible.builtin.debug", "debug", "ansible.builtin.fail", "fail")
MAX_TEXT = 4000  # characters kept of a message, stdout or stderr


def _clip(text: Any) -> str:
    s = text if isinstance(text, str) else json.dumps(text, default=str) if text is not None else ""
    return s if len(s) <= MAX_TEXT else s[: MAX_TEXT // 2] + " … " + s[-MAX_TEXT // 2 :]


def _detail(value: Any, depth: int = 0) -> Any:
    """The result as the log keeps it: Ansible's private keys and the module arguments dropped, long text
    clipped, deep structures cut (an apt result carries the whole dpkg output)."""
    if isinstance(value, dict):
        if depth > 4:
            return "…"
        return {
            str(k): _detail(v, depth + 1)
            for k, v in value.items()
            if not str(k).startswith("_ansible") and k not in ("invocation", "stdout_lines", "stderr_lines")
        }
    if isinstance(value, list):
        if depth > 4:
            return "…"
        return [_detail(v, depth + 1) for v in value[:200]]
    if isinstance(value, str):
        return _clip(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return _clip(str(value))


def _message(res: dict[str, Any]) -> str:
    """The most useful one-line explanation of a result (failed ones above all)."""
    if res.get("censored"):
        return str(res["censored"])
    for sub in res.get("results") or []:  # a loop: the first failed item speaks for the task
        if isinstance(sub, dict) and (sub.get("failed") or sub.get("unreachable")):
            label = sub.get("_ansible_item_label", sub.get("item", ""))
            return f"item {_clip(label)}: {_message(sub)}"
    parts = []
    if res.get("msg"):
        parts.append(_clip(res["msg"]))
    if res.get("stderr"):
        parts.append("stderr: " + _clip(res["stderr"]))
    elif res.get("stdout") and (res.get("failed") or res.get("rc")):
        parts.append("stdout: " + _clip(res["stdout"]))
    if res.get("rc") not in (None, 0):
        parts.append(f"rc={res['rc']}")
    return "; ".join(parts)


_INSTALL_ACTIONS = ("ansible.builtin.copy", "copy")


def _installed_artifacts(results: list[Any], changed_only: bool = False) -> list[str]:
    """The manifest artifacts a role's install loop put in place: items of the form {key, value: {dest}} (the
    roles loop over manifest entries), skipping skipped and failed items. `up` checks them against the compiler's
    placement. changed_only: those the task wrote or, in check mode, would write."""
    out = []
    for sub in results:
        if not isinstance(sub, dict) or sub.get("skipped") or sub.get("failed"):
            continue
        if changed_only and not sub.get("changed"):
            continue
        item = sub.get("item")
        if isinstance(item, dict) and isinstance(item.get("value"), dict) and "dest" in item["value"]:
            out.append(str(item.get("key", "")))
    return out


def _task_name(task: Any) -> str:
    """The task's own name (its role goes in the event's "role" field), or its action when unnamed."""
    return str(task.name or task.action).strip()


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "ffinfra_events"

    def __init__(self) -> None:
        super().__init__()
        self._task_started: dict[str, float] = {}
        self._play = ""

    # -- output -------------------------------------------------------------------------------------------
    def _emit(self, event: str, **fields: Any) -> None:
        rec = {"ffinfra": 1, "event": event, "time": round(time.time(), 3), **fields}
        sys.stdout.write(json.dumps(rec, default=str, ensure_ascii=False) + "\n")
        sys.stdout.flush()

    # -- playbook structure -------------------------------------------------------------------------------
    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._emit("playbook_start", playbook=str(getattr(playbook, "_file_name", "")))

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._play = play.get_name().strip()
        self._emit("play_start", play=self._play, hosts=list(play.hosts) if play.hosts else [])

    def _task_start(self, task: Any, handler: bool) -> None:
        self._task_started[task._uuid] = time.monotonic()
        self._emit("task_start", play=self._play, task=_task_name(task), handler=handler, **self._role(task))

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._task_start(task, handler=False)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._task_start(task, handler=True)

    def v2_playbook_on_no_hosts_matched(self) -> None:
        self._emit("no_hosts", play=self._play)

    @staticmethod
    def _role(task: Any) -> dict[str, str]:
        role = getattr(task, "_role", None)
        return {"role": role.get_name()} if role else {}

    # -- results ------------------------------------------------------------------------------------------
    def _result(self, status: str, result: Any, **extra: Any) -> None:
        task = result._task
        res: dict[str, Any] = dict(result._result or {})
        no_log = bool(getattr(task, "no_log", False)) or "censored" in res
        started = self._task_started.get(task._uuid)
        rec: dict[str, Any] = {
            "host": result._host.get_name(),
            "play": self._play,
            "task": _task_name(task),
            "action": task.action,
            "status": status,
            "changed": bool(res.get("changed", False)) or status == "changed",
            **self._role(task),
        }
        if started is not None:
            rec["seconds"] = round(time.monotonic() - started, 3)
        if status in ("failed", "unreachable"):
            rec["message"] = "the output was hidden (no_log)" if no_log else _message(res)
        elif status == "skipped" and not no_log and res.get("skip_reason"):
            rec["message"] = str(res["skip_reason"])
        elif (
            not no_log and res.get("msg") and task.action in ("ansible.builtin.debug", "debug", "ansible.builtin.fail")
        ):
            rec["message"] = _clip(res["msg"])
        if isinstance(res.get("results"), list):
            rec["items"] = len(res["results"])
            if task.action in _INSTALL_ACTIONS:
                installed = _installed_artifacts(res["results"])
                if installed:
                    rec["artifacts"] = installed
                    rec["changed_artifacts"] = _installed_artifacts(res["results"], changed_only=True)
        rec.update(extra)
        rec["result"] = {"censored": "the output was hidden (no_log)"} if no_log else _detail(res)
        self._emit("result", **rec)

    def v2_runner_on_ok(self, result: Any) -> None:
        self._result("changed" if result._result.get("changed") else "ok", result)

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        self._result("failed", result, ignore_errors=bool(ignore_errors))

    def v2_runner_on_skipped(self, result: Any) -> None:
        self._result("skipped", result)

    def v2_runner_on_unreachable(self, result: Any) -> None:
        self._result("unreachable", result)

    def v2_runner_retry(self, result: Any) -> None:
        res = result._result or {}
        self._emit(
            "retry",
            host=result._host.get_name(),
            play=self._play,
            task=_task_name(result._task),
            attempt=res.get("attempts"),
            retries=res.get("retries"),
        )

    # loop items: the task's own result event carries the outcome; items are not streamed one by one
    def v2_runner_item_on_ok(self, result: Any) -> None:
        pass

    def v2_runner_item_on_failed(self, result: Any) -> None:
        pass

    def v2_runner_item_on_skipped(self, result: Any) -> None:
        pass

    # -- recap --------------------------------------------------------------------------------------------
    def v2_playbook_on_stats(self, stats: Any) -> None:
        hosts = {}
        for h in sorted(stats.processed):
            s = dict(stats.summarize(h))
            s["failed"] = s.pop("failures", 0)
            hosts[h] = s
        self._emit("stats", hosts=hosts)
