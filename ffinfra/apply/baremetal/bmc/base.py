"""What every BMC client offers (the Bmc protocol) and how it fails (BmcError and its kinds).

A BmcError names the node and the BMC's URL, never the login. Its kind says what a caller can do about it:

    unreachable   no connection, or no answer in time (BmcTimeout)   transient: retried
    protocol      the BMC answered something unexpected               transient unless it is a 4xx-like refusal
    auth          the BMC rejected the login                          never retried: it locks accounts out
    not_found     the BMC has no such system (the URL's path)         fix the inventory
    power         the BMC never reported the wanted power state       the caller decides
"""

from __future__ import annotations

from typing import ClassVar, Literal, Protocol

from ffinfra.apply.baremetal.bmc.address import BmcAddress
from ffinfra.errors import OperationalError

PowerState = Literal["on", "off"]


class BmcError(OperationalError):
    kind: ClassVar[str] = "protocol"
    transient: bool = True

    def __init__(self, node: str, url: str, detail: str, *, transient: bool | None = None):
        self.node = node
        self.url = url
        self.detail = detail
        if transient is not None:
            self.transient = transient
        where = f"BMC {url}" if url else "BMC"
        super().__init__(f"{node}: {where}: {detail}")


class BmcUnreachable(BmcError):
    kind = "unreachable"
    transient = True


class BmcTimeout(BmcUnreachable):
    """The BMC took the connection or the packet and did not answer within the timeout."""

    kind = "timeout"


class BmcAuthError(BmcError):
    kind = "auth"
    transient = False


class BmcNotFound(BmcError):
    kind = "not_found"
    transient = False


class BmcProtocolError(BmcError):
    kind = "protocol"
    transient = True


class BmcPowerTimeout(BmcError):
    """The request was taken but the BMC never reported the wanted power state."""

    kind = "power"
    transient = False


class Bmc(Protocol):
    """One node's BMC, logged in. Each call fails within the timeout given to connect() with a BmcError."""

    node: str
    address: BmcAddress

    def power_state(self) -> PowerState:
        """'on' once the machine is fully on; a machine powering on or off reads as the state it is leaving."""
        ...

    def power_on(self) -> None: ...

    def power_off(self) -> None:
        """Hard off (no OS shutdown)."""
        ...

    def set_pxe_once(self) -> None:
        """Boot from the network next time. A BMC may keep it for every boot (sushy-tools does): callers set it
        before each power-on rather than depend on it being one-time."""
        ...

    def close(self) -> None:
        """Log out; never raises."""
        ...
