"""A node's BMC over Redfish, through sushy (5.x).

Every HTTP request is bounded by the timeout (sushy's connector: connect and read). sushy's own retries are
turned down to one try: it would otherwise try a dead BMC three times with 2 s pauses, and retrying is
for_each_node's business. The connector and the login (a Redfish session where the BMC offers one, else HTTP
Basic) are made here so close() can end both through their public calls.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import TypeVar

import requests
import sushy
from sushy import auth as sushy_auth
from sushy import connector as sushy_connector
from sushy import exceptions as sushy_exc
from sushy.resources.system.system import System

from ffinfra.apply.baremetal.bmc.address import BmcAddress, Credentials
from ffinfra.apply.baremetal.bmc.base import (
    BmcAuthError,
    BmcError,
    BmcNotFound,
    BmcProtocolError,
    BmcTimeout,
    BmcUnreachable,
    PowerState,
)

R = TypeVar("R")

# PoweringOn reads as off and PoweringOff as on: a poll waits for the state a machine is going to
_POWER: dict[object, PowerState] = {
    sushy.POWER_STATE_ON: "on",
    sushy.POWER_STATE_POWERING_OFF: "on",
    sushy.POWER_STATE_OFF: "off",
    sushy.POWER_STATE_POWERING_ON: "off",
}


class RedfishBmc:
    def __init__(self, node: str, address: BmcAddress, creds: Credentials, timeout_s: float):
        self.node = node
        self.address = address
        self.timeout_s = timeout_s
        base_url = f"{'https' if address.https else 'http'}://{address.netloc}"
        self._conn = sushy_connector.Connector(
            base_url,
            verify=address.verify,
            server_side_retries=1,  # 0 would mean sushy's default of 3 tries
            server_side_retries_delay=0,
            default_request_timeout=timeout_s,
            connect_timeout=timeout_s,
        )
        self._auth = sushy_auth.SessionOrBasicAuth(username=creds.username, password=creds.password)
        try:
            self._system = self._open(base_url)
        except BmcError:
            self.close()
            raise

    def _open(self, base_url: str) -> System:
        root = self._call(
            "reach the Redfish service", lambda: sushy.Sushy(base_url, auth=self._auth, connector=self._conn)
        )
        try:
            return root.get_system(self.address.system_path)
        except sushy_exc.ResourceNotFoundError:
            path = self.address.system_path
            raise BmcNotFound(self.node, self.address.url, f"the BMC has no system at {path}{_listing(root)}") from None
        except Exception as exc:
            raise self._translate("read the system", exc) from exc

    def power_state(self) -> PowerState:
        state = self._call("read the power state", self._read_power)
        if state not in _POWER:
            raise BmcProtocolError(self.node, self.address.url, f"the BMC reports no known power state ({state})")
        return _POWER[state]

    def _read_power(self) -> object:
        self._system.refresh(force=True)
        return self._system.power_state

    def power_on(self) -> None:
        self._call("power on", lambda: self._system.reset_system(sushy.RESET_ON))

    def power_off(self) -> None:
        self._call("power off", lambda: self._system.reset_system(sushy.RESET_FORCE_OFF))

    def set_pxe_once(self) -> None:
        self._call(
            "set a one-time network boot",
            lambda: self._system.set_system_boot_options(
                sushy.BOOT_SOURCE_TARGET_PXE, enabled=sushy.BOOT_SOURCE_ENABLED_ONCE
            ),
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a BMC gone away must not fail a close
            self._auth.close()  # deletes the Redfish session, if one was opened
        self._conn.close()

    def _call(self, doing: str, fn: Callable[[], R]) -> R:
        try:
            return fn()
        except BmcError:
            raise
        except Exception as exc:
            raise self._translate(doing, exc) from exc

    def _translate(self, doing: str, exc: Exception) -> BmcError:
        return translate(self.node, self.address, self.timeout_s, doing, exc)


def translate(node: str, address: BmcAddress, timeout_s: float, doing: str, exc: Exception) -> BmcError:
    url = address.url
    if isinstance(exc, sushy_exc.ConnectionError):
        cause = _root_cause(exc)
        if isinstance(cause, requests.exceptions.Timeout):
            return BmcTimeout(node, url, f"no answer within {timeout_s:g} s (trying to {doing})")
        if isinstance(cause, requests.exceptions.SSLError):
            hint = "" if not address.verify else "; a self-signed certificate? add ?verify=false to the URL"
            return BmcProtocolError(node, url, f"TLS failed: {_reason(cause)}{hint}", transient=False)
        return BmcUnreachable(node, url, f"cannot connect: {_reason(cause)} (trying to {doing})")
    if isinstance(exc, sushy_exc.AccessError):
        return BmcAuthError(node, url, f"the BMC rejected the login (HTTP {exc.status_code}, trying to {doing})")
    if isinstance(exc, sushy_exc.HTTPError):
        status = exc.status_code or 0
        detail = f"HTTP {status} trying to {doing}: {exc.detail or exc.code}"
        return BmcProtocolError(node, url, detail, transient=status >= 500)  # a 4xx will not change on a retry
    if isinstance(exc, sushy_exc.SushyError | ValueError):  # a missing field or action, a body that is not JSON
        return BmcProtocolError(node, url, f"unexpected answer trying to {doing}: {exc}", transient=False)
    return BmcProtocolError(node, url, f"trying to {doing}: {type(exc).__name__}: {exc}")


def _root_cause(exc: BaseException) -> BaseException:
    # sushy raises its ConnectionError inside `except requests...`: the requests exception is its context
    seen = exc
    while seen.__cause__ or seen.__context__:
        nxt = seen.__cause__ or seen.__context__
        assert nxt is not None
        if isinstance(seen, requests.exceptions.RequestException) and not isinstance(
            nxt, requests.exceptions.RequestException
        ):
            return seen
        seen = nxt
    return seen


def _reason(exc: BaseException) -> str:
    """'Connection refused', 'certificate verify failed: self-signed certificate': not urllib3's paragraph."""
    text = str(exc)
    for pattern in (r"\[Errno -?\d+\] ([^'\")\]]+)", r"\[SSL[^\]]*\] ([^(')\"]+)"):
        found = re.search(pattern, text)
        if found:
            return found.group(1).strip()
    return text[:200]


def _listing(root: sushy.Sushy) -> str:
    """The systems the BMC does have, which is usually the fix for a wrong path."""
    try:
        members = root.get_system_collection().members_identities
    except Exception:
        return ""
    return f"; it has {', '.join(sorted(members)) or 'no systems'}"
