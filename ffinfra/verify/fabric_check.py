"""Verify a stack's rendered fabric end to end in ibsim: the netlist comes up, each subnet's OpenSM config
routes it with the configured engine, and the programmed LFTs reach every CA port evenly.

    report = verify_fabric(topology, render_all(topology), Path(tmp))
    print(report.summary()); assert report.ok

One ibsim runs the whole netlist; per subnet, one-shot OpenSM attached at that subnet's SM HCA (SIM_HOST =
Subnet.sm_nodeid, private OSM_CACHE_DIR), then: the cabling OpenSM discovered against the plan, dump_fts, the
reachability walk, the uplink balance check and an ibtracert between two leaves.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ffinfra.analysis.cabling import CablingReport, compare_cabling, parse_subnet_lst
from ffinfra.analysis.lft import name_tables
from ffinfra.analysis.routing import BalanceReport, WalkReport, check_balance, walk
from ffinfra.analysis.trace import Trace
from ffinfra.analysis.wiring import Port, Wiring, subnet_wiring
from ffinfra.render.artifact import Artifact
from ffinfra.render.fabric import WIDTH
from ffinfra.topology.model import Subnet, Topology
from ffinfra.verify.diag import run_dump_fts, run_ibtracert
from ffinfra.verify.ibsim import IbSim
from ffinfra.verify.opensm_run import OpenSMResult, run_opensm
from ffinfra.verify.stage import StagedSubnet, netlist_components, stage
from ffinfra.verify.tools import require_tools, tail


@dataclass
class SubnetReport:
    subnet: str
    sm_node: str
    opensm: OpenSMResult | None = None
    cabling: CablingReport | None = None
    walk: WalkReport | None = None
    balance: BalanceReport | None = None
    trace: Trace | None = None
    switches_dumped: int = 0
    lft_entries: int = 0
    ca_lids: int = 0
    problems: list[str] = field(default_factory=list)  # staging, dump, naming and trace problems
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def all_problems(self) -> list[str]:
        p = list(self.problems)
        p += self.opensm.problems if self.opensm else ["OpenSM did not run"]
        p += self.cabling.problems if self.cabling else ["no cabling check (no opensm-subnet.lst)"]
        p += self.walk.problems if self.walk else ["no reachability walk"]
        p += self.balance.problems if self.balance else ["no balance check"]
        return p

    @property
    def ok(self) -> bool:
        return not self.all_problems

    def summary(self) -> str:
        lines = [f"subnet {self.subnet} (SM at {self.sm_node}): {'OK' if self.ok else 'FAILED'}"]
        if o := self.opensm:
            up = "SUBNET UP" if o.log.subnet_up else "no SUBNET UP"
            lines.append(f"  opensm: {o.log.engine or '?'} tables, {up}, rc {o.rc}, {o.seconds:.2f} s")
        if self.cabling:
            lines.append(f"  cabling: {self.cabling.summary()}")
        if self.switches_dumped:
            lines.append(
                f"  dump_fts: {self.switches_dumped} switches, {self.lft_entries} LFT entries, {self.ca_lids} CA LIDs, "
                f"{self.seconds.get('dump_fts', 0):.2f} s"
            )
        if self.walk:
            lines.append(f"  walk: {self.walk.summary()}")
        if self.balance:
            lines.append(f"  balance: {self.balance.summary()}")
        if self.trace:
            lines.append(f"  ibtracert: {self.trace}")
        for p in self.all_problems:
            lines.append(f"  ! {p}")
        for ex in (self.walk.examples if self.walk else [])[:3] + (self.balance.examples if self.balance else [])[:3]:
            lines.append(f"    e.g. {ex}")
        return "\n".join(lines)


@dataclass
class FabricReport:
    stack: str
    workdir: Path
    subnets: list[SubnetReport] = field(default_factory=list)
    seconds: float = 0.0
    ibsim_startup_s: float = 0.0
    problems: list[str] = field(default_factory=list)  # fabric-wide (ibsim)

    @property
    def ok(self) -> bool:
        return bool(self.subnets) and not self.problems and all(s.ok for s in self.subnets)

    def subnet(self, name: str) -> SubnetReport:
        return next(s for s in self.subnets if s.subnet == name)

    def summary(self) -> str:
        head = (
            f"fabric check of stack {self.stack!r}: {'OK' if self.ok else 'FAILED'} "
            f"({len(self.subnets)} subnet(s), {self.seconds:.1f} s; ibsim ready in {self.ibsim_startup_s:.2f} s)"
        )
        return "\n".join([head, *(f"! {p}" for p in self.problems), *(s.summary() for s in self.subnets)])


def trace_pair(wiring: Wiring, lid_of: dict[Port, int]) -> tuple[int, int, str, str] | None:
    """Two CA ports with LIDs on different leaves of one zone: (src lid, dst lid, src leaf, dst leaf)."""
    first: dict[str, Port] = {}
    for ca, _lid in sorted(lid_of.items(), key=lambda kv: kv[1]):
        leaf = wiring.leaf_of(ca)
        if leaf is not None and leaf not in first:
            first[leaf] = ca
    leaves = [lf for lf in wiring.leaves if lf in first]
    if leaves:
        zone = wiring.zone_of.get(leaves[0])
        leaves = [lf for lf in leaves if wiring.zone_of.get(lf) == zone]
    if len(leaves) < 2:
        return None
    a, b = leaves[0], leaves[-1]
    return lid_of[first[a]], lid_of[first[b]], a, b


def check_trace(t: Trace, src_leaf: str, dst_leaf: str, wiring: Wiring) -> list[str]:
    if not t.reached:
        return [f"ibtracert {t.src_lid} → {t.dst_lid} failed: {t.error or t.rc}"]
    sw = t.switches
    if len(sw) == 3 and sw[0] == src_leaf and sw[1] in wiring.spines and sw[2] == dst_leaf:
        return []
    return [f"ibtracert {t.src_lid} → {t.dst_lid} took {' → '.join(sw)}, expected {src_leaf} → <spine> → {dst_leaf}"]


def _verify_subnet(
    sim: IbSim,
    topo: Topology,
    sn: Subnet,
    staged: StagedSubnet | None,
    stage_problems: list[str],
    timeout_s: float,
    max_spread: int,
    trace: bool,
) -> SubnetReport:
    rep = SubnetReport(sn.name, f"{sn.sm_host} {sn.sm_nodeid}", problems=list(stage_problems))
    if staged is None:
        rep.problems.append(f"no OpenSM files rendered for subnet {sn.name}")
        return rep
    env = sim.env(sn.sm_nodeid)
    rep.opensm = run_opensm(
        staged.conf,
        env,
        subnet=sn.name,
        engine=topo.spec.fabric.subnet_manager.routing_engine,
        cache_dir=staged.cache_dir,
        timeout_s=timeout_s,
    )
    rep.seconds["opensm"] = rep.opensm.seconds
    if rep.opensm.rc != 0:
        rep.problems.append(f"opensm output: {tail(rep.opensm.output_tail, 4)}")
    lst = staged.dump_dir / "opensm-subnet.lst"
    wiring = subnet_wiring(topo, sn)
    if lst.is_file():
        links, bad = parse_subnet_lst(lst.read_text(errors="replace"))
        rep.cabling = compare_cabling(links, wiring, WIDTH.get(topo.spec.fabric.link_rate))
        rep.cabling.unparsed = len(bad)
    if not sim.running:
        rep.problems.append("ibsim is no longer running")
        return rep
    if not rep.opensm.log.subnet_up:
        return rep  # nothing was programmed: the OpenSM problems say why
    dump, run = run_dump_fts(env, timeout_s)
    rep.seconds["dump_fts"] = run.seconds
    if run.rc != 0:
        rep.problems.append(f"dump_fts exited with status {run.rc}: {tail(run.stderr, 3)}")
    rep.switches_dumped, rep.lft_entries = len(dump.lfts), dump.entries
    t0 = time.monotonic()
    tables = name_tables(dump, wiring)
    rep.ca_lids = len(tables.dests)
    rep.problems += tables.problems
    rep.walk = walk(wiring, tables.lfts, tables.dests)
    rep.balance = check_balance(wiring, tables.lfts, tables.dests, max_spread=max_spread)
    rep.seconds["checks"] = time.monotonic() - t0
    if trace and (pair := trace_pair(wiring, tables.lid_of)):
        src, dst, a, b = pair
        t0 = time.monotonic()
        rep.trace = run_ibtracert(env, src, dst, min(timeout_s, 60))
        rep.seconds["ibtracert"] = time.monotonic() - t0
        rep.problems += check_trace(rep.trace, a, b, wiring)
    return rep


def verify_fabric(
    topology: Topology,
    artifacts: Iterable[Artifact],
    workdir: Path,
    *,
    timeout_s: float = 120.0,
    max_spread: int = 1,
    trace: bool = True,
) -> FabricReport:
    """Run the stack's rendered fabric in ibsim and check every subnet. Raises OperationalError only when the
    tools are missing or ibsim cannot start; everything else is a finding in the report.

    Subnets that share no cable (Fire-Flyer's zones) each get their own ibsim, and are checked at the same time:
    ibsim serves MADs on one thread, so in one simulator two zones' sweeps take as long as one after the other
    (ff2: 7.7 s in one ibsim, parallel or not). Otherwise one ibsim runs the whole netlist."""
    require_tools()
    t_start = time.monotonic()
    workdir = Path(workdir)
    staged = stage(artifacts, workdir)
    report = FabricReport(topology.name, workdir)
    subnets = list(topology.subnets)

    def check(sim: IbSim, sn: Subnet) -> SubnetReport:
        return _verify_subnet(
            sim,
            topology,
            sn,
            staged.subnets.get(sn.name),
            staged.problems.get(sn.name, []),
            timeout_s,
            max_spread,
            trace,
        )

    own = _netlist_per_subnet(staged.netlist, subnets) if len(subnets) > 1 else None
    if own is not None:

        def alone(sn: Subnet) -> tuple[SubnetReport, float, str]:
            with IbSim(own[sn.name], workdir / f"ibsim-{sn.name}", ready_timeout_s=min(timeout_s, 60)) as sim:
                rep = check(sim, sn)
                died = "" if sim.running else f"ibsim of subnet {sn.name} died during the check:\n{sim.output_tail()}"
                return rep, sim.startup_s, died

        with ThreadPoolExecutor(max_workers=len(subnets)) as pool:
            done = list(pool.map(alone, subnets))
        report.subnets = [rep for rep, _, _ in done]
        report.ibsim_startup_s = max(s for _, s, _ in done)
        report.problems += [died for _, _, died in done if died]
    else:
        with IbSim(staged.netlist, workdir, ready_timeout_s=min(timeout_s, 60)) as sim:
            report.ibsim_startup_s = sim.startup_s
            report.subnets = [check(sim, sn) for sn in subnets]
            if not sim.running:
                report.problems.append(f"ibsim died during the check:\n{sim.output_tail()}")
    extra = sorted(set(staged.subnets) - {sn.name for sn in subnets})
    if extra:
        report.problems.append(f"OpenSM files rendered for unknown subnet(s): {', '.join(extra)}")
    report.seconds = time.monotonic() - t_start
    return report


def _netlist_per_subnet(netlist: Path, subnets: list[Subnet]) -> dict[str, Path] | None:
    """subnet → a netlist of the part of the fabric its SM is on, when every subnet's SM is on a part of its own
    (else None: the subnets share cables, and one ibsim must run them all)."""
    parts = netlist_components(netlist.read_text())
    if parts is None:
        return None
    where = {sn.name: next((i for i, (names, _) in enumerate(parts) if sn.sm_nodeid in names), None) for sn in subnets}
    if None in where.values() or len(set(where.values())) != len(subnets):
        return None
    out = {}
    for sn in subnets:
        path = netlist.with_name(f"ibsim-{sn.name}.net")
        path.write_text(parts[where[sn.name]][1])  # type: ignore[index]
        out[sn.name] = path
    return out
