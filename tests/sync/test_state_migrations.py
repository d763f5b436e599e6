"""Versioned state-store migrations on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sfsync.errors import ConfigError
from sfsync.sync import _migrations
from sfsync.sync._state import DeadLetter, LedgerEntry, StateStore

T0 = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sfsync-state.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def schema_of(url: str) -> dict[str, Any]:
    """Tables, columns (name, nullability), unique constraints and indexes, as the database reports them."""
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        shape: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            shape[table] = {
                "columns": sorted((c["name"], c["nullable"]) for c in inspector.get_columns(table)),
                "pk": sorted(inspector.get_pk_constraint(table)["constrained_columns"]),
                "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table) if not i.get("unique")
                ),
            }
        return shape
    finally:
        engine.dispose()


def versions(url: str) -> list[int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT version FROM sfsync_schema_version ORDER BY version")).scalars()
        result = list(rows)
    engine.dispose()
    return result


def test_fresh_store_is_at_latest_version(store_url: str) -> None:
    with StateStore(store_url) as store:
        assert store.schema_version == _migrations.LATEST_VERSION == 3
    assert versions(store_url) == [1, 2, 3]
    tables = set(schema_of(store_url))
    assert tables == {
        "sfsync_schema_version",
        "sfsync_watermark",
        "sfsync_ledger",
        "sfsync_dead_letter",
        "sfsync_run",
        "sfsync_lock",
        "sfsync_pin",
    }
    # Reopening is a no-op.
    with StateStore(store_url) as store:
        assert store.schema_version == 3
    assert versions(store_url) == [1, 2, 3]


def test_v1_store_upgrades_to_latest_and_keeps_its_data(store_url: str, tmp_path: Path) -> None:
    old = StateStore(store_url, migrate=False)
    assert old.schema_version == 0
    assert old.migrate(target=1) == 1
    assert old.schema_version == 1
    v1_indexes = {i for t in schema_of(store_url).values() for i, _ in t["indexes"]}
    assert "ix_sfsync_ledger_salesforce_id" not in v1_indexes
    old.set_watermark("deals", "push", T0)
    old.save_ledger([LedgerEntry(mapping="deals", external_id="R-1", salesforce_id="006A", push_hash="h")])
    old.record_dead_letter(
        DeadLetter(
            mapping="deals",
            direction="push",
            record_key="R-2",
            status_code="DUPLICATE_VALUE",
            message="duplicate",
            fields=(),
        )
    )
    old.close()

    with StateStore(store_url) as store:
        assert store.schema_version == 3
        assert store.get_watermark("deals", "push") == T0
        assert store.ledger_by_salesforce_id("deals", ["006A"])["006A"].external_id == "R-1"
        assert [d.record_key for d in store.dead_letters()] == ["R-2"]
    upgraded = schema_of(store_url)

    # The upgraded schema is exactly the one a fresh store gets from the current declaration.
    fresh_url = f"sqlite:///{tmp_path / 'fresh.db'}" if store_url.startswith("sqlite") else None
    if fresh_url is None:
        engine = sa.create_engine(store_url)
        with engine.begin() as conn:
            for table in reversed(_migrations.current_metadata().sorted_tables):
                table.drop(conn)
            _migrations.current_metadata().create_all(conn)
        engine.dispose()
        fresh = schema_of(store_url)
    else:
        engine = sa.create_engine(fresh_url)
        _migrations.current_metadata().create_all(engine)
        engine.dispose()
        fresh = schema_of(fresh_url)
    assert upgraded == fresh
    assert ("ix_sfsync_ledger_salesforce_id", ("mapping", "salesforce_id")) in upgraded["sfsync_ledger"]["indexes"]


def test_store_from_a_newer_sfsync_is_refused(store_url: str) -> None:
    StateStore(store_url).close()
    engine = sa.create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO sfsync_schema_version (version, description, applied_at) VALUES (99, 'future', :t)"),
            {"t": datetime(2030, 1, 1)},
        )
    engine.dispose()
    with pytest.raises(ConfigError, match="newer sfsync") as excinfo:
        StateStore(store_url)
    assert excinfo.value.exit_code == 2


def test_a_failing_migration_leaves_nothing_behind(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    StateStore(store_url).close()

    def broken_v4(conn: sa.Connection) -> None:
        sa.Table("sfsync_half_done", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True)).create(conn)
        conn.execute(sa.text("CREATE INDEX ix_sfsync_tmp ON sfsync_ledger (push_hash)"))
        raise RuntimeError("migration bug")

    monkeypatch.setattr(_migrations, "MIGRATIONS", (*_migrations.MIGRATIONS, (4, "broken", broken_v4)))
    monkeypatch.setattr(_migrations, "LATEST_VERSION", 4)
    with pytest.raises(RuntimeError, match="migration bug"):
        StateStore(store_url)
    assert versions(store_url) == [1, 2, 3]
    shape = schema_of(store_url)
    assert "sfsync_half_done" not in shape
    assert all(name != "ix_sfsync_tmp" for name, _ in shape["sfsync_ledger"]["indexes"])


def test_concurrent_first_opens_create_the_schema_once(store_url: str) -> None:
    import threading

    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def open_store() -> None:
        try:
            barrier.wait()
            StateStore(store_url).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert versions(store_url) == [1, 2, 3]


def test_migrations_are_ordered_and_unique() -> None:
    numbers = [number for number, _, _ in _migrations.MIGRATIONS]
    assert numbers == list(range(1, len(numbers) + 1))
    assert numbers[-1] == _migrations.LATEST_VERSION
