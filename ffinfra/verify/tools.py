"""The external IB tools the fabric checks drive: which Debian package has each, and one way to run them.

Every client run goes through `timeout`: a client preloaded with umad2sim hangs forever, with no output, when
its ibsim is gone or IBSIM_SOCKNAME is wrong (ib-probe §3.1).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ffinfra.errors import OperationalError

UMAD2SIM = Path("/usr/lib/x86_64-linux-gnu/umad2sim/libumad2sim.so")

# tool → Debian package that ships it
PACKAGES: dict[str, str] = {
    "ibsim": "ibsim-utils",
    "opensm": "opensm",
    "dump_fts": "infiniband-diags",
    "ibtracert": "infiniband-diags",
    "timeout": "coreutils",
}
SIM_TOOLS = ("ibsim", "opensm", "dump_fts", "ibtracert", "timeout")
KILL_GRACE_S = 5  # `timeout -k`: SIGKILL this long after the SIGTERM


def missing_tools(tools: Iterable[str] = SIM_TOOLS) -> list[str]:
    """Tools (and the umad2sim preload, as 'libumad2sim.so') that are not installed here."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not UMAD2SIM.is_file():
        missing.append("libumad2sim.so")
    return missing


def require_tools(tools: Iterable[str] = SIM_TOOLS) -> None:
    """Raise OperationalError naming the Debian packages to install when a tool is missing."""
    missing = missing_tools(tools)
    if not missing:
        return
    pkgs = sorted({PACKAGES.get(t, "libumad2sim0" if t == "libumad2sim.so" else t) for t in missing})
    raise OperationalError(
        f"fabric simulation needs {', '.join(missing)}: not found. "
        f"Install with: apt-get install -y --no-install-recommends {' '.join(pkgs)} "
        "(or scripts/setup.sh --test)"
    )


@dataclass(frozen=True, slots=True)
class ToolRun:
    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.rc in (124, 137)  # timeout's own code, or SIGKILL after the grace period


def run_tool(argv: Sequence[str], env: Mapping[str, str], timeout_s: float, cwd: Path | None = None) -> ToolRun:
    """Run one client under `timeout -k`, capturing its output (never raises on a non-zero exit).

    It runs in its own session; if this process is interrupted meanwhile, that process group (the `timeout` we
    started and its child) is stopped, so no preloaded client is left hanging on a simulator that is gone."""
    full = ("timeout", "-k", str(KILL_GRACE_S), f"{timeout_s:g}", *argv)
    t0 = time.monotonic()
    try:
        p = subprocess.Popen(
            full,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except FileNotFoundError as e:
        raise OperationalError(f"cannot run {argv[0]}: {e}") from e
    try:
        out, err = p.communicate(timeout=timeout_s + KILL_GRACE_S + 10)  # backstop only: `timeout` ends it first
    except BaseException:
        _stop_group(p)
        raise
    return ToolRun(tuple(full), p.returncode, out, err, time.monotonic() - t0)


def _stop_group(p: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL, the process group of `p` (a session this module created for it)."""
    for sig, wait_s in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        if p.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(wait_s)


def tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])


def base_env() -> dict[str, str]:
    """This process's environment without any preload (ibsim itself must not be preloaded)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env
