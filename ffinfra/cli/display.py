"""How `ffinfra up` looks: a live table per host on a terminal, timestamped lines otherwise (CI logs), the plan
it enforces, and a summary. The apply library reports through the Reporter protocol; only this module draws."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.table import Table

from ffinfra.plan.impact import Impact
from ffinfra.plan.plan import Plan
from ffinfra.plan.report import headline, print_table

GOOD = ("ready", "kept", "ok", "done", "changed", "unchanged")


@dataclass
class HostView:
    name: str
    role: str
    phase: str = "waiting"
    status: str = ""
    task: str = ""
    failed: bool = False


class UpDisplay:
    """A Reporter (ffinfra/apply/events.py) for a person watching `up`."""

    def __init__(self, console: Console, hosts: list[tuple[str, str]]):
        self.console = console
        self.rows = {h: HostView(h, r) for h, r in hosts}
        self.live: Live | None = None
        self.t0 = time.monotonic()
        self.current = ""

    def __enter__(self) -> UpDisplay:
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
        title = f"{self.current} ({time.monotonic() - self.t0:.0f} s)"
        t = Table(title=title, show_edge=False, title_justify="left")
        for col in ("host", "role", "phase", "status", "task"):
            t.add_column(col)
        for r in self.rows.values():
            style = "red" if r.failed else ("green" if r.status in GOOD else "")
            t.add_row(r.name, r.role, r.phase, r.status, r.task[:60], style=style)
        return t

    def _print(self, text: str) -> None:
        if self.live:
            self.live.console.print(text, markup=False, highlight=False)
        else:
            self.console.print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", markup=False, highlight=False)

    def _refresh(self) -> None:
        if self.live:
            self.live.update(self._table())

    # -- Reporter ---------------------------------------------------------------------------------------------

    def phase(self, name: str) -> None:
        self.current = name
        self._print(f"== {name}")
        self._refresh()

    def host(self, host: str, phase: str, status: str, task: str = "") -> None:
        r = self.rows.get(host)
        if r is None:
            return
        r.phase, r.status = phase, status
        if task:
            r.task = task
        if status in ("failed", "unreachable"):
            r.failed = True
        if not self.live:
            self._print(f"{phase:9} {host:10} {status}" + (f"  {r.task}" if task else ""))
        self._refresh()

    def line(self, text: str) -> None:
        self._print(text)

    def plan(self, plan: Plan) -> None:
        if plan.changed and (plan.impact > Impact.NOOP or plan.refused):
            print_table(plan, self.live.console if self.live else self.console)  # the table ends with the headline
        else:
            self._print(headline(plan))


def summary_table(rows: list[HostView], per_host: dict[str, tuple[int, int]]) -> Table:
    t = Table(show_edge=False, title="summary", title_justify="left")
    for col in ("host", "role", "result", "ok", "changed"):
        t.add_column(col)
    for r in rows:
        res = "[red]failed[/]" if r.failed else f"{r.phase} {r.status}".strip()
        ok, changed = per_host.get(r.name, (0, 0))
        t.add_row(r.name, r.role, res, str(ok), str(changed))
    return t
