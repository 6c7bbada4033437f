"""Runs a test job of HFReduce ranks on this host: `nodes` × `per_node` processes, each "node" a node name
(HFREDUCE_NODE), all on loopback, and collects what each rank printed (see hf_worker.py)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

WORKER = Path(__file__).with_name("hf_worker.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Job:
    nodes: int
    per_node: int
    results: dict[int, list[dict]] = field(default_factory=dict)  # rank → its lines
    returncodes: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def lines(self, rank: int) -> list[dict]:
        return self.results.get(rank, [])

    def errors(self) -> dict[int, str]:
        return {r: line["error"] for r, lines in self.results.items() for line in lines if "error" in line}

    def case_results(self) -> list[dict]:
        return [line for lines in self.results.values() for line in lines if "case" in line and "error" not in line]


def run_job(
    nodes: int,
    per_node: int,
    job: dict,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
    absent: list[int] | None = None,
) -> Job:
    """Starts every rank but those in `absent`, waits for all (killing all at `timeout`), returns their lines."""
    world = nodes * per_node
    root = f"127.0.0.1:{free_port()}"
    procs = {}
    started = time.monotonic()
    for rank in range(world):
        if rank in (absent or []):
            continue
        e = {**os.environ, **(env or {}), "HFREDUCE_NODE": f"n{rank // per_node}", "OMP_NUM_THREADS": "1"}
        e.setdefault("HFREDUCE_THREADS", "1")
        procs[rank] = subprocess.Popen(
            [sys.executable, str(WORKER), str(rank), str(world), root, json.dumps(job)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=e,
        )
    out = Job(nodes, per_node)
    deadline = started + timeout
    for rank, p in procs.items():
        try:
            stdout, stderr = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs.values():  # only the processes this job started
                q.kill()
            stdout, stderr = p.communicate()
            out.returncodes[rank] = -9
            out.results[rank] = [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]
            out.results[rank].append({"rank": rank, "error": f"HUNG: killed at the test's {timeout} s limit"})
            continue
        out.returncodes[rank] = p.returncode
        out.results[rank] = [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]
        if p.returncode not in (0, -9) and not any("error" in x for x in out.results[rank]):
            out.results[rank].append({"rank": rank, "error": f"exit {p.returncode}: {stderr[-2000:]}"})
    out.seconds = time.monotonic() - started
    return out
