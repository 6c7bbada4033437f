"""Fixtures of the bare-metal integration tests: the session's VM bench (see bench.py).

One bench, so one VM, for the whole session: it takes a few seconds to set up, and CI's machine runs one TCG VM at
a time comfortably. Tests leave the VM powered off (vm_bench.power_off()) for the next one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench import VmBench, missing_tools


@pytest.fixture(scope="session")
def vm_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VmBench]:
    """A network-booting VM behind a Redfish and an IPMI BMC, shut off; torn down at the session's end."""
    if os.geteuid() != 0:
        pytest.skip("the VM bench needs root (network namespaces, libvirtd, QEMU)")
    missing = missing_tools()
    if missing:
        pytest.skip(f"the VM bench needs {', '.join(missing)} (scripts/setup.sh --test installs them)")
    pytest.importorskip("sushy_tools", reason="the VM bench needs sushy-tools (scripts/setup.sh --test)")
    with VmBench(tmp_path_factory.mktemp("vm_bench")) as bench:
        yield bench
