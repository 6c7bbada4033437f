"""The 3FS side of a storage batch's health gate: the next storage batch starts only once every chain with a
replica on this batch's nodes is complete again (SERVING, with all its targets SERVING-UPTODATE), as mgmtd reports
it (`admin_cli list-chains`, parsed by analysis/parsers/threefs_admin.py). A storage node that restarts comes back
with its targets behind: its chains sync them before they count as complete, and until then a second node of the
same chain must not go down.

    chains = batch_chains(table, node_ids)      # the chains with a target on the batch's storage nodes
    problems = wait_for_chains(list_chains, chains, replication, timeout_s)   # [] once they are all complete

On a simulated fabric no 3FS service runs (docs/threefs.md), so the gate is not asked there; the lab's storage
batches are gated on their files and units only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from ffinfra.analysis.parsers import ParseError
from ffinfra.analysis.parsers.threefs_admin import chain_problems, parse_list_chains
from ffinfra.topology.chains import ChainTable


def batch_chains(table: ChainTable, node_ids: Collection[int]) -> set[int]:
    """The chains that have a target on one of `node_ids` (3FS storage node ids)."""
    wanted = set(node_ids)
    return {c.chain_id for c in table.chains if any(t.node_id in wanted for t in c.targets)}


def wait_for_chains(
    list_chains: Callable[[], str],
    chains: Collection[int],
    replication: int,
    timeout_s: float,
    poll_s: float = 10.0,
    say: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Asks mgmtd (list_chains() returns `admin_cli list-chains`'s output) until every chain of `chains` is
    complete; returns what still keeps them from it at `timeout_s` ([] when they are)."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        try:
            rows = [r for r in parse_list_chains(list_chains()) if r.chain_id in chains]
            problems = chain_problems(rows, replication, chains)
        except ParseError as e:  # mgmtd unreachable or a failing admin_cli: ask again until the deadline
            problems = [f"admin_cli list-chains: {e}"]
        if not problems:
            return []
        if time.monotonic() >= deadline:
            return problems
        if problems[0] != last:
            say(f"  waiting for {len(problems)} 3FS chain(s) to be complete again: {problems[0]}")
            last = problems[0]
        time.sleep(poll_s)
