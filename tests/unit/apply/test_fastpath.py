"""The installed-file hash comparison shared by `up`'s fast path and the node acceptance suite."""

from __future__ import annotations

from ffinfra.apply.fastpath import file_drift, sha256_command


def test_the_command_hashes_every_file_and_tolerates_missing_ones():
    cmd = sha256_command({"/etc/b conf": "2", "/etc/a": "1"})
    assert cmd == "sha256sum /etc/a '/etc/b conf' 2>/dev/null; true"


def test_missing_and_changed_files_are_named_in_path_order():
    files = {"/etc/c": "cc", "/etc/a": "aa", "/etc/b": "bb"}
    out = "aa  /etc/a\nXX  /etc/c\n"  # /etc/b absent, /etc/c edited by hand
    assert file_drift(files, out) == [("/etc/b", "missing"), ("/etc/c", "changed")]
    assert file_drift({"/etc/a": "aa"}, out) == []
