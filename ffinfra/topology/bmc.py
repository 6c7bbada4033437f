"""Each node's BMC as one URL, decided here from the inventory CSV, the BMC network and provisioning.bmc_protocol.

The forms are Metal3's: the scheme picks the protocol and transport.

    redfish://HOST[:PORT]/redfish/v1/Systems/ID        Redfish over HTTPS
    redfish+https://... , redfish+http://...            the transport spelled out (http: emulators, labs)
    ipmi://HOST[:PORT]                                  IPMI 2.0 over LAN (UDP 623 by default)

A CSV cell without a scheme is a host: the protocol comes from provisioning.bmc_protocol, and a Redfish system path
from REDFISH_DEFAULT_SYSTEM (what most BMCs call their one system; iDRAC says System.Embedded.1: give a URL then).
A query `?verify=false` accepts a self-signed HTTPS certificate.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

SCHEMES = ("redfish", "redfish+https", "redfish+http", "ipmi")
REDFISH_DEFAULT_SYSTEM = "/redfish/v1/Systems/1"
URL_HINT = "write redfish://HOST/redfish/v1/Systems/ID, redfish+http://HOST:PORT/redfish/v1/Systems/ID or ipmi://HOST"


def url_problem(url: str) -> str | None:
    """What is wrong with a BMC URL, or None. A host without a scheme is fine (see the module doc)."""
    if "://" not in url:
        return None if _host_ok(url) else f"{url!r} is neither a BMC URL nor a host name or address"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"{url!r}: {exc}"
    if parts.scheme not in SCHEMES:
        return f"{url!r}: unknown BMC scheme {parts.scheme!r} (known: {', '.join(SCHEMES)})"
    if not parts.hostname:
        return f"{url!r} names no host"
    if parts.username or parts.password:
        return f"{url!r} carries credentials: give them by reference in provisioning.bmc, never in the inventory"
    if port is not None and not 0 < port < 65536:
        return f"{url!r}: port {port} is out of range"
    if parts.scheme.startswith("redfish"):
        if not parts.path.startswith("/redfish/v1/Systems/") or parts.path.rstrip("/") == "/redfish/v1/Systems":
            return f"{url!r} needs the system's path, e.g. {REDFISH_DEFAULT_SYSTEM}"
    elif parts.path not in ("", "/"):
        return f"{url!r}: an ipmi:// address has no path"
    if parts.query and parts.query not in ("verify=false", "verify=true"):
        return f"{url!r}: the only query is verify=false (accept a self-signed certificate)"
    return None


def bmc_url(cell: str | None, bmc_ip: str | None, protocol: str) -> str | None:
    """The node's BMC URL: the CSV's URL as given, else one built from its host (the cell, or the BMC network's
    address) and the stack's protocol. None when the node has no BMC at all."""
    if cell and "://" in cell:
        return cell
    host = cell or bmc_ip
    if not host:
        return None
    if ":" in host and _is_ip(host):
        host = f"[{host}]"  # an IPv6 literal in a URL
    if protocol == "ipmi":
        return f"ipmi://{host}"
    return f"redfish://{host}{REDFISH_DEFAULT_SYSTEM}"


def bmc_host_ip(cell: str | None) -> str | None:
    """The IP address in a CSV BMC cell (URL or bare), for /etc/hosts; None for a DNS name."""
    if not cell:
        return None
    host = urlsplit(cell).hostname if "://" in cell else cell
    return host if host and _is_ip(host) else None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _host_ok(text: str) -> bool:
    if _is_ip(text):
        return True
    labels = text.split(".")
    return all(0 < len(x) < 64 and x.replace("-", "").isalnum() and not x.startswith("-") for x in labels)
