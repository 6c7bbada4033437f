"""The pytest plugin of the acceptance suites (loaded with `-p ffinfra.accept.plugin`).

It opens the cluster once per session, parametrises tests by what they are about (`node`, `subnet`,
`storage_node`, `fuse_host`, `bw_round`), hands every test an `evidence` fixture for its measurements and
culprits, and writes results.json plus a live events.jsonl that the runner turns into progress lines.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from ffinfra.accept.cluster import Cluster, context_path, open_cluster
from ffinfra.accept.context import RunContext
from ffinfra.accept.results import Measurement, RunResults, TestRecord
from ffinfra.topology.thresholds import Threshold

CLUSTER = pytest.StashKey[Cluster]()
RESULTS = pytest.StashKey[RunResults]()
EVIDENCE = pytest.StashKey["Evidence"]()


class Evidence:
    """What a test measured and whom its failure points at; read back after the test by the plugin."""

    def __init__(self) -> None:
        self.measurements: list[Measurement] = []
        self.culprits: list[str] = []
        self.notes: list[str] = []

    def measure(
        self,
        metric: str,
        subject: str,
        value: float | None,
        unit: str,
        threshold: Threshold | None = None,
        *,
        samples: list[float] | None = None,
        **extra: object,
    ) -> Measurement:
        mark = threshold.value if threshold else None
        ok = None if mark is None else value is not None and value >= mark  # no value against a mark fails
        m = Measurement(
            metric,
            subject,
            None if value is None else round(value, 4),
            unit,
            mark,
            threshold.source if threshold else "",
            ok,
            [round(s, 4) for s in (samples or [])],
            dict(extra),
        )
        self.measurements.append(m)
        return m

    def blame(self, *culprits: str) -> None:
        for c in culprits:
            if c not in self.culprits:
                self.culprits.append(c)

    def note(self, text: str) -> None:
        self.notes.append(text)


def pytest_configure(config: pytest.Config) -> None:
    ctx = RunContext.load(context_path())
    config.stash[CLUSTER] = open_cluster(ctx)
    c = config.stash[CLUSTER]
    config.stash[RESULTS] = RunResults(
        stack=c.topo.name,
        provider=ctx.provider,
        suites=list(ctx.suites),
        started=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        thresholds={t.metric: {"value": t.value, "unit": t.unit, "source": t.source} for t in c.thresholds.values()},
    )
    config._ffinfra_t0 = time.monotonic()  # type: ignore[attr-defined]


def pytest_unconfigure(config: pytest.Config) -> None:
    c = config.stash.get(CLUSTER, None)
    if c is not None:
        c.close()


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest) -> Cluster:
    return request.config.stash[CLUSTER]


@pytest.fixture(scope="session")
def say(request: pytest.FixtureRequest):
    """say("round 1/2 ...") shows a progress line in `ffinfra test` while a long step runs."""
    out = Path(request.config.stash[CLUSTER].ctx.out_dir) / "events.jsonl"

    def emit(text: str) -> None:
        with out.open("a") as fh:
            fh.write(json.dumps({"info": text}) + "\n")

    return emit


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    ev = Evidence()
    request.node.stash[EVIDENCE] = ev
    return ev


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    c = metafunc.config.stash[CLUSTER]
    topo = c.topo
    by_fixture = {
        "node": [h.name for h in topo.hosts],
        "subnet": [sn.name for sn in topo.subnets],
        "fuse_host": list(topo.threefs.fuse) if topo.threefs else [],
    }
    if "storage_node" in metafunc.fixturenames:  # 3FS clients when it is mounted, else the storage nodes
        hosts = list(c.storage.hosts)
        metafunc.parametrize("storage_node", hosts, ids=hosts)
    if "bw_round" in metafunc.fixturenames:
        from ffinfra.accept.bandwidth import rounds

        n = len(rounds(topo, host_level=True))
        metafunc.parametrize("bw_round", list(range(n)), ids=[f"r{i}" for i in range(n)])
    for name, values in by_fixture.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, values, ids=values)


def _suite(item: pytest.Item) -> str:
    return Path(str(item.fspath)).stem.removeprefix("test_")


def _message(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        msg = crash.message
        for prefix in ("Failed: ", "AssertionError: "):
            msg = msg.removeprefix(prefix)
        return msg.split("\nassert ")[0].strip()
    return str(report.longrepr or "")[-2000:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    done = report.when == "call" or (report.when == "setup" and not report.passed)
    if report.when == "teardown" and report.failed:
        done = True
    if not done:
        return
    ev = item.stash.get(EVIDENCE, None) or Evidence()
    if report.passed:
        status = "passed"
    elif report.skipped:
        status = "skipped"
    else:
        status = "failed" if report.when == "call" else "error"
    rec = TestRecord(
        nodeid=item.nodeid,
        suite=_suite(item),
        name=item.name,
        outcome=status,
        message="" if report.passed else _message(report),
        seconds=round(report.duration, 3),
        culprits=list(ev.culprits) if status in ("failed", "error") else [],
        measurements=ev.measurements,
        notes=ev.notes,
    )
    results = item.config.stash[RESULTS]
    results.tests = [t for t in results.tests if t.nodeid != rec.nodeid] + [rec]
    out = Path(item.config.stash[CLUSTER].ctx.out_dir)
    with (out / "events.jsonl").open("a") as fh:
        fh.write(json.dumps({"test": rec.name, "suite": rec.suite, "outcome": status, "message": rec.message}) + "\n")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    results = session.config.stash.get(RESULTS, None)
    c = session.config.stash.get(CLUSTER, None)
    if results is None or c is None:
        return
    results.finished = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    results.seconds = round(time.monotonic() - session.config._ffinfra_t0, 1)  # type: ignore[attr-defined]
    (Path(c.ctx.out_dir) / "results.json").write_text(results.to_json())
