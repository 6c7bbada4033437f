"""results.json round trip, drain decisions, and the Markdown and HTML reports rendered from it."""

from __future__ import annotations

import fnmatch
import tomllib
from importlib import resources
from pathlib import Path

from ffinfra.accept.drain import drain_plan
from ffinfra.accept.report.heatmap import heatmap_svg
from ffinfra.accept.report.html import render_html
from ffinfra.accept.report.markdown import render_markdown
from ffinfra.accept.results import Measurement, RunResults, TestRecord


def _results() -> RunResults:
    bw = [
        Measurement(
            "iperf3",
            "cn01→cn02",
            9.5,
            "Gb/s",
            2.0,
            "spec",
            True,
            [9.5],
            {"a": "cn01", "b": "cn02", "uplinks": ["z0-lf01#0", "z0-lf02#0"]},
        ),
        Measurement(
            "iperf3",
            "cn03→cn04",
            0.48,
            "Gb/s",
            2.0,
            "spec",
            False,
            [0.47, 0.48],
            {"a": "cn03", "b": "cn04", "uplinks": ["z0-lf03#0", "z0-lf04#0"]},
        ),
    ]
    return RunResults(
        stack="lab",
        provider="lab",
        suites=["node", "bandwidth", "fabric"],
        started="2026-11-28T10:00:00Z",
        finished="2026-11-28T10:01:00Z",
        seconds=60.0,
        thresholds={"iperf3": {"value": 2.0, "unit": "Gb/s", "source": "spec"}},
        tests=[
            TestRecord(
                "s/test_node.py::test_daemons_running[cn02]",
                "node",
                "test_daemons_running[cn02]",
                "failed",
                "cn02: slurmd not running",
                0.1,
                ["cn02"],
            ),
            TestRecord("s/test_node.py::test_daemons_running[cn01]", "node", "test_daemons_running[cn01]", "passed"),
            TestRecord(
                "s/test_bandwidth.py::test_round[r0]",
                "bandwidth",
                "test_round[r0]",
                "failed",
                "round 0: cn03→cn04 | slow",
                8.0,
                ["cn03", "z0-lf03#0"],
                bw,
            ),
            TestRecord(
                "s/test_fabric.py::test_cabling_matches_plan[z0]",
                "fabric",
                "test_cabling_matches_plan[z0]",
                "failed",
                "missing cable",
                1.0,
                ["z0-lf01[4]"],
            ),
            TestRecord("s/test_node.py::test_gpus[cn01]", "node", "test_gpus[cn01]", "skipped", "no GPUs"),
        ],
    )


def test_results_round_trip_through_json(tmp_path):
    r = _results()
    (tmp_path / "r.json").write_text(r.to_json())
    back = RunResults.load(tmp_path / "r.json")
    assert back == r
    assert not back.ok and back.count("failed") == 3 and back.count("skipped") == 1


def test_drain_plan_names_slurm_nodes_only_with_the_failed_tests_as_reason(compiled_stack):
    plan = drain_plan(compiled_stack("lab").topology, _results())
    # switch ports and uplinks are not Slurm nodes; st01/ctl01 would not be either
    assert plan == {
        "cn02": "ffinfra test failed: node/test_daemons_running",
        "cn03": "ffinfra test failed: bandwidth/test_round",
    }


def test_markdown_summary_lists_failures_with_culprits_and_measurements():
    md = render_markdown(_results())
    assert md.startswith("# ffinfra test — lab: FAILED\n")
    assert "| ❌ `node/test_daemons_running[cn02]` | cn02 | cn02: slurmd not running |" in md
    assert "round 0: cn03→cn04 \\| slow" in md  # table cells are escaped
    assert "| bandwidth/iperf3 | cn03→cn04 | 0.48 Gb/s ❌ | ≥ 2 Gb/s | spec |" in md
    assert "- `node/test_gpus[cn01]`: no GPUs" in md


def test_html_report_has_both_heatmaps_and_is_deterministic(compiled_stack):
    topo = compiled_stack("lab").topology
    html = render_html(_results(), topo)
    assert html == render_html(_results(), topo)
    assert html.count("<svg") == 2
    assert "cn03 → cn04: 0.48 Gb/s" in html  # a pair cell's tooltip
    assert "z0-lf03 → uplink 0: 0.48 Gb/s" in html  # a leaf-uplink cell's tooltip
    assert "<script" not in html


def test_html_report_shows_what_the_cluster_wrote_as_text_never_as_markup(compiled_stack):
    r = _results()
    r.tests.append(
        TestRecord(
            "s/test_node.py::test_x[<script>alert(1)</script>]",
            "node",
            "test_x[<script>alert(1)</script>]",
            "failed",
            "sshd said <script>alert(2)</script> & left",
            1.0,
            ["<b>cn01</b>"],
            notes=["<img src=x onerror=alert(3)>"],
        )
    )
    r.tests[2].measurements[0].extra["a"] = "<script>alert(4)</script>"
    html = render_html(r, compiled_stack("lab").topology)
    assert "<script" not in html and "<img" not in html and "<b>cn01" not in html
    assert "<code>test_x[&lt;script&gt;alert(1)&lt;/script&gt;]</code>" in html
    assert "sshd said &lt;script&gt;alert(2)&lt;/script&gt; &amp; left" in html
    assert "<i>&lt;img src=x onerror=alert(3)&gt;</i>" in html  # the note is still in italics
    assert "&lt;script&gt;alert(4)&lt;/script&gt; → cn02" in html  # a heatmap tooltip, inside the SVG


def test_the_report_templates_ship_as_package_data():
    pyproject = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["ffinfra.accept.report"]
    folder = resources.files("ffinfra.accept.report") / "templates"
    names = sorted(f"templates/{t.name}" for t in folder.iterdir())
    assert names == ["templates/heatmap.svg.j2", "templates/report.html.j2"]
    assert all(any(fnmatch.fnmatch(n, g) for g in globs) for n in names)


def test_heatmap_cells_are_red_below_the_mark_green_above_grey_unmeasured():
    svg = heatmap_svg("t", ["a", "b"], ["a", "b"], {("a", "b"): 1.0, ("b", "a"): 4.0}, 2.0, "Gb/s")
    cells = [line for line in svg.splitlines() if line.startswith("<rect")]
    fills = [c.split('fill="')[1].split('"')[0] for c in cells]
    assert fills[0] == fills[3] == "#d9d9d9"  # a→a, b→b: not measured
    red, green = fills[1], fills[2]
    r, g, _ = (int(x) for x in red[4:-1].split(","))
    assert r > 200 and g < 100
    r, g, _ = (int(x) for x in green[4:-1].split(","))
    assert g > r


def test_an_uplink_is_red_only_when_every_direction_over_it_was_slow(compiled_stack):
    r = _results()
    r.tests[2].measurements.append(
        Measurement(
            "iperf3",
            "cn04→cn03",
            8.0,
            "Gb/s",
            2.0,
            "spec",
            True,
            [8.0],
            {"a": "cn04", "b": "cn03", "uplinks": ["z0-lf04#0", "z0-lf03#0"]},
        )
    )
    html = render_html(r, compiled_stack("lab").topology)
    assert "z0-lf03 → uplink 0: 8.00 Gb/s" in html  # cn03's slow sending does not paint lf03's uplink
