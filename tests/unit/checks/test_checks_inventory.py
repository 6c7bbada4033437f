"""The inventory CSV: facts override synthetic values; every bad cell is FF-INV-001 at its row and column."""

from __future__ import annotations

import pytest

from ffinfra.compile import compile_stack
from ffinfra.errors import SpecInvalid
from ffinfra.spec.findings import Severity

INVENTORY = "inventory: {csv: inv/nodes.csv}\n"


def _stack(make_stack, stack_text, csv: str | None):
    files = {} if csv is None else {"nodes.csv": csv}
    ref = make_stack(stack_text("lab") + INVENTORY, files)
    (ref.dir / "inv").mkdir()
    if csv is not None:
        (ref.dir / "nodes.csv").rename(ref.dir / "inv" / "nodes.csv")
    return ref


def test_facts_override_synthetic_values(make_stack, stack_text) -> None:
    csv = (
        "hostname,mac,bmc_address,serial,mgmt_ip,ib_guids\n"
        "cn01,AA:BB:CC:00:00:01,10.9.0.1,SN1,10.210.0.201,0x0002c90300000011\n"
        "\n"
        "st01,aa:bb:cc:00:00:02,,SN2,,\n"
    )
    c = compile_stack(_stack(make_stack, stack_text, csv))
    assert [f for f in c.findings if f.code != "FF-SPEC-002"] == []  # the lab's 3FS fields are noted: not used yet
    cn01 = c.topology.host_by_name["cn01"]
    assert (cn01.mac, cn01.serial, cn01.mgmt_ip, cn01.bmc_address) == (
        "aa:bb:cc:00:00:01",
        "SN1",
        "10.210.0.201",
        "10.9.0.1",
    )
    assert cn01.ports[0].node_guid == 0x0002C90300000011
    st01 = c.topology.host_by_name["st01"]
    assert st01.mac == "aa:bb:cc:00:00:02" and st01.mgmt_ip == "10.210.0.14"  # synthetic where the cell is empty
    assert c.topology.host_by_name["cn02"].mac is None


@pytest.mark.parametrize(
    ("csv", "line", "col", "needle"),
    [
        ("hostname,mac\ncn01,aa:bb\n", 2, 6, "bad MAC"),
        ("hostname,mac,ib_guids\ncn01,,0x1;guid\n", 2, 7, "bad GUID"),
        ("hostname,mac\ncn01\n", 2, 1, "1 cells, the header has 2"),
        ("hostname,mac\ncn01,\ncn01,\n", 3, 1, "listed twice (first on line 2)"),
        ("hostname,colour\ncn01,red\n", 1, 1, "unknown or missing columns: ['colour']"),
        ("mac\naa:bb:cc:dd:ee:ff\n", 1, 1, "unknown or missing columns: ['hostname']"),
        ("", 1, 1, "empty"),
        (None, 1, 1, "cannot read the inventory CSV"),
    ],
)
def test_bad_inventory_rows(make_stack, stack_text, csv, line, col, needle) -> None:
    with pytest.raises(SpecInvalid) as info:
        compile_stack(_stack(make_stack, stack_text, csv))
    found = [f for f in info.value.findings if f.code == "FF-INV-001"]
    assert len(found) == 1, [f.format() for f in info.value.findings]
    (f,) = found
    assert f.severity is Severity.ERROR
    assert needle in f.message
    assert f.location.file.endswith("inv/nodes.csv")
    assert (f.location.line, f.location.col) == (line, col)
