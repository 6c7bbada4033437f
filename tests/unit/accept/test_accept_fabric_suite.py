"""One fault, one failure: the fabric suite, run by the real plugin on fabrics captured from ibsim with one
cabling fault each (tests/unit/accept/fabric_replay.py answers its commands), fails test_cabling_matches_plan
with the switch ports to visit, and no other test: the routing tests judge OpenSM's routing of the cables that
exist, or stand aside where their rules do not apply to them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from ffinfra.accept.context import ENV, RunContext
from ffinfra.accept.results import RunResults
from ffinfra.accept.runner import pytest_argv

HERE = Path(__file__).resolve().parent
DIFFERS = "the cabling differs from the plan: see test_cabling_matches_plan"


def _replay(fault: str, tmp_path: Path) -> dict[str, tuple[str, str, list[str], list[str]]]:
    """test name → (outcome, message, culprits, notes) of the fabric suite on the captured `fault`."""
    ctx = RunContext(stack="replay", provider="replay", suites=["fabric"], out_dir=str(tmp_path))
    ctx.save(tmp_path / "context.json")
    argv = [*pytest_argv("replay", tmp_path, ["fabric"]), "-p", "fabric_replay", "-q"]
    env = dict(os.environ, FFINFRA_REPLAY_FABRIC=fault)
    env[ENV] = str(tmp_path / "context.json")
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(HERE.parent / "analysis"), env.get("PYTHONPATH", "")])
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert (tmp_path / "results.json").is_file(), run.stdout[-3000:] + run.stderr[-3000:]
    results = RunResults.load(tmp_path / "results.json")
    return {t.name.removesuffix("[z0]"): (t.outcome, t.message, t.culprits, t.notes) for t in results.tests}


ROUTING = ("test_routing_engine", "test_every_route_delivers", "test_routes_spread_over_uplinks")


def test_a_fabric_cabled_as_planned_passes_every_test(tmp_path):
    got = _replay("healthy", tmp_path)
    assert {name: outcome for name, (outcome, *_) in got.items()} == dict.fromkeys(
        ("test_cabling_matches_plan", *ROUTING, "test_leaf_spine_leaf_path"), "passed"
    )


@pytest.mark.parametrize(
    ("fault", "culprits"),
    [
        ("swapped_hosts", ["z0-lf01[1]", "z0-lf01[2]"]),
        ("swapped_uplinks", ["z0-lf01[3]", "z0-sp02[1]", "z0-sp01[1]", "z0-lf01[4]"]),
    ],
)
def test_two_cables_swapped_on_a_leaf_fail_the_cabling_test_only(tmp_path, fault, culprits):
    got = _replay(fault, tmp_path)
    outcome, message, blamed, _ = got.pop("test_cabling_matches_plan")
    assert (outcome, blamed) == ("failed", culprits)
    assert message.startswith("subnet z0: 2 cabling problem(s): cable in the wrong port: z0-lf01[")
    assert {name: outcome for name, (outcome, *_) in got.items()} == dict.fromkeys(
        (*ROUTING, "test_leaf_spine_leaf_path"), "passed"
    )
    assert f"{DIFFERS}; routes were followed over the cables as found" in got["test_every_route_delivers"][3]


def test_a_missing_uplink_fails_the_cabling_test_and_the_balance_test_stands_aside(tmp_path):
    got = _replay("missing_uplink", tmp_path)
    outcome, message, blamed, _ = got.pop("test_cabling_matches_plan")
    assert (outcome, blamed) == ("failed", ["z0-lf01[4]", "z0-sp02[1]"])
    assert (
        message == "subnet z0: 1 cabling problem(s): missing cable: z0-lf01[4] should connect to z0-sp02[1]: "
        "the port is empty"
    )
    outcome, message, *_ = got.pop("test_routes_spread_over_uplinks")
    assert outcome == "skipped" and message.startswith(DIFFERS)
    assert {name: outcome for name, (outcome, *_) in got.items()} == dict.fromkeys(
        ("test_routing_engine", "test_every_route_delivers", "test_leaf_spine_leaf_path"), "passed"
    )
