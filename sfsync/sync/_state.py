"""The state store: watermarks, the per-record ledger, dead letters, run history and the lock.

SQLAlchemy 2 Core on SQLite (the default, one file) or PostgreSQL; tables are prefixed
``sfsync_`` and versioned by :mod:`sfsync.sync._migrations`, applied when the store opens.

What the store never holds: record payloads. The ledger keeps hashes of what was written each
way, dead letters keep a status code, a message the caller scrubbed of values, and field
*names* (validated to look like names) — so no plaintext of an encrypted field can land here
(law 1). Every timestamp in and out is timezone-aware UTC.

On PostgreSQL the store can live in its own schema of a shared database: add
``?options=-csearch_path%3Dsfsync`` to the URL (the schema must exist).
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NamedTuple

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import (
    Connection,
    Engine,
    Table,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Dialect, make_url

from sfsync.errors import ConfigError, ErrorContext, FatalError, database_reason
from sfsync.sync._lock import LeaseLock, holder_alive
from sfsync.sync._migrations import LATEST_VERSION, current_metadata, current_version
from sfsync.sync._migrations import migrate as run_migrations
from sfsync.text.time import utc_now
from sfsync.text.urls import redact_database_url

__all__ = [
    "DeadLetter",
    "DeadLetterState",
    "Direction",
    "LedgerEntry",
    "LedgerRow",
    "RunRecord",
    "StateStore",
]

Direction = Literal["push", "pull"]
DeadLetterState = Literal["open", "retry_requested", "discarded", "exhausted"]
ACTIVE_STATES: tuple[DeadLetterState, ...] = ("open", "retry_requested", "exhausted")

_IN_CHUNK = 500
# Rows per multi-row ledger upsert on PostgreSQL (8 parameters each: far below its 65,535 limit).
_PG_PAGE = 1000
_MAX_MESSAGE = 2000
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.$-]{0,254}")


class LedgerEntry(BaseModel):
    """What sfsync last wrote for one record, each way (hashes only, never the payload)."""

    model_config = ConfigDict(frozen=True)

    mapping: str
    external_id: str
    salesforce_id: str | None = None
    push_hash: str | None = None
    pull_hash: str | None = None
    last_pushed_at: AwareDatetime | None = None
    last_pulled_at: AwareDatetime | None = None
    deleted: bool = False


class LedgerRow(NamedTuple):
    """A ledger entry as the sync engine handles it by the thousand: :class:`LedgerEntry`'s fields,
    without per-row validation (the engine's values are typed: aware UTC datetimes). The store
    refuses a naive datetime in either when it writes it."""

    mapping: str
    external_id: str
    salesforce_id: str | None
    push_hash: str | None
    pull_hash: str | None
    last_pushed_at: datetime | None
    last_pulled_at: datetime | None
    deleted: bool


def _identity(value: Any) -> Any:
    return value


def _positional(dialect: Dialect) -> Dialect:
    """``dialect``, or the same with positional parameters ("%s" for psycopg2): a statement
    compiled once then takes one flat tuple, which the driver fills in faster than names."""
    if dialect.positional:
        return dialect
    factory: Any = type(dialect)
    positional: Dialect = factory(paramstyle="format")
    return positional


def _driver_value(value: Any) -> Any:
    """What sqlite3 binds for ``value``: its registered adapter's result (Python's default one
    turns a datetime into ``isoformat(" ")``), applied once per distinct value instead of once
    per row by the driver."""
    adapter = sqlite3.adapters.get((type(value), sqlite3.PrepareProtocol))
    return adapter(value) if adapter is not None else value


def _ledger_row(entry: LedgerEntry | LedgerRow) -> dict[str, Any]:
    """``entry.model_dump()``, spelled out: pydantic's serializer costs more than the insert."""
    return {
        "mapping": entry.mapping,
        "external_id": entry.external_id,
        "salesforce_id": entry.salesforce_id,
        "push_hash": entry.push_hash,
        "pull_hash": entry.pull_hash,
        "last_pushed_at": entry.last_pushed_at,
        "last_pulled_at": entry.last_pulled_at,
        "deleted": entry.deleted,
    }


class DeadLetter(BaseModel):
    """A record that could not be synced, and when to try it again.

    ``message`` must already be scrubbed of field values by the caller; ``fields`` holds field
    names only (anything that does not look like a name is refused, so a value cannot be passed
    there by mistake).
    """

    model_config = ConfigDict(frozen=True)

    id: int | None = None
    mapping: str
    direction: Direction
    record_key: str
    status_code: str
    message: str
    fields: tuple[str, ...] = ()
    attempts: int = Field(default=0, ge=0)
    first_seen: AwareDatetime | None = None
    last_seen: AwareDatetime | None = None
    next_attempt_at: AwareDatetime | None = None
    state: DeadLetterState = "open"

    @field_validator("fields")
    @classmethod
    def _names_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _FIELD_NAME.fullmatch(name):
                raise ValueError("dead-letter fields must be field names, not values")
        return value


class RunRecord(BaseModel):
    """One ``sfsync run``: when, with what arguments, how it ended and what it cost."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    outcome: str = "running"
    summary: dict[str, Any] | None = None
    api_calls: int | None = None


def _json_safe(value: Mapping[str, Any]) -> dict[str, Any]:
    """Run arguments and summaries as plain JSON (paths, datetimes and enums become strings)."""
    result: dict[str, Any] = json.loads(json.dumps(dict(value), default=str))
    return result


def create_state_engine(url: str) -> Engine:
    """An engine for the state store; SQLite gets real transactions and a busy timeout."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise ConfigError("[state] url is not a valid SQLAlchemy database URL") from None
    backend = parsed.get_backend_name()
    try:
        if backend != "sqlite":
            return create_engine(parsed, pool_pre_ping=True)
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30})
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError, OSError) as exc:
        raise ConfigError(f"cannot open state store {redact_database_url(url)}: {exc}") from None

    # pysqlite starts transactions lazily and not before DDL; take over so that migrations are
    # atomic and a transaction takes the write lock up front (BEGIN IMMEDIATE): a read-then-write
    # transaction can then never deadlock against another process, it simply waits its turn.
    @event.listens_for(engine, "connect")
    def _no_pysqlite_transactions(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        # WAL + synchronous=NORMAL: a commit no longer waits for an fsync of the main file (one
        # per dead letter or ledger batch cost ~20 ms), and readers never block the writer. A
        # power cut can lose the last commits, never corrupt the file; a lost ledger commit only
        # means those records are upserted again (idempotent).
        # Switching to WAL needs a moment alone with the file: when several processes open a new
        # store at once the switch can answer "database is locked". WAL is a property of the file,
        # so one of them succeeding is enough; the others keep going (still correct, only slower).
        cursor = dbapi_conn.cursor()
        try:
            with contextlib.suppress(sqlite3.OperationalError):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class StateStore:
    """sfsync's memory between runs; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        engine: Engine | None = None,
        clock: Callable[[], datetime] | None = None,
        migrate: bool = True,
    ) -> None:
        self.url = url
        self.safe_url = redact_database_url(url)
        self._owns_engine = engine is None
        self._engine = engine if engine is not None else create_state_engine(url)
        self._clock = clock or utc_now
        tables = current_metadata().tables
        self._version_t: Table = tables["sfsync_schema_version"]
        self._watermark: Table = tables["sfsync_watermark"]
        self._ledger: Table = tables["sfsync_ledger"]
        self._dead: Table = tables["sfsync_dead_letter"]
        self._run: Table = tables["sfsync_run"]
        self._lock: Table = tables["sfsync_lock"]
        self._pin: Table = tables["sfsync_pin"]
        # Compiled multi-row upserts, per (table, columns, keys); see _compiled_upsert.
        self._compiled: dict[
            tuple[str, tuple[str, ...], tuple[str, ...]],
            tuple[str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...]],
        ] = {}
        # Ledger statements (SQL text) and column converters, compiled once; see
        # _ledger_rows_fast and _save_ledger_sqlite.
        self._sql: dict[tuple[str, str], str] = {}
        self._converters: dict[str, Callable[[Any], Any]] = {}
        self._pg_upserts: dict[int, tuple[str, tuple[str, ...]]] = {}
        if migrate:
            self.migrate()

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _db(self, what: str) -> Iterator[None]:
        """Database failures become a FatalError naming the store (never SQL or parameters)."""
        try:
            yield
        except sa_exc.ProgrammingError as exc:
            raise FatalError(
                f"state store {self.safe_url} is not usable while {what}: {database_reason(exc)} "
                "(was it created by this sfsync?)"
            ) from None
        except (sa_exc.DBAPIError, sa_exc.StatementError) as exc:
            # Integrity and data errors too: SQLAlchemy's own message would print the parameters.
            raise FatalError(
                f"state store {self.safe_url} failed while {what}: {database_reason(exc)}",
                ErrorContext(extra={"state_url": self.safe_url}),
            ) from None

    def migrate(self, *, target: int | None = None) -> int:
        """Create or upgrade the schema; returns the version now in place."""
        with self._db("migrating the schema"), self._engine.begin() as conn:
            return run_migrations(conn, target=target, now=self._clock())

    @property
    def schema_version(self) -> int:
        with self._db("reading the schema version"), self._engine.connect() as conn:
            return current_version(conn)

    @staticmethod
    def latest_schema_version() -> int:
        return LATEST_VERSION

    def _upsert(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> None:
        if not rows:
            return
        columns = [c for c in rows[0] if c not in keys]
        name = conn.dialect.name
        if name == "sqlite" and len(rows) > 1:
            # Many rows (a ledger batch): the statement compiled once per column set, the values
            # bound here and handed to the driver's executemany. SQLAlchemy's per-row parameter
            # handling cost more than SQLite's own work.
            sql, names, processors = self._compiled_upsert(conn, table, tuple(rows[0]), tuple(keys))
            conn.exec_driver_sql(
                sql,
                [
                    tuple(row[n] if p is None else p(row[n]) for n, p in zip(names, processors, strict=True))
                    for row in rows
                ],
            )
            return
        if name in ("sqlite", "postgresql"):
            module: Any = sqlite_dialect if name == "sqlite" else pg_dialect
            stmt = module.insert(table)
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c[k] for k in keys], set_={c: stmt.excluded[c] for c in columns}
            )
            # SQLAlchemy batches this executemany ("insertmanyvalues"); measured on a local
            # PostgreSQL ~8k ledger rows/s, SQLite ~30k/s: well above the pace Salesforce accepts.
            conn.execute(stmt, list(rows))
            return
        # Other dialects: update, then insert what was not there (fine under the run lock).
        for row in rows:
            where = [table.c[k] == row[k] for k in keys]
            if conn.execute(update(table).where(*where).values({c: row[c] for c in columns})).rowcount == 0:
                conn.execute(insert(table).values(dict(row)))

    def _compiled_upsert(
        self, conn: Connection, table: Table, columns: tuple[str, ...], keys: tuple[str, ...]
    ) -> tuple[str, tuple[str, ...], tuple[Callable[[Any], Any] | None, ...]]:
        """SQLite's insert-or-update of ``columns``: SQL text, parameter order, bind processors."""
        cache_key = (table.name, columns, keys)
        found = self._compiled.get(cache_key)
        if found is None:
            stmt = sqlite_dialect.insert(table).values({c: bindparam(c) for c in columns})
            stmt = stmt.on_conflict_do_update(
                index_elements=[table.c[k] for k in keys],
                set_={c: stmt.excluded[c] for c in columns if c not in keys},
            )
            compiled = stmt.compile(dialect=conn.dialect)
            names = tuple(compiled.positiontup or ())
            processors = tuple(table.c[n].type.bind_processor(conn.dialect) for n in names)
            found = (str(compiled), names, processors)
            self._compiled[cache_key] = found
        return found

    # -- pins ----------------------------------------------------------------------------------

    def get_pin(self, name: str) -> str | None:
        """A recorded fact (``keyring_generation``, ``field_policy``), or None."""
        t = self._pin
        with self._db("reading a pin"), self._engine.connect() as conn:
            value: str | None = conn.execute(select(t.c.value).where(t.c.name == name)).scalar()
        return value

    def set_pin(self, name: str, value: str) -> None:
        row = {"name": name, "value": value, "updated_at": self._clock()}
        with self._db("writing a pin"), self._engine.begin() as conn:
            self._upsert(conn, self._pin, [row], ("name",))

    def raise_pin(self, name: str, value: int) -> int:
        """Record the integer pin ``name`` as ``max(recorded, value)``; returns what was recorded before (0)."""
        t = self._pin
        with self._db("writing a pin"), self._engine.begin() as conn:
            before_text = conn.execute(select(t.c.value).where(t.c.name == name)).scalar()
            before = int(before_text) if before_text is not None and str(before_text).isdigit() else 0
            if value > before:
                self._upsert(conn, t, [{"name": name, "value": str(value), "updated_at": self._clock()}], ("name",))
        return before

    # -- watermarks ----------------------------------------------------------------------------

    def get_watermark(self, mapping: str, direction: Direction) -> datetime | None:
        t = self._watermark
        with self._db("reading a watermark"), self._engine.connect() as conn:
            value: datetime | None = conn.execute(
                select(t.c.value).where(t.c.mapping == mapping, t.c.direction == direction)
            ).scalar()
        return value

    def set_watermark(self, mapping: str, direction: Direction, value: datetime) -> None:
        if value.tzinfo is None:
            raise ValueError("watermarks must be timezone-aware")
        row = {"mapping": mapping, "direction": direction, "value": value, "updated_at": self._clock()}
        with self._db("writing a watermark"), self._engine.begin() as conn:
            self._upsert(conn, self._watermark, [row], ("mapping", "direction"))

    def watermarks(self) -> dict[tuple[str, str], datetime]:
        """Every watermark, keyed by (mapping, direction) — for ``sfsync status``."""
        t = self._watermark
        with self._db("reading watermarks"), self._engine.connect() as conn:
            return {(r.mapping, r.direction): r.value for r in conn.execute(select(t))}

    # -- ledger --------------------------------------------------------------------------------

    @staticmethod
    def _entry(row: Any) -> LedgerEntry:
        return LedgerEntry(
            mapping=row.mapping,
            external_id=row.external_id,
            salesforce_id=row.salesforce_id,
            push_hash=row.push_hash,
            pull_hash=row.pull_hash,
            last_pushed_at=row.last_pushed_at,
            last_pulled_at=row.last_pulled_at,
            deleted=bool(row.deleted),
        )

    def ledger(self, mapping: str, external_ids: Collection[str]) -> dict[str, LedgerEntry]:
        return self._ledger_by(mapping, "external_id", external_ids)

    def ledger_by_salesforce_id(self, mapping: str, salesforce_ids: Collection[str]) -> dict[str, LedgerEntry]:
        """Ledger entries keyed by Salesforce Id (pull matches records this way)."""
        return self._ledger_by(mapping, "salesforce_id", salesforce_ids)

    def _ledger_by(self, mapping: str, column: str, values: Collection[str]) -> dict[str, LedgerEntry]:
        return {key: self._entry(row) for key, row in self._ledger_rows_by(mapping, column, values).items()}

    def ledger_rows(self, mapping: str, external_ids: Collection[str]) -> dict[str, LedgerRow]:
        """Like :meth:`ledger`, as :class:`LedgerRow` tuples: for the sync engine, which reads
        thousands at a time (a validated model per row would cost more than the query)."""
        return self._ledger_rows_by(mapping, "external_id", external_ids)

    def _ledger_rows_by(self, mapping: str, column: str, values: Collection[str]) -> dict[str, LedgerRow]:
        t = self._ledger
        key = t.c[column]
        ids = list(dict.fromkeys(values))
        found: dict[str, LedgerRow] = {}
        if not ids:
            return found
        position = LedgerRow._fields.index(column)
        columns = [t.c[name] for name in LedgerRow._fields]
        make = LedgerRow._make
        with self._db("reading the ledger"), self._engine.connect() as conn:
            if conn.dialect.name in ("sqlite", "postgresql"):
                self._ledger_rows_fast(conn, mapping, column, ids, found)
                return found
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                for row in conn.execute(select(*columns).where(t.c.mapping == mapping, key.in_(chunk))).fetchall():
                    entry = make(row)
                    found[str(entry[position])] = entry
        return found

    def _ledger_rows_fast(
        self, conn: Connection, mapping: str, column: str, ids: list[str], found: dict[str, LedgerRow]
    ) -> None:
        """:meth:`_ledger_rows_by` on SQLite and PostgreSQL: one statement compiled once (every chunk padded to
        ``_IN_CHUNK`` keys by repeating one, which selects nothing twice), rows straight from the
        driver, and each distinct stored timestamp converted once (a batch shares a handful: the
        moments its runs wrote it). The conversions are SQLAlchemy's own, so the rows are the same."""
        sql = self._ledger_select_sql(conn, column)
        position = LedgerRow._fields.index(column)
        convert = self._result_converters(conn)
        to_bool = convert["deleted"]
        to_time = convert["last_pushed_at"]
        times: dict[Any, datetime | None] = {None: None}
        make = LedgerRow
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            if len(chunk) < _IN_CHUNK:
                chunk = chunk + [chunk[-1]] * (_IN_CHUNK - len(chunk))
            for m, ext, sf_id, push_hash, pull_hash, pushed, pulled, deleted in conn.exec_driver_sql(
                sql, (mapping, *chunk)
            ).fetchall():
                pushed_at = times[pushed] if pushed in times else times.setdefault(pushed, to_time(pushed))
                pulled_at = times[pulled] if pulled in times else times.setdefault(pulled, to_time(pulled))
                entry = make(m, ext, sf_id, push_hash, pull_hash, pushed_at, pulled_at, to_bool(deleted))
                found[str(entry[position])] = entry

    def _ledger_select_sql(self, conn: Connection, column: str) -> str:
        """SELECT of the ledger's columns for one mapping and ``_IN_CHUNK`` values of ``column``."""
        cache_key = ("select", column)
        sql = self._sql.get(cache_key)
        if sql is None:
            t = self._ledger
            stmt = select(*(t.c[name] for name in LedgerRow._fields)).where(
                t.c.mapping == bindparam("m"), t.c[column].in_([bindparam(f"k{i}") for i in range(_IN_CHUNK)])
            )
            compiled = stmt.compile(dialect=_positional(conn.dialect))
            # The driver gets positional parameters: the mapping, then the keys in order.
            expected = ("m", *(f"k{i}" for i in range(_IN_CHUNK)))
            if tuple(compiled.positiontup or ()) != expected:
                raise RuntimeError("unexpected parameter order in the compiled ledger query")
            sql = self._sql[cache_key] = str(compiled)
        return sql

    def _result_converters(self, conn: Connection) -> dict[str, Callable[[Any], Any]]:
        """SQLAlchemy's result processors of the ledger's columns (identity where it has none)."""
        converters = self._converters
        if not converters:
            for name in LedgerRow._fields:
                column_type = self._ledger.c[name].type
                processor = column_type.dialect_impl(conn.dialect).result_processor(conn.dialect, None)
                converters[name] = processor if processor is not None else _identity
        return converters

    def all_ledger_keys(self, mapping: str) -> set[str]:
        t = self._ledger
        with self._db("reading the ledger"), self._engine.connect() as conn:
            return set(conn.execute(select(t.c.external_id).where(t.c.mapping == mapping)).scalars())

    def iter_ledger_keys(self, mapping: str, *, chunk: int = 1000, live_only: bool = False) -> Iterator[list[str]]:
        """The mapping's ledger keys in sorted chunks (a keyset read: memory does not grow with the
        ledger). ``live_only`` leaves out records whose delete was already propagated."""
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        t = self._ledger
        last: str | None = None
        while True:
            stmt = select(t.c.external_id).where(t.c.mapping == mapping).order_by(t.c.external_id).limit(chunk)
            if live_only:
                stmt = stmt.where(t.c.deleted.is_(False))
            if last is not None:
                stmt = stmt.where(t.c.external_id > last)
            with self._db("reading the ledger"), self._engine.connect() as conn:
                keys = [str(k) for k in conn.execute(stmt).scalars()]
            if not keys:
                return
            yield keys
            if len(keys) < chunk:
                return
            last = keys[-1]

    def save_ledger(
        self, entries: Sequence[LedgerEntry | LedgerRow], *, stored: Mapping[str, LedgerRow] | None = None
    ) -> None:
        """Insert or replace entries, all in one transaction (idempotent).

        ``stored`` (optional): the entries' rows as this run read them from this store, by
        external id (the caller holds the run lock, so they are still what the store holds). On
        SQLite an entry whose stored row differs in a few columns then has only those updated,
        and one equal to its stored row is not written: the same contents, less work.
        """
        if not entries:
            return
        # Last one wins for duplicates within a call, as it would for sequential calls.
        latest: dict[tuple[str, str], LedgerEntry | LedgerRow] = {}
        for e in entries:
            latest[(e.mapping, e.external_id)] = e
        with self._db("writing the ledger"), self._engine.begin() as conn:
            name = conn.dialect.name
            if name == "sqlite" and len(latest) > 1:
                rest = list(latest.values())
                if stored:
                    rest = self._update_changed_sqlite(conn, rest, stored)
                if rest:
                    self._save_ledger_sqlite(conn, rest)
            elif name == "postgresql" and len(latest) > 1:
                self._save_ledger_postgresql(conn, list(latest.values()))
            else:
                rows = [_ledger_row(e) for e in latest.values()]
                self._upsert(conn, self._ledger, rows, ("mapping", "external_id"))

    def _update_changed_sqlite(
        self, conn: Connection, entries: list[LedgerEntry | LedgerRow], stored: Mapping[str, LedgerRow]
    ) -> list[LedgerEntry | LedgerRow]:
        """UPDATE the columns in which each entry differs from its stored row (grouped by column
        set: a batch has one or two); returns the entries left for the upsert (no stored row, or
        a row gone after all)."""
        fields = LedgerRow._fields
        changing = range(2, len(fields))  # every column but the key (mapping, external_id)
        groups: dict[tuple[int, ...], list[LedgerEntry | LedgerRow]] = {}
        rest: list[LedgerEntry | LedgerRow] = []
        for e in entries:
            before = stored.get(e.external_id)
            if before is None or before.mapping != e.mapping or not isinstance(e, tuple):
                rest.append(e)
                continue
            # != is never an error (a naive datetime differs from every stored one, and is then
            # refused by the bind processor, as on the upsert)
            diff = tuple(i for i in changing if e[i] != before[i])
            if diff:
                groups.setdefault(diff, []).append(e)
        for diff, group in groups.items():
            sql, names = self._ledger_update_sql(conn, diff)
            params = self._ledger_params(conn, group, names, _driver_value)
            if conn.exec_driver_sql(sql, params).rowcount != len(group):
                rest.extend(group)  # some row was not there after all: the upsert puts it right
        return rest

    def _ledger_update_sql(self, conn: Connection, diff: tuple[int, ...]) -> tuple[str, tuple[str, ...]]:
        """``UPDATE ledger SET <columns> WHERE mapping = ? AND external_id = ?``: SQL, parameter order."""
        fields = LedgerRow._fields
        cache_key = ("update", ",".join(fields[i] for i in diff))
        sql = self._sql.get(cache_key)
        names = (*(fields[i] for i in diff), "mapping", "external_id")
        if sql is None:
            t = self._ledger
            stmt = (
                update(t)
                .where(t.c.mapping == bindparam("mapping"), t.c.external_id == bindparam("external_id"))
                .values({fields[i]: bindparam(fields[i]) for i in diff})
            )
            compiled = stmt.compile(dialect=conn.dialect)
            if tuple(compiled.positiontup or ()) != names:
                raise RuntimeError("unexpected parameter order in the compiled ledger update")
            sql = self._sql[cache_key] = str(compiled)
        return sql, names

    def _ledger_params(
        self,
        conn: Connection,
        entries: Sequence[LedgerEntry | LedgerRow],
        names: Sequence[str],
        adapt: Callable[[Any], Any],
    ) -> list[tuple[Any, ...]]:
        """One parameter tuple per entry, its values in the order of ``names``, built straight
        from the entry's fields (no dict per row). Each distinct timestamp or flag goes through
        SQLAlchemy's own bind processor of its column once (a batch shares a few timestamps),
        then ``adapt``, so the driver gets what the generic path gives it; a naive datetime is
        refused alike."""
        fields = LedgerRow._fields
        order = tuple(fields.index(n) for n in names)
        processors = {
            index: processor
            for index, name in zip(order, names, strict=True)
            if (processor := self._ledger.c[name].type.bind_processor(conn.dialect)) is not None
        }
        # Per converted column: a memo of value -> what the driver gets (None stays None).
        memos: dict[int, dict[Any, Any]] = {index: {None: None} for index in processors}
        converted = tuple((index, processor, memos[index]) for index, processor in processors.items())
        params: list[tuple[Any, ...]] = []
        append = params.append
        direct = order == tuple(range(len(fields)))
        for e in entries:
            values: list[Any] = list(e) if isinstance(e, tuple) else [getattr(e, n) for n in fields]
            for index, processor, memo in converted:
                value = values[index]
                if value in memo:
                    values[index] = memo[value]
                else:
                    values[index] = memo.setdefault(value, adapt(processor(value)))
            append(tuple(values) if direct else tuple(values[i] for i in order))
        return params

    def _save_ledger_sqlite(self, conn: Connection, entries: Sequence[LedgerEntry | LedgerRow]) -> None:
        """:meth:`save_ledger` of several entries on SQLite: the upsert compiled once, handed to
        the driver's executemany with the values of :meth:`_ledger_params` (the driver's own
        adapter applied once per distinct value instead of once per row)."""
        sql, names, _processors = self._compiled_upsert(
            conn, self._ledger, LedgerRow._fields, ("mapping", "external_id")
        )
        conn.exec_driver_sql(sql, self._ledger_params(conn, entries, names, _driver_value))

    def _save_ledger_postgresql(self, conn: Connection, entries: Sequence[LedgerEntry | LedgerRow]) -> None:
        """:meth:`save_ledger` of several entries on PostgreSQL: multi-row ``INSERT ... ON
        CONFLICT DO UPDATE`` statements of ``_PG_PAGE`` rows (one round trip each), their text
        built once per page size, the values of :meth:`_ledger_params` passed positionally:
        SQLAlchemy's per-row parameter handling cost several times the database's work."""
        fields = LedgerRow._fields
        params = self._ledger_params(conn, entries, fields, _identity)
        for start in range(0, len(params), _PG_PAGE):
            page = params[start : start + _PG_PAGE]
            sql, _names = self._pg_ledger_upsert(conn, len(page))
            conn.exec_driver_sql(sql, tuple(value for row in page for value in row))

    def _pg_ledger_upsert(self, conn: Connection, rows: int) -> tuple[str, tuple[str, ...]]:
        """The multi-row upsert of ``rows`` ledger rows, compiled by SQLAlchemy: SQL text and the
        parameter names, row by row in :class:`LedgerRow` field order."""
        cached = self._pg_upserts.get(rows)
        if cached is not None:
            return cached
        t = self._ledger
        fields = LedgerRow._fields
        names = tuple(f"p{i}_{f}" for i in range(rows) for f in fields)
        stmt = pg_dialect.insert(t).values(
            [{f: bindparam(f"p{i}_{f}", type_=t.c[f].type) for f in fields} for i in range(rows)]
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.c.mapping, t.c.external_id],
            set_={f: stmt.excluded[f] for f in fields if f not in ("mapping", "external_id")},
        )
        # Compiled for positional "%s" parameters (one flat tuple per page): the driver fills
        # those in faster than named ones.
        compiled = stmt.compile(dialect=_positional(conn.dialect))
        if tuple(compiled.positiontup or ()) != names:
            raise RuntimeError("unexpected parameter order in the compiled ledger upsert")
        found = (str(compiled), names)
        if rows == _PG_PAGE or len(self._pg_upserts) < 8:  # full pages, and a few remainders
            self._pg_upserts[rows] = found
        return found

    # -- dead letters --------------------------------------------------------------------------

    @staticmethod
    def _dead_letter(row: Any) -> DeadLetter:
        return DeadLetter(
            id=row.id,
            mapping=row.mapping,
            direction=row.direction,
            record_key=row.record_key,
            status_code=row.status_code,
            message=row.message,
            fields=tuple(row.fields or ()),
            attempts=row.attempts,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            next_attempt_at=row.next_attempt_at,
            state=row.state,
        )

    def record_dead_letter(
        self,
        letter: DeadLetter,
        *,
        now: datetime | None = None,
        backoff_seconds: float = 300.0,
        max_backoff_seconds: float = 86_400.0,
        max_attempts: int = 5,
    ) -> DeadLetter:
        """Record a failure: a new dead letter, or one more attempt on the existing one.

        The next attempt is due ``backoff * 2**(attempts-1)`` seconds later, capped at
        ``max_backoff_seconds``; at ``max_attempts`` the letter becomes ``exhausted`` (retried
        only on demand). A letter the operator discarded comes back as a fresh one if the record
        fails again: discarding gives up on that failure, not on the record forever.
        """
        t = self._dead
        when = now or self._clock()
        message = letter.message if len(letter.message) <= _MAX_MESSAGE else letter.message[: _MAX_MESSAGE - 1] + "…"
        key = (t.c.mapping == letter.mapping, t.c.direction == letter.direction, t.c.record_key == letter.record_key)
        with self._db("recording a dead letter"), self._engine.begin() as conn:
            row = conn.execute(select(t).where(*key).with_for_update()).first()
            if row is None or row.state == "discarded":
                attempts, first_seen = 1, when
            else:
                attempts, first_seen = row.attempts + 1, row.first_seen
            delay = min(backoff_seconds * 2.0 ** min(attempts - 1, 60), max_backoff_seconds)
            values: dict[str, Any] = {
                "status_code": letter.status_code,
                "message": message,
                "fields": list(letter.fields),
                "attempts": attempts,
                "first_seen": first_seen,
                "last_seen": when,
                "next_attempt_at": when + timedelta(seconds=delay),
                "state": "exhausted" if attempts >= max_attempts else "open",
            }
            if row is None:
                conn.execute(
                    insert(t).values(
                        mapping=letter.mapping, direction=letter.direction, record_key=letter.record_key, **values
                    )
                )
            else:
                conn.execute(update(t).where(t.c.id == row.id).values(values))
            stored = conn.execute(select(t).where(*key)).one()
        return self._dead_letter(stored)

    def dead_letters(
        self,
        *,
        mapping: str | None = None,
        states: Collection[DeadLetterState] = ACTIVE_STATES,
        direction: Direction | None = None,
    ) -> list[DeadLetter]:
        t = self._dead
        stmt = select(t).where(t.c.state.in_(list(states))).order_by(t.c.id)
        if mapping is not None:
            stmt = stmt.where(t.c.mapping == mapping)
        if direction is not None:
            stmt = stmt.where(t.c.direction == direction)
        with self._db("reading dead letters"), self._engine.connect() as conn:
            return [self._dead_letter(r) for r in conn.execute(stmt)]

    def dead_letter(self, letter_id: int) -> DeadLetter | None:
        t = self._dead
        with self._db("reading a dead letter"), self._engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.id == letter_id)).first()
        return self._dead_letter(row) if row else None

    def due_dead_letters(
        self, mapping: str, direction: Direction, now: datetime, max_attempts: int
    ) -> list[DeadLetter]:
        """Letters to retry in this run: asked for by an operator, or open and past their backoff."""
        t = self._dead
        stmt = (
            select(t)
            .where(t.c.mapping == mapping, t.c.direction == direction)
            .where(
                (t.c.state == "retry_requested")
                | ((t.c.state == "open") & (t.c.next_attempt_at <= now) & (t.c.attempts < max_attempts))
            )
            .order_by(t.c.id)
        )
        with self._db("reading due dead letters"), self._engine.connect() as conn:
            return [self._dead_letter(r) for r in conn.execute(stmt)]

    def resolve_dead_letter(self, mapping: str, direction: Direction, record_key: str) -> bool:
        """The record synced after all: forget its dead letter. True if there was one."""
        return self.resolve_dead_letters(mapping, direction, [record_key]) > 0

    def has_dead_letters(self, mapping: str, direction: Direction) -> bool:
        """Whether any letter (any state, discarded ones too) is stored for the mapping and
        direction: what :meth:`resolve_dead_letters` could remove. One indexed probe."""
        t = self._dead
        stmt = select(t.c.id).where(t.c.mapping == mapping, t.c.direction == direction).limit(1)
        with self._db("reading dead letters"), self._engine.connect() as conn:
            return conn.execute(stmt).first() is not None

    def resolve_dead_letters(self, mapping: str, direction: Direction, record_keys: Collection[str]) -> int:
        """Bulk :meth:`resolve_dead_letter`; returns how many letters were removed."""
        t = self._dead
        keys = list(dict.fromkeys(record_keys))
        removed = 0
        with self._db("resolving dead letters"), self._engine.begin() as conn:
            for start in range(0, len(keys), _IN_CHUNK):
                chunk = keys[start : start + _IN_CHUNK]
                removed += conn.execute(
                    delete(t).where(t.c.mapping == mapping, t.c.direction == direction, t.c.record_key.in_(chunk))
                ).rowcount
        return removed

    def request_retry(self, letter_id: int | None = None) -> int:
        """Make one letter (any state) or all open/exhausted ones due now; the next run retries
        them regardless of backoff and attempts. Returns how many were marked."""
        t = self._dead
        stmt = update(t).values(state="retry_requested", next_attempt_at=self._clock())
        if letter_id is None:
            stmt = stmt.where(t.c.state.in_(["open", "exhausted"]))
        else:
            stmt = stmt.where(t.c.id == letter_id)
        with self._db("requesting a retry"), self._engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def discard(self, letter_id: int) -> bool:
        """Give up on a letter (kept for the record, never retried). True if it existed."""
        t = self._dead
        with self._db("discarding a dead letter"), self._engine.begin() as conn:
            return conn.execute(update(t).where(t.c.id == letter_id).values(state="discarded")).rowcount == 1

    def dead_letter_counts(self) -> dict[tuple[str, str, str], int]:
        """Counts by (mapping, direction, state) — for ``sfsync status``."""
        t = self._dead
        stmt = select(t.c.mapping, t.c.direction, t.c.state, func.count()).group_by(
            t.c.mapping, t.c.direction, t.c.state
        )
        with self._db("counting dead letters"), self._engine.connect() as conn:
            return {(m, d, s): int(n) for m, d, s, n in conn.execute(stmt)}

    # -- runs ----------------------------------------------------------------------------------

    def start_run(self, run_id: str, started_at: datetime, args: Mapping[str, Any]) -> None:
        with self._db("recording a run"), self._engine.begin() as conn:
            conn.execute(
                insert(self._run).values(run_id=run_id, started_at=started_at, args=_json_safe(args), outcome="running")
            )

    def finish_run(
        self, run_id: str, ended_at: datetime, outcome: str, summary: Mapping[str, Any], api_calls: int
    ) -> None:
        t = self._run
        with self._db("recording a run"), self._engine.begin() as conn:
            conn.execute(
                update(t)
                .where(t.c.run_id == run_id)
                .values(ended_at=ended_at, outcome=outcome, summary=_json_safe(summary), api_calls=api_calls)
            )

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """The latest runs, newest first. A run still ``running`` with no end either is in progress
        or crashed (the lock tells which)."""
        t = self._run
        stmt = select(t).order_by(t.c.started_at.desc(), t.c.run_id.desc()).limit(limit)
        with self._db("reading runs"), self._engine.connect() as conn:
            return [
                RunRecord(
                    run_id=r.run_id,
                    started_at=r.started_at,
                    ended_at=r.ended_at,
                    args=r.args or {},
                    outcome=r.outcome,
                    summary=r.summary,
                    api_calls=r.api_calls,
                )
                for r in conn.execute(stmt)
            ]

    def runs_as_seen_now(self, limit: int = 20, *, now: datetime | None = None) -> list[RunRecord]:
        """:meth:`runs`, with a run still marked ``running`` whose process is gone shown as ``crashed``.

        A run killed outright (SIGKILL, OOM, a lost machine) cannot record its end; the sync lock
        tells whether it is still alive (:func:`~sfsync.sync._lock.holder_alive`), so ``sfsync status``
        says so at once rather than when the next run starts.
        """
        records = self.runs(limit)
        if not any(r.outcome == "running" for r in records):
            return records
        holder = self.lock_holder("sync")
        moment = now or self._clock()
        return [
            r.model_copy(update={"outcome": "crashed"})
            if r.outcome == "running" and not holder_alive(holder, r.run_id, now=moment)
            else r
            for r in records
        ]

    def close_abandoned_runs(self, *, except_run: str | None = None) -> int:
        """Mark runs still ``running`` as ``crashed``; returns how many.

        Call it right after taking the lock: runs write only under the lock, so any other run
        still marked running died without finishing, and ``sfsync status`` should say so.
        """
        t = self._run
        stmt = update(t).where(t.c.outcome == "running").values(outcome="crashed")
        if except_run is not None:
            stmt = stmt.where(t.c.run_id != except_run)
        with self._db("recording a run"), self._engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def prune_runs(self, *, keep: int = 1000) -> int:
        """Forget all but the newest ``keep`` runs (a job every few minutes adds ~100k a year)."""
        if keep < 0:
            raise ValueError("keep must not be negative")
        t = self._run
        with self._db("pruning runs"), self._engine.begin() as conn:
            cutoff = conn.execute(select(t.c.started_at).order_by(t.c.started_at.desc()).offset(keep).limit(1)).scalar()
            if cutoff is None:
                return 0
            return int(conn.execute(delete(t).where(t.c.started_at <= cutoff)).rowcount)

    # -- lock ----------------------------------------------------------------------------------

    def lock(
        self,
        name: str = "sync",
        *,
        holder: str,
        lease_seconds: float,
        timeout_seconds: float,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        poll_seconds: float = 1.0,
    ) -> LeaseLock:
        """A lease lock (use as a context manager); see :class:`~sfsync.sync._lock.LeaseLock`."""
        return LeaseLock(
            self._engine,
            self._lock,
            name=name,
            holder=holder,
            lease_seconds=lease_seconds,
            timeout_seconds=timeout_seconds,
            clock=clock or self._clock,
            sleep=sleep,
            poll_seconds=poll_seconds,
        )

    def lock_holder(self, name: str = "sync") -> tuple[str, datetime, datetime] | None:
        """(holder, acquired_at, expires_at) of the named lock, or None — for ``sfsync status``."""
        t = self._lock
        with self._db("reading the lock"), self._engine.connect() as conn:
            row = conn.execute(select(t.c.holder, t.c.acquired_at, t.c.expires_at).where(t.c.name == name)).first()
        return (row.holder, row.acquired_at, row.expires_at) if row else None
