"""Where a node's BMC is and how to log in to it: Metal3-style BMC URLs and a login that never shows its password.

    redfish://HOST[:PORT]/redfish/v1/Systems/ID         Redfish over HTTPS (port 443)
    redfish+https://HOST[:PORT]/redfish/v1/Systems/ID   the same, spelled out
    redfish+http://HOST[:PORT]/redfish/v1/Systems/ID    Redfish over plain HTTP (port 80): emulators
    ipmi://HOST[:PORT]                                  IPMI 2.0 over LAN (UDP 623)

An HTTPS URL may end in `?verify=false` for a BMC with a self-signed certificate. A host may be an IPv6 address
in brackets. The error messages say which form is expected: they are shown at the inventory line that holds the
URL, so they never repeat a login that was (wrongly) put in the URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

FORMS = (
    "redfish://HOST[:PORT]/redfish/v1/Systems/ID, redfish+http://HOST:PORT/redfish/v1/Systems/ID "
    "(plain HTTP) or ipmi://HOST[:PORT]"
)
SYSTEMS = "/redfish/v1/Systems/"
# scheme → (protocol, HTTPS?, default port)
SCHEMES: dict[str, tuple[Literal["redfish", "ipmi"], bool, int]] = {
    "redfish": ("redfish", True, 443),
    "redfish+https": ("redfish", True, 443),
    "redfish+http": ("redfish", False, 80),
    "ipmi": ("ipmi", False, 623),
}


@dataclass(frozen=True)
class BmcAddress:
    protocol: Literal["redfish", "ipmi"]
    host: str  # an IPv6 address without its brackets
    port: int
    system_path: str = ""  # Redfish: /redfish/v1/Systems/ID; IPMI: ""
    https: bool = False  # Redfish only
    verify: bool = True  # Redfish over HTTPS: check the BMC's certificate

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The address as a URL, in its canonical spelling (what error messages show)."""
        if self.protocol == "ipmi":
            return f"ipmi://{self.netloc}"
        scheme = "redfish" if self.https else "redfish+http"
        return f"{scheme}://{self.netloc}{self.system_path}" + ("" if self.verify else "?verify=false")

    def __str__(self) -> str:
        return self.url


def parse_bmc_address(url: str) -> BmcAddress:
    """A BMC URL as a BmcAddress; ValueError saying what is wrong and which form is expected."""
    text = url.strip()
    if "://" not in text:
        raise ValueError(f"{_safe(text)!r} is not a BMC URL; expected {FORMS}")
    scheme = text.split("://", 1)[0].lower()
    if scheme not in SCHEMES:
        raise ValueError(f"unknown BMC URL scheme {scheme!r}; expected {FORMS}")
    protocol, https, default_port = SCHEMES[scheme]
    try:
        parts = urlsplit(text)
        port = default_port if parts.port is None else parts.port
    except ValueError as exc:  # a port that is not a number in 0..65535, an unclosed IPv6 bracket
        raise ValueError(f"BMC URL {_safe(text)}: {exc}; expected {FORMS}") from None
    if "@" in parts.netloc:
        # the login goes by reference in provisioning.bmc; repeating the URL here could print a password
        raise ValueError(
            f"a BMC URL must not hold a login (user:password@): {scheme}://…; give the login by reference in "
            "provisioning.bmc"
        )
    # messages below show the URL without its query: an option there could be a password put in the wrong place
    where = f"{scheme}://{parts.netloc}{parts.path}"
    if not parts.hostname:
        raise ValueError(f"BMC URL {where}: no host; expected {FORMS}")
    if port == 0:
        raise ValueError(f"BMC URL {where}: port 0 is not a port; expected {FORMS}")
    if parts.fragment:
        raise ValueError(f"BMC URL {where}: a #fragment means nothing here; expected {FORMS}")
    verify = _verify_option(where, parts.query, protocol == "redfish" and https)
    if protocol == "ipmi":
        if parts.path not in ("", "/"):
            raise ValueError(f"BMC URL {where}: an ipmi:// URL has no path; expected ipmi://HOST[:PORT]")
        return BmcAddress("ipmi", parts.hostname, port)
    return BmcAddress("redfish", parts.hostname, port, _system_path(where, parts.path), https, verify)


def _system_path(where: str, path: str) -> str:
    path = path.rstrip("/")
    ident = path[len(SYSTEMS) :] if path.startswith(SYSTEMS) else ""
    if not ident or "/" in ident:
        raise ValueError(
            f"BMC URL {where}: a Redfish URL needs the system's path, e.g. /redfish/v1/Systems/1 "
            f"(redfish://HOST[:PORT]/redfish/v1/Systems/ID); got {path or 'no path'}"
        )
    return path


def _verify_option(where: str, query: str, is_https: bool) -> bool:
    verify = True
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key != "verify":
            raise ValueError(f"BMC URL {where}: unknown option {key!r}; the only option is ?verify=false")
        if value.lower() not in ("true", "false"):
            raise ValueError(f"BMC URL {where}: verify={value!r}; expected ?verify=false or ?verify=true")
        verify = value.lower() == "true"
    if not verify and not is_https:
        raise ValueError(f"BMC URL {where}: ?verify=false applies to HTTPS Redfish URLs only")
    return verify


def _safe(text: str) -> str:
    """The URL without a login or a query, for an error raised before the login check."""
    text = text.split("?", 1)[0]
    scheme, sep, rest = text.rpartition("://")
    host_part, slash, path = rest.partition("/")
    return f"{scheme}{sep}{host_part.rsplit('@', 1)[-1]}{slash}{path}"


@dataclass(frozen=True)
class Credentials:
    """A BMC login. Its repr and str show the user name only, so logging one never leaks the password."""

    username: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password=<hidden>)"

    __str__ = __repr__
