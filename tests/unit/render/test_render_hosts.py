"""/etc/hosts: localhost, every host's management name, then -ib and -bmc names."""

from __future__ import annotations

from collections import Counter

import pytest

from ffinfra.render.hosts import render_hosts


def entries(topo) -> list[list[str]]:
    (art,) = render_hosts(topo)
    return [ln.split() for ln in art.content.splitlines() if ln.strip() and not ln.startswith("#")]


def test_first_entries_are_localhost(stack):
    rows = entries(stack("lab"))
    assert rows[0] == ["127.0.0.1", "localhost"]
    assert rows[1][:2] == ["::1", "localhost"]


@pytest.mark.parametrize("name", ["lab", "small", "ff2"])
def test_every_host_resolves_to_its_management_address_by_fqdn_and_short_name(stack, name):
    topo = stack(name)
    rows = {r[2]: r for r in entries(topo) if len(r) == 3}
    domain = topo.spec.network.domain
    for h in topo.hosts:
        assert rows[h.name] == [h.mgmt_ip, f"{h.name}.{domain}", h.name]


@pytest.mark.parametrize("name", ["lab", "small", "ff2"])
def test_no_name_or_address_appears_twice(stack, name):
    rows = entries(stack(name))[2:]
    assert not [k for k, n in Counter(r[0] for r in rows).items() if n > 1]
    assert not [k for k, n in Counter(x for r in rows for x in r[1:]).items() if n > 1]


def test_ipoib_names_only_for_hosts_with_an_ib_port(stack):
    topo = stack("ff2")
    ib = {r[2]: r[0] for r in entries(topo) if r[-1].endswith("-ib")}
    assert ib == {f"{h.name}-ib": h.ipoib_ip for h in topo.hosts if h.ports}
    assert "login01-ib" not in ib  # the login profile has no HCA
    assert ib["gpu0001-ib"] == "10.2.4.1"


def test_bmc_names_when_the_spec_has_a_bmc_network(stack):
    topo = stack("ff2")
    bmc = {r[2]: r[0] for r in entries(topo) if r[-1].endswith("-bmc")}
    assert bmc == {f"{h.name}-bmc": h.bmc_ip for h in topo.hosts}
    assert bmc["gpu0001-bmc"] == "10.1.4.1"
    assert not [r for r in entries(stack("lab")) if r[-1].endswith("-bmc")]  # lab has no BMC network


def test_every_host_gets_the_file(stack):
    (art,) = render_hosts(stack("lab"))
    assert (art.path, art.dest, art.roles, art.group) == ("hosts/hosts", "/etc/hosts", ("common",), "all")


def test_rendering_twice_gives_identical_text(stack):
    assert render_hosts(stack("ff2")) == render_hosts(stack("ff2"))
