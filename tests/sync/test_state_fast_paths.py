"""The ledger's fast paths (SQLite and PostgreSQL) store and read exactly what the generic
SQLAlchemy paths they replaced stored and read, on realistic and adversarial entries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect

from sfsync.sync._state import LedgerEntry, LedgerRow, StateStore, _ledger_row

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def urls(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty stores of one backend: one written by the fast path, one by the reference."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fast.db'}", f"sqlite:///{tmp_path / 'reference.db'}"
        return
    base: str = request.getfixturevalue("postgres_url")
    # a second schema beside the fixture's own
    schema = base.rsplit("%3D", 1)[1] + "_ref"
    admin = sa.create_engine(base.split("?", maxsplit=1)[0])
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield base, base.rsplit("%3D", 1)[0] + "%3D" + schema
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def reference_save(store: StateStore, entries: Sequence[LedgerEntry | LedgerRow]) -> None:
    """``save_ledger`` as it was before the fast paths (kept here as the reference)."""
    rows = list({(e.mapping, e.external_id): _ledger_row(e) for e in entries}.values())
    table = store._ledger
    keys = ("mapping", "external_id")
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite" and len(rows) > 1:
            sql, names, processors = store._compiled_upsert(conn, table, tuple(rows[0]), keys)
            conn.exec_driver_sql(
                sql,
                [
                    tuple(row[n] if p is None else p(row[n]) for n, p in zip(names, processors, strict=True))
                    for row in rows
                ],
            )
            return
        module: Any = sa.dialects.sqlite if conn.dialect.name == "sqlite" else pg_dialect
        stmt = module.insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c[k] for k in keys],
            set_={c: stmt.excluded[c] for c in rows[0] if c not in keys},
        )
        conn.execute(stmt, rows)


def reference_read(store: StateStore, mapping: str, column: str, values: Sequence[str]) -> dict[str, LedgerRow]:
    """``ledger_rows`` as it was before the fast paths."""
    t = store._ledger
    found: dict[str, LedgerRow] = {}
    position = LedgerRow._fields.index(column)
    ids = list(dict.fromkeys(values))
    with store.engine.connect() as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            stmt = sa.select(*(t.c[n] for n in LedgerRow._fields)).where(t.c.mapping == mapping, t.c[column].in_(chunk))
            for row in conn.execute(stmt).fetchall():
                entry = LedgerRow._make(row)
                found[str(entry[position])] = entry
    return found


def raw_rows(store: StateStore) -> list[tuple[Any, ...]]:
    """The ledger table as the database holds it (no type conversion on the way out)."""
    with store.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.exec_driver_sql(
                "SELECT mapping, external_id, salesforce_id, push_hash, pull_hash, last_pushed_at, "
                "last_pulled_at, deleted FROM sfsync_ledger ORDER BY mapping, external_id"
            )
        ]


def adversarial_entries() -> list[LedgerEntry | LedgerRow]:
    entries: list[LedgerEntry | LedgerRow] = []
    for i in range(1203):  # more than two IN chunks, and a remainder
        pushed = T0 + timedelta(seconds=i % 3)  # a batch shares a few timestamps
        entries.append(LedgerRow("deals", f"R-{i:05d}", f"a0B{i:015d}", f"{i:064x}", None, pushed, None, i % 7 == 0))
    entries += [
        # unicode, the longest key, empty strings, microseconds, other offsets, no timestamps at all
        LedgerRow("deals", "Ünïcødé-✓-𝔘", "", "", "", T0.replace(microsecond=1), T0.astimezone(IST), False),
        LedgerRow("deals", "K" * 255, None, None, "p" * 128, None, None, True),
        LedgerRow("deals", "", None, "h", None, datetime(1970, 1, 1, tzinfo=UTC), T0 + timedelta(days=400), False),
        LedgerRow("deals", "tz", "S", "h", "p", T0.astimezone(IST), T0.replace(microsecond=999_999), False),
        LedgerEntry(mapping="deals", external_id="model", salesforce_id="M", last_pushed_at=T0, deleted=True),
        LedgerRow("accounts", "R-00001", "A1", None, None, T0, T0, False),
        # a duplicate within the call: the last one wins
        LedgerRow("deals", "R-00002", "changed", "x", "y", T0 + timedelta(hours=1), T0, True),
    ]
    return entries


def test_save_ledger_stores_what_the_generic_path_stored(urls: tuple[str, str]) -> None:
    with StateStore(urls[0]) as fast, StateStore(urls[1]) as reference:
        entries = adversarial_entries()
        fast.save_ledger(entries)
        reference_save(reference, entries)
        assert raw_rows(fast) == raw_rows(reference)
        # and an update of existing rows, through both
        later = [
            e._replace(pull_hash="q", last_pulled_at=T0 + timedelta(minutes=5))
            for e in entries
            if isinstance(e, LedgerRow)
        ]
        fast.save_ledger(later)
        reference_save(reference, later)
        assert raw_rows(fast) == raw_rows(reference)


def test_single_entry_keeps_the_generic_path(urls: tuple[str, str]) -> None:
    with StateStore(urls[0]) as fast, StateStore(urls[1]) as reference:
        one = [LedgerRow("deals", "R-1", "S", "h", None, T0.astimezone(IST), None, False)]
        fast.save_ledger(one)
        reference_save(reference, one)
        assert raw_rows(fast) == raw_rows(reference)


def test_ledger_rows_reads_what_the_generic_path_read(urls: tuple[str, str]) -> None:
    with StateStore(urls[0]) as store:
        entries = adversarial_entries()
        store.save_ledger(entries)
        keys = [e.external_id for e in entries] + ["missing", "R-00003", "R-00003"]
        assert store.ledger_rows("deals", keys) == reference_read(store, "deals", "external_id", keys)
        assert store.ledger_rows("accounts", keys) == reference_read(store, "accounts", "external_id", keys)
        sf_ids = [f"a0B{i:015d}" for i in range(0, 1300, 3)] + ["", "S", "nope"]
        by_sf = store.ledger_by_salesforce_id("deals", sf_ids)
        assert {k: LedgerRow(*v.model_dump().values()) for k, v in by_sf.items()} == reference_read(
            store, "deals", "salesforce_id", sf_ids
        )
        got = store.ledger_rows("deals", ["tz", "Ünïcødé-✓-𝔘"])
        assert got["tz"].last_pushed_at == T0 and got["tz"].last_pushed_at.tzinfo == UTC
        assert store.ledger_rows("deals", []) == {}


def test_naive_timestamps_are_refused_on_every_path(urls: tuple[str, str]) -> None:
    with StateStore(urls[0]) as store:
        naive = LedgerRow("deals", "R-1", None, None, None, datetime(2024, 1, 1), None, False)
        fine = LedgerRow("deals", "R-2", None, None, None, T0, None, False)
        with pytest.raises(Exception, match="timezone-aware"):
            store.save_ledger([fine, naive])
        assert store.ledger_rows("deals", ["R-1", "R-2"]) == {}  # nothing written


def test_has_dead_letters_sees_every_state(urls: tuple[str, str]) -> None:
    from sfsync.sync._state import DeadLetter

    with StateStore(urls[0]) as store:
        assert not store.has_dead_letters("deals", "pull")
        letter = DeadLetter(mapping="deals", direction="pull", record_key="R-1", status_code="X", message="m")
        stored = store.record_dead_letter(letter)
        assert store.has_dead_letters("deals", "pull")
        assert not store.has_dead_letters("deals", "push")
        assert not store.has_dead_letters("accounts", "pull")
        assert stored.id is not None
        store.discard(stored.id)
        assert store.has_dead_letters("deals", "pull")  # a discarded letter is still resolved away
        assert store.resolve_dead_letters("deals", "pull", ["R-1"]) == 1
        assert not store.has_dead_letters("deals", "pull")


def test_saving_only_the_changed_columns_stores_what_the_upsert_stored(tmp_path: Path) -> None:
    with StateStore(f"sqlite:///{tmp_path / 'a.db'}") as fast, StateStore(f"sqlite:///{tmp_path / 'b.db'}") as plain:
        first = [e for e in adversarial_entries() if isinstance(e, LedgerRow)]
        fast.save_ledger(first)
        plain.save_ledger(first)
        stored = fast.ledger_rows("deals", [e.external_id for e in first])
        later: list[LedgerEntry | LedgerRow] = []
        for n, e in enumerate(first):
            if n % 4 == 0:  # what a pull changes
                later.append(e._replace(pull_hash="q", last_pulled_at=T0 + timedelta(minutes=5)))
            elif n % 4 == 1:  # what a push changes, an Id included
                later.append(e._replace(push_hash="p2", last_pushed_at=T0.astimezone(IST), salesforce_id="new"))
            elif n % 4 == 2:  # nothing (an equal instant in another zone is the same value)
                later.append(e._replace(last_pushed_at=e.last_pushed_at.astimezone(IST) if e.last_pushed_at else None))
            else:  # deleted, and a brand-new entry
                later.append(e._replace(deleted=not e.deleted))
        later.append(LedgerRow("deals", "brand-new", "S", None, "h", None, T0, False))
        later.append(LedgerRow("accounts", "R-00004", "other mapping", None, None, None, None, False))
        # a stored row that vanished since it was read: upserted after all
        with fast.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM sfsync_ledger WHERE external_id = 'R-00008'")
        with plain.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM sfsync_ledger WHERE external_id = 'R-00008'")
        fast.save_ledger(later, stored=stored)
        plain.save_ledger(later)
        assert fast.ledger_rows("deals", [e.external_id for e in later] + ["brand-new"]) == plain.ledger_rows(
            "deals", [e.external_id for e in later] + ["brand-new"]
        )
        assert fast.ledger_rows("accounts", ["R-00001", "R-00004"]) == plain.ledger_rows(
            "accounts", ["R-00001", "R-00004"]
        )
        naive = first[5]._replace(last_pulled_at=datetime(2024, 1, 1))
        with pytest.raises(ValueError, match="timezone-aware"):
            fast.save_ledger([naive, first[6]], stored=stored)
