"""Names of the lab's kernel objects. Network namespace names are global on the machine, interface names are
limited to 15 bytes (IFNAMSIZ - 1): every name is unique per stack and host, and short enough everywhere."""

from __future__ import annotations

import hashlib

IFNAMSIZ = 15


def _h(text: str, n: int) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:n]


def netns_name(stack: str, host: str) -> str:
    """ff-<stack>-<host> (e.g. ff-lab-cn01), or ff-<12 hex of a hash> when that is over 15 characters."""
    name = f"ff-{stack}-{host}"
    return name if len(name) <= IFNAMSIZ else f"ff-{_h(f'{stack}/{host}', IFNAMSIZ - 3)}"


def switch_name(stack: str) -> str:
    """The namespace holding the stack's bridge. Node namespaces start with 'ff-', so no host name collides."""
    name = f"ffsw-{stack}"
    return name if len(name) <= IFNAMSIZ else f"ffsw-{_h(stack, IFNAMSIZ - 5)}"


def veth_name(host: str) -> str:
    """The switch-side end of a node's veth pair (lives only in the stack's switch namespace)."""
    name = f"v-{host}"
    return name if len(name) <= IFNAMSIZ else f"v-{_h(host, IFNAMSIZ - 2)}"
