"""The ClickHouse schema of the 3FS monitor (database, `counters` and `distributions`), from templates/threefs/.

monitor_collector_main inserts into these tables, so the columns are upstream's (deploy/sql/3fs-monitor.sql)
exactly; what a stack may choose is the database name and how long samples are kept.
"""

from __future__ import annotations

import re

from ffinfra.render.env import header, render

TEMPLATE = "threefs/monitor.sql.j2"
# Written between backticks, so a name starting with a digit (upstream's `3fs`) is fine; a backtick or
# anything else that would need escaping is refused rather than quoted.
DB_NAME = re.compile(r"[A-Za-z0-9_]+")


def monitor_schema(stack: str, db: str, ttl_months: int) -> str:
    """The SQL script that creates the monitor's database and tables (rows expire ttl_months after TIMESTAMP)."""
    if not DB_NAME.fullmatch(db):
        raise ValueError(f"ClickHouse database name {db!r}: only letters, digits and _")
    if isinstance(ttl_months, bool) or not isinstance(ttl_months, int) or ttl_months < 1:
        raise ValueError(f"ttl_months must be a whole number of months >= 1, not {ttl_months!r}")
    return render(TEMPLATE, header=header("--", stack), db=db, ttl_months=ttl_months)
