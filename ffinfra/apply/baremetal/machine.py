"""Each bare-metal node's place in its lifecycle, kept in stacks/<name>/state/baremetal/nodes.json so that a re-run
resumes where every node stopped (MAAS and Metal3 keep such states too):

    registered → powering_on → dhcp_seen → image_fetched → reported → reachable → configured

A node moves forward as the boot server sees it: its DHCP lease, its image fetched over HTTP, its report. It is
`reachable` once ffinfra logged in over SSH with its pinned host key, and `configured` once `up` applied its roles.
Only power-on moves a node back (to powering_on): a node that reported is never powered on again by a re-run.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ffinfra.atomic import write_atomic

STATES = ("registered", "powering_on", "dhcp_seen", "image_fetched", "reported", "reachable", "configured")
BOOTED = ("reported", "reachable", "configured")  # the image runs: a re-run must not power-cycle it


@dataclass
class NodeRecord:
    state: str = "registered"
    since: float = 0.0  # when it entered the state (epoch seconds)
    powered_on_at: float = 0.0  # the last power-on ffinfra asked for; log lines before it are an older boot
    dhcp_mark: int = 0  # dnsmasq's log size at that power-on: a DHCPACK after it is this boot's
    mac: str = ""
    address: str = ""
    boot_id: str = ""  # from the node's report: a different one means it booted again
    error: str = ""
    history: list[str] = field(default_factory=list)  # "state@epoch", newest last, at most HISTORY

    def at_least(self, state: str) -> bool:
        return STATES.index(self.state) >= STATES.index(state)


HISTORY = 20


class NodeBook:
    """The records of every node, saved atomically after each change (an interrupted run loses no step)."""

    def __init__(self, path: Path):
        self.path = path
        self.nodes: dict[str, NodeRecord] = {}
        self._lock = threading.RLock()  # nodes boot in parallel threads; one writer at a time
        if path.exists():
            raw = json.loads(path.read_text())
            self.nodes = {k: NodeRecord(**v) for k, v in raw.get("nodes", {}).items()}

    def get(self, host: str, mac: str = "", address: str = "") -> NodeRecord:
        with self._lock:
            return self._get(host, mac, address)

    def _get(self, host: str, mac: str, address: str) -> NodeRecord:
        rec = self.nodes.get(host)
        if rec is None or (mac and rec.mac and rec.mac != mac):
            # a new node, or another machine under this name (its boot MAC changed): it starts over
            rec = self.nodes[host] = NodeRecord(since=time.time(), mac=mac, address=address)
            self._note(rec, "registered")
            self.save()
        return rec

    def move(self, host: str, state: str, **fields: object) -> NodeRecord:
        with self._lock:
            return self._move(host, state, **fields)

    def _move(self, host: str, state: str, **fields: object) -> NodeRecord:
        if state not in STATES:
            raise ValueError(f"unknown node state {state!r}")
        rec = self.nodes[host]
        forward = STATES.index(state) > STATES.index(rec.state)
        if not (forward or state == "powering_on" or fields):
            return rec
        for k, v in fields.items():
            setattr(rec, k, v)
        if forward or state == "powering_on":
            rec.state = state
            rec.since = time.time()
            rec.error = ""
            self._note(rec, state)
        self.save()
        return rec

    def fail(self, host: str, message: str) -> None:
        with self._lock:
            self.nodes[host].error = message
            self.save()

    def forget(self, host: str) -> None:
        with self._lock:
            if self.nodes.pop(host, None) is not None:
                self.save()

    def save(self) -> None:
        with self._lock:
            self._save()

    def _save(self) -> None:
        data = {"nodes": {k: asdict(v) for k, v in sorted(self.nodes.items())}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    @staticmethod
    def _note(rec: NodeRecord, state: str) -> None:
        rec.history = [*rec.history, f"{state}@{rec.since:.0f}"][-HISTORY:]
