"""Benchmark: how long `ffinfra plan` takes for one small change on Fire-Flyer 2 (target: under 2 s).

    .venv/bin/python bench/plan.py              # the table (best of 3 per case)
    .venv/bin/python bench/plan.py --repeat 5

Cases, each a base spec and a new spec written to a temporary folder:
  nccl-env    stacks/ff2 → the same plus one nccl.env variable (a hot reload: one file per GPU profile changes)
  grow-z0     stacks/ff2 with `count: 578` on gpu-z0 → stacks/ff2 (40 GPU nodes into reserved ports)
  no-change   stacks/ff2 → stacks/ff2

In-process phases (best of --repeat, each timed on its own): compile both sides (load, validate, place, cable),
build_plan (render both sides, diff spec, topology and files), and the Markdown report. `cli` is the wall time of
the whole command in a fresh process (`ffinfra diff BASE NEW --format markdown`, Python start-up and imports
included): what a reviewer or the PR workflow waits for.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ffinfra.compile import compile_stack  # noqa: E402
from ffinfra.plan.plan import build_plan  # noqa: E402
from ffinfra.plan.report import markdown  # noqa: E402
from ffinfra.stack import find_stack  # noqa: E402

TARGET_S = 2.0
RANGE = "    hostnames: gpu[0001-0618]"


def _with_count(text: str) -> str:
    lines = text.splitlines(keepends=True)
    (i,) = [n for n, line in enumerate(lines) if line.startswith(RANGE)]
    return "".join([*lines[: i + 1], "    count: 578\n", *lines[i + 1 :]])


# case → (the base, the new side), each made from the text of stacks/ff2/cluster.yaml
CASES: dict[str, tuple[Callable[[str], str], Callable[[str], str]]] = {
    "nccl-env": (lambda t: t, lambda t: t.replace("\nnccl:\n", "\nnccl:\n  env: {NCCL_IB_TIMEOUT: '22'}\n", 1)),
    "grow-z0": (_with_count, lambda t: t),
    "no-change": (lambda t: t, lambda t: t),
}


def _best(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def measure(name: str, workdir: Path, repeat: int) -> dict[str, object]:
    text = (ROOT / "stacks" / "ff2" / "cluster.yaml").read_text()
    base_edit, new_edit = CASES[name]
    base, new = base_edit(text), new_edit(text)
    assert name == "no-change" or new != base, f"{name}: the edit changed nothing"
    sides = {}
    for side, body in (("base", base), ("new", new)):
        d = workdir / name / side / "ff2"
        d.mkdir(parents=True)
        (d / "cluster.yaml").write_text(body)
        sides[side] = d
    ref_a, ref_b = find_stack(str(sides["base"])), find_stack(str(sides["new"]))
    t_compile, (a, b) = _best(lambda: (compile_stack(ref_a), compile_stack(ref_b)), repeat)  # type: ignore[misc]
    t_plan, plan = _best(lambda: build_plan(a, b, "base", "new"), repeat)
    t_md, md = _best(lambda: markdown(plan), repeat)  # type: ignore[arg-type]
    cmd = [
        str(Path(sys.executable).parent / "ffinfra"),
        "diff",
        str(sides["base"]),
        str(sides["new"]),
        "-f",
        "markdown",
    ]
    t_cli, proc = _best(lambda: subprocess.run(cmd, capture_output=True, text=True, check=False), repeat)
    assert proc.returncode in (0, 2), proc.stderr  # type: ignore[union-attr]
    return {
        "case": name,
        "rows": len(plan.rows),  # type: ignore[union-attr]
        "impact": plan.impact.label,  # type: ignore[union-attr]
        "compile": t_compile,
        "plan": t_plan,
        "markdown": t_md,
        "in_process": t_compile + t_plan + t_md,
        "cli": t_cli,
        "md_chars": len(md),  # type: ignore[arg-type]
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per phase; the best is reported")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated subset of: " + ", ".join(CASES))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ffinfra-bench-plan-") as tmp:
        results = [measure(c, Path(tmp), args.repeat) for c in args.cases.split(",")]
    head = (
        f"{'case':<10} {'impact':<16} {'rows':>4} {'compile×2 s':>11} {'build_plan s':>12} {'markdown s':>10} "
        f"{'in-process s':>12} {'cli s':>6} {'md chars':>8}"
    )
    print(f"ffinfra plan on stacks/ff2, best of {args.repeat}")
    print(head)
    print("-" * len(head))
    for r in results:
        print(
            f"{r['case']:<10} {r['impact']:<16} {r['rows']:>4} {r['compile']:>11.2f} {r['plan']:>12.2f} "
            f"{r['markdown']:>10.3f} {r['in_process']:>12.2f} {r['cli']:>6.2f} {r['md_chars']:>8}"
        )
    worst = max(float(r["cli"]) for r in results)  # type: ignore[arg-type]
    print(f"\nslowest command: {worst:.2f} s (target {TARGET_S:.0f} s): {'ok' if worst < TARGET_S else 'OVER TARGET'}")
    return 0 if worst < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
