"""The state store's schema and its versioned migrations.

Every table is prefixed ``sfsync_`` so the store can share a database (or a schema) with other
applications. ``sfsync_schema_version`` holds one row per applied migration; :func:`migrate`
applies the missing ones, in order, in one transaction (PostgreSQL and SQLite both have
transactional DDL), under a PostgreSQL advisory lock so two processes opening a fresh store at
once do not both create it.

Rules for adding a migration: append a function to :data:`MIGRATIONS`; never edit a released
one (stores in the field already ran it); declare the tables it needs inside it (not the
"current" tables below, which move on); update :func:`current_metadata` to the new shape. The
test suite checks that migrating from v1 yields exactly the freshly declared schema.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.types import TypeDecorator

from sfsync.errors import ConfigError

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "UtcDateTime",
    "current_metadata",
    "current_version",
    "migrate",
    "version_table",
]

PREFIX = "sfsync_"
# Any constant works; it only has to be the same in every sfsync process.
_PG_ADVISORY_KEY = 0x5F5F_5359_4E43


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every dialect.

    SQLite keeps no offset, so values are stored as naive UTC there; PostgreSQL gets
    ``timestamp with time zone``. A naive datetime is refused: its meaning would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("state store timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def version_table(metadata: MetaData | None = None) -> Table:
    return Table(
        f"{PREFIX}schema_version",
        metadata or MetaData(),
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("description", String(200), nullable=False),
        Column("applied_at", UtcDateTime, nullable=False),
    )


def _v1_tables(metadata: MetaData) -> None:
    Table(
        f"{PREFIX}watermark",
        metadata,
        Column("mapping", String(200), nullable=False),
        Column("direction", String(8), nullable=False),
        Column("value", UtcDateTime, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
        PrimaryKeyConstraint("mapping", "direction", name=f"pk_{PREFIX}watermark"),
    )
    Table(
        f"{PREFIX}ledger",
        metadata,
        Column("mapping", String(200), nullable=False),
        Column("external_id", String(255), nullable=False),
        Column("salesforce_id", String(18), nullable=True),
        Column("push_hash", String(128), nullable=True),
        Column("pull_hash", String(128), nullable=True),
        Column("last_pushed_at", UtcDateTime, nullable=True),
        Column("last_pulled_at", UtcDateTime, nullable=True),
        Column("deleted", Boolean, nullable=False, default=False),
        PrimaryKeyConstraint("mapping", "external_id", name=f"pk_{PREFIX}ledger"),
    )
    Table(
        f"{PREFIX}dead_letter",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("mapping", String(200), nullable=False),
        Column("direction", String(8), nullable=False),
        Column("record_key", String(255), nullable=False),
        Column("status_code", String(100), nullable=False),
        # A human reason scrubbed of values, and field *names* only: never plaintext (law 1).
        Column("message", Text, nullable=False),
        Column("fields", JSON, nullable=False),
        Column("attempts", Integer, nullable=False),
        Column("first_seen", UtcDateTime, nullable=False),
        Column("last_seen", UtcDateTime, nullable=False),
        Column("next_attempt_at", UtcDateTime, nullable=False),
        Column("state", String(20), nullable=False),
        UniqueConstraint("mapping", "direction", "record_key", name=f"uq_{PREFIX}dead_letter_key"),
    )
    Table(
        f"{PREFIX}run",
        metadata,
        Column("run_id", String(64), primary_key=True),
        Column("started_at", UtcDateTime, nullable=False),
        Column("ended_at", UtcDateTime, nullable=True),
        Column("args", JSON, nullable=False),
        Column("outcome", String(32), nullable=False),
        Column("summary", JSON, nullable=True),
        Column("api_calls", Integer, nullable=True),
    )
    Table(
        f"{PREFIX}lock",
        metadata,
        Column("name", String(64), primary_key=True),
        Column("holder", String(255), nullable=False),
        # A fresh random token per acquisition: renew/release act only on our own lease, even if
        # a later run happens to use the same holder string.
        Column("token", String(64), nullable=False),
        Column("acquired_at", UtcDateTime, nullable=False),
        Column("expires_at", UtcDateTime, nullable=False),
    )


def _v2_indexes(metadata: MetaData) -> list[Index]:
    ledger = metadata.tables[f"{PREFIX}ledger"]
    dead = metadata.tables[f"{PREFIX}dead_letter"]
    return [
        # pull matches Salesforce records to ledger rows by Salesforce Id
        Index(f"ix_{PREFIX}ledger_salesforce_id", ledger.c.mapping, ledger.c.salesforce_id),
        # every run asks for the dead letters that are due
        Index(f"ix_{PREFIX}dead_letter_due", dead.c.mapping, dead.c.direction, dead.c.state, dead.c.next_attempt_at),
    ]


def _migrate_v1(conn: Connection) -> None:
    metadata = MetaData()
    _v1_tables(metadata)
    metadata.create_all(conn)


def _migrate_v2(conn: Connection) -> None:
    metadata = MetaData()
    _v1_tables(metadata)
    for index in _v2_indexes(metadata):
        index.create(conn)


def _v3_tables(metadata: MetaData) -> None:
    Table(
        f"{PREFIX}pin",
        metadata,
        # Facts recorded outside the files they protect: the keyring generation (so an older
        # keyring file is refused) and the approved field policy (MAC'd under the keyring).
        Column("name", String(64), primary_key=True),
        Column("value", Text, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
    )


def _migrate_v3(conn: Connection) -> None:
    metadata = MetaData()
    _v3_tables(metadata)
    metadata.create_all(conn)


Migration = tuple[int, str, Callable[[Connection], None]]

MIGRATIONS: tuple[Migration, ...] = (
    (1, "watermarks, ledger, dead letters, runs, lock", _migrate_v1),
    (2, "indexes: ledger by Salesforce Id, due dead letters", _migrate_v2),
    (3, "pins: keyring generation, approved field policy", _migrate_v3),
)
LATEST_VERSION = MIGRATIONS[-1][0]


def current_metadata() -> MetaData:
    """The schema as of :data:`LATEST_VERSION`; what the store's queries are written against."""
    metadata = MetaData()
    version_table(metadata)
    _v1_tables(metadata)
    _v2_indexes(metadata)  # Index objects attach themselves to their table
    _v3_tables(metadata)
    return metadata


def current_version(conn: Connection) -> int:
    """The applied schema version (0 for an empty database)."""
    table = version_table()
    if not conn.dialect.has_table(conn, table.name):
        return 0
    return int(conn.execute(select(func.max(table.c.version))).scalar() or 0)


def migrate(conn: Connection, *, target: int | None = None, now: datetime | None = None) -> int:
    """Bring the schema to ``target`` (default: latest) inside the caller's transaction.

    Returns the resulting version. A store written by a newer sfsync is refused rather than
    half-understood.
    """
    goal = LATEST_VERSION if target is None else target
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_ADVISORY_KEY})
    table = version_table()
    table.create(conn, checkfirst=True)
    version = current_version(conn)
    if version > LATEST_VERSION:
        raise ConfigError(
            f"state store was written by a newer sfsync (schema version {version}; this sfsync "
            f"knows up to {LATEST_VERSION}); upgrade sfsync or point [state] url elsewhere"
        )
    stamp = now or datetime.now(UTC)
    for number, description, apply in MIGRATIONS:
        if version < number <= goal:
            apply(conn)
            row: dict[str, Any] = {"version": number, "description": description, "applied_at": stamp}
            conn.execute(insert(table).values(row))
            version = number
    return version
