"""Run ibsim on a netlist for the length of a `with` block, on a private socket name.

    with IbSim(netlist, workdir) as sim:
        run_tool(["dump_fts"], sim.env("H-0002c91000001000"), 60)

ibsim listens on abstract unix sockets named after IBSIM_SOCKNAME; both ibsim and its preloaded clients read it,
so each instance gets a unique one (pid + counter + random) and never meets another test's simulator.
On exit only the ibsim process this object started is stopped: SIGTERM, wait, SIGKILL as a last resort.
"""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
import time
from pathlib import Path
from types import TracebackType

from ffinfra.errors import OperationalError
from ffinfra.verify.tools import UMAD2SIM, base_env, require_tools, tail

READY = "Network simulator ready."
# printed once per port by netlists without ibnetdiscover-style lid/speed comments (ib-probe §2.1): harmless
NOISE = "cannot parse remote lid and connection type"
_counter = itertools.count(1)


def unique_sockname() -> str:
    return f"ffinfra-{os.getpid()}-{next(_counter)}-{secrets.token_hex(3)}"


class IbSim:
    """ibsim -s -n on `netlist`; its output goes to `<workdir>/ibsim.out`."""

    def __init__(
        self,
        netlist: Path,
        workdir: Path,
        *,
        ready_timeout_s: float = 30.0,
        max_nodes: int = 4096,
        max_switches: int = 1024,
        max_ports: int = 20000,
    ):
        self.netlist = Path(netlist)
        self.workdir = Path(workdir)
        self.ready_timeout_s = ready_timeout_s
        self.argv = (
            "ibsim",
            "-s",
            "-n",
            "-N",
            str(max_nodes),
            "-S",
            str(max_switches),
            "-P",
            str(max_ports),
            str(self.netlist),
        )
        self.sockname = unique_sockname()
        self.output_path = self.workdir / "ibsim.out"
        self.startup_s = 0.0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def output(self) -> str:
        try:
            return self.output_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def output_tail(self, lines: int = 20) -> str:
        """The end of ibsim's output without the harmless per-port parser warnings."""
        return tail("\n".join(x for x in self.output().splitlines() if NOISE not in x), lines)

    def env(self, sim_host: str) -> dict[str, str]:
        """Environment for a client (opensm, dump_fts, ibtracert …) attached at node `sim_host` (node id or
        node description) of this simulator."""
        env = base_env()
        env.update({"LD_PRELOAD": str(UMAD2SIM), "IBSIM_SOCKNAME": self.sockname, "SIM_HOST": sim_host})
        return env

    def start(self) -> IbSim:
        if self._proc is not None:
            raise RuntimeError("ibsim already started")
        require_tools(("ibsim",))
        if not self.netlist.is_file():
            raise OperationalError(f"ibsim netlist {self.netlist} does not exist")
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = base_env()
        env["IBSIM_SOCKNAME"] = self.sockname
        t0 = time.monotonic()
        with self.output_path.open("wb") as out:
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.workdir
            )
        deadline = t0 + self.ready_timeout_s
        while True:
            if READY in self.output():
                self.startup_s = time.monotonic() - t0
                return self
            rc = self._proc.poll()
            if rc is not None:
                self._proc = None
                raise OperationalError(
                    f"ibsim exited with status {rc} before it was ready (netlist {self.netlist}):\n{self.output_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise OperationalError(
                    f"ibsim did not print {READY!r} within {self.ready_timeout_s:g} s (netlist {self.netlist}):\n"
                    f"{self.output_tail()}"
                )
            time.sleep(0.01)

    def stop(self, timeout_s: float = 10.0) -> int | None:
        """Stop the ibsim this object started (by its PID); returns its exit status, None if it was not running."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)
        return proc.returncode

    def __enter__(self) -> IbSim:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
