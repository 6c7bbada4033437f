"""Run the acceptance suites: pytest in a child process (its JUnit XML is pytest's own), progress streamed from
the plugin's events, then results.json → Markdown and HTML, and --drain-failed.

    runs/<UTC stamp>/   context.json, pytest.log, events.jsonl, junit.xml, results.json, summary.md, report.html
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ffinfra.accept.context import ENV, RunContext
from ffinfra.accept.references import Reference, calibrate, save_references
from ffinfra.accept.results import SUITES, RunResults
from ffinfra.compile import Compiled
from ffinfra.errors import OperationalError, UserError
from ffinfra.runtime.lock import stack_lock
from ffinfra.runtime.paths import StackPaths
from ffinfra.runtime.runs import RunDir

SUITES_DIR = Path(__file__).with_name("suites")
Progress = Callable[[dict], None]


@dataclass
class TestOptions:
    provider: str = "lab"
    suites: list[str] = field(default_factory=lambda: list(SUITES))
    out_dir: Path | None = None
    drain_failed: bool = False
    python: str = ""
    repeats: int | None = None
    quick: bool = False
    keyword: str = ""  # pytest -k, to run some tests of a suite
    calibrate: float | None = None  # a tolerance: write references.yaml from this run's measurements
    suppress: list[str] = field(default_factory=list)


@dataclass
class TestRun:
    results: RunResults
    out_dir: Path
    returncode: int
    reports: dict[str, Path] = field(default_factory=dict)
    references: dict[str, Reference] = field(default_factory=dict)  # written by --calibrate
    references_path: Path | None = None


def check_suites(names: list[str]) -> list[str]:
    bad = [n for n in names if n not in SUITES]
    if bad:
        raise UserError(f"unknown suite {', '.join(map(repr, bad))} (known: {', '.join(SUITES)})")
    return [s for s in SUITES if s in names]  # always in pipeline order: node before fabric before ...


def pytest_argv(stack: str, out: Path, suites: list[str], keyword: str = "") -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(SUITES_DIR / "pytest.ini"),
        "--rootdir",
        str(SUITES_DIR),
        "-p",
        "ffinfra.accept.plugin",
        f"--junitxml={out / 'junit.xml'}",
        "-o",
        f"junit_suite_name=ffinfra-test-{stack}",
        "-rfEs",
        "-v",
        "--tb=short",
    ]
    if keyword:
        argv += ["-k", keyword]
    return argv + [str(SUITES_DIR / f"test_{s}.py") for s in suites]


def run_suites(c: Compiled, opts: TestOptions, progress: Progress) -> TestRun:
    """Run the suites under the stack's lock: an `up` or `down` meanwhile would fail the tests for nothing, so
    either waits its turn (and says who holds the lock)."""
    suites = check_suites(opts.suites)
    paths = StackPaths(c.stack.dir)
    with stack_lock(paths.lock, "ffinfra test"):
        return _run_suites(c, opts, progress, suites, paths)


def _run_suites(c: Compiled, opts: TestOptions, progress: Progress, suites: list[str], paths: StackPaths) -> TestRun:
    from ffinfra.accept.cluster import open_cluster
    from ffinfra.accept.drain import drain_failed
    from ffinfra.accept.report.html import render_html
    from ffinfra.accept.report.markdown import render_markdown

    ctx = RunContext(
        stack=str(c.stack.dir),
        provider=opts.provider,
        suites=suites,
        out_dir="",
        python=opts.python,
        repeats=opts.repeats,
        quick=opts.quick,
        suppress=list(opts.suppress),
    )
    # Fail fast, here, before any folder is made: the stack is not running, keys are missing, a node is unreachable.
    open_cluster(ctx).close()
    if opts.out_dir is not None:
        out = Path(opts.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for stale in ("events.jsonl", "results.json", "junit.xml", "summary.md", "report.html"):
            (out / stale).unlink(missing_ok=True)
    else:
        out = RunDir.create(paths.runs).path
    ctx.out_dir = str(out)
    ctx_path = out / "context.json"
    ctx.save(ctx_path)
    argv = pytest_argv(c.topology.name, out, suites, opts.keyword)
    env = {**os.environ, ENV: str(ctx_path), "PYTHONDONTWRITEBYTECODE": "1"}
    events = out / "events.jsonl"
    with (out / "pytest.log").open("w") as fh:
        fh.write(f"# {ENV}={ctx_path} {' '.join(argv)}\n")
        fh.flush()
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=str(out))
        offset = 0
        try:
            while True:
                done = proc.poll() is not None
                offset = _pump(events, offset, progress)
                if done:
                    break
                time.sleep(0.2)
        except BaseException:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    rc = proc.returncode
    results_path = out / "results.json"
    if not results_path.is_file():
        tail = "\n".join((out / "pytest.log").read_text(errors="replace").splitlines()[-25:])
        raise OperationalError(f"the acceptance run produced no results (pytest exit {rc}); {out}/pytest.log:\n{tail}")
    results = RunResults.load(results_path)
    if rc == 5 or not results.tests:
        raise OperationalError(f"no acceptance test ran (pytest exit {rc}); see {out}/pytest.log")
    if opts.drain_failed:
        cluster = open_cluster(ctx)
        try:
            results.drained = drain_failed(cluster, results)
        finally:
            cluster.close()
        results_path.write_text(results.to_json())
    reports = {"junit": out / "junit.xml", "json": results_path}
    reports["markdown"] = out / "summary.md"
    reports["markdown"].write_text(render_markdown(results))
    reports["html"] = out / "report.html"
    reports["html"].write_text(render_html(results, c.topology))
    run = TestRun(results, out, rc, reports)
    if opts.calibrate is not None:
        run.references = calibrate(results, opts.calibrate, out.name)
        if run.references:
            run.references_path = save_references(c.stack.dir, run.references, c.topology.name)
    return run


def _pump(events: Path, offset: int, progress: Progress) -> int:
    """Hand each complete new line of events.jsonl to `progress`; returns the offset read up to."""
    try:
        with events.open("rb") as fh:
            fh.seek(offset)
            chunk = fh.read()
    except FileNotFoundError:
        return offset
    end = chunk.rfind(b"\n") + 1  # a line still being written is read next time
    for line in chunk[:end].splitlines():
        progress(json.loads(line))
    return offset + end
