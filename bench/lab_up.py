"""Benchmark: what `ffinfra up` costs on the lab stacks, step by step, and a model of the same on ff2 (needs root).

    sudo .venv/bin/python bench/lab_up.py                          # lab and lab16
    sudo .venv/bin/python bench/lab_up.py --stacks lab --against f7b032c   # and the same steps on an older commit

Steps, each the whole command in a fresh process, timed end to end:
  first      `ffinfra up` from nothing to green
  re-run     `ffinfra up` again: nothing changed (no Ansible: a live probe of files and daemons, then the checks)
  force      `ffinfra up --force`: every role runs, and must report 0 changed
  repair     slurmctld killed and slurm.conf edited by hand on a compute node: only their roles run, on those hosts
  partition  a Slurm partition renamed in the spec: a hot reload (`scontrol reconfigure`), only the Slurm roles
  down       `ffinfra down`
For each: the phases from the run's summary.json, the CPU time of the command and everything it started on this
machine (Ansible, ssh; not the nodes' own processes), the number of host-task results, and the slowest 10 tasks.

`--against REV` runs the same steps with the code and roles of an older commit (a git worktree; this venv), in the
same run, and prints the ratios: on a shared, noisy machine a ratio says more than an absolute figure.

The ff2 model: from the first up and the partition change measured here (controller CPU per host-task, the tasks
each role runs per host), what a first `up` and a one-file change would take on ff2's 1,424 hosts for a few
control-node sizes. Its assumptions are printed with it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
STEPS = ("first", "rerun", "force", "repair", "partition", "down")
REMOTE_TASK_S = 0.05  # one task's own work on an idle host through Mitogen (the model's latency floor)


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _ffinfra(code: Path, args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the command and its children, output); exits on failure."""
    argv = [PY, "-c", "import sys; from ffinfra.cli.app import main; sys.argv[0] = 'ffinfra'; main()", *args]
    run_env = {**env, "PYTHONPATH": str(code)}
    cpu0, t0 = _children_cpu(), time.monotonic()
    r = subprocess.run(argv, cwd=cwd, env=run_env, capture_output=True, text=True, check=False, timeout=1800)
    wall, cpu = time.monotonic() - t0, _children_cpu() - cpu0
    if r.returncode != 0 and args[0] != "exec":
        raise SystemExit(f"`ffinfra {' '.join(args)}` failed ({code}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return wall, cpu, r.stdout


def _last_run(stack_dir: Path) -> Path:
    return sorted((stack_dir / "runs").iterdir())[-1]


def task_times(ansible_log: Path) -> tuple[int, list[tuple[float, str]]]:
    """(host-task results, [(seconds, "role: task")] per task, slowest first) from an ffinfra_events log. A task's
    time is from its start to the next task's start (the linear strategy runs one task at a time)."""
    if not ansible_log.is_file():
        return 0, []
    evs = [json.loads(line) for line in ansible_log.read_text().splitlines() if line.startswith("{")]
    results = sum(1 for e in evs if e.get("event") == "result" and e.get("status") != "skipped")
    starts = [e for e in evs if e.get("event") in ("task_start", "handler_start")]
    end = evs[-1]["time"] if evs else 0.0
    rows = [
        (b["time"] - a["time"], f"{a.get('role') or '-'}: {a.get('task', '')}")
        for a, b in zip(starts, [*starts[1:], {"time": end}], strict=True)
    ]
    return results, sorted(rows, reverse=True)


def per_role_tasks(ansible_log: Path) -> dict[str, float]:
    """role → host-task results (not skipped) per host that runs it, from a run's log."""
    evs = [json.loads(line) for line in ansible_log.read_text().splitlines() if line.startswith("{")]
    n: Counter[str] = Counter()
    hosts: dict[str, set[str]] = {}
    for e in evs:
        if e.get("event") == "result" and e.get("status") != "skipped":
            role = e.get("role") or "-"
            n[role] += 1
            hosts.setdefault(role, set()).add(e.get("host", ""))
    return {role: n[role] / len(hosts[role]) for role in n}


def bench(stack: str, work: Path, code: Path) -> dict:
    stacks = work / "stacks"
    (stacks / stack).mkdir(parents=True)
    spec = stacks / stack / "cluster.yaml"
    shutil.copy(ROOT / "stacks" / stack / "cluster.yaml", spec)
    env = {**os.environ, "NO_COLOR": "1", "FFINFRA_STACKS": str(stacks)}
    sys.path.insert(0, str(ROOT))
    from ffinfra.compile import compile_stack
    from ffinfra.stack import find_stack

    services = compile_stack(find_stack(str(stacks / stack))).topology.services
    ctl, node = services.slurm_controller, services.slurm_nodes[0]
    out: dict = {"stack": stack, "code": str(code), "steps": {}}

    def step(name: str, args: list[str]) -> None:
        wall, cpu, _ = _ffinfra(code, args, env, work)
        rec: dict = {"s": round(wall, 1), "cpu_s": round(cpu, 1)}
        if name != "down":
            run = _last_run(stacks / stack)
            summary = json.loads((run / "summary.json").read_text())
            results, tasks = task_times(run / "ansible.log")
            rec.update(
                tasks=len(tasks),
                phases=summary["phase_seconds"],
                changed=summary["changed"],
                decision=(summary.get("decision") or {}).get("reason", ""),
                results=results,
                slowest=[(round(s, 2), t) for s, t in tasks[:10]],
                log=str(run / "ansible.log"),
            )
        out["steps"][name] = rec

    try:
        step("first", ["up", stack])
        out["roles_per_host"] = per_role_tasks(Path(out["steps"]["first"]["log"]))
        step("rerun", ["up", stack])
        step("force", ["up", stack, "--force"])
        for host, cmd in ((ctl, "kill $(pgrep -x slurmctld)"), (node, "echo '# edit' >> /etc/slurm/slurm.conf")):
            _ffinfra(code, ["exec", stack, host, "--", "sh", "-c", cmd], env, work)
        step("repair", ["up", stack])
        spec.write_text(spec.read_text().replace("partitions:\n      - {name: ", "partitions:\n      - {name: x"))
        step("partition", ["up", stack])
        if Path(out["steps"]["partition"]["log"]).is_file():
            out["partition_roles_per_host"] = per_role_tasks(Path(out["steps"]["partition"]["log"]))
    finally:
        wall, cpu, _ = _ffinfra(code, ["down", stack], env, work)
        out["steps"]["down"] = {"s": round(wall, 1), "cpu_s": round(cpu, 1)}
    return out


# -- the ff2 model ------------------------------------------------------------------------------------------


def ff2_model(lab: dict) -> list[str]:
    """Estimate ff2's first up and one-file change from a lab measurement (see the assumptions printed)."""
    sys.path.insert(0, str(ROOT))
    from ffinfra.apply.ansible import MAX_FORKS
    from ffinfra.compile import compile_stack
    from ffinfra.stack import find_stack
    from ffinfra.topology.services import ROLES, SLURM_ROLES

    services = compile_stack(find_stack("ff2")).topology.services
    first, change = lab["steps"]["first"], lab["steps"]["partition"]
    cpu_per_result = first["cpu_s"] / max(1, first["results"])  # controller CPU per host-task, all included

    def results_for(roles: dict[str, float], only: tuple[str, ...] = ROLES) -> float:
        return sum(n * len(services.hosts_running(role)) for role, n in roles.items() if role in only)

    r_first = results_for(lab["roles_per_host"])
    r_change = results_for(lab.get("partition_roles_per_host") or lab["roles_per_host"], SLURM_ROLES)
    n_hosts = len(services.hosts)
    lines = [
        f"ff2 model: {n_hosts:,} hosts; host-task results: first up {r_first:,.0f} ({first['tasks']} tasks), "
        f"one-file Slurm change {r_change:,.0f} ({change['tasks']} tasks); controller CPU per host-task measured "
        f"here: {cpu_per_result * 1000:.0f} ms",
        f"{'control node':>14} {'forks':>6} {'first up':>10} {'one-file change':>16}",
    ]
    for cores in (2, 16, 32, 64):
        forks = min(10 * cores, MAX_FORKS)  # ffinfra's default_forks with enough memory
        est = []
        for results, tasks in ((r_first, first["tasks"]), (r_change, change["tasks"])):
            cpu_bound = results * cpu_per_result / cores
            latency = tasks * math.ceil(n_hosts / forks) * REMOTE_TASK_S
            est.append(max(cpu_bound, latency))
        lines.append(f"{cores:>8} cores {forks:>6} {est[0] / 60:>6.1f} min {est[1] / 60:>12.1f} min")
    lines += [
        "assumptions: the control node's CPU is the bottleneck, each host-task costing it what it costs here",
        "  (Ansible, Mitogen and ssh all included; the hosts do their own work in parallel); each role runs as",
        f"  many tasks per host as on the lab; a task's remote part takes {REMOTE_TASK_S} s on an idle host, and",
        "  each task waits for its slowest batch of `forks` hosts; forks as ffinfra sizes them (10 per core, at",
        "  most 256); no SSH, mirror or network limits. Package installs on fresh hosts (apt) are not in it.",
    ]
    return lines


# -- output -------------------------------------------------------------------------------------------------


def table(results: list[dict]) -> list[str]:
    lines = [f"{'stack':8} {'code':10} " + " ".join(f"{s:>10}" for s in STEPS) + f" {'forced changed':>15}"]
    for r in results:
        label = Path(r["code"]).name if r["code"] != str(ROOT) else "this"
        steps = r["steps"]
        lines.append(
            f"{r['stack']:8} {label[:10]:10} "
            + " ".join(f"{steps[s]['s']:>8.1f} s" if s in steps else f"{'-':>10}" for s in STEPS)
            + f" {steps.get('force', {}).get('changed', '-'):>15}"
        )
    return lines


def details(r: dict) -> list[str]:
    lines = []
    for name in STEPS:
        st = r["steps"].get(name)
        if not st:
            continue
        head = f"  {name}: {st['s']} s, CPU here {st['cpu_s']} s"
        if "phases" in st:
            head += f", {st['results']} host-task results; phases {st['phases']}"
            if st["decision"]:
                head += f"\n    decision: {st['decision']}"
        lines.append(head)
        for s, t in st.get("slowest", []):
            lines.append(f"    {s:6.2f} s  {t}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stacks", nargs="+", default=["lab", "lab16"])
    ap.add_argument("--against", metavar="REV", help="also run every step with this commit's code and roles")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/lab_up.py needs root (the lab provider makes namespaces and mounts)")
    results = []
    with tempfile.TemporaryDirectory(prefix="ffinfra-bench-") as tmp:
        codes = [ROOT]
        if args.against:
            old = Path(tmp) / f"at-{args.against[:10]}"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(old), args.against], check=True)
            codes.append(old)
        try:
            for stack in args.stacks:
                for i, code in enumerate(codes):
                    results.append(bench(stack, Path(tmp) / f"{stack}-{i}", code))
        finally:
            if args.against:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(codes[1])], check=False)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print("\n".join(table(results)))
    if args.against:
        for stack in args.stacks:
            new, old = (r for r in results if r["stack"] == stack)
            ratios = "  ".join(
                f"{s} ×{old['steps'][s]['s'] / max(new['steps'][s]['s'], 0.01):.1f}" for s in STEPS if s in new["steps"]
            )
            print(f"{stack}: {args.against[:10]} took, against this code: {ratios}")
    for r in results:
        print(f"\n{r['stack']} ({Path(r['code']).name if r['code'] != str(ROOT) else 'this code'}):")
        print("\n".join(details(r)))
    lab = next((r for r in results if r["stack"] == "lab" and r["code"] == str(ROOT)), None)
    if lab is not None:
        print()
        print("\n".join(ff2_model(lab)))


if __name__ == "__main__":
    main()
