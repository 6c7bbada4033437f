"""3FS admin_cli tables (list-chains, list-nodes, list-targets) and the acceptance judgements on them.

Samples are in tests/data/3fs-admin/; its README says which one was captured from a real cluster (list-nodes.txt) and
which were constructed from upstream's source, with the upstream lines each column comes from.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from admin_tables import printed

from ffinfra.analysis.parsers import ParseError
from ffinfra.analysis.parsers.threefs_admin import (
    TargetState,
    chain_problems,
    node_problems,
    parse_list_chains,
    parse_list_nodes,
    parse_list_targets,
)

DATA = Path(__file__).resolve().parents[2] / "data"
PLACEMENT = DATA / "3fs-placement" / "cr-v5-k3-r6-d2"
EXPECTED_CHAINS = {int(row[0]) for row in list(csv.reader((PLACEMENT / "generated_chains.csv").open()))[1:]}
HOSTS = {"iZwz9e4meqsilq7pd7gs5iZ": ("MGMTD", "META", "STORAGE"), "iZwz9e4meqsilq7pd7gs5jZ": "STORAGE"}


def read(name: str) -> str:
    return (DATA / "3fs-admin" / name).read_text()


@pytest.mark.parametrize(
    "name",
    [
        "list-nodes.txt",
        "list-nodes_storage-heartbeat-failed.txt",
        "list-chains.txt",
        "list-chains_one-target-offline.txt",
        "list-chains_syncing.txt",
        "list-targets.txt",
    ],
)
def test_samples_are_laid_out_as_upstreams_printer_lays_out_their_cells(name: str):
    # list-nodes.txt was captured from a real cluster, so this also checks the Printer model the others were built with
    text = read(name)
    assert printed([re.split(r" {2,}", line) for line in text.splitlines()]) == text


# --- list-chains


def test_list_chains_of_a_healthy_cluster_reads_every_chain_and_target():
    chains = parse_list_chains(read("list-chains.txt"))
    assert [c.chain_id for c in chains] == sorted(EXPECTED_CHAINS)
    first = chains[0]
    assert (first.version, first.status, first.referenced_by, first.preferred_order) == (1, "SERVING", "1", ())
    assert first.targets == (
        TargetState(101000100101, "SERVING", "UPTODATE"),
        TargetState(101000200101, "SERVING", "UPTODATE"),
        TargetState(101000400101, "SERVING", "UPTODATE"),
    )


def test_a_healthy_cluster_has_no_chain_problems():
    assert chain_problems(parse_list_chains(read("list-chains.txt")), 3, EXPECTED_CHAINS) == []


def test_an_offline_target_is_a_problem_naming_its_chain_and_the_target():
    chains = parse_list_chains(read("list-chains_one-target-offline.txt"))
    assert chain_problems(chains, 3, EXPECTED_CHAINS) == [
        "chain 900100002: status SERVING(2/3), 2 of 3 targets SERVING-UPTODATE; not serving: "
        "101000500101(OFFLINE-OFFLINE)"
    ]


def test_a_syncing_chain_is_not_yet_fully_replicated():
    chains = parse_list_chains(read("list-chains_syncing.txt"))
    assert chain_problems(chains, 3) == [
        "chain 900100002: status SYNCING, 2 of 3 targets SERVING-UPTODATE; not serving: 101000500101(SYNCING-ONLINE)"
    ]
    assert chain_problems(chains, 2) == ["chain 900100002: status SYNCING; not serving: 101000500101(SYNCING-ONLINE)"]


def test_a_chain_missing_from_the_listing_is_a_problem():
    text = "".join(read("list-chains.txt").splitlines(keepends=True)[:-1])  # drop the last chain, 900200010
    assert chain_problems(parse_list_chains(text), 3, EXPECTED_CHAINS) == ["chain 900200010: missing from list-chains"]


def test_chains_with_fewer_targets_than_the_replication_are_problems_even_when_serving():
    assert chain_problems(parse_list_chains(read("list-chains.txt")), 4)[0] == (
        "chain 900100001: 3 of 4 targets SERVING-UPTODATE"
    )


def test_list_chains_rows_may_have_fewer_targets_than_the_header():
    text = printed(
        [
            ["ChainId", "ReferencedBy", "ChainVersion", "Status", "PreferredOrder", "Target", "Target"],
            ["1", "N/A", "4", "UNAVAILABLE", "[7,8]", "7(LASTSRV-OFFLINE)", "8(OFFLINE-OFFLINE)"],
            ["2", "1,2,...", "1", "SERVING", "[]", "9(SERVING-UPTODATE)"],
        ]
    )
    one, two = parse_list_chains(text)
    assert (one.referenced_by, one.preferred_order, one.status) == ("N/A", (7, 8), "UNAVAILABLE")
    assert two.targets == (TargetState(9, "SERVING", "UPTODATE"),)
    assert chain_problems([one, two], 1) == [
        "chain 1: status UNAVAILABLE, 0 of 1 targets SERVING-UPTODATE; "
        "not serving: 7(LASTSRV-OFFLINE) 8(OFFLINE-OFFLINE)"
    ]


def test_a_garbled_row_is_an_error_naming_its_line():
    lines = read("list-chains.txt").splitlines(keepends=True)
    lines[3] = "900100003 1 1 SERVING [] 101000100102(SERVING-UPTODATE)\n"
    with pytest.raises(ParseError, match="list-chains line 4: not aligned"):
        parse_list_chains("".join(lines))


def test_an_unknown_target_state_is_an_error_naming_its_line():
    text = read("list-chains.txt").replace("101000300102(SERVING-UPTODATE)", "101000300102(SERVING-UPTODAT)")
    with pytest.raises(ParseError, match=r"list-chains line 4: unreadable target '101000300102\(SERVING-UPTODAT\)'"):
        parse_list_chains(text)


def test_admin_cli_errors_and_other_tables_are_errors_not_empty_listings():
    # the error line as upstream's docs/add_storage_nodes_1.md shows it (for upload-chains)
    error = "Encounter error: 5007(Mgmtd::InvalidChainTable)\nTarget mismatch of ChainId(900100002).\n"
    with pytest.raises(ParseError, match=r"error at line 1: Encounter error: 5007\(Mgmtd::InvalidChainTable\) Target"):
        parse_list_chains(error)
    with pytest.raises(ParseError, match="list-chains line 1: expected the header"):
        parse_list_chains(read("list-nodes.txt"))
    with pytest.raises(ParseError, match="no table"):
        parse_list_chains("")


def test_verbose_and_profile_lines_around_the_table_are_skipped():
    text = "> Execute list-chains\n" + read("list-chains.txt") + "> Time: 12ms\n"
    assert len(parse_list_chains(text)) == len(EXPECTED_CHAINS)


# --- list-nodes


def test_list_nodes_captured_from_a_cluster():
    nodes = parse_list_nodes(read("list-nodes.txt"))
    assert [(n.node_id, n.type, n.status) for n in nodes] == [
        (1, "MGMTD", "PRIMARY_MGMTD"),
        (100, "META", "HEARTBEAT_CONNECTED"),
        (10001, "STORAGE", "HEARTBEAT_CONNECTED"),
        (10002, "STORAGE", "HEARTBEAT_CONNECTED"),
    ]
    mgmtd, meta = nodes[:2]
    assert mgmtd.last_heartbeat is None and meta.last_heartbeat == "2025-06-03 02:56:37"
    assert (meta.hostname, meta.pid, meta.tags, meta.config_version, meta.config_status) == (
        "iZwz9e4meqsilq7pd7gs5iZ",
        1,
        (),
        1,
        "UPTODATE",
    )
    assert meta.release_version == "250228-dev-1-999999-ee9a5cee"


def test_a_connected_cluster_has_no_node_problems():
    assert node_problems(parse_list_nodes(read("list-nodes.txt")), HOSTS) == []


def test_a_failed_storage_node_and_a_missing_service_are_node_problems():
    nodes = parse_list_nodes(read("list-nodes_storage-heartbeat-failed.txt"))
    assert node_problems(nodes, {**HOSTS, "iZwz9e4meqsilq7pd7gs5kZ": "STORAGE"}) == [
        "STORAGE 10002 on iZwz9e4meqsilq7pd7gs5jZ: HEARTBEAT_FAILED",
        "STORAGE on iZwz9e4meqsilq7pd7gs5kZ: missing from list-nodes",
    ]


def test_an_expected_node_type_that_3fs_does_not_have_is_a_caller_error():
    with pytest.raises(ValueError, match="unknown 3FS node type 'STORGE'"):
        node_problems([], {"host": "STORGE"})


def test_list_nodes_cells_are_cut_at_the_header_columns_so_an_empty_hostname_is_read():
    text = printed(
        [
            ["Id", "Type", "Status", "Hostname", "Pid", "Tags", "LastHeartbeatTime", "ConfigVersion", "ReleaseVersion"],
            ["10003", "STORAGE", "HEARTBEAT_CONNECTING", "", "0", "[]", "N/A", "0", "0.0.0-0-19700101-00000000"],
            ["10004", "STORAGE", "DISABLED", "s4", "9", "[rack=a,spare]", "N/A", "3(DIRTY)", "250228-dev-1-999999-x"],
        ]
    )
    empty, tagged = parse_list_nodes(text)
    assert (empty.hostname, empty.pid, empty.config_status, empty.connected) == ("", 0, None, False)
    assert (tagged.tags, tagged.config_version, tagged.config_status) == (("rack=a", "spare"), 3, "DIRTY")


def test_a_truncated_list_nodes_row_is_an_error_naming_its_line():
    text = read("list-nodes.txt").replace("  1(UPTODATE)    250228-dev-1-999999-ee9a5cee\n10001", "\n10001")
    with pytest.raises(ParseError, match="list-nodes line 3: 7 columns, expected 9"):
        parse_list_nodes(text)


# --- list-targets


def test_list_targets_reads_role_placement_and_state():
    targets = parse_list_targets(read("list-targets.txt"))
    assert len(targets) == 3 * len(EXPECTED_CHAINS)
    head, middle, tail = targets[:3]
    assert (head.target_id, head.chain_id, head.role, head.node_id, head.disk_index) == (
        101000100101,
        900100001,
        "HEAD",
        10001,
        0,
    )
    assert (middle.role, tail.role, tail.public_state, tail.local_state, tail.used_size) == (
        "MIDDLE",
        "TAIL",
        "SERVING",
        "UPTODATE",
        0,
    )
    placed = {(t.target_id, t.node_id, t.disk_index) for t in targets}
    commands = (PLACEMENT / "create_target_cmd.txt").read_text()
    created = re.findall(r"--node-id (\d+) --disk-index (\d+) --target-id (\d+)", commands)
    assert placed == {(int(t), int(n), int(d)) for n, d, t in created}


def test_list_targets_without_a_node_reads_none():
    text = printed(
        [
            ["TargetId", "ChainId", "Role", "PublicState", "LocalState", "NodeId", "DiskIndex", "UsedSize"],
            ["7", "1", "TAIL", "OFFLINE", "OFFLINE", "N/A", "N/A", "0"],
        ]
    )
    (target,) = parse_list_targets(text)
    assert (target.node_id, target.disk_index) == (None, None)
