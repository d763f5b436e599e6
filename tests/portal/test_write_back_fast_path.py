"""The write-back's and the key probe's compiled-once paths write and find exactly what the
implementation before them did (kept here as the reference), on realistic and adversarial values."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import bindparam, update

from sfsync.errors import PortalRejectedError
from sfsync.portal import SqlPortal

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))


def make_tables(engine: sa.Engine) -> None:
    metadata = sa.MetaData()
    for name in ("fast", "ref"):
        sa.Table(
            name,
            metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("external_id", sa.String(300), nullable=False, unique=True),
            sa.Column("status", sa.String(20)),
            sa.Column("notes", sa.Text),
            sa.Column("amount", sa.Numeric(12, 2)),
            sa.Column("ratio", sa.Float),
            sa.Column("count", sa.Integer),
            sa.Column("flag", sa.Boolean),
            sa.Column("day", sa.Date),
            sa.Column("at", sa.DateTime),
            sa.Column("at_tz", sa.DateTime(timezone=True)),
        )
    metadata.create_all(engine)
    with engine.begin() as conn:
        for name in ("fast", "ref"):
            conn.execute(
                metadata.tables[name].insert(),
                [{"id": i, "external_id": key(i), "status": "submitted", "flag": False} for i in range(1, 1101)],
            )


def key(i: int) -> str:
    return {1: "Ünïcødé-✓-𝔘", 2: "K" * 300, 3: ""}.get(i, f"R-{i:05d}")


def reference_write_back(
    portal: SqlPortal, table: str, key_column: str, updates: Sequence[tuple[Any, Mapping[str, Any]]]
) -> int:
    """``SqlPortal.write_back`` as it was before its compiled-once path."""
    if not updates:
        return 0
    tbl = portal._table(table)
    key_col = portal._column(tbl, key_column, "key column")
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for k, values in updates:
        cols = tuple(sorted(values))
        for name in cols:
            portal._column(tbl, name, "write-back column")
        named = {
            f"v_{name}": (portal._bind_value(tbl, name, value) if isinstance(value, datetime) else value)
            for name, value in values.items()
        }
        named["k_key"] = k
        groups.setdefault(cols, []).append(named)
    total = 0
    with portal._db_errors(table), portal.engine.begin() as conn:
        for cols, rows in groups.items():
            if not cols:
                continue
            stmt = update(tbl).where(key_col == bindparam("k_key")).values({n: bindparam(f"v_{n}") for n in cols})
            if len(rows) > 1 and conn.dialect.supports_sane_multi_rowcount:
                dialect = conn.dialect
                compiled = stmt.compile(dialect=dialect)
                binds = compiled.binds
                names = list(compiled.positiontup) if compiled.positional and compiled.positiontup else list(binds)
                processors: dict[str, Callable[[Any], Any]] = {}
                for n in names:
                    processor = binds[n].type.dialect_impl(dialect).bind_processor(dialect)
                    if processor is not None:
                        processors[n] = processor

                def bound(row: dict[str, Any], n: str, processors: dict[str, Callable[[Any], Any]] = processors) -> Any:
                    processor = processors.get(n)
                    return row[n] if processor is None else processor(row[n])

                if compiled.positional:
                    params: list[Any] = [tuple(bound(row, n) for n in names) for row in rows]
                else:
                    params = [{n: bound(row, n) for n in names} for row in rows]
                total += max(conn.exec_driver_sql(str(compiled), params).rowcount, 0)
            elif len(rows) == 1 or conn.dialect.supports_sane_multi_rowcount:
                total += max(conn.execute(stmt, rows).rowcount, 0)
            else:
                for row in rows:
                    total += max(conn.execute(stmt, row).rowcount, 0)
    return total


def outcome(call: Callable[[], int], table: str) -> tuple[str, Any]:
    """("ok", count), or the error's type and message (the table's name made neutral)."""
    try:
        return ("ok", call())
    except Exception as exc:  # compared, not swallowed
        return (type(exc).__name__, str(exc).replace(repr(table), "<table>"))


def raw(engine: sa.Engine, table: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY id")]


def batches() -> list[list[tuple[Any, dict[str, Any]]]]:
    realistic = [
        (
            key(i),
            {
                "status": ("approved", "rejected", "under_review")[i % 3],
                "notes": None if i % 5 else f"decided {i}",
                "at_tz": T0 + timedelta(seconds=i % 4),
                "day": date(2024, 3, 1) + timedelta(days=i % 90),
            },
        )
        for i in range(1, 1101)
    ]
    adversarial: list[tuple[Any, dict[str, Any]]] = [
        (key(1), {"notes": "", "status": "", "amount": Decimal("12.34"), "ratio": 0.1, "count": 0}),
        (key(2), {"notes": "x" * 20_000, "amount": 7, "ratio": Decimal("2.5"), "count": True, "flag": True}),
        (key(3), {"at": T0.astimezone(IST), "at_tz": T0.astimezone(IST), "day": None, "flag": None}),
        (key(4), {"amount": 1.5, "ratio": 3, "at": T0.replace(microsecond=1), "notes": "Ü\u0000ñ"}),
        (key(5), {"day": date(1970, 1, 1), "at_tz": datetime(2999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)}),
        ("missing", {"status": "approved"}),  # no such row: not counted
        (key(6), {"status": "first"}),
        (key(6), {"status": "second"}),  # the same key twice: the last one wins
        (key(7), {}),  # nothing to write
        (key(8), {"flag": 1, "count": 7, "ratio": float("1e300")}),
    ]
    return [realistic, adversarial, adversarial[:1], realistic[:2]]


def test_write_back_writes_what_the_reference_wrote(db_url: str, portal_engine: sa.Engine) -> None:
    make_tables(portal_engine)
    portal = SqlPortal(db_url)
    reference = SqlPortal(db_url)
    for batch in batches():
        got = outcome(partial(portal.write_back, "fast", "external_id", batch), "fast")
        want = outcome(partial(reference_write_back, reference, "ref", "external_id", batch), "ref")
        assert got == want
        assert raw(portal_engine, "fast") == raw(portal_engine, "ref")
        # a batch the database refuses is then written record by record (as the engine does)
        if got[0] != "ok":
            for one in batch:
                one_got = outcome(partial(portal.write_back, "fast", "external_id", [one]), "fast")
                one_want = outcome(partial(reference_write_back, reference, "ref", "external_id", [one]), "ref")
                assert one_got == one_want
            assert raw(portal_engine, "fast") == raw(portal_engine, "ref")
    # by an integer key (a type the key probe leaves to SQLAlchemy)
    by_id = [(i, {"status": f"s{i}", "at": T0 + timedelta(days=i)}) for i in range(1, 700)]
    assert portal.write_back("fast", "id", by_id) == reference_write_back(reference, "ref", "id", by_id)
    assert raw(portal_engine, "fast") == raw(portal_engine, "ref")
    portal.close()
    reference.close()


def test_write_back_refusals_are_unchanged(db_url: str, portal_engine: sa.Engine) -> None:
    make_tables(portal_engine)
    portal = SqlPortal(db_url)
    naive = [(key(9), {"at": datetime(2024, 1, 1)}), (key(10), {"at": T0})]
    with pytest.raises(ValueError, match="timezone-aware"):
        portal.write_back("fast", "external_id", naive)
    too_long = [(key(9), {"status": "s" * 21}), (key(10), {"status": "ok"})]
    if portal.dialect == "postgresql":
        with pytest.raises(PortalRejectedError, match="too long"):
            portal.write_back("fast", "external_id", too_long)
    assert raw(portal_engine, "fast") == raw(portal_engine, "ref")  # nothing written
    portal.close()


def test_existing_keys_finds_what_the_reference_found(db_url: str, portal_engine: sa.Engine) -> None:
    make_tables(portal_engine)
    portal = SqlPortal(db_url)
    wanted = [key(i) for i in range(0, 1300, 2)] + [key(1), key(2), key(3), "missing", "r-00004", "R-00004 "]
    tbl = portal._table("fast")
    expected: set[Any] = set()
    with portal_engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            expected.update(conn.execute(sa.select(tbl.c.external_id).where(tbl.c.external_id.in_(chunk))).scalars())
    assert portal.existing_keys("fast", "external_id", wanted) == expected
    assert key(1) in expected and key(2) in expected and key(3) in expected
    assert portal.existing_keys("fast", "external_id", wanted[:1]) == {wanted[0]} & expected
    assert portal.existing_keys("fast", "id", [1, 2, 5000]) == {1, 2}  # an integer key: SQLAlchemy's path
    portal.close()


@pytest.mark.postgres
def test_postgresql_write_back_takes_one_statement_per_page(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    make_tables(engine)
    portal = SqlPortal(postgres_url)
    reference = SqlPortal(postgres_url)
    used: list[int | None] = []
    original = portal._update_from_values

    def spy(*args: Any) -> int | None:
        used.append(original(*args))
        return used[-1]

    portal._update_from_values = spy  # type: ignore[method-assign]
    realistic = batches()[0]
    assert portal.write_back("fast", "external_id", realistic) == 1100
    assert reference_write_back(reference, "ref", "external_id", realistic) == 1100
    assert raw(engine, "fast") == raw(engine, "ref")
    assert used and all(count is not None for count in used)  # no fallback for these
    # a key given twice: the per-row statements, which apply and count both
    twice = [("R-00010", {"status": "a"}), ("R-00010", {"status": "b"})]
    assert portal.write_back("fast", "external_id", twice) == 2
    assert used[-1] is None
    # a value the column refuses: the same refusal as the per-row statements
    refused = [("R-00011", {"status": "s" * 21}), ("R-00012", {"status": "ok"})]
    with pytest.raises(PortalRejectedError, match="too long"):
        portal.write_back("fast", "external_id", refused)
    portal.close()
    reference.close()
    engine.dispose()
