"""The runner's contract: suites by name in pipeline order, the pytest command line, and the CLI's errors."""

from __future__ import annotations

import pytest

from ffinfra.accept.runner import SUITES_DIR, check_suites, pytest_argv
from ffinfra.accept.storage import fio_command
from ffinfra.errors import UserError
from ffinfra.topology.thresholds import derive_thresholds


def test_suites_run_in_pipeline_order_whatever_the_order_given():
    assert check_suites(["training", "node"]) == ["node", "training"]


def test_an_unknown_suite_is_a_user_error_listing_the_known_ones():
    with pytest.raises(
        UserError, match=r"unknown suite 'netwrk' \(known: node, fabric, bandwidth, storage, training\)"
    ):
        check_suites(["netwrk"])


def test_every_suite_module_exists():
    for s in check_suites(["node", "fabric", "bandwidth", "storage", "training"]):
        assert (SUITES_DIR / f"test_{s}.py").is_file()


def test_pytest_runs_with_its_own_ini_our_plugin_and_junit(tmp_path):
    argv = pytest_argv("lab", tmp_path, ["node", "fabric"], keyword="daemons")
    assert argv[1:3] == ["-m", "pytest"]
    assert argv[argv.index("-c") + 1] == str(SUITES_DIR / "pytest.ini")
    assert argv[argv.index("-p") + 1] == "ffinfra.accept.plugin"
    assert f"--junitxml={tmp_path / 'junit.xml'}" in argv and "junit_suite_name=ffinfra-test-lab" in argv
    assert argv[argv.index("-k") + 1] == "daemons"
    assert argv[-2:] == [str(SUITES_DIR / "test_node.py"), str(SUITES_DIR / "test_fabric.py")]


def test_fio_runs_direct_sequential_io_with_json_output():
    cmd = fio_command("/var/lib/ffinfra/fio", "read", 256, "ffinfra")
    assert cmd.startswith("mkdir -p /var/lib/ffinfra/fio && fio --name=ffinfra --directory=/var/lib/ffinfra/fio ")
    assert "--rw=read --bs=1M --size=256M --direct=1" in cmd and cmd.endswith("--output-format=json")


def test_storage_pass_marks_come_from_the_spec_or_are_reported_only(compiled_stack):
    lab = {t.metric: t for t in derive_thresholds(compiled_stack("lab").topology)}
    assert (lab["fio_read"].value, lab["fio_read"].source) == (0.1, "spec: acceptance.fio_read_gbyte")
    assert lab["iperf3"].value == 2 and lab["iperf3"].source == "spec: acceptance.iperf3_gbit"
    ff2 = {t.metric: t for t in derive_thresholds(compiled_stack("ff2").topology)}
    assert ff2["fio_read"].value is None and ff2["fio_read"].source.startswith("no reference")


def test_test_on_a_stack_that_is_not_running_says_so(cli, tmp_path, stack_text):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "cluster.yaml").write_text(stack_text("lab"))
    code, out, err = cli("test", str(tmp_path / "s"), "-o", str(tmp_path / "out"))
    assert code == 1
    assert "is not running" in err and "ffinfra up" in err
    assert "Traceback" not in out + err


def test_test_rejects_an_unknown_suite_before_touching_anything(cli, tmp_path):
    code, _, err = cli("test", "lab", "--suite", "gpu")
    assert code == 1 and "unknown suite 'gpu'" in err


def test_test_waits_its_turn_while_up_or_down_holds_the_stack(cli, tmp_path, stack_text):
    from ffinfra.runtime.lock import stack_lock
    from ffinfra.runtime.paths import StackPaths

    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "cluster.yaml").write_text(stack_text("lab"))
    with stack_lock(StackPaths(tmp_path / "s").lock, "ffinfra up"):
        code, _, err = cli("test", str(tmp_path / "s"))
    assert code == 3
    assert "ffinfra up" in err and "holds the lock on this stack" in err


def test_progress_reads_each_complete_event_once(tmp_path):
    from ffinfra.accept.runner import _pump

    events, seen = tmp_path / "events.jsonl", []
    assert _pump(events, 0, seen.append) == 0  # no file yet
    events.write_text('{"info": "a"}\n{"info": "b"}\n{"inf')  # the last line is still being written
    offset = _pump(events, 0, seen.append)
    assert seen == [{"info": "a"}, {"info": "b"}]
    with events.open("a") as fh:
        fh.write('o": "c"}\n')
    _pump(events, offset, seen.append)
    assert seen == [{"info": "a"}, {"info": "b"}, {"info": "c"}]
