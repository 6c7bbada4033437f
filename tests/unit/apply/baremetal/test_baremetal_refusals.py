"""What the bare-metal provider and its commands refuse before touching anything: each refusal names what is wrong
and where to fix it, and leaves no key, folder or BMC request behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffinfra.apply.baremetal.provider import BaremetalProvider
from ffinfra.compile import compile_stack
from ffinfra.errors import UserError

CSV = "hostname,mac,bmc_address\nnode1,52:54:00:f1:00:01,ipmi://127.0.0.1:9\n"


def _provider(stack_text, make_stack, text: str | None = None, csv: str = CSV) -> BaremetalProvider:
    c = compile_stack(make_stack(text or stack_text("metal"), files={"nodes.csv": csv}, name="metal"))
    return BaremetalProvider("metal", c.stack.dir / "state" / "baremetal", c.topology, c.stack.dir)


def test_preflight_names_every_missing_piece(stack_text, make_stack, monkeypatch) -> None:
    monkeypatch.delenv("FFINFRA_BMC_PASSWORD", raising=False)
    text = stack_text("metal").replace("interface: ffbm0", "interface: ffnosuch0")
    with pytest.raises(UserError, match=r"this machine has no address 10\.213\.0\.1 on ffnosuch0"):
        _provider(stack_text, make_stack, text).preflight()


def test_a_node_without_a_boot_mac_is_named(stack_text, make_stack) -> None:
    p = _provider(stack_text, make_stack, csv="hostname,mac,bmc_address\nnode1,,ipmi://127.0.0.1:9\n")
    with pytest.raises(UserError, match=r"no boot MAC for node1: .* mac and bmc_address in the inventory CSV"):
        p._hosts()


def test_a_missing_password_says_how_to_give_one(stack_text, make_stack, monkeypatch) -> None:
    monkeypatch.delenv("FFINFRA_BMC_PASSWORD", raising=False)
    with pytest.raises(UserError, match="the environment variable FFINFRA_BMC_PASSWORD is not set"):
        _provider(stack_text, make_stack).credentials()


def test_up_refuses_the_stateless_image_before_anything_starts(stack_text, make_stack, cli, monkeypatch) -> None:
    monkeypatch.setenv("FFINFRA_BMC_PASSWORD", "not-used-here")
    ref = make_stack(stack_text("metal"), files={"nodes.csv": CSV}, name="metal")
    code, _, err = cli("up", str(ref.dir), "--provider", "baremetal")
    assert code != 0
    assert "ffinfra's stateless node image carries no Python" in err and "ffinfra provision metal" in err
    assert "Traceback" not in err
    assert not (ref.dir / "state").exists() and not (ref.dir / "secrets").exists()


def test_power_refuses_an_unknown_action_and_unknown_nodes(stack_text, make_stack, cli) -> None:
    ref = make_stack(stack_text("metal"), files={"nodes.csv": CSV}, name="metal")
    code, _, err = cli("power", str(ref.dir), "node1", "reboot")
    assert code != 0 and "power action 'reboot': one of on, off, cycle, status" in err
    code, _, err = cli("power", str(ref.dir), "node[1-2]", "status")
    assert code != 0 and "not nodes of stack metal: node2" in err
    assert not (Path(ref.dir) / "runs").exists()
