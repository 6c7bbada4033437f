"""Each node's BMC is one URL, decided by the compiler from the inventory CSV (Metal3's forms); a bad cell is an
error at its CSV line and column."""

from __future__ import annotations

import pytest

from ffinfra.compile import compile_stack
from ffinfra.errors import SpecInvalid
from ffinfra.topology.bmc import bmc_url, url_problem


@pytest.mark.parametrize(
    "url",
    [
        "redfish://10.1.0.5/redfish/v1/Systems/1",
        "redfish+http://127.0.0.1:8000/redfish/v1/Systems/abc-123",
        "redfish+https://bmc7.example/redfish/v1/Systems/System.Embedded.1?verify=false",
        "ipmi://10.1.0.5",
        "ipmi://127.0.0.1:6230",
        "10.1.0.5",
        "bmc-gpu0001.example",
    ],
)
def test_good_bmc_addresses(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redfish://10.1.0.5", "needs the system's path"),
        ("redfish://10.1.0.5/redfish/v1/Systems/", "needs the system's path"),
        ("idrac://10.1.0.5/x", "unknown BMC scheme 'idrac'"),
        ("ipmi://admin:secret@10.1.0.5", "carries credentials"),
        ("ipmi://10.1.0.5/path", "has no path"),
        ("ipmi://10.1.0.5:99999", "out of range"),
        ("redfish://h/redfish/v1/Systems/1?user=x", "the only query is verify=false"),
        ("not a host!", "neither a BMC URL nor a host"),
    ],
)
def test_bad_bmc_addresses_say_what_is_wrong(url: str, says: str) -> None:
    assert says in (url_problem(url) or "")


def test_a_bare_host_takes_the_stacks_protocol() -> None:
    assert bmc_url("10.1.0.5", None, "ipmi") == "ipmi://10.1.0.5"
    assert bmc_url("10.1.0.5", None, "redfish") == "redfish://10.1.0.5/redfish/v1/Systems/1"
    assert bmc_url(None, "10.2.0.9", "ipmi") == "ipmi://10.2.0.9"  # from the BMC network
    assert bmc_url("ipmi://10.1.0.5:623", "10.2.0.9", "redfish") == "ipmi://10.1.0.5:623"  # a URL stays
    assert bmc_url(None, None, "ipmi") is None


def test_the_compiler_gives_each_node_its_bmc_url(compiled_stack) -> None:
    (h,) = compiled_stack("metal").topology.hosts
    assert h.bmc_url == "redfish+http://127.0.0.1:8000/redfish/v1/Systems/00000000-0000-0000-0000-000000000001"
    assert h.mac == "52:54:00:f1:00:01"
    assert h.bmc_ip == "127.0.0.1"


def test_a_bad_bmc_cell_is_an_error_at_its_csv_line_and_column(stack_text, make_stack) -> None:
    csv = "hostname,mac,bmc_address\nnode1,52:54:00:f1:00:01,redfish://10.0.0.1\n"
    with pytest.raises(SpecInvalid) as info:
        compile_stack(make_stack(stack_text("metal"), files={"nodes.csv": csv}))
    (f,) = [f for f in info.value.findings if f.code == "FF-INV-001"]
    assert (f.location.file.endswith("nodes.csv"), f.location.line, f.location.col) == (True, 2, 25)
    assert "node1: 'redfish://10.0.0.1' needs the system's path" in f.message


def test_bmcs_on_one_address_are_told_apart_by_port_and_one_url_twice_is_an_error(stack_text, make_stack) -> None:
    text = stack_text("metal").replace("hostnames: node1", "hostnames: node[1-2]")
    ok = (
        "hostname,mac,bmc_address\n"
        "node1,52:54:00:f1:00:01,ipmi://127.0.0.1:6230\nnode2,52:54:00:f1:00:02,ipmi://127.0.0.1:6231\n"
    )
    assert [h.bmc_url for h in compile_stack(make_stack(text, files={"nodes.csv": ok})).topology.hosts] == [
        "ipmi://127.0.0.1:6230",
        "ipmi://127.0.0.1:6231",
    ]
    twice = ok.replace(":6231", ":6230")
    with pytest.raises(SpecInvalid) as info:
        compile_stack(make_stack(text, files={"nodes.csv": twice}, name="twice"))
    assert any(
        f.code == "FF-NODE-003" and "BMC ipmi://127.0.0.1:6230 is given to node1, node2" in f.message
        for f in info.value.findings
    )
