"""SqlPortal.stored_values on SQLite and PostgreSQL: which keys a table holds, and which of the
values a pull would write differ from what is stored.

A value reported unchanged is never written: reporting one unchanged when writing it would change
what the portal stores would leave a Salesforce decision out of the portal (law 2). Every
"unchanged" below is therefore checked against a real write of the value.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from sfsync.portal import SqlPortal

T0 = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))
COLUMNS = ("status", "note", "flag", "day", "at", "at_tz", "amount", "ratio", "count")

SETTLED: dict[str, Any] = {
    "status": "approved",
    "note": None,
    "flag": False,
    "day": date(2027, 2, 18),
    "at": T0,
    "at_tz": T0,
    "amount": Decimal("1.50"),
    "ratio": 0.25,
    "count": 7,
}


def make_table(engine: sa.Engine, name: str = "registrations", *, key_type: Any = None) -> None:
    metadata = sa.MetaData()
    sa.Table(
        name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("external_id", key_type if key_type is not None else sa.String(40), nullable=False, unique=True),
        sa.Column("status", sa.String(20)),
        sa.Column("note", sa.Text),
        sa.Column("flag", sa.Boolean),
        sa.Column("day", sa.Date),
        sa.Column("at", sa.DateTime),
        sa.Column("at_tz", sa.DateTime(timezone=True)),
        sa.Column("amount", sa.Numeric(18, 2)),
        sa.Column("ratio", sa.Float),
        sa.Column("count", sa.Integer),
        sa.Column("plain_amount", sa.Numeric),
    )
    metadata.create_all(engine)


def add_rows(engine: sa.Engine, keys: list[Any], table: str = "registrations") -> None:
    with engine.begin() as conn:
        for position, key in enumerate(keys, start=1):
            conn.execute(
                sa.text(f"INSERT INTO {table} (id, external_id) VALUES (:id, :key)"),
                {"id": position, "key": key},
            )


def raw_stored(engine: sa.Engine, column: str, key: str, table: str = "registrations") -> Any:
    """A stored value as the driver returns it, with no SQLAlchemy type conversion."""
    marker = "?" if engine.dialect.paramstyle == "qmark" else "%s"
    with engine.connect() as conn:
        row = conn.exec_driver_sql(f'SELECT "{column}" FROM {table} WHERE external_id = {marker}', (key,)).one()
    return row[0]


def assert_unchanged_means_unchanged(
    portal: SqlPortal, engine: sa.Engine, key: str, values: Mapping[str, Any], table: str = "registrations"
) -> dict[str, Any]:
    """``changes`` for ``values``; every column it drops is written anyway, and must store exactly
    what it stored before (type and representation): a false "unchanged" fails here."""
    differs = portal.stored_values(table, "external_id", [key], list(values)).changes(key, values)
    dropped = {name: value for name, value in values.items() if name not in differs}
    before = {name: raw_stored(engine, name, key, table) for name in dropped}
    if dropped:
        portal.write_back(table, "external_id", [(key, dropped)])
    after = {name: raw_stored(engine, name, key, table) for name in dropped}
    assert {n: (type(v), repr(v)) for n, v in after.items()} == {n: (type(v), repr(v)) for n, v in before.items()}
    return differs


@pytest.fixture
def portal(db_url: str, portal_engine: sa.Engine) -> SqlPortal:
    make_table(portal_engine)
    add_rows(portal_engine, ["R-1", "R-2"])
    return SqlPortal(db_url)


def test_values_the_portal_already_holds_are_no_change(portal: SqlPortal, portal_engine: sa.Engine) -> None:
    portal.write_back("registrations", "external_id", [("R-1", SETTLED)])
    stored = portal.stored_values("registrations", "external_id", ["R-1", "R-2"], COLUMNS)
    assert "R-1" in stored
    assert "R-2" in stored
    assert stored.changes("R-1", SETTLED) == {}
    # the other row holds none of them (only None, which it holds: note)
    assert stored.changes("R-2", SETTLED) == {k: v for k, v in SETTLED.items() if v is not None}
    assert assert_unchanged_means_unchanged(portal, portal_engine, "R-1", SETTLED) == {}


def test_one_differing_column_is_the_only_change(portal: SqlPortal, portal_engine: sa.Engine) -> None:
    portal.write_back("registrations", "external_id", [("R-1", SETTLED)])
    stored = portal.stored_values("registrations", "external_id", ["R-1"], COLUMNS)
    for name, other in {
        "status": "rejected",
        "note": "",
        "flag": True,
        "day": date(2027, 2, 19),
        "at": T0 + timedelta(microseconds=1),
        "at_tz": T0 + timedelta(seconds=1),
        "amount": Decimal("1.51"),
        "ratio": 0.5,
        "count": 8,
    }.items():
        assert stored.changes("R-1", {**SETTLED, name: other}) == {name: other}, name
    assert stored.changes("R-1", {**SETTLED, "status": None}) == {"status": None}


def test_a_timestamp_written_in_another_zone_compares_equal(portal: SqlPortal, portal_engine: sa.Engine) -> None:
    portal.write_back(
        "registrations", "external_id", [("R-1", {"at": T0.astimezone(IST), "at_tz": T0.astimezone(IST)})]
    )
    same_instant = {"at": T0, "at_tz": T0}
    assert assert_unchanged_means_unchanged(portal, portal_engine, "R-1", same_instant) == {}
    later = {"at": T0 + timedelta(hours=1), "at_tz": T0 + timedelta(hours=1)}
    assert portal.stored_values("registrations", "external_id", ["R-1"], ["at", "at_tz"]).changes("R-1", later) == later


def test_a_naive_timestamp_cannot_be_compared_any_more_than_written(portal: SqlPortal) -> None:
    stored = portal.stored_values("registrations", "external_id", ["R-1"], ["at"])
    with pytest.raises(ValueError, match="timezone-aware"):
        stored.changes("R-1", {"at": T0.replace(tzinfo=None)})
    with pytest.raises(ValueError, match="timezone-aware"):
        portal.write_back("registrations", "external_id", [("R-1", {"at": T0.replace(tzinfo=None)})])


def test_a_boolean_stored_by_the_database_compares_with_python_booleans(
    portal: SqlPortal, portal_engine: sa.Engine
) -> None:
    # SQLite keeps 0, PostgreSQL false: written by the portal's own SQL, not by sfsync
    literal = "0" if portal_engine.dialect.name == "sqlite" else "false"
    with portal_engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE registrations SET flag = {literal} WHERE external_id = 'R-1'"))
    assert assert_unchanged_means_unchanged(portal, portal_engine, "R-1", {"flag": False}) == {}
    assert assert_unchanged_means_unchanged(portal, portal_engine, "R-1", {"flag": 0}) == {}
    assert portal.stored_values("registrations", "external_id", ["R-1"], ["flag"]).changes("R-1", {"flag": True}) == {
        "flag": True
    }


@pytest.mark.parametrize(
    "value",
    [Decimal("1.5"), Decimal("1.50"), Decimal("1.500"), Decimal("1.501"), Decimal("1.505"), 1.5, "1.5", 2],
    ids=repr,
)
def test_a_scaled_numeric_is_unchanged_only_when_the_write_would_store_the_same(
    portal: SqlPortal, portal_engine: sa.Engine, value: Any
) -> None:
    portal.write_back("registrations", "external_id", [("R-1", {"amount": Decimal("1.5")})])
    differs = assert_unchanged_means_unchanged(portal, portal_engine, "R-1", {"amount": value})
    if value == 2:
        assert differs == {"amount": 2}


def test_decimal_150_against_a_stored_numeric_18_2_holding_1_5_is_no_change(
    portal: SqlPortal, portal_engine: sa.Engine
) -> None:
    # numeric(18, 2) stores 1.50 whichever spelling is written: the same value, nothing to write
    portal.write_back("registrations", "external_id", [("R-1", {"amount": Decimal("1.5")})])
    assert assert_unchanged_means_unchanged(portal, portal_engine, "R-1", {"amount": Decimal("1.50")}) == {}
    assert portal.stored_values("registrations", "external_id", ["R-1"], ["amount"]).changes(
        "R-1", {"amount": Decimal("1.49")}
    ) == {"amount": Decimal("1.49")}


def test_an_unconstrained_numeric_written_with_another_scale_is_a_change(
    portal: SqlPortal, portal_engine: sa.Engine
) -> None:
    # A NUMERIC without scale keeps the digits written (1.5 and 1.50 are stored apart on PostgreSQL).
    portal.write_back("registrations", "external_id", [("R-1", {"plain_amount": Decimal("1.5")})])
    assert_unchanged_means_unchanged(portal, portal_engine, "R-1", {"plain_amount": Decimal("1.50")})


def test_a_value_equal_in_python_but_of_another_type_is_a_change(portal: SqlPortal) -> None:
    portal.write_back("registrations", "external_id", [("R-1", {"status": "1", "count": 1})])
    stored = portal.stored_values("registrations", "external_id", ["R-1"], ["status", "count"])
    assert stored.changes("R-1", {"status": 1, "count": "1"}) == {"status": 1, "count": "1"}
    assert stored.changes("R-1", {"count": True}) == {"count": True}
    assert stored.changes("R-1", {"status": "1", "count": 1}) == {}


def test_an_integer_key_column_is_read_with_text_keys(db_url: str, portal_engine: sa.Engine) -> None:
    make_table(portal_engine, "numbered", key_type=sa.Integer)
    add_rows(portal_engine, [5, 6], table="numbered")
    portal = SqlPortal(db_url)
    portal.write_back("numbered", "external_id", [("5", {"status": "approved"})])
    stored = portal.stored_values("numbered", "external_id", ["5", "7"], ["status"])
    assert "5" in stored
    assert 5 not in stored  # keys are text, like the engine's
    assert "6" not in stored  # held, but not asked for
    assert "7" not in stored
    assert stored.changes("5", {"status": "approved"}) == {}
    assert stored.changes("5", {"status": "rejected"}) == {"status": "rejected"}


def test_a_key_the_table_does_not_hold_is_not_in_and_changes_everything(portal: SqlPortal) -> None:
    stored = portal.stored_values("registrations", "external_id", ["R-1", "R-404"], ["status"])
    assert "R-404" not in stored
    assert stored.changes("R-404", {"status": None, "note": None}) == {"status": None, "note": None}


def test_a_column_that_was_not_read_is_kept(portal: SqlPortal) -> None:
    stored = portal.stored_values("registrations", "external_id", ["R-1"], ["status"])
    assert stored.changes("R-1", {"status": None, "note": None}) == {"note": None}


def test_a_value_the_bind_processor_refuses_is_kept_for_the_update_to_report(portal: SqlPortal) -> None:
    stored = portal.stored_values("registrations", "external_id", ["R-1"], ["flag", "day"])
    assert stored.changes("R-1", {"flag": "yes", "day": "2027-02-18"}) == {"flag": "yes", "day": "2027-02-18"}


def test_no_keys_reads_nothing(portal: SqlPortal) -> None:
    stored = portal.stored_values("registrations", "external_id", [], ["status"])
    assert "R-1" not in stored


def test_key_column_among_the_columns_is_refused(portal: SqlPortal) -> None:
    with pytest.raises(ValueError, match="key column"):
        portal.stored_values("registrations", "external_id", ["R-1"], ["external_id"])


def test_a_driver_this_read_cannot_speak_to_reads_keys_only_and_every_value_is_a_change(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'named.db'}"
    engine = sa.create_engine(url, paramstyle="named")  # neither qmark, format nor pyformat
    make_table(engine)
    add_rows(engine, ["R-1", "R-2"])
    portal = SqlPortal(url, engine=engine)
    portal.write_back("registrations", "external_id", [("R-1", {"status": "approved"})])
    stored = portal.stored_values("registrations", "external_id", ["R-1", "R-404"], ["status"])
    assert "R-1" in stored
    assert "R-404" not in stored
    assert stored.changes("R-1", {"status": "approved"}) == {"status": "approved"}
    engine.dispose()


@pytest.mark.postgres
def test_a_table_name_with_a_percent_sign_reads_keys_only_on_postgresql(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    make_table(engine, "pct%rows")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO \"pct%rows\" (id, external_id, status) VALUES (1, 'R-1', 'approved')"))
    portal = SqlPortal(postgres_url)
    stored = portal.stored_values("pct%rows", "external_id", ["R-1", "R-404"], ["status"])
    assert "R-1" in stored
    assert "R-404" not in stored
    assert stored.changes("R-1", {"status": "approved"}) == {"status": "approved"}
    engine.dispose()
