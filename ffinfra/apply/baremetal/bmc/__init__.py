"""A node's BMC: power it on and off, and boot it from the network, over Redfish (sushy) or IPMI (pyghmi).

    address = parse_bmc_address("redfish://10.1.0.11/redfish/v1/Systems/1")    # or ipmi://10.1.0.11
    bmc = connect("cn01", address, Credentials("admin", password), timeout_s=10)
    bmc.set_pxe_once()
    set_power("cn01", bmc, "cycle", wait_s=120)
    bmc.close()

Many nodes at once: for_each_node (bounded parallelism, retries with backoff for transient errors only). Every
failure is a BmcError naming the node and the BMC's URL, never the password. The clients import their libraries
(the `baremetal` extra) only when connect() needs them.
"""

from __future__ import annotations

from ffinfra.apply.baremetal.bmc.address import BmcAddress, Credentials, parse_bmc_address
from ffinfra.apply.baremetal.bmc.base import (
    Bmc,
    BmcAuthError,
    BmcError,
    BmcNotFound,
    BmcPowerTimeout,
    BmcProtocolError,
    BmcTimeout,
    BmcUnreachable,
    PowerState,
)
from ffinfra.apply.baremetal.bmc.power import NodeAttempt, for_each_node, set_power

__all__ = [
    "Bmc",
    "BmcAddress",
    "BmcAuthError",
    "BmcError",
    "BmcNotFound",
    "BmcPowerTimeout",
    "BmcProtocolError",
    "BmcTimeout",
    "BmcUnreachable",
    "Credentials",
    "NodeAttempt",
    "PowerState",
    "connect",
    "for_each_node",
    "parse_bmc_address",
    "set_power",
]


def connect(node: str, address: BmcAddress, creds: Credentials, timeout_s: float) -> Bmc:
    """Log in to a node's BMC; each later call on it fails within timeout_s. BmcError if the login fails."""
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, not {timeout_s}")
    if address.protocol == "redfish":
        from ffinfra.apply.baremetal.bmc.redfish import RedfishBmc

        return RedfishBmc(node, address, creds, timeout_s)
    from ffinfra.apply.baremetal.bmc.ipmi import IpmiBmc

    return IpmiBmc(node, address, creds, timeout_s)
