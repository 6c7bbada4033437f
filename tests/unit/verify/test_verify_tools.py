"""Tool checks name the Debian packages; socket names never repeat."""

from __future__ import annotations

import pytest

from ffinfra.errors import OperationalError
from ffinfra.verify import ibsim, tools


def test_missing_tools_name_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools.shutil, "which", lambda name: None if name in ("ibsim", "dump_fts") else "/usr/bin/x")
    assert tools.missing_tools(("ibsim", "opensm", "dump_fts"))[:2] == ["ibsim", "dump_fts"]
    with pytest.raises(OperationalError) as e:
        tools.require_tools(("ibsim", "opensm", "dump_fts"))
    assert "ibsim-utils" in str(e.value) and "infiniband-diags" in str(e.value)
    assert "opensm" not in str(e.value).split("Install with:")[1].split()


def test_unique_socket_names() -> None:
    names = {ibsim.unique_sockname() for _ in range(100)}
    assert len(names) == 100
    assert all(n.startswith(f"ffinfra-{__import__('os').getpid()}-") for n in names)


def test_client_env(tmp_path) -> None:
    sim = ibsim.IbSim(tmp_path / "net", tmp_path)
    env = sim.env("H-0002c91000001000")
    assert env["SIM_HOST"] == "H-0002c91000001000"
    assert env["IBSIM_SOCKNAME"] == sim.sockname
    assert env["LD_PRELOAD"].endswith("libumad2sim.so")
    assert sim.pid is None and not sim.running
