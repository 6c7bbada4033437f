"""A node's lifecycle state moves forward as its boot is seen, survives a restart of ffinfra, and goes back only
when ffinfra powers the node on again."""

from __future__ import annotations

from pathlib import Path

from ffinfra.apply.baremetal.machine import NodeBook


def test_states_move_forward_and_are_kept_on_disk(tmp_path: Path) -> None:
    book = NodeBook(tmp_path / "nodes.json")
    assert book.get("n1", "52:54:00:00:00:01", "10.0.0.10").state == "registered"
    book.move("n1", "powering_on", powered_on_at=100.0)
    book.move("n1", "dhcp_seen")
    book.move("n1", "reported", boot_id="b1")
    book.move("n1", "dhcp_seen")  # a late log line does not move it back
    again = NodeBook(tmp_path / "nodes.json")  # a new run reads what the last one left
    rec = again.nodes["n1"]
    assert (rec.state, rec.boot_id, rec.powered_on_at) == ("reported", "b1", 100.0)
    assert [h.split("@")[0] for h in rec.history] == ["registered", "powering_on", "dhcp_seen", "reported"]


def test_power_on_starts_a_new_boot(tmp_path: Path) -> None:
    book = NodeBook(tmp_path / "nodes.json")
    book.get("n1", "52:54:00:00:00:01")
    book.move("n1", "reachable")
    book.move("n1", "powering_on", powered_on_at=200.0)
    assert book.nodes["n1"].state == "powering_on"


def test_another_boot_mac_under_the_same_name_starts_over(tmp_path: Path) -> None:
    book = NodeBook(tmp_path / "nodes.json")
    book.get("n1", "52:54:00:00:00:01")
    book.move("n1", "reachable")
    assert book.get("n1", "52:54:00:00:00:02").state == "registered"


def test_an_error_is_kept_until_the_node_moves_on(tmp_path: Path) -> None:
    book = NodeBook(tmp_path / "nodes.json")
    book.get("n1")
    book.move("n1", "powering_on")
    book.fail("n1", "no DHCP request seen")
    assert NodeBook(tmp_path / "nodes.json").nodes["n1"].error == "no DHCP request seen"
    book.move("n1", "dhcp_seen")
    assert book.nodes["n1"].error == ""
