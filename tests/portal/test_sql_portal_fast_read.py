"""The portal read on its fast path (strict decoding first, dicts built by zip, only timestamp
columns looked at) gives exactly the rows of the plain lenient read it replaced (kept below), on
SQLite with cells the strict read refuses, and on PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sfsync.portal import UNREADABLE, SqlPortal

pytestmark = pytest.mark.timeout(120)

T0 = datetime(2024, 3, 1, 12, 0, 0)


def make_table(engine: sa.Engine, *, tz: bool) -> sa.Table:
    metadata = sa.MetaData()
    table = sa.Table(
        "reads",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String),
        sa.Column("notes", sa.Text),
        sa.Column("amount", sa.Numeric(18, 2)),
        sa.Column("close", sa.Date),
        sa.Column("flag", sa.Boolean),
        sa.Column("updated_at", sa.DateTime(timezone=tz)),
        sa.Column("decided_at", sa.DateTime(timezone=tz)),
    )
    metadata.create_all(engine)
    return table


def rows_for(tz: bool) -> list[dict[str, Any]]:
    def when(seconds: int) -> datetime:
        value = T0 + timedelta(seconds=seconds)
        return value.replace(tzinfo=UTC) if tz else value

    values: list[dict[str, Any]] = []
    texts = ["plain", "", "ünïcödé ✓ 漢字 🙂", 'comma, "quote"\nline', "x" * 100_000, " ", None]
    for n in range(40):
        values.append(
            {
                "id": n,
                "name": texts[n % len(texts)],
                "notes": texts[(n + 3) % len(texts)],
                "amount": [Decimal("1000.00"), None, Decimal("0.01"), Decimal("-5")][n % 4],
                "close": [date(2024, 5, 1), None][n % 2],
                "flag": [True, False, None][n % 3],
                "updated_at": None if n % 11 == 0 else when(n // 3),  # ties across batches
                "decided_at": [None, when(7), when(-86400)][n % 3],
            }
        )
    if tz:
        values[5]["decided_at"] = datetime(2024, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    return values


def shape(rows: dict[Any, dict[str, Any]]) -> dict[Any, list[tuple[str, str, str]]]:
    """Rows compared value by value with their exact types (UTC-aware vs naive, Decimal vs float)."""
    return {key: [(k, type(v).__name__, repr(v)) for k, v in row.items()] for key, row in rows.items()}


def old_read(url: str, table: str) -> dict[Any, dict[str, Any]]:
    """The read as it was: the lenient SELECT, then {column: as_utc(value) if a datetime}."""
    portal = SqlPortal(url)
    try:
        tbl = portal._table(table)
        with portal.engine.connect() as conn:
            result = conn.execute(sa.select(tbl))
            columns = list(result.keys())
            found = {}
            for row in result.fetchall():
                out = {
                    k: (
                        (v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC))
                        if isinstance(v, datetime)
                        else v
                    )
                    for k, v in zip(columns, row, strict=True)
                }
                found[out["id"]] = out
        return found
    finally:
        portal.close()


def new_reads(url: str, table: str, batch_size: int) -> tuple[dict[Any, dict[str, Any]], dict[Any, dict[str, Any]]]:
    portal = SqlPortal(url)
    try:
        read: dict[Any, dict[str, Any]] = {}
        for batch in portal.changed_rows(
            table, updated_at="updated_at", since=None, overlap=timedelta(0), batch_size=batch_size, key_column="id"
        ):
            for row in batch:
                assert row["id"] not in read
                read[row["id"]] = row
        by_keys = portal.rows_by_keys(table, "id", list(read))
        return read, by_keys
    finally:
        portal.close()


@pytest.mark.parametrize("tz", [False, True])
@pytest.mark.parametrize("batch_size", [1, 4, 1000])
def test_fast_read_gives_the_old_rows(db_url: str, portal_engine: sa.Engine, tz: bool, batch_size: int) -> None:
    table = make_table(portal_engine, tz=tz)
    with portal_engine.begin() as conn:
        conn.execute(sa.insert(table), rows_for(tz))
    read, by_keys = new_reads(db_url, "reads", batch_size)
    want = shape(old_read(db_url, "reads"))
    assert shape(read) == want
    assert shape(by_keys) == want
    assert all(v.tzinfo is UTC for row in read.values() for v in row.values() if isinstance(v, datetime))


def _plant(path: Path, statements: list[str]) -> None:
    with sqlite3.connect(path) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.mark.parametrize("batch_size", [1, 3, 1000])
def test_cells_the_strict_read_refuses_come_back_as_before(tmp_path: Path, batch_size: int) -> None:
    path = tmp_path / "portal.db"
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    table = make_table(engine, tz=False)
    with engine.begin() as conn:
        conn.execute(sa.insert(table), rows_for(False))
    engine.dispose()
    _plant(
        path,
        [
            "ALTER TABLE reads ADD COLUMN loose",  # no declared type: any value
            "UPDATE reads SET name = CAST(x'4163cd65ff' AS TEXT) WHERE id = 2",  # bytes that are not UTF-8
            "UPDATE reads SET notes = CAST(x'c3' AS TEXT) WHERE id = 9",
            "UPDATE reads SET amount = 'not a number' WHERE id = 3",
            "UPDATE reads SET close = 'someday' WHERE id = 4",
            "UPDATE reads SET decided_at = 'never' WHERE id = 6",
            "UPDATE reads SET decided_at = '2024-03-01 10:00:00+02:00' WHERE id = 7",
            "UPDATE reads SET decided_at = '2024-03-01T10:00:00' WHERE id = 8",
            "UPDATE reads SET amount = 12.5 WHERE id = 10",
            "UPDATE reads SET loose = CAST(x'ff00fe' AS TEXT) WHERE id = 12",
            "UPDATE reads SET loose = 7 WHERE id = 13",
            "UPDATE reads SET loose = '2024-01-01 00:00:00' WHERE id = 14",
            "UPDATE reads SET loose = x'00ff' WHERE id = 15",
        ],
    )
    read, by_keys = new_reads(url, "reads", batch_size)
    old = old_read(url, "reads")
    assert shape(read) == shape(old)
    assert shape(by_keys) == shape(old)
    # what the push looks for is there
    assert "\udcff" in read[2]["name"] and read[3]["amount"] is UNREADABLE and read[6]["decided_at"] is UNREADABLE
    assert read[7]["decided_at"] == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
