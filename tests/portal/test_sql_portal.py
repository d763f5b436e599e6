"""SqlPortal on SQLite and PostgreSQL: keyset pagination, overlap, filters, time zones, write-back."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfsync.errors import ConfigError
from sfsync.portal import FilterCondition, PortalAdapter, SqlPortal
from sfsync.text.urls import redact_database_url

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)

# A keyset bug shows up as an endless loop, not a wrong answer: fail fast instead of hanging.
pytestmark = pytest.mark.timeout(120)


def make_table(engine: sa.Engine, *, tz: bool = False, name: str = "registrations") -> sa.Table:
    metadata = sa.MetaData()
    table = sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("external_id", sa.String(40), nullable=False, unique=True),
        sa.Column("status", sa.String(20)),
        sa.Column("amount", sa.Numeric(12, 2)),
        sa.Column("updated_at", sa.DateTime(timezone=tz)),
        sa.Column("sf_status", sa.String(40)),
        sa.Column("sf_id", sa.String(18)),
        sa.Column("decided_at", sa.DateTime(timezone=tz)),
    )
    metadata.create_all(engine)
    return table


def stored(value: datetime | None, *, tz: bool) -> datetime | None:
    """How a portal application stores a UTC instant: naive UTC unless the column has a zone."""
    if value is None or tz:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def insert(engine: sa.Engine, table: sa.Table, rows: list[dict[str, Any]], *, tz: bool = False) -> None:
    prepared = []
    for row in rows:
        full = {
            "external_id": f"R-{row['id']:05d}",
            "status": "approved",
            "amount": Decimal("1000.00"),
            "sf_status": None,
            "sf_id": None,
            "decided_at": None,
            **row,
        }
        full["updated_at"] = stored(full.get("updated_at"), tz=tz)
        prepared.append(full)
    with engine.begin() as conn:
        conn.execute(sa.insert(table), prepared)


def ids(batches: list[list[dict[str, Any]]]) -> list[int]:
    return [row["id"] for batch in batches for row in batch]


# -- keyset pagination ------------------------------------------------------------------------


def test_keyset_pagination_over_equal_timestamps(db_url: str, portal_engine: sa.Engine) -> None:
    table = make_table(portal_engine)
    # 23 rows; 11 of them share one timestamp, so page boundaries fall inside the tie.
    rows = [{"id": i, "updated_at": T0 + timedelta(seconds=0 if i % 2 else i)} for i in range(1, 24)]
    insert(portal_engine, table, rows)
    portal = SqlPortal(db_url)
    try:
        for batch_size in (1, 2, 3, 5, 7, 23, 100):
            batches = list(
                portal.changed_rows(
                    "registrations", updated_at="updated_at", since=None, overlap=timedelta(0), batch_size=batch_size
                )
            )
            got = ids(batches)
            expected = [r["id"] for r in sorted(rows, key=lambda r: (r["updated_at"], r["id"]))]
            assert got == expected, batch_size
            assert all(len(b) <= batch_size for b in batches)
            assert all(b for b in batches)
    finally:
        portal.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=4), min_size=0, max_size=40),
    batch_size=st.integers(min_value=1, max_value=9),
    since_offset=st.integers(min_value=0, max_value=5),
)
def test_keyset_property_no_row_skipped_or_repeated(
    tmp_path: Path, offsets: list[int], batch_size: int, since_offset: int
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'prop.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS registrations"))
    table = make_table(engine)
    rows: list[dict[str, Any]] = [{"id": i + 1, "updated_at": T0 + timedelta(minutes=o)} for i, o in enumerate(offsets)]
    if rows:
        insert(engine, table, rows)
    portal = SqlPortal("sqlite://", engine=engine)
    since = T0 + timedelta(minutes=since_offset)
    batches = list(
        portal.changed_rows(
            "registrations", updated_at="updated_at", since=since, overlap=timedelta(minutes=1), batch_size=batch_size
        )
    )
    expected = [
        r["id"]
        for r in sorted(rows, key=lambda r: (r["updated_at"], r["id"]))
        if r["updated_at"] >= since - timedelta(minutes=1)
    ]
    assert ids(batches) == expected
    engine.dispose()


def test_rows_changed_between_batches_are_not_lost(db_url: str, portal_engine: sa.Engine) -> None:
    """Each batch is a fresh query: a row updated mid-read moves behind the cursor and is seen."""
    table = make_table(portal_engine)
    insert(portal_engine, table, [{"id": i, "updated_at": T0 + timedelta(seconds=i)} for i in range(1, 7)])
    portal = SqlPortal(db_url)
    seen: list[int] = []
    for n, batch in enumerate(
        portal.changed_rows("registrations", updated_at="updated_at", since=None, overlap=timedelta(0), batch_size=2)
    ):
        seen.extend(r["id"] for r in batch)
        if n == 0:  # row 1 (already read) and row 4 (not yet) are edited now
            with portal_engine.begin() as conn:
                conn.execute(
                    sa.update(table)
                    .where(table.c.id.in_([1, 4]))
                    .values(updated_at=stored(T0 + timedelta(hours=1), tz=False))
                )
    assert seen == [1, 2, 3, 5, 6, 1, 4]
    portal.close()


def test_full_read_includes_rows_without_updated_at(db_url: str, portal_engine: sa.Engine) -> None:
    table = make_table(portal_engine)
    insert(
        portal_engine,
        table,
        [
            {"id": 1, "updated_at": T0},
            {"id": 2, "updated_at": None},
            {"id": 3, "updated_at": None},
        ],
    )
    portal = SqlPortal(db_url)
    full = list(
        portal.changed_rows("registrations", updated_at="updated_at", since=None, overlap=timedelta(0), batch_size=1)
    )
    assert ids(full) == [2, 3, 1]
    incremental = list(
        portal.changed_rows(
            "registrations", updated_at="updated_at", since=T0 - timedelta(days=1), overlap=timedelta(0)
        )
    )
    assert ids(incremental) == [1]
    portal.close()


# -- overlap, filters, time zones -------------------------------------------------------------


def test_overlap_window_is_inclusive(db_url: str, portal_engine: sa.Engine) -> None:
    table = make_table(portal_engine)
    insert(
        portal_engine,
        table,
        [
            {"id": 1, "updated_at": T0 - timedelta(minutes=6)},
            {"id": 2, "updated_at": T0 - timedelta(minutes=5)},
            {"id": 3, "updated_at": T0 - timedelta(minutes=4)},
            {"id": 4, "updated_at": T0},
            {"id": 5, "updated_at": T0 + timedelta(microseconds=1)},
        ],
    )
    portal = SqlPortal(db_url)
    got = list(portal.changed_rows("registrations", updated_at="updated_at", since=T0, overlap=timedelta(minutes=5)))
    assert ids(got) == [2, 3, 4, 5]
    got = list(portal.changed_rows("registrations", updated_at="updated_at", since=T0, overlap=timedelta(0)))
    assert ids(got) == [4, 5]
    portal.close()


def test_filter_conditions(db_url: str, portal_engine: sa.Engine) -> None:
    table = make_table(portal_engine)
    statuses = ["approved", "submitted", "draft", None, "approved"]
    insert(
        portal_engine,
        table,
        [{"id": i + 1, "updated_at": T0 + timedelta(seconds=i), "status": s} for i, s in enumerate(statuses)],
    )
    portal = SqlPortal(db_url)

    def read(*conditions: dict[str, Any]) -> list[int]:
        filt = [FilterCondition.model_validate(c) for c in conditions]
        return ids(
            list(
                portal.changed_rows(
                    "registrations", updated_at="updated_at", since=None, overlap=timedelta(0), filter=filt
                )
            )
        )

    assert read({"column": "status", "op": "in", "value": ["approved", "submitted"]}) == [1, 2, 5]
    assert read({"column": "status", "value": "draft"}) == [3]
    assert read({"column": "status", "op": "is_null"}) == [4]
    assert read({"column": "status", "op": "not_null"}) == [1, 2, 3, 5]
    assert read({"column": "status", "op": "ne", "value": "draft"}) == [1, 2, 5]
    assert read({"column": "status", "op": "in", "value": []}) == []
    assert read({"column": "status", "op": "not_in", "value": []}) == [1, 2, 3, 4, 5]
    assert read({"column": "status", "op": "not_in", "value": ["approved"]}) == [2, 3]
    assert read(
        {"column": "status", "op": "in", "value": ["approved"]},
        {"column": "external_id", "op": "in", "value": ["R-00005"]},
    ) == [5]
    assert read(
        {"column": "amount", "value": Decimal("1000.00")}, {"column": "updated_at", "value": T0 + timedelta(seconds=1)}
    ) == [2]
    assert read({"column": "updated_at", "op": "ge", "value": T0 + timedelta(seconds=3)}) == [4, 5]
    assert read({"column": "updated_at", "op": "lt", "value": T0 + timedelta(seconds=1)}) == [1]
    # A would-be injection is just a value that matches nothing.
    assert read({"column": "status", "value": "x' OR '1'='1"}) == []
    with pytest.raises(ConfigError, match="'nope'"):
        read({"column": "nope", "value": "x"})
    with pytest.raises(ValueError, match="list value"):
        read({"column": "status", "op": "in", "value": "approved"})
    with pytest.raises(ValueError, match="takes no value"):
        read({"column": "status", "op": "is_null", "value": "x"})
    with pytest.raises(ValueError, match="column"):
        read({"column": "status; DROP TABLE x", "value": "x"})
    portal.close()


@pytest.mark.parametrize("tz", [False, True], ids=["naive-column", "tz-column"])
def test_time_zones(db_url: str, portal_engine: sa.Engine, tz: bool) -> None:
    table = make_table(portal_engine, tz=tz)
    insert(
        portal_engine,
        table,
        [
            {"id": 1, "updated_at": T0 - timedelta(hours=1), "decided_at": stored(T0, tz=tz)},
            {"id": 2, "updated_at": T0 + timedelta(hours=1)},
        ],
        tz=tz,
    )
    portal = SqlPortal(db_url)
    # The same instant as T0, spelled in UTC+02:00: only row 2 is newer.
    since = T0.astimezone(timezone(timedelta(hours=2)))
    rows = [
        r
        for b in portal.changed_rows("registrations", updated_at="updated_at", since=since, overlap=timedelta(0))
        for r in b
    ]
    assert [r["id"] for r in rows] == [2]
    assert rows[0]["updated_at"] == T0 + timedelta(hours=1)
    assert rows[0]["updated_at"].tzinfo is UTC
    everything = portal.rows_by_keys("registrations", "id", [1])
    assert everything[1]["decided_at"] == T0 and everything[1]["decided_at"].tzinfo is UTC
    assert portal.max_updated_at("registrations", "updated_at") == T0 + timedelta(hours=1)
    with pytest.raises(ValueError, match="timezone-aware"):
        list(
            portal.changed_rows(
                "registrations", updated_at="updated_at", since=datetime(2024, 1, 1), overlap=timedelta(0)
            )
        )
    portal.close()


def test_max_updated_at_empty_table(db_url: str, portal_engine: sa.Engine) -> None:
    make_table(portal_engine)
    portal = SqlPortal(db_url)
    assert portal.max_updated_at("registrations", "updated_at") is None
    assert list(portal.changed_rows("registrations", updated_at="updated_at", since=None, overlap=timedelta(0))) == []
    portal.close()


# -- lookups ------------------------------------------------------------------------------------


def test_rows_by_keys_and_existing_keys(db_url: str, portal_engine: sa.Engine) -> None:
    table = make_table(portal_engine)
    insert(portal_engine, table, [{"id": i, "updated_at": T0} for i in range(1, 1201)])
    portal = SqlPortal(db_url)
    wanted = [f"R-{i:05d}" for i in range(0, 1300, 3)]  # more keys than one IN chunk, some missing
    found = portal.rows_by_keys("registrations", "external_id", wanted)
    assert set(found) == {k for k in wanted if 1 <= int(k[2:]) <= 1200}
    assert found["R-00003"]["id"] == 3
    assert portal.existing_keys("registrations", "external_id", wanted) == set(found)
    assert portal.existing_keys("registrations", "external_id", []) == set()
    assert portal.rows_by_keys("registrations", "external_id", []) == {}
    portal.close()


# -- write-back -----------------------------------------------------------------------------------


def test_write_back_leaves_updated_at_alone(db_url: str, portal_engine: sa.Engine) -> None:
    table = make_table(portal_engine)
    insert(portal_engine, table, [{"id": i, "updated_at": T0 + timedelta(seconds=i)} for i in range(1, 5)])
    portal = SqlPortal(db_url)
    decided = datetime(2024, 3, 2, 9, 30, tzinfo=UTC)
    count = portal.write_back(
        "registrations",
        "external_id",
        [
            ("R-00001", {"sf_status": "Approved", "sf_id": "006000000000001AAA", "decided_at": decided}),
            ("R-00002", {"sf_status": "Rejected", "sf_id": "006000000000002AAA", "decided_at": decided}),
            ("R-00003", {"sf_id": "006000000000003AAA"}),
            ("R-09999", {"sf_id": "006000000000009AAA"}),  # gone from the portal: no row updated
        ],
    )
    assert count == 3
    rows = portal.rows_by_keys("registrations", "id", [1, 2, 3, 4])
    assert rows[1]["sf_status"] == "Approved" and rows[1]["decided_at"] == decided
    assert rows[2]["sf_status"] == "Rejected"
    assert rows[3]["sf_id"] == "006000000000003AAA" and rows[3]["sf_status"] is None
    assert rows[4]["sf_id"] is None
    for i in range(1, 5):
        assert rows[i]["updated_at"] == T0 + timedelta(seconds=i)
    assert portal.max_updated_at("registrations", "updated_at") == T0 + timedelta(seconds=4)
    # Nothing new for an incremental reader after a write-back.
    after = list(
        portal.changed_rows(
            "registrations", updated_at="updated_at", since=T0 + timedelta(seconds=5), overlap=timedelta(0)
        )
    )
    assert after == []
    assert portal.write_back("registrations", "external_id", []) == 0
    with pytest.raises(ValueError, match="key column"):
        portal.write_back("registrations", "external_id", [("R-00001", {"external_id": "R-1"})])
    with pytest.raises(ConfigError, match="'bogus'"):
        portal.write_back("registrations", "external_id", [("R-00001", {"bogus": 1})])
    portal.close()


def test_write_back_many_rows_counts_all(db_url: str, portal_engine: sa.Engine) -> None:
    table = make_table(portal_engine)
    insert(portal_engine, table, [{"id": i, "updated_at": T0} for i in range(1, 301)])
    portal = SqlPortal(db_url)
    updates = [(f"R-{i:05d}", {"sf_status": f"S{i}"}) for i in range(1, 301)]
    assert portal.write_back("registrations", "external_id", updates) == 300
    rows = portal.rows_by_keys("registrations", "id", [150, 300])
    assert rows[150]["sf_status"] == "S150" and rows[300]["sf_status"] == "S300"
    portal.close()


def test_write_back_is_one_transaction(db_url: str, portal_engine: sa.Engine) -> None:
    metadata = sa.MetaData()
    table = sa.Table(
        "strict",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sf_status", sa.String(20)),
        sa.Column("score", sa.Integer, sa.CheckConstraint("score >= 0")),
    )
    metadata.create_all(portal_engine)
    with portal_engine.begin() as conn:
        conn.execute(sa.insert(table), [{"id": 1, "score": 1}, {"id": 2, "score": 1}])
    portal = SqlPortal(db_url)
    from sfsync.errors import PortalRejectedError

    with pytest.raises(PortalRejectedError) as excinfo:  # the engine then retries record by record
        portal.write_back("strict", "id", [(1, {"sf_status": "Approved"}), (2, {"score": -1})])
    # Issue 12: the statement and its parameters (partner values) are never in the message.
    assert "Approved" not in str(excinfo.value) and "UPDATE" not in str(excinfo.value)
    assert "constraint" in str(excinfo.value)
    with portal_engine.connect() as conn:
        assert conn.execute(sa.select(table.c.sf_status).where(table.c.id == 1)).scalar() is None
    portal.close()


# -- configuration errors ---------------------------------------------------------------------------


def test_unknown_table_and_column(db_url: str, portal_engine: sa.Engine) -> None:
    make_table(portal_engine)
    portal = SqlPortal(db_url)
    with pytest.raises(ConfigError, match="'nope'") as excinfo:
        portal.max_updated_at("nope", "updated_at")
    assert excinfo.value.exit_code == 2
    with pytest.raises(ConfigError, match=r"no column 'modified'.*updated-at"):
        list(portal.changed_rows("registrations", updated_at="modified", since=None, overlap=timedelta(0)))
    with pytest.raises(ConfigError, match="no column 'ext'"):
        portal.rows_by_keys("registrations", "ext", ["a"])
    portal.check_columns("registrations", ["id", "updated_at", "sf_status"])
    with pytest.raises(ConfigError, match="no column\\(s\\) 'decision', 'zz'") as excinfo:
        portal.check_columns("registrations", ["zz", "updated_at", "decision"])
    assert excinfo.value.context.fields == ("decision", "zz")
    with pytest.raises(ConfigError, match="'elsewhere' does not exist"):
        portal.check_columns("elsewhere", ["id"])
    with pytest.raises(ConfigError, match="not a timestamp"):
        list(portal.changed_rows("registrations", updated_at="status", since=None, overlap=timedelta(0)))
    portal.close()


@pytest.mark.postgres
def test_errors_hide_the_password(postgres_url: str) -> None:
    url = postgres_url.replace("postgres@", "postgres:s3cr3t-pw@")
    portal = SqlPortal(url)
    with pytest.raises(ConfigError) as excinfo:
        portal.rows_by_keys("missing_table", "id", [1])
    assert "s3cr3t-pw" not in str(excinfo.value)
    assert "***" in str(excinfo.value)
    assert "missing_table" in str(excinfo.value)
    portal.close()
    assert "s3cr3t-pw" not in redact_database_url(url)


def test_table_without_primary_key_needs_a_key_column(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE feed (ext TEXT, updated_at DATETIME)"))
        conn.execute(
            sa.text("INSERT INTO feed VALUES ('b', '2024-03-01 12:00:00.000000'), ('a', '2024-03-01 12:00:00.000000')")
        )
    portal = SqlPortal(f"sqlite:///{tmp_path / 'p.db'}")
    with pytest.raises(ConfigError, match="no primary key"):
        list(portal.changed_rows("feed", updated_at="updated_at", since=None, overlap=timedelta(0)))
    rows = [
        r
        for b in portal.changed_rows(
            "feed", updated_at="updated_at", since=None, overlap=timedelta(0), key_column="ext", batch_size=1
        )
        for r in b
    ]
    assert [r["ext"] for r in rows] == ["a", "b"]
    assert rows[0]["updated_at"] == T0
    portal.close()
    engine.dispose()


def test_bad_urls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        SqlPortal(f"sqlite:///{tmp_path / 'absent.db'}")
    with pytest.raises(ConfigError, match="not a valid"):
        SqlPortal("not a url")
    with pytest.raises(ConfigError, match="driver"):
        SqlPortal("mysql+nosuchdriver://u:pw@localhost/db")


def test_bad_arguments(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    make_table(engine)
    portal = SqlPortal("sqlite://", engine=engine)
    with pytest.raises(ValueError, match="batch_size"):
        next(
            portal.changed_rows(
                "registrations", updated_at="updated_at", since=None, overlap=timedelta(0), batch_size=0
            )
        )
    with pytest.raises(ValueError, match="overlap"):
        next(portal.changed_rows("registrations", updated_at="updated_at", since=None, overlap=timedelta(seconds=-1)))
    portal.close()
    # An engine passed in belongs to the caller: close() leaves it usable.
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar() == 1
    engine.dispose()


def test_sql_portal_is_a_portal_adapter(db_url: str, portal_engine: sa.Engine) -> None:
    portal = SqlPortal(db_url)
    assert isinstance(portal, PortalAdapter)
    assert portal.dialect == db_url.partition(":")[0].partition("+")[0]
    portal.close()


@pytest.mark.postgres
def test_schema_qualified_table_name(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
    make_table(engine)
    insert(engine, sa.Table("registrations", sa.MetaData(), autoload_with=engine), [{"id": 1, "updated_at": T0}])
    portal = SqlPortal(postgres_url)
    assert portal.max_updated_at(f"{schema}.registrations", "updated_at") == T0
    portal.close()
    engine.dispose()


def test_batches_stream(db_url: str, portal_engine: sa.Engine) -> None:
    """The iterator is lazy: taking the first batch reads one page, not the table."""
    table = make_table(portal_engine)
    insert(portal_engine, table, [{"id": i, "updated_at": T0} for i in range(1, 51)])
    portal = SqlPortal(db_url)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    sa.event.listen(portal.engine, "before_cursor_execute", count)
    iterator = portal.changed_rows(
        "registrations", updated_at="updated_at", since=T0 - timedelta(days=1), overlap=timedelta(0), batch_size=10
    )
    first = list(itertools.islice(iterator, 1))
    selects = [s for s in statements if "registrations" in s and s.lstrip().upper().startswith("SELECT")]
    assert len(first[0]) == 10
    # reflection queries aside, exactly one page was fetched
    assert sum("LIMIT" in s.upper() for s in selects) == 1
    portal.close()


def test_unindexed_key_column_is_reported_once(
    db_url: str, portal_engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    make_table(portal_engine)  # external_id is UNIQUE, id the primary key, status not indexed
    portal = SqlPortal(db_url)
    with caplog.at_level("WARNING", logger="sfsync.portal"):
        portal.rows_by_keys("registrations", "external_id", ["R-1"])
        portal.rows_by_keys("registrations", "id", [1])
        assert caplog.records == []
        portal.rows_by_keys("registrations", "status", ["x"])
        portal.write_back("registrations", "status", [("x", {"sf_status": "y"})])
    assert len(caplog.records) == 1
    assert "registrations.status has no index" in caplog.records[0].getMessage()
    portal.close()


# -- a write the portal refuses: one typed error, no SQL, no parameters (law 1) ----------------------


def _strict_table(engine: sa.Engine) -> None:
    metadata = sa.MetaData()
    sa.Table(
        "decisions",
        metadata,
        sa.Column("external_id", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("notes", sa.String(200)),
        sa.Column("starts", sa.Date),
        sa.Column("ends", sa.Date),
        sa.CheckConstraint("ends IS NULL OR starts IS NULL OR ends >= starts", name="ends_after_starts"),
    )
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO decisions (external_id, status) VALUES ('R-1', 'submitted')"))


SECRET = "Confidential Customer GmbH"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"status": None, "notes": SECRET}, ("NOT NULL",)),
        ({"starts": date(2026, 11, 20), "ends": date(2026, 1, 1), "notes": SECRET}, ("CHECK",)),
        ({"starts": "next spring", "notes": SECRET}, ("wrong type", "date or time value is malformed")),
    ],
    ids=["not_null", "check", "wrong_type"],
)
def test_refused_write_back_is_a_record_error_without_sql_or_values(
    db_url: str, portal_engine: sa.Engine, values: dict[str, Any], expected: tuple[str, ...]
) -> None:
    from sfsync.errors import PortalRejectedError

    _strict_table(portal_engine)
    portal = SqlPortal(db_url)
    with pytest.raises(PortalRejectedError) as caught:
        portal.write_back("decisions", "external_id", [("R-1", values)])
    text = str(caught.value)
    assert any(phrase.lower() in text.lower() for phrase in expected), text
    for leaked in (SECRET, "UPDATE", "SET ", "[parameters", "2026-01-01", "next spring"):
        assert leaked not in text, (leaked, text)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    # the row is untouched and the portal still works
    assert portal.rows_by_keys("decisions", "external_id", ["R-1"])["R-1"]["status"] == "submitted"
    portal.close()


def test_a_first_batch_size_caps_the_first_batch_only(db_url: str, portal_engine: sa.Engine) -> None:
    """A full load's first batch (rows without a timestamp come first) is the small one; every row
    comes once, in order, and the later batches are full size."""
    table = make_table(portal_engine)
    undated = [{"id": i, "updated_at": None} for i in range(1, 3)]
    dated = [{"id": i, "updated_at": T0 + timedelta(seconds=i)} for i in range(3, 26)]
    insert(portal_engine, table, [*undated, *dated])
    portal = SqlPortal(db_url)

    def batches(since: datetime | None) -> list[list[Any]]:
        return list(
            portal.changed_rows(
                "registrations",
                updated_at="updated_at",
                since=since,
                overlap=timedelta(0),
                batch_size=10,
                first_batch_size=3,
            )
        )

    full = batches(None)
    # the two undated rows are a batch of their own (fewer than the first size), then 10, 10, 3
    assert [len(b) for b in full] == [2, 10, 10, 3]
    assert [r["id"] for b in full for r in b] == list(range(1, 26))
    incremental = batches(T0)
    assert [len(b) for b in incremental] == [3, 10, 10]
    assert [r["id"] for b in incremental for r in b] == list(range(3, 26))
    # a full load of a table without undated rows: the first dated batch is the small one
    with portal_engine.begin() as conn:
        conn.execute(table.delete().where(table.c.updated_at.is_(None)))
    assert [len(b) for b in batches(None)] == [3, 10, 10]
    with pytest.raises(ValueError):
        next(
            portal.changed_rows(
                "registrations", updated_at="updated_at", since=None, overlap=timedelta(0), first_batch_size=0
            )
        )
    portal.close()
