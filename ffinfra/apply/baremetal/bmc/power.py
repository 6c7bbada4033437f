"""Power changes that are seen through, and one action over many nodes' BMCs at once.

    set_power("cn01", bmc, "on", wait_s=120)        → "on", once the BMC reports it (BmcPowerTimeout if never)
    for_each_node({"cn01": lambda: ..., ...}, parallel=16, retries=3, backoff_s=2)
                                                    → {"cn01": result, "cn02": BmcAuthError(...), ...}

A BMC takes a power request at once and changes state later (seconds on real machines, 1–11 s on sushy-tools'
fake driver), so a request is only done when a poll reports it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar

from ffinfra.apply.baremetal.bmc.base import Bmc, BmcError, BmcPowerTimeout, BmcProtocolError, PowerState

T = TypeVar("T")


def set_power(
    node: str, bmc: Bmc, want: Literal["on", "off", "cycle"], *, wait_s: float, poll_s: float = 1.0
) -> PowerState:
    """Ask for a power state and poll until the BMC reports it; 'cycle' is off then on (wait_s for each).

    A machine already in the wanted state gets no request (some BMCs refuse "on" when on); a 'cycle' of a machine
    that is off only powers it on. Transient errors while polling are ridden out until wait_s: BMCs are known to
    drop a request or two while the machine changes state.
    """
    if want == "cycle":
        if bmc.power_state() == "on":
            _change(node, bmc, "off", wait_s, poll_s)
        return _change(node, bmc, "on", wait_s, poll_s)
    if want not in ("on", "off"):
        raise ValueError(f"want must be 'on', 'off' or 'cycle', not {want!r}")
    target: PowerState = "on" if want == "on" else "off"
    if bmc.power_state() == target:
        return target
    return _change(node, bmc, target, wait_s, poll_s)


def _change(node: str, bmc: Bmc, want: PowerState, wait_s: float, poll_s: float) -> PowerState:
    (bmc.power_on if want == "on" else bmc.power_off)()
    deadline = time.monotonic() + wait_s
    last = ""
    while True:
        try:
            state = bmc.power_state()
            if state == want:
                return state
            last = f"it still reports {state!r}"
        except BmcError as exc:
            if not exc.transient:
                raise
            last = f"the last poll failed: {exc.detail}"
        left = deadline - time.monotonic()
        if left <= 0:
            raise BmcPowerTimeout(node, bmc.address.url, f"never reached power {want!r} within {wait_s:g} s ({last})")
        time.sleep(min(poll_s, left))


@dataclass(frozen=True)
class NodeAttempt:
    """One try at one node, as on_progress sees it."""

    node: str
    attempt: int  # 1, 2, ...
    error: BmcError | None  # None: it succeeded
    retry_in_s: float | None  # seconds until the next try; None: this was the last


def for_each_node(
    nodes: Mapping[str, Callable[[], T]],
    *,
    parallel: int,
    retries: int,
    backoff_s: float,
    on_progress: Callable[[NodeAttempt], None] | None = None,
) -> dict[str, T | BmcError]:
    """Run each node's action, at most `parallel` at a time; every node gets a result or its BmcError.

    Transient errors (unreachable, timeout, protocol) are tried again up to `retries` times, after backoff_s, then
    twice that, and so on; a rejected login never is (BMCs lock an account out after a few bad logins). One node's
    failure never stops the others. on_progress is called after every try, one call at a time.
    """
    if parallel < 1 or retries < 0 or backoff_s < 0:
        raise ValueError(f"parallel >= 1, retries >= 0, backoff_s >= 0 (got {parallel}, {retries}, {backoff_s})")
    lock = threading.Lock()

    def report(event: NodeAttempt) -> None:
        if on_progress is not None:
            with lock:
                on_progress(event)

    def run(node: str, action: Callable[[], T]) -> T | BmcError:
        attempt = 0
        while True:
            attempt += 1
            try:
                result = action()
            except BmcError as exc:
                error = exc
            except Exception as exc:  # a bug in an action must not take the other nodes down with it
                error = BmcProtocolError(node, "", f"unexpected {type(exc).__name__}: {exc}", transient=False)
                error.__cause__ = exc
            else:
                report(NodeAttempt(node, attempt, None, None))
                return result
            if not error.transient or attempt > retries:
                report(NodeAttempt(node, attempt, error, None))
                return error
            delay = backoff_s * 2 ** (attempt - 1)
            report(NodeAttempt(node, attempt, error, delay))
            time.sleep(delay)

    if not nodes:
        return {}
    with ThreadPoolExecutor(max_workers=min(parallel, len(nodes)), thread_name_prefix="bmc") as pool:
        futures = {node: pool.submit(run, node, action) for node, action in nodes.items()}
        return {node: future.result() for node, future in futures.items()}
