"""A node's BMC over IPMI 2.0 (RMCP+), through pyghmi.

pyghmi's own timeouts cannot be set: a BMC that never answers takes it about 6 s to give up on a login, and
longer on a command once logged in. So each call runs in a short-lived daemon thread and is abandoned at the
deadline; pyghmi still gives up on its own a few seconds later, so an abandoned thread ends, it is not leaked.

pyghmi shares one login between every Command for the same BMC, user and password; close() logs it out, so one
BMC must not be driven through two IpmiBmc objects at once (one node, one BMC). The login is handed over as bytes:
pyghmi files a session under the user and password as given but forgets it under their encoded form, so with str
a failed or abandoned login stays filed and every later one for that BMC joins it and fails (pyghmi 1.6.19).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

from pyghmi import exceptions as pyghmi_exc
from pyghmi.ipmi import command as ipmi_command

from ffinfra.apply.baremetal.bmc.address import BmcAddress, Credentials
from ffinfra.apply.baremetal.bmc.base import (
    BmcAuthError,
    BmcError,
    BmcProtocolError,
    BmcTimeout,
    BmcUnreachable,
    PowerState,
)

R = TypeVar("R")

# What pyghmi says when the BMC refuses the login (RAKP status codes, the RAKP2 HMAC check, the privilege step)
_AUTH = (
    "incorrect password",
    "unauthorized name",
    "invalid username",
    "unauthorized role",
    "invalid role",
    "insufficient privilege",
    "privelege level",  # pyghmi's spelling
    "privilege level",
)
# What it says when a session stopped getting answers (a login that never got one carries no message at all)
_GONE = ("session no longer connected", "session failed to initialize", "timeout", "timed out")


class IpmiBmc:
    def __init__(self, node: str, address: BmcAddress, creds: Credentials, timeout_s: float):
        self.node = node
        self.address = address
        self.timeout_s = timeout_s
        self._cmd: ipmi_command.Command = self._call("log in", lambda: _login(address, creds))

    def power_state(self) -> PowerState:
        answer = self._call("read the power state", self._cmd.get_power)
        state = answer.get("powerstate")
        if state not in ("on", "off"):
            raise BmcProtocolError(self.node, self.address.url, f"the BMC reports no known power state ({answer})")
        return "on" if state == "on" else "off"

    def power_on(self) -> None:
        self._call("power on", lambda: self._cmd.set_power("on", wait=False))

    def power_off(self) -> None:
        self._call("power off", lambda: self._cmd.set_power("off", wait=False))

    def set_pxe_once(self) -> None:
        self._call("set a one-time network boot", lambda: self._cmd.set_bootdev("network", persist=False))

    def close(self) -> None:
        with contextlib.suppress(BmcError):  # a BMC gone away must not fail a close
            self._call("log out", lambda: self._cmd.ipmi_session.logout())

    def _call(self, doing: str, fn: Callable[[], R]) -> R:
        return call_with_deadline(self.node, self.address, self.timeout_s, doing, fn)


def _login(address: BmcAddress, creds: Credentials) -> ipmi_command.Command:
    cmd = ipmi_command.Command(
        bmc=address.host, userid=creds.username.encode(), password=creds.password.encode(), port=address.port
    )
    session = cmd.ipmi_session
    # a login that joined another one still in progress (an abandoned try) returns without error when that one
    # fails: only the session's flags tell
    if getattr(session, "broken", False) or not getattr(session, "logged", 0):
        raise pyghmi_exc.IpmiException(getattr(session, "errormsg", None) or "")
    return cmd


def call_with_deadline(node: str, address: BmcAddress, timeout_s: float, doing: str, fn: Callable[[], R]) -> R:
    """fn() in a daemon thread, abandoned after timeout_s (BmcTimeout); pyghmi's errors as BmcErrors."""
    done = threading.Event()
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the caller's thread, which raises it
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"ipmi-{node}", daemon=True).start()
    if not done.wait(timeout_s):
        raise BmcTimeout(node, address.url, f"no answer within {timeout_s:g} s (trying to {doing})")
    if "error" in box:
        exc = box["error"]
        assert isinstance(exc, BaseException)
        if not isinstance(exc, Exception):
            raise exc
        raise translate(node, address, doing, exc) from exc
    return box["result"]  # type: ignore[return-value]


def translate(node: str, address: BmcAddress, doing: str, exc: Exception) -> BmcError:
    url = address.url
    if isinstance(exc, BmcError):
        return exc
    text = str(exc) if str(exc) not in ("", "None") else ""
    lower = text.lower()
    if isinstance(exc, pyghmi_exc.IpmiException | OSError):
        if any(word in lower for word in _AUTH):
            return BmcAuthError(node, url, f"the BMC rejected the login ({text}, trying to {doing})")
        if not text:  # pyghmi gave up waiting for an answer (it says nothing then)
            return BmcTimeout(node, url, f"the BMC did not answer (trying to {doing})")
        if any(word in lower for word in _GONE):
            return BmcUnreachable(node, url, f"the IPMI session was lost: {text} (trying to {doing})")
        if isinstance(exc, OSError):
            return BmcUnreachable(node, url, f"cannot reach the BMC: {text} (trying to {doing})")
        # a completion code: the BMC answered and refused the command
        return BmcProtocolError(node, url, f"the BMC refused: {text} (trying to {doing})")
    return BmcProtocolError(node, url, f"trying to {doing}: {type(exc).__name__}: {text}")
