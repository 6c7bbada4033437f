"""Calibrated references: written from a run's medians, read back, and ranked between the spec and the hardware."""

from __future__ import annotations

import pytest

from ffinfra.accept.references import (
    Reference,
    apply_references,
    calibrate,
    load_references,
    save_references,
)
from ffinfra.accept.results import Measurement, RunResults, TestRecord
from ffinfra.errors import UserError
from ffinfra.topology.thresholds import Threshold


def _run(values: dict[str, list[float]]) -> RunResults:
    ms = [Measurement(metric, f"s{i}", v, "Gb/s") for metric, vs in values.items() for i, v in enumerate(vs)]
    return RunResults(
        "lab",
        "lab",
        ["bandwidth"],
        "2026-11-28T10:00:00Z",
        "2026-11-28T10:01:00Z",
        tests=[TestRecord("x", "bandwidth", "t", "passed", measurements=ms)],
    )


def test_calibration_takes_the_median_of_each_throughput_metric():
    refs = calibrate(_run({"iperf3": [9.0, 12.0, 10.0], "uplinks_exercised": [8.0]}), 0.2, "20261128T100000Z")
    assert list(refs) == ["iperf3"]  # counts are not calibrated
    r = refs["iperf3"]
    assert (r.value, r.tolerance, r.subjects, r.run) == (10.0, 0.2, 3, "20261128T100000Z")
    assert r.calibrated == "2026-11-28T10:01:00Z" and r.mark == 8.0


def test_references_round_trip_and_merge_with_earlier_ones(tmp_path):
    save_references(tmp_path, {"fio_read": Reference(value=1.5, unit="GB/s")}, "lab")
    save_references(tmp_path, calibrate(_run({"iperf3": [10.0]}), 0.1, "r2"), "lab")
    refs = load_references(tmp_path)
    assert set(refs) == {"fio_read", "iperf3"}
    assert refs["fio_read"].tolerance == 0.15 and refs["iperf3"].mark == 9.0
    text = (tmp_path / "references.yaml").read_text()
    assert text.startswith("# Calibrated references of stack 'lab'")
    assert text == (save_references(tmp_path, {}, "lab").read_text())  # deterministic


def test_no_file_means_no_references(tmp_path):
    assert load_references(tmp_path) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("iperf3: {value: -1, unit: Gb/s}\n", "iperf3.value: Input should be greater than 0"),
        ("gpus: {value: 8, unit: GPUs}\n", "'gpus' cannot be calibrated"),
        ("iperf3: {value: 9, unit: Gb/s, tolerence: 0.1}\n", "iperf3.tolerence: Extra inputs are not permitted"),
        ("- iperf3\n", "expected a mapping of metric → reference"),
        ("iperf3: {value: [\n", "not valid YAML"),
    ],
)
def test_a_bad_references_file_is_a_user_error_naming_the_file(tmp_path, text, message):
    (tmp_path / "references.yaml").write_text(text)
    with pytest.raises(UserError, match=r"references\.yaml") as exc:
        load_references(tmp_path)
    assert message in str(exc.value)


def test_the_spec_figure_beats_the_reference_which_beats_the_derived_one():
    thresholds = {
        "iperf3": Threshold("iperf3", 2.0, "Gb/s", "spec: acceptance.iperf3_gbit"),
        "ib_write_bw": Threshold("ib_write_bw", 180.0, "Gb/s", "90% of HDR (200 Gb/s)"),
    }
    refs = {
        "iperf3": Reference(value=10.0, unit="Gb/s", tolerance=0.1),
        "ib_write_bw": Reference(value=190.0, unit="Gb/s", tolerance=0.1, calibrated="2026-11-28T10:01:00Z"),
        "fio_read": Reference(value=2.0, unit="GB/s", tolerance=0.5),
    }
    out = apply_references(thresholds, refs)
    assert out["iperf3"] == thresholds["iperf3"]
    assert out["ib_write_bw"] == Threshold(
        "ib_write_bw", 171.0, "Gb/s", "calibrated 190 Gb/s − 10% (2026-11-28T10:01:00Z)"
    )
    assert out["fio_read"].value == 1.0  # a reference for a metric with no derived figure
