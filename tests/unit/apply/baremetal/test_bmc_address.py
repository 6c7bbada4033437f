"""BMC URLs (Metal3's spelling) as the inventory gives them, and a login that never shows its password."""

from __future__ import annotations

import logging

import pytest

from ffinfra.apply.baremetal.bmc import BmcAddress, BmcAuthError, Credentials, parse_bmc_address


@pytest.mark.parametrize(
    ("url", "want"),
    [
        (
            "redfish://10.1.0.11/redfish/v1/Systems/1",
            BmcAddress("redfish", "10.1.0.11", 443, "/redfish/v1/Systems/1", https=True),
        ),
        (
            "redfish+https://bmc-cn01.mgmt:8443/redfish/v1/Systems/System.Embedded.1",
            BmcAddress("redfish", "bmc-cn01.mgmt", 8443, "/redfish/v1/Systems/System.Embedded.1", https=True),
        ),
        (
            "redfish+http://127.0.0.1:8000/redfish/v1/Systems/6c3a8f1e-0000-4000-8000-000000000001/",
            BmcAddress("redfish", "127.0.0.1", 8000, "/redfish/v1/Systems/6c3a8f1e-0000-4000-8000-000000000001"),
        ),
        ("redfish+http://emu/redfish/v1/Systems/a", BmcAddress("redfish", "emu", 80, "/redfish/v1/Systems/a")),
        (
            "redfish://10.1.0.11/redfish/v1/Systems/1?verify=false",
            BmcAddress("redfish", "10.1.0.11", 443, "/redfish/v1/Systems/1", https=True, verify=False),
        ),
        ("ipmi://10.1.0.12", BmcAddress("ipmi", "10.1.0.12", 623)),
        ("ipmi://10.1.0.12:6230/", BmcAddress("ipmi", "10.1.0.12", 6230)),
        ("IPMI://[fd00:1::12]:6230", BmcAddress("ipmi", "fd00:1::12", 6230)),
        ("  ipmi://bmc01  ", BmcAddress("ipmi", "bmc01", 623)),
    ],
)
def test_the_forms_parse(url: str, want: BmcAddress) -> None:
    assert parse_bmc_address(url) == want


def test_the_canonical_url_parses_back_to_the_same_address() -> None:
    for url in (
        "redfish://h/redfish/v1/Systems/1",
        "redfish+http://h:8000/redfish/v1/Systems/x",
        "redfish+https://h:8443/redfish/v1/Systems/1?verify=false",
        "ipmi://[fd00::1]:6230",
    ):
        address = parse_bmc_address(url)
        assert parse_bmc_address(address.url) == address
        assert str(address) == address.url


def test_an_ipv6_host_is_bracketed_where_a_port_follows() -> None:
    assert parse_bmc_address("redfish+http://[fd00::5]:8000/redfish/v1/Systems/1").netloc == "[fd00::5]:8000"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redfish://10.1.0.11", "needs the system's path, e.g. /redfish/v1/Systems/1"),
        ("redfish://10.1.0.11/", "needs the system's path, e.g. /redfish/v1/Systems/1"),
        ("redfish://10.1.0.11/redfish/v1/Systems", "needs the system's path, e.g. /redfish/v1/Systems/1"),
        ("redfish://10.1.0.11/redfish/v1/Systems/1/Bios", "needs the system's path"),
        ("redfish://10.1.0.11/redfish/v1/Managers/1", "needs the system's path"),
        ("idrac-virtualmedia://10.1.0.11/redfish/v1/Systems/1", "unknown BMC URL scheme 'idrac-virtualmedia'"),
        ("10.1.0.11", "is not a BMC URL"),
        ("ipmi://", "no host"),
        ("ipmi://10.1.0.12:70000", "out of range"),
        ("ipmi://10.1.0.12:ipmi", "ipmi://"),
        ("ipmi://10.1.0.12:0", "port 0"),
        ("ipmi://10.1.0.12/redfish/v1/Systems/1", "an ipmi:// URL has no path"),
        ("ipmi://10.1.0.12?verify=false", "HTTPS Redfish URLs only"),
        ("redfish+http://emu/redfish/v1/Systems/1?verify=false", "HTTPS Redfish URLs only"),
        ("redfish://h/redfish/v1/Systems/1?verify=no", "verify='no'"),
        ("redfish://h/redfish/v1/Systems/1?insecure=1", "unknown option 'insecure'"),
    ],
)
def test_a_wrong_url_says_what_is_wrong_and_what_is_expected(url: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_bmc_address(url)
    assert says in str(caught.value)


def test_a_wrong_scheme_lists_the_forms() -> None:
    with pytest.raises(ValueError) as caught:
        parse_bmc_address("https://10.1.0.11/redfish/v1/Systems/1")
    for form in ("redfish://HOST[:PORT]/redfish/v1/Systems/ID", "redfish+http://", "ipmi://HOST[:PORT]"):
        assert form in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "redfish://admin:Hunter2secret@10.1.0.11/redfish/v1/Systems/1",
        "ipmi://admin:Hunter2secret@10.1.0.12",
        "ipmi://admin:Hunter2secret@10.1.0.12:notaport",  # fails on the port before the login is seen
        "admin:Hunter2secret@10.1.0.12",
        "redfish://10.1.0.11/redfish/v1/Systems/1?password=Hunter2secret",
        "redfish://10.1.0.11/redfish/v1/Systems/1?verify=false&password=Hunter2secret",
    ],
)
def test_a_login_put_in_the_url_is_refused_without_being_repeated(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_bmc_address(url)
    assert "Hunter2secret" not in str(caught.value)


def test_credentials_never_show_the_password(caplog: pytest.LogCaptureFixture) -> None:
    creds = Credentials("admin", "Hunter2secret")
    shown = [repr(creds), str(creds), f"{creds}", f"{creds!r}", repr([creds]), repr({"cn01": creds})]
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("logging in with %s", creds)
    shown.append(caplog.text)
    for text in shown:
        assert "Hunter2secret" not in text and "admin" in text
    assert creds.password == "Hunter2secret"  # the clients still get it


def test_a_bmc_error_names_the_node_and_the_url() -> None:
    error = BmcAuthError("cn01", "ipmi://10.1.0.12:623", "the BMC rejected the login")
    assert str(error) == "cn01: BMC ipmi://10.1.0.12:623: the BMC rejected the login"
    assert error.node == "cn01" and error.kind == "auth" and not error.transient
