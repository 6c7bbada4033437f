"""Benchmark: `ffinfra up` from nothing to green, and a no-change re-run, on the lab stacks (needs root).

    sudo .venv/bin/python bench/lab_up.py                 # lab and lab16
    sudo .venv/bin/python bench/lab_up.py --stacks lab    # one stack

For each stack, each step timed: `ffinfra up` from nothing (phases from the run's summary.json); `ffinfra up`
again (nothing changed: Ansible is skipped after the live file and daemon probe); `ffinfra up --force` (Ansible
runs and must report 0 changed); a repair (slurmctld stopped and slurm.conf edited by hand on a compute node: only
their roles run, on those hosts); a partition change (a hot reload: `scontrol reconfigure`); `ffinfra down`. Each
stack is copied into a temporary stacks/ folder (FFINFRA_STACKS), so the working tree's stacks/ are not touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = str(ROOT / ".venv" / "bin" / "ffinfra")


def _ffinfra(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.monotonic()
    r = subprocess.run([EXE, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=1200)
    return time.monotonic() - t0, r


def _summary(stack_dir: Path) -> dict:
    last = sorted((stack_dir / "runs").iterdir())[-1]
    return json.loads((last / "summary.json").read_text())


def _controller_and_node(stack_dir: Path) -> tuple[str, str]:
    sys.path.insert(0, str(ROOT))
    from ffinfra.compile import compile_stack
    from ffinfra.stack import find_stack

    services = compile_stack(find_stack(str(stack_dir))).topology.services
    return services.slurm_controller, services.slurm_nodes[0]


def bench(stack: str, work: Path) -> dict:
    stacks = work / "stacks"
    (stacks / stack).mkdir(parents=True)
    shutil.copy(ROOT / "stacks" / stack / "cluster.yaml", stacks / stack / "cluster.yaml")
    env = {**os.environ, "NO_COLOR": "1", "FFINFRA_STACKS": str(stacks)}
    out: dict = {"stack": stack}
    try:
        first, r = _ffinfra(["up", stack], env, work)
        if r.returncode != 0:
            raise SystemExit(f"{stack}: first up failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        s1 = _summary(stacks / stack)
        second, r = _ffinfra(["up", stack], env, work)
        if r.returncode != 0:
            raise SystemExit(f"{stack}: re-run failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        s2 = _summary(stacks / stack)
        forced, r = _ffinfra(["up", stack, "--force"], env, work)
        if r.returncode != 0:
            raise SystemExit(f"{stack}: forced re-run failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        s3 = _summary(stacks / stack)
        out.update(
            forced_s=round(forced, 1),
            forced_changed=s3["changed"],
        )
        ctl, node = _controller_and_node(stacks / stack)
        for host, cmd in ((ctl, "kill $(pgrep -x slurmctld)"), (node, "echo '# edit' >> /etc/slurm/slurm.conf")):
            _ffinfra(["exec", stack, host, "--", "sh", "-c", cmd], env, work)
        repair, r = _ffinfra(["up", stack], env, work)
        if r.returncode != 0:
            raise SystemExit(f"{stack}: repair failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        s4 = _summary(stacks / stack)
        spec = stacks / stack / "cluster.yaml"
        spec.write_text(spec.read_text().replace("partitions:\n      - {name: ", "partitions:\n      - {name: x"))
        partition, r = _ffinfra(["up", stack], env, work)
        if r.returncode != 0:
            raise SystemExit(f"{stack}: partition change failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        s5 = _summary(stacks / stack)
        out.update(
            repair_s=round(repair, 1),
            partition_s=round(partition, 1),
            repair_phases=s4["phase_seconds"],
            partition_phases=s5["phase_seconds"],
            decisions={k: (s["decision"] or {}).get("reason", "") for k, s in (("repair", s4), ("partition", s5))},
        )
        out.update(
            first_s=round(first, 1),
            first_phases=s1["phase_seconds"],
            first_changed=s1["changed"],
            rerun_s=round(second, 1),
            rerun_phases=s2["phase_seconds"],
            rerun_changed=s2["changed"],
            speedup=round(first / second, 1),
        )
    finally:
        down, r = _ffinfra(["down", stack], env, work)
        out["down_s"] = round(down, 1)
        if r.returncode != 0:
            print(f"{stack}: down failed: {r.stdout}{r.stderr}", file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stacks", nargs="+", default=["lab", "lab16"])
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench/lab_up.py needs root (the lab provider makes namespaces and mounts)")
    results = []
    with tempfile.TemporaryDirectory(prefix="ffinfra-bench-") as tmp:
        for stack in args.stacks:
            results.append(bench(stack, Path(tmp) / stack))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(
        f"{'stack':8} {'nodes→green':>12} {'re-run':>8} {'speedup':>8} {'forced re-run':>14} {'changed':>8} "
        f"{'repair':>8} {'partition':>10} {'down':>6}"
    )
    for r in results:
        print(
            f"{r['stack']:8} {r['first_s']:>10.1f} s {r['rerun_s']:>6.1f} s {r['speedup']:>7.1f}x "
            f"{r['forced_s']:>12.1f} s {r['forced_changed']:>8} {r['repair_s']:>6.1f} s {r['partition_s']:>8.1f} s "
            f"{r['down_s']:>4.1f} s"
        )
        print(f"         first: {r['first_phases']}\n         re-run: {r['rerun_phases']}")
        print(f"         repair: {r['repair_phases']}  ({r['decisions']['repair']})")
        print(f"         partition: {r['partition_phases']}  ({r['decisions']['partition']})")


if __name__ == "__main__":
    main()
