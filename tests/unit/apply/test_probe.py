"""The one-command-per-node probe: installed files' hashes and running daemons, read as the fast path, `up`'s
closing checks and `status` see them."""

from __future__ import annotations

from ffinfra.apply.probe import MARK, file_drift, parse_probe, probe_command, sha256_command, units_command


def test_the_command_hashes_every_file_and_tolerates_missing_ones():
    cmd = sha256_command({"/etc/b conf": "2", "/etc/a": "1"})
    assert cmd == "sha256sum /etc/a '/etc/b conf' 2>/dev/null; true"
    assert sha256_command({}) == "true"


def test_missing_and_changed_files_are_named_in_path_order():
    files = {"/etc/c": "cc", "/etc/a": "aa", "/etc/b": "bb"}
    out = "aa  /etc/a\nXX  /etc/c\n"  # /etc/b absent, /etc/c edited by hand
    assert file_drift(files, out) == [("/etc/b", "missing"), ("/etc/c", "changed")]
    assert file_drift({"/etc/a": "aa"}, out) == []


def test_units_are_asked_of_systemd_one_by_one():
    cmd = units_command(["slurmd", "ffinfra-opensm@z0"])
    assert "systemctl is-active" in cmd and "slurmd ffinfra-opensm@z0" in cmd
    assert units_command([]) == "true"


def test_one_output_gives_files_and_unit_states():
    files = {"/etc/slurm/slurm.conf": "aa", "/etc/hosts": "bb"}
    out = f"aa  /etc/slurm/slurm.conf\ncc  /etc/hosts\n{MARK}\nactive ssh\nfailed slurmd\nactivating munge\n"
    p = parse_probe("cn01", files, ["ssh", "slurmd", "munge"], out)
    assert p.drifted == [("/etc/hosts", "changed")]
    assert p.down == [("slurmd", "failed"), ("munge", "activating")] and p.down_units == ["slurmd", "munge"]
    assert not p.healthy
    assert p.problems() == ["/etc/hosts changed", "slurmd is failed", "munge is activating"]
    assert MARK in probe_command(files, ["ssh"])


def test_a_unit_systemd_does_not_report_is_not_taken_for_active():
    p = parse_probe("cn01", {}, ["slurmd"], f"{MARK}\n")
    assert p.down == [("slurmd", "unknown")]


def test_output_without_the_marker_is_an_unreadable_node_not_a_healthy_one():
    p = parse_probe("cn01", {"/etc/hosts": "bb"}, ["sshd"], "sh: 1: sha256sum: not found\n")
    assert p.error and not p.healthy and "cannot read the node" in p.problems()[0]
