"""Impact classes, ordered from harmless to impossible. A plan's impact is the highest of its rows."""

from __future__ import annotations

import enum


class Impact(enum.IntEnum):
    NOOP = 0
    HOT_RELOAD = 10
    ROLLING_RESTART = 20
    ROLLING_REBOOT = 30
    FABRIC_REROUTE = 40
    DATA_MIGRATION = 50
    DESTRUCTIVE = 60
    UNSUPPORTED = 70

    @property
    def label(self) -> str:
        return LABELS[self]

    @property
    def slug(self) -> str:
        return self.name.lower().replace("_", "-")


LABELS = {
    Impact.NOOP: "no-op",
    Impact.HOT_RELOAD: "hot reload",
    Impact.ROLLING_RESTART: "rolling restart",
    Impact.ROLLING_REBOOT: "rolling reboot",
    Impact.FABRIC_REROUTE: "fabric re-route",
    Impact.DATA_MIGRATION: "3FS data migration",
    Impact.DESTRUCTIVE: "destructive re-create",
    Impact.UNSUPPORTED: "unsupported",
}

# What the level means for the people running the cluster (the Markdown legend and `--help` use these).
MEANING = {
    Impact.NOOP: "nothing runs differently (documentation, thresholds, tool settings)",
    Impact.HOT_RELOAD: "a daemon re-reads its config, or the next job picks it up; nothing stops",
    Impact.ROLLING_RESTART: "daemons restart: `up` and `upgrade` take them through the plan's batches (drained, "
    "applied, gated, resumed); running jobs finish first (--all-at-once: everywhere at once)",
    Impact.ROLLING_REBOOT: "nodes are drained, applied and rebooted batch by batch (`up`, `upgrade`); hardware to "
    "swap or re-cable between the drain and the reboot is the operator's",
    Impact.FABRIC_REROUTE: "OpenSM restarts, SM host by SM host (standby first), and recomputes routes (cables may "
    "move): brief traffic disruption",
    Impact.DATA_MIGRATION: "3FS chain tables change and data moves between storage targets",
    Impact.DESTRUCTIVE: "something stateful is re-created and its data is lost: refused unless --allow-destructive",
    Impact.UNSUPPORTED: "ffinfra cannot apply this to a running cluster: rebuild it",
}
