"""The checks `ffinfra up` ends with: the cluster works, not just the playbook finished. Causes before symptoms:

    daemons         every daemon each host should run (topology/services.py) is an active systemd unit there; one
                    that is not is named at once ("slurmctld is not running on ctl01 (failed)"), and the checks
                    that would only wait on its symptoms are skipped
    slurmctld       `scontrol ping` answers on the controller
    slurm-idle      sinfo lists every Slurm node idle
    srun            `srun -N<all>` runs on every Slurm node
    login           `sinfo` answers on every login node (users submit from there)
    opensm <subnet> the subnet's OpenSM logged SUBNET UP with the configured engine and no fallback

Commands go over SSH (runtime/ssh.py), the way every other part of ffinfra reaches a node.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ffinfra.analysis.opensm_log import configured_engine, log_command, parse_opensm_log, sweep_problems
from ffinfra.apply.probe import HostProbe, probe_hosts
from ffinfra.render.artifact import Artifact
from ffinfra.runtime.ssh import Remote
from ffinfra.topology.model import Topology

Log = Callable[[str], None]
DAEMON_GRACE_S = 15.0  # a daemon the playbook just (re)started may take a moment to show


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float = 0.0
    host: str = ""


def _sh(remote: Remote, host: str, cmd: str, timeout: float = 30) -> tuple[int, str]:
    r = remote.run(host, cmd, timeout=timeout)
    return r.rc, (r.stdout + r.stderr).strip()


def check_daemons(
    remote: Remote,
    topo: Topology,
    sim: bool,
    log: Log,
    grace: float | None = None,
    known: Mapping[str, HostProbe] | None = None,
) -> Check:
    """`known`: probes taken a moment ago (the fast path's); when they saw every daemon, nothing is asked again.
    A daemon the playbook just started gets `grace` seconds (DAEMON_GRACE_S) to show."""
    grace = DAEMON_GRACE_S if grace is None else grace
    want = {h: list(s.units_on(sim)) for h, s in topo.services.hosts.items()}
    t0 = time.monotonic()
    if known is not None and set(known) >= set(want) and all(not known[h].down for h in want):
        n = sum(len(v) for v in want.values())
        return Check("daemons", True, f"{n} daemons running on {len(want)} hosts (probed before apply)")
    while True:
        probes = probe_hosts(remote, {}, want)
        bad = [p for p in probes.values() if not p.healthy]
        if not bad or time.monotonic() - t0 > grace:
            break
        time.sleep(1)
    for p in probes.values():
        log(f"daemons on {p.host}: " + ("; ".join(p.problems()) or f"all running ({', '.join(want[p.host])})"))
    if not bad:
        n = sum(len(v) for v in want.values())
        return Check("daemons", True, f"{n} daemons running on {len(want)} hosts", time.monotonic() - t0)
    order = list(want)
    bad.sort(key=lambda p: order.index(p.host))
    detail = "; ".join(
        f"{p.host}: cannot be reached ({p.error})"
        if p.error
        else ", ".join(f"{unit} is not running on {p.host} ({state})" for unit, state in p.down)
        for p in bad
    )
    return Check("daemons", False, detail, time.monotonic() - t0, bad[0].host)


def check_slurmctld(remote: Remote, topo: Topology, log: Log, timeout: float = 30) -> Check:
    ctl = topo.services.slurm_controller
    t0 = time.monotonic()
    while True:
        rc, out = _sh(remote, ctl, "scontrol ping")
        if rc == 0 and "is UP" in out:
            return Check("slurmctld", True, f"answers on {ctl}", time.monotonic() - t0, ctl)
        if time.monotonic() - t0 > timeout:
            log(f"scontrol ping on {ctl} (rc {rc}): {out}")
            return Check("slurmctld", False, f"slurmctld does not answer on {ctl}: {out[-200:]}", timeout, ctl)
        time.sleep(1)


def check_slurm_idle(remote: Remote, topo: Topology, log: Log, timeout: float = 90) -> Check:
    ctl = topo.services.slurm_controller
    want = set(topo.services.slurm_nodes)
    t0 = time.monotonic()
    states: dict[str, str] = {}
    out = ""
    while True:
        rc, out = _sh(remote, ctl, "sinfo -h -N -o '%N %T'")
        states = dict(line.split()[:2] for line in out.splitlines() if len(line.split()) >= 2) if rc == 0 else {}
        log(f"sinfo on {ctl} (rc {rc}): {out}")
        if all(states.get(h) == "idle" for h in want):
            return Check("slurm-idle", True, f"{len(want)} Slurm nodes idle", time.monotonic() - t0, ctl)
        if time.monotonic() - t0 > timeout:
            bad = ", ".join(f"{h}={states.get(h, 'missing')}" for h in sorted(want) if states.get(h) != "idle")
            return Check(
                "slurm-idle", False, f"not idle after {timeout:.0f} s: {bad or out}", time.monotonic() - t0, ctl
            )
        time.sleep(1)


def check_srun(remote: Remote, topo: Topology, log: Log, timeout: float = 60) -> Check:
    ctl = topo.services.slurm_controller
    want = sorted(topo.services.slurm_nodes)
    n = len(want)
    t0 = time.monotonic()
    cmd = f"srun -N{n} -n{n} --ntasks-per-node=1 hostname"
    rc, out = _sh(remote, ctl, cmd, timeout=timeout)
    log(f"{cmd} on {ctl} (rc {rc}):\n{out}")
    got = sorted(line.strip() for line in out.splitlines() if line.strip() in want)
    if rc == 0 and got == want:
        return Check("srun", True, f"srun -N{n} ran on {', '.join(got)}", time.monotonic() - t0, ctl)
    return Check("srun", False, f"srun -N{n} rc {rc}: {shlex.quote(out[-300:])}", time.monotonic() - t0, ctl)


def check_login(remote: Remote, topo: Topology, log: Log) -> list[Check]:
    checks = []
    for host in topo.services.login_hosts:
        t0 = time.monotonic()
        rc, out = _sh(remote, host, "sinfo -h -o '%P %a'")
        log(f"sinfo on login node {host} (rc {rc}): {out}")
        ok = rc == 0 and bool(out)
        detail = f"sinfo answers: {', '.join(out.split())}" if ok else f"sinfo fails from {host}: {out[-200:]}"
        checks.append(Check(f"login {host}", ok, detail, time.monotonic() - t0, host))
    return checks


def check_opensm(
    remote: Remote, topo: Topology, artifacts: list[Artifact], log: Log, timeout: float = 60
) -> list[Check]:
    checks = []
    by_path = {a.path: a for a in artifacts}
    for sn in topo.subnets:
        conf = by_path.get(f"opensm/{sn.name}/opensm.conf")
        engine = configured_engine(conf.content if conf else None)
        cmd = log_command(conf.content if conf else None, sn.name)
        t0 = time.monotonic()
        while True:
            rc, out = _sh(remote, sn.sm_host, cmd)
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
        if sn.standby_host:
            checks.append(_standby_check(remote, sn.name, sn.standby_host, cmd, log, timeout))
    return checks


def _standby_check(remote: Remote, subnet: str, host: str, cmd: str, log: Log, timeout: float) -> Check:
    """The standby SM stands by: its log's last state is STANDBY (MASTER means the master is not master)."""
    t0 = time.monotonic()
    while True:
        rc, out = _sh(remote, host, cmd)
        state = parse_opensm_log(out).state if rc == 0 else None
        if state == "STANDBY" or time.monotonic() - t0 > timeout:
            break
        time.sleep(1)
    log(f"standby opensm of subnet {subnet} on {host}: {state or 'no state in its log'}")
    ok = state == "STANDBY"
    detail = "STANDBY" if ok else f"expected STANDBY, its log says {state or 'nothing'} (rc {rc})"
    return Check(f"opensm {subnet} standby", ok, detail, time.monotonic() - t0, host)


def verify_stack(
    remote: Remote,
    topo: Topology,
    artifacts: list[Artifact],
    sim: bool,
    log: Log,
    known: Mapping[str, HostProbe] | None = None,
) -> list[Check]:
    """Daemons first; then, at the same time, Slurm (controller, idle nodes, srun, in that order), the login
    nodes and each subnet's OpenSM: they ask different hosts or different daemons, so none waits on another."""
    checks = [check_daemons(remote, topo, sim, log, known=known)]
    if not checks[0].ok:
        skipped = "skipped: a daemon is not running (see daemons)"
        checks += [Check(name, False, skipped) for name in ("slurmctld", "slurm-idle", "srun")]
    else:
        with ThreadPoolExecutor(max_workers=3) as pool:
            slurm = pool.submit(_slurm_checks, remote, topo, log)
            login = pool.submit(check_login, remote, topo, log)
            opensm = pool.submit(check_opensm, remote, topo, artifacts, log)
            slurm_checks = slurm.result()
            checks += slurm_checks
            # as before: login nodes are judged only when the controller answers (else they fail with it)
            checks += login.result() if slurm_checks[0].ok else []
            checks += opensm.result()
    for c in checks:
        log(f"{'PASS' if c.ok else 'FAIL'} {c.name}: {c.detail} ({c.seconds:.1f} s)")
    return checks


def _slurm_checks(remote: Remote, topo: Topology, log: Log) -> list[Check]:
    ctl = check_slurmctld(remote, topo, log)
    if not ctl.ok:
        return [ctl] + [Check(n, False, "skipped: slurmctld does not answer") for n in ("slurm-idle", "srun")]
    idle = check_slurm_idle(remote, topo, log)
    return [ctl, idle, check_srun(remote, topo, log) if idle.ok else Check("srun", False, "skipped: Slurm not idle")]
