"""The chain files 3FS's admin_cli takes, byte for byte in the formats upstream's gen_chain_table.py writes:

    generated_chains.csv        ChainId,TargetId,... (one TargetId column per replica), a chain a line, by chain id
    generated_chain_table.csv   ChainId, then one chain id a line
    create_target_cmd.txt       one `create-target` a target, fed to admin_cli on stdin
    remove_target_cmd.txt       `offline-target` then `remove-target` a target

    admin_cli upload-chains generated_chains.csv
    admin_cli upload-chain-table --desc stage 1 generated_chain_table.csv

The chain table itself is the compiler's decision (topology/chains.py); this only writes it down. Without a chunk
size, upstream's create-target line has two spaces before --use-new-chunk-engine; so does ours.
"""

from __future__ import annotations

from collections.abc import Iterator

from ffinfra.topology.chains import Chain, ChainTable, Resize, Target

CHAINS = "generated_chains.csv"
CHAIN_TABLE = "generated_chain_table.csv"
CREATE_TARGETS = "create_target_cmd.txt"
REMOVE_TARGETS = "remove_target_cmd.txt"


def chains_csv(table: ChainTable) -> str:
    lines = ["ChainId," + ",".join(["TargetId"] * table.replication)]
    lines += [f"{c.chain_id}," + ",".join(str(t.target_id) for t in c.targets) for c in table.chains]
    return "\n".join(lines) + "\n"


def chain_table_csv(table: ChainTable) -> str:
    return "\n".join(["ChainId", *(str(c.chain_id) for c in table.chains)]) + "\n"


def _targets(table: ChainTable) -> Iterator[tuple[Chain, Target]]:
    """Every target with its chain, in chain order: the order of both command files."""
    return ((c, t) for c in table.chains for t in c.targets)


def create_target_cmds(table: ChainTable) -> str:
    return "".join(
        f"create-target --node-id {t.node_id} --disk-index {t.disk} --target-id {t.target_id} "
        f"--chain-id {c.chain_id}  --use-new-chunk-engine\n"
        for c, t in _targets(table)
    )


def remove_target_cmds(table: ChainTable) -> str:
    return "".join(
        f"offline-target --node-id {t.node_id} --target-id {t.target_id}\n"
        f"remove-target --node-id {t.node_id} --target-id {t.target_id}\n"
        for _, t in _targets(table)
    )


def chain_files(table: ChainTable) -> dict[str, str]:
    """file name → content, the four files admin_cli takes."""
    return {
        CHAINS: chains_csv(table),
        CHAIN_TABLE: chain_table_csv(table),
        CREATE_TARGETS: create_target_cmds(table),
        REMOVE_TARGETS: remove_target_cmds(table),
    }


RESIZE_CREATE = "resize_create_target_cmd.txt"
RESIZE_CHAINS = "resize_chains_during.csv"
RESIZE_REMOVE = "resize_remove_target_cmd.txt"


def resize_files(before: ChainTable, r: Resize) -> dict[str, str]:
    """The files of a growth or shrink, in upstream's formats, for its ordered steps (ffinfra plan):

    resize_create_target_cmd.txt  create-target for every target that receives a replica or opens a new chain
    resize_chains_during.csv      every chain that changes, with its old and new targets side by side (upload-chains:
                                  the new ones sync while the old ones still serve)
    resize_remove_target_cmd.txt  offline-target and remove-target for every replaced target, once synced
    """
    if not r.moves and not r.new_chains:
        return {}
    old = {c.chain_id: c for c in before.chains}
    new = {c.chain_id: c for c in r.table.chains}
    moved = sorted({m.chain_id for m in r.moves})
    created = [(new[m.chain_id], m.into) for m in r.moves] + [(c, t) for c in r.new_chains for t in c.targets]
    width = before.replication + max((sum(1 for m in r.moves if m.chain_id == c) for c in moved), default=0)
    during = ["ChainId," + ",".join(["TargetId"] * width)]
    for cid in moved:
        ids = [t.target_id for t in old[cid].targets] + [m.into.target_id for m in r.moves if m.chain_id == cid]
        during.append(f"{cid}," + ",".join(map(str, ids)))
    return {
        RESIZE_CREATE: "".join(
            f"create-target --node-id {t.node_id} --disk-index {t.disk} --target-id {t.target_id} "
            f"--chain-id {c.chain_id}  --use-new-chunk-engine\n"
            for c, t in created
        ),
        RESIZE_CHAINS: "\n".join(during) + "\n",
        RESIZE_REMOVE: "".join(
            f"offline-target --node-id {m.out.node_id} --target-id {m.out.target_id}\n"
            f"remove-target --node-id {m.out.node_id} --target-id {m.out.target_id}\n"
            for m in r.moves
        ),
    }
