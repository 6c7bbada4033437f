"""Benchmark parsers on real tool output (tests/data/tool-outputs/, sources in its INDEX.md).

A parser returns the figure a threshold is judged on, or raises ParseError with a reason; it never turns a
missing result into zero.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ffinfra.analysis.parsers import ParseError
from ffinfra.analysis.parsers.fio import parse_fio
from ffinfra.analysis.parsers.iperf3 import parse_iperf3
from ffinfra.analysis.parsers.nccl_tests import parse_nccl_tests
from ffinfra.analysis.parsers.perftest import parse_bw

DATA = Path(__file__).resolve().parents[2] / "data" / "tool-outputs"


def read(name: str) -> str:
    return (DATA / name).read_text()


# --- perftest


def test_ib_write_bw_gbits_report_with_cpu_warning_between_header_and_row():
    r = parse_bw(read("perftest_ib_write_bw_client_report-gbits_connectx5-roce-rdmacm_deepops.txt"))
    assert r.test == "RDMA_Write BW Test" and r.device == "mlx5_0" and r.link_type == "Ethernet"
    assert r.unit == "Gb/sec"
    assert [(row.bytes, row.iterations) for row in r.rows] == [(65536, 5000)]
    assert r.average_gbit == pytest.approx(92.40)


@pytest.mark.parametrize(("unit", "factor"), [("MB/sec", 8e6 / 1e9), ("MiB/sec", 8 * 1048576 / 1e9)])
def test_ib_write_bw_megabyte_units_convert_to_gbit(unit: str, factor: float):
    text = read("perftest_ib_write_bw_client_report-gbits_connectx5-roce-rdmacm_deepops.txt").replace("Gb/sec", unit)
    assert parse_bw(text).average_gbit == pytest.approx(92.40 * factor)


def test_ib_write_bw_without_a_table_is_an_error_not_zero():
    with pytest.raises(ParseError, match="no perftest bandwidth table"):
        parse_bw(" Couldn't connect to 10.0.0.2:18515\n Unable to init the socket connection\n")


# --- nccl-tests

SAMPLES = {
    # file: (rows, ranks, hosts, peak busbw of the largest size, trailer average)
    "nccl-tests_all_reduce_perf_h100-oci-bm.gpu.h100.8_2node16gpu_roce.txt": (5, 16, 2, 464.79, 458.452),
    "nccl-tests_all_reduce_perf_h100-a3mega_2node16gpu.txt": (31, 16, 2, 338.82, 70.742),
    "nccl-tests_all_reduce_perf_a100-sxm4-40gb-oci_1node8gpu_nGpus8.txt": (28, 8, 1, 235.21, 81.112),
    "nccl-tests_all_reduce_perf_a100-sxm4-40gb-oci_2node16gpu_ssh-warning-preamble.txt": (28, 16, 2, 71.56, 24.2272),
    "nccl-tests_all_reduce_perf_dgxa100_4node_legacy-error-col_table.txt": (13, 0, 0, 191.56, 113.289),
    "nccl-tests_all_reduce_perf_dgxa100_2node-k8s_legacy-error-col_table.txt": (30, 0, 0, 188.7, 53.7098),
    "nccl-tests_all_gather_perf_h100-a3high-tcpx_2node_wrong-NA.txt": (10, 0, 0, 71.35, 30.9622),
    "nccl-tests_all_gather_perf_h100-a3mega_2node_zero-size-rows.txt": (31, 0, 0, 188.9, 53.8932),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_nccl_tests_tables(name: str):
    rows, ranks, hosts, peak, avg = SAMPLES[name]
    r = parse_nccl_tests(read(name))
    assert len(r.rows) == rows
    assert r.ranks == ranks and len(r.hosts) == hosts
    assert r.peak_busbw == pytest.approx(peak)
    assert r.avg_busbw == pytest.approx(avg)
    assert r.out_of_bounds in (0, None) and r.wrong == 0


def test_nccl_tests_legacy_error_column_is_a_max_error_not_a_wrong_count():
    r = parse_nccl_tests(read("nccl-tests_all_reduce_perf_dgxa100_4node_legacy-error-col_table.txt"))
    assert r.rows[0].out_of_place.max_error == pytest.approx(7e-07)
    assert r.rows[0].out_of_place.wrong is None and r.rows[0].root is None


def test_nccl_tests_unchecked_rows_report_wrong_as_unknown():
    r = parse_nccl_tests(read("nccl-tests_all_gather_perf_h100-a3high-tcpx_2node_wrong-NA.txt"))
    assert all(row.in_place.wrong is None for row in r.rows)


def test_nccl_tests_zero_size_rows_are_kept():
    r = parse_nccl_tests(read("nccl-tests_all_gather_perf_h100-a3mega_2node_zero-size-rows.txt"))
    assert [row.size for row in r.rows[:5]] == [0] * 5


def test_nccl_tests_wrong_values_are_counted():
    text = read("nccl-tests_all_reduce_perf_h100-oci-bm.gpu.h100.8_2node16gpu_roce.txt")
    text = text.replace("464.57      0    69305", "464.57     12    69305")
    assert parse_nccl_tests(text).wrong == 12


def test_nccl_tests_failure_output_raises_with_the_reason():
    with pytest.raises(ParseError, match="invalid device ordinal"):
        parse_nccl_tests(read("nccl-tests_hypercube_perf_rtx5090_error-invalid-device-ordinal.txt"))


# --- iperf3 and fio (generated on a machine like this one; see INDEX.md)


def test_iperf3_json_receiver_bandwidth():
    one = parse_iperf3(read("iperf3_3.12_-J_tcp_1stream_loopback.json"))
    two = parse_iperf3(read("iperf3_3.12_-J_tcp_-P2_loopback.json"))
    assert (one.streams, two.streams) == (1, 2)
    assert two.received_gbit == pytest.approx(24.274, rel=1e-3)
    assert one.protocol == "TCP" and one.remote == "127.0.0.1" and one.retransmits == 0


def test_iperf3_error_json_and_text_raise():
    with pytest.raises(ParseError, match="unable to connect"):
        parse_iperf3(
            '{"start": {}, "intervals": [], "end": {}, "error": "unable to connect to server: Connection refused"}'
        )
    with pytest.raises(ParseError, match="not JSON"):
        parse_iperf3("iperf3: error - unable to connect to server")


def test_fio_json_after_a_job_preamble():
    jobs = parse_fio(read("fio_3.33_output-format-json_randread+seqread_stdout-with-preamble.txt"))
    assert [j.name for j in jobs] == ["randread", "seqread"]
    assert jobs[1].read.gbyte_per_s == pytest.approx(3.0145, rel=1e-3)
    assert jobs[0].read.iops == pytest.approx(13638.18, rel=1e-4)
    assert jobs[0].read.clat_p99_us == pytest.approx(104.96)
    assert jobs[0].write.bytes == 0 and jobs[0].error == 0


def test_fio_without_json_raises():
    with pytest.raises(ParseError, match="no JSON"):
        parse_fio("fio: pid=0, err=2/file:filesetup.c:174, func=open, error=No such file or directory\n")
