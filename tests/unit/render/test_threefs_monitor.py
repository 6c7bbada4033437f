"""The 3FS monitor's ClickHouse schema, run in a real ClickHouse engine (chdb, ClickHouse embedded in Python).

monitor_collector_main inserts into `counters` and `distributions`, so the schema ffinfra renders must
give ClickHouse the very tables upstream's deploy/sql/3fs-monitor.sql gives it (vendored byte for byte in
tests/data/3fs-deploy/). Only the database name and the retention are ffinfra's to choose. chdb is a test
dependency (the `test` extra): without it this module fails, it does not skip.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from chdb.session import Session

from ffinfra.render.threefs_monitor import monitor_schema

UPSTREAM = Path(__file__).resolve().parents[2] / "data" / "3fs-deploy" / "3fs-monitor.sql"
UPSTREAM_SHA256 = "f521f8775c59eb08f11891534c7663b2d1181d778339f0e75bfe0239a4776393"
TABLES = ("counters", "distributions")

# One sample a table, every column given, in the shape the collector sends: a metric, the host, its tags.
# TIMESTAMP is set when inserting: a row older than the retention may vanish at any moment (background merges).
COUNTER = {
    "TIMESTAMP": 0,
    "metricName": "storage.aio_read.bytes",
    "host": "stor001",
    "tag": "",
    "val": 4_194_304,
    "mount_name": "",
    "instance": "storage_main",
    "io": "",
    "uid": "",
    "pod": "",
    "thread": "",
    "statusCode": "",
}
DISTRIBUTION = {
    "TIMESTAMP": 0,
    "metricName": "storage.aio_read.latency",
    "host": "stor001",
    "tag": "",
    "count": 128.0,
    "mean": 210.5,
    "min": 95.0,
    "max": 1830.0,
    "p50": 180.0,
    "p90": 320.0,
    "p95": 410.0,
    "p99": 900.0,
    "mount_name": "",
    "instance": "storage_main",
    "io": "",
    "uid": "",
    "method": "",
    "pod": "",
    "thread": "",
    "statusCode": "",
}


def statements(sql: str) -> list[str]:
    """The script's statements, one at a time (each ends with `;` at the end of a line)."""
    return [s for s in re.split(r";\s*$", sql, flags=re.M) if s.strip()]


@contextmanager
def clickhouse(path: Path, sql: str) -> Iterator[Session]:
    """A ClickHouse session on a data folder of its own, after running sql there statement by statement.

    chdb runs one embedded server per process, so sessions are opened one after another, never side by side.
    """
    path.mkdir()
    session = Session(str(path))
    try:
        for statement in statements(sql):
            session.query(statement)
        yield session
    finally:
        session.close()


def rows(session: Session, sql: str) -> list[dict[str, Any]]:
    text = str(session.query(sql + " SETTINGS output_format_json_quote_64bit_integers = 0", "JSONEachRow"))
    return [json.loads(line) for line in text.splitlines()]


def columns(session: Session, db: str, table: str) -> list[tuple[str, str]]:
    found = rows(
        session,
        f"SELECT name, type FROM system.columns WHERE database = '{db}' AND table = '{table}' ORDER BY position",
    )
    return [(c["name"], c["type"]) for c in found]


def catalogue(session: Session, db: str) -> dict[str, Any]:
    """What ClickHouse made of a schema: every column and every table as system.columns and system.tables say."""
    cols = rows(
        session,
        "SELECT table, name, type, position, compression_codec, default_kind, default_expression,"
        " is_in_partition_key, is_in_sorting_key, is_in_primary_key"
        f" FROM system.columns WHERE database = '{db}' ORDER BY table, position",
    )
    tables = rows(
        session,
        "SELECT name, engine, sorting_key, partition_key, primary_key, engine_full"
        f" FROM system.tables WHERE database = '{db}' ORDER BY name",
    )
    return {"columns": cols, "tables": tables}


def upstream_columns() -> dict[str, list[tuple[str, str]]]:
    """(name, type) of each column of each table, in order, read from upstream's SQL text."""
    sql = UPSTREAM.read_text()
    found: dict[str, list[tuple[str, str]]] = {}
    for table, body in re.findall(r"CREATE TABLE IF NOT EXISTS \w+\.(\w+) \((.*?)\n\)", sql, flags=re.S):
        found[table] = [(m[1], m[2]) for m in re.finditer(r"^\s*`(\w+)` (.+?)(?: CODEC\(.*\))?,?$", body, flags=re.M)]
    return found


def insert(session: Session, table: str, sample: dict[str, Any]) -> None:
    session.query(f"INSERT INTO {table} FORMAT JSONEachRow {json.dumps(sample)}")


def read_back(session: Session, table: str) -> list[dict[str, Any]]:
    """Every row; TIMESTAMP as Unix seconds, as it went in (DateTime text would be in the server's timezone)."""
    return rows(session, f"SELECT * REPLACE (toUnixTimestamp(TIMESTAMP) AS TIMESTAMP) FROM {table}")


def test_vendored_upstream_schema_is_the_one_of_the_pinned_commit():
    assert hashlib.sha256(UPSTREAM.read_bytes()).hexdigest() == UPSTREAM_SHA256
    assert set(upstream_columns()) == set(TABLES)


def test_first_line_names_the_stack_and_the_render_is_byte_identical_every_time():
    first = monitor_schema("ff2", "3fs", 1)
    assert first.splitlines()[0].startswith("-- Generated by ffinfra from stack 'ff2'.")
    assert first.endswith(";\n")
    assert monitor_schema("ff2", "3fs", 1) == first


def test_both_tables_get_upstreams_columns_with_the_same_names_types_and_order(tmp_path):
    expected = upstream_columns()
    assert [c for c, _ in expected["counters"]] == list(COUNTER)  # the samples below are whole rows
    assert [c for c, _ in expected["distributions"]] == list(DISTRIBUTION)
    with clickhouse(tmp_path / "ch", monitor_schema("lab", "3fs", 1)) as ch:
        assert rows(ch, "SELECT name FROM system.tables WHERE database = '3fs' ORDER BY name") == [
            {"name": t} for t in TABLES
        ]
        for table in TABLES:
            assert columns(ch, "3fs", table) == expected[table]


def test_clickhouse_makes_the_same_tables_of_ours_as_of_upstreams_file(tmp_path):
    """Columns with codecs and keys, engine, sorting/partition/primary keys, TTL and settings: all the same."""
    with clickhouse(tmp_path / "upstream", UPSTREAM.read_text()) as ch:
        theirs = catalogue(ch, "3fs")
    with clickhouse(tmp_path / "ours", monitor_schema("lab", "3fs", 1)) as ch:
        ours = catalogue(ch, "3fs")
    assert len(theirs["columns"]) == 12 + 20
    assert [t["engine"] for t in theirs["tables"]] == ["MergeTree", "MergeTree"]
    assert ours == theirs


def test_a_sample_inserted_into_each_table_reads_back_unchanged(tmp_path):
    now = int(time.time())
    counter, distribution = {**COUNTER, "TIMESTAMP": now}, {**DISTRIBUTION, "TIMESTAMP": now}
    with clickhouse(tmp_path / "ch", monitor_schema("lab", "3fs", 1)) as ch:
        insert(ch, "`3fs`.counters", counter)
        insert(ch, "`3fs`.distributions", distribution)
        assert read_back(ch, "`3fs`.counters") == [counter]
        assert read_back(ch, "`3fs`.distributions") == [distribution]
        # in column order, as a positional insert would see them
        assert [list(r) for r in rows(ch, "SELECT * FROM `3fs`.distributions")] == [list(DISTRIBUTION)]


def test_another_database_name_and_retention_are_the_ones_used(tmp_path):
    sql = monitor_schema("lab", "hf3fs_monitor", 3)
    assert "3fs`" not in sql and "toIntervalMonth(1)" not in sql
    with clickhouse(tmp_path / "ch", sql) as ch:
        assert rows(ch, "SELECT DISTINCT database FROM system.tables WHERE name IN ('counters', 'distributions')") == [
            {"database": "hf3fs_monitor"}
        ]
        for table in rows(ch, "SELECT engine_full FROM system.tables WHERE database = 'hf3fs_monitor'"):
            assert "TTL TIMESTAMP + toIntervalMonth(3) " in table["engine_full"]
        assert columns(ch, "hf3fs_monitor", "counters") == upstream_columns()["counters"]


@pytest.mark.parametrize(("ttl_months", "kept"), [(1, ["now"]), (3, ["2 months ago", "now"])])
def test_samples_older_than_the_retention_are_dropped(tmp_path, ttl_months, kept):
    with clickhouse(tmp_path / "ch", monitor_schema("lab", "3fs", ttl_months)) as ch:
        for tag, age in (("now", "toIntervalSecond(0)"), ("2 months ago", "toIntervalMonth(2)")):
            ch.query(
                "INSERT INTO `3fs`.counters (TIMESTAMP, metricName, host, tag, val)"
                f" VALUES (now() - {age}, 'storage.aio_read.bytes', 'stor001', '{tag}', 1)"
            )
        ch.query("OPTIMIZE TABLE `3fs`.counters FINAL")  # TTL is applied when parts merge: now, not some time later
        assert [r["tag"] for r in rows(ch, "SELECT tag FROM `3fs`.counters ORDER BY TIMESTAMP")] == kept


def test_database_name_is_quoted_so_an_all_digit_name_works_too(tmp_path):
    """ClickHouse takes `3fs` bare (a number followed by letters lexes as a name) but not `2026` or `1e3`."""
    with clickhouse(tmp_path / "ch", monitor_schema("lab", "2026", 1)) as ch:
        assert columns(ch, "2026", "counters") == upstream_columns()["counters"]


@pytest.mark.parametrize("db", ["", "3fs`; DROP DATABASE system; --", "monitor.3fs", "3fs monitor", "mon-itor"])
def test_a_database_name_that_would_need_escaping_is_refused(db):
    with pytest.raises(ValueError, match="database name"):
        monitor_schema("lab", db, 1)


@pytest.mark.parametrize("ttl_months", [0, -1, True, 1.5])
def test_retention_must_be_a_whole_number_of_months(ttl_months):
    with pytest.raises(ValueError, match="ttl_months"):
        monitor_schema("lab", "3fs", ttl_months)
