"""The checks `ffinfra up` ends with: the cluster works, not just the playbook finished.

    slurm-idle   sinfo on the controller reports every compute node idle
    srun         `srun -N<all> hostname` runs on every compute node
    opensm       each subnet's OpenSM (run by the opensm role on its SM node, over ibsim in the lab) logged
                 SUBNET UP with the configured routing engine (ftree) and no fallback

Commands run through the provider (lab: nsenter into the node), so the checks do not depend on SSH.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass

from ffinfra.apply.provider import Provider
from ffinfra.render.artifact import Artifact
from ffinfra.render.slurm import slurm_controller
from ffinfra.topology.model import Topology
from ffinfra.verify.opensm_run import configured_engine, log_command, parse_opensm_log, sweep_problems


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float = 0.0
    host: str = ""


Log = Callable[[str], None]


def compute_hosts(topo: Topology) -> list[str]:
    """The nodes slurm.conf declares: the hosts of the groups its partitions name (compute hosts otherwise)."""
    parts = topo.spec.scheduler.slurm.partitions if topo.spec.scheduler.slurm else []
    groups = {g for p in parts for g in p.groups}
    hosts = [h.name for h in topo.hosts if h.group in groups]
    return hosts or [h.name for h in topo.hosts_with_role("compute")]


def _sh(provider: Provider, host: str, cmd: str, timeout: float = 30) -> tuple[int, str]:
    r = provider.exec(host, ["sh", "-c", cmd], timeout=timeout)
    return r.returncode, (r.stdout + r.stderr).strip()


def check_slurm_idle(provider: Provider, topo: Topology, log: Log, timeout: float = 90) -> Check:
    ctl = slurm_controller(topo).name
    want = set(compute_hosts(topo))
    t0 = time.monotonic()
    states: dict[str, str] = {}
    out = ""
    while True:
        rc, out = _sh(provider, ctl, "sinfo -h -N -o '%N %T'")
        states = dict(line.split()[:2] for line in out.splitlines() if len(line.split()) >= 2) if rc == 0 else {}
        log(f"sinfo on {ctl} (rc {rc}): {out}")
        if want and all(states.get(h) == "idle" for h in want):
            return Check("slurm-idle", True, f"{len(want)} compute nodes idle", time.monotonic() - t0, ctl)
        if time.monotonic() - t0 > timeout:
            bad = ", ".join(f"{h}={states.get(h, 'missing')}" for h in sorted(want) if states.get(h) != "idle")
            return Check(
                "slurm-idle", False, f"not idle after {timeout:.0f} s: {bad or out}", time.monotonic() - t0, ctl
            )
        time.sleep(1)


def check_srun(provider: Provider, topo: Topology, log: Log, timeout: float = 60) -> Check:
    ctl = slurm_controller(topo).name
    want = sorted(compute_hosts(topo))
    n = len(want)
    t0 = time.monotonic()
    cmd = f"timeout {int(timeout)} srun -N{n} -n{n} --ntasks-per-node=1 hostname"
    rc, out = _sh(provider, ctl, cmd, timeout=timeout + 5)
    log(f"{cmd} on {ctl} (rc {rc}):\n{out}")
    got = sorted(line.strip() for line in out.splitlines() if line.strip() in want)
    if rc == 0 and got == want:
        return Check("srun", True, f"srun -N{n} ran on {', '.join(got)}", time.monotonic() - t0, ctl)
    return Check("srun", False, f"srun -N{n} rc {rc}: {shlex.quote(out[-300:])}", time.monotonic() - t0, ctl)


def check_opensm(
    provider: Provider, topo: Topology, artifacts: list[Artifact], log: Log, timeout: float = 60
) -> list[Check]:
    checks = []
    by_path = {a.path: a for a in artifacts}
    for sn in topo.subnets:
        conf = by_path.get(f"opensm/{sn.name}/opensm.conf")
        engine = configured_engine(conf.content if conf else None)
        cmd = log_command(conf.content if conf else None, sn.name)
        t0 = time.monotonic()
        while True:
            rc, out = _sh(provider, sn.sm_host, cmd)
            parsed = parse_opensm_log(out) if rc == 0 else None
            done = parsed is not None and parsed.subnet_up and parsed.engine is not None
            if done or time.monotonic() - t0 > timeout:
                break
            time.sleep(1)
        where = out.splitlines()[0].removeprefix("==> ") if rc == 0 and out else "no OpenSM log found"
        log(f"opensm log of subnet {sn.name} on {sn.sm_host}: {where}")
        if parsed is None:
            checks.append(
                Check(f"opensm {sn.name}", False, f"no OpenSM log on {sn.sm_host}", time.monotonic() - t0, sn.sm_host)
            )
            continue
        problems = sweep_problems(parsed, engine)
        ok = not problems
        detail = f"SUBNET UP, {parsed.engine} routing ({where})" if ok else "; ".join(problems)
        checks.append(Check(f"opensm {sn.name}", ok, detail, time.monotonic() - t0, sn.sm_host))
    return checks


def verify_stack(provider: Provider, topo: Topology, artifacts: list[Artifact], log: Log) -> list[Check]:
    checks = [check_slurm_idle(provider, topo, log)]
    checks.append(check_srun(provider, topo, log) if checks[0].ok else Check("srun", False, "skipped: Slurm not idle"))
    checks += check_opensm(provider, topo, artifacts, log)
    for c in checks:
        log(f"{'PASS' if c.ok else 'FAIL'} {c.name}: {c.detail} ({c.seconds:.1f} s)")
    return checks
