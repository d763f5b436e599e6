"""SQL portal adapter on SQLAlchemy 2 Core (SQLite, PostgreSQL, any dialect SQLAlchemy reflects).

Design notes:

* Tables are reflected, not declared: the portal owns its schema; sfsync only needs the columns
  a mapping names. A table or column that does not exist is a :class:`ConfigError` naming it.
* :meth:`SqlPortal.changed_rows` pages with a keyset on ``(updated_at, key)`` rather than
  OFFSET: rows sharing one timestamp are neither skipped nor repeated across batches, and every
  batch runs on a fresh connection, so no transaction stays open while the engine talks to
  Salesforce (on SQLite an open read transaction would block :meth:`write_back`).
* Timestamps: a ``timestamp without time zone`` column (and every SQLite column) is taken to
  hold naive UTC; values come back tz-aware UTC either way. SQLite compares timestamps as text,
  so a SQLite portal should store SQLAlchemy's ``YYYY-MM-DD HH:MM:SS.ffffff`` form. Other
  spellings (``T`` separator, no fraction) only cause re-reads within the overlap window, which
  the engine's hashes absorb; offsets other than UTC stored as text are not supported.
* Errors never carry SQL parameters or DBAPI messages that may echo row values (law 1).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    MetaData,
    Select,
    Table,
    UniqueConstraint,
    Update,
    and_,
    bindparam,
    create_engine,
    event,
    false,
    func,
    or_,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import NullType, TypeDecorator, TypeEngine

from sfsync.errors import ConfigError, ErrorContext, FatalError, PortalRejectedError, database_reason
from sfsync.portal._base import UNREADABLE, FilterOperator, PortalFilter, PortalRow, StoredValues
from sfsync.text.time import as_utc
from sfsync.text.urls import redact_database_url

__all__ = ["SqlPortal"]

_log = logging.getLogger("sfsync.portal")

# Bound parameters per IN list: far below SQLite's (32,766) and PostgreSQL's (65,535) limits.
_IN_CHUNK = 500
# Rows per UPDATE ... FROM (VALUES ...) statement of a PostgreSQL write-back.
_PG_PAGE = 1000
# A column type as PostgreSQL names it, its length or precision removed: "NUMERIC", "TIMESTAMP
# WITH TIME ZONE", "DOUBLE PRECISION", "my_enum", "public.my_enum".
_TYPMOD = re.compile(r"\(\s*\d+(?:\s*,\s*\d+)?\s*\)")
_TYPE_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_ ."]*')


def _first_line(exc: BaseException) -> str:
    # Never the statement, its parameters or a quoted value (they may be partner plaintext).
    return database_reason(exc)


class _LenientType(TypeDecorator[Any]):
    """The column's own type, except that a stored value it cannot read becomes ``UNREADABLE``.

    SQLite keeps text in a NUMERIC or DATE column; SQLAlchemy's converters would raise for the
    whole batch (an internal error that stops the run). One bad cell must only reject its row.
    """

    impl = NullType
    cache_ok = True

    def __init__(self, original: TypeEngine[Any]) -> None:
        super().__init__()
        self.original = original

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        # The original type's processor, looked up once per dialect (not once per value).
        processor = self.original.dialect_impl(dialect).bind_processor(dialect)
        if processor is None:
            return None

        def process(value: Any) -> Any:
            return processor(value) if value is not None else value

        return process

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        # coltype None, as before: the original type decides from its own declaration
        processor = self.original.dialect_impl(dialect).result_processor(dialect, None)
        if processor is None:
            return None

        def process(value: Any) -> Any:
            if value is None:
                return None
            try:
                return processor(value)
            except (TypeError, ValueError, ArithmeticError):
                return UNREADABLE

        return process

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        processor = self.bind_processor(dialect)
        return processor(value) if processor is not None else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        processor = self.result_processor(dialect, None)
        return processor(value) if processor is not None else value


def _declared(column_type: Any) -> Any:
    """The type the portal declared (under the lenient wrapper)."""
    return column_type.original if isinstance(column_type, _LenientType) else column_type


def _lenient_columns(table: Table) -> None:
    for column in table.columns:
        if isinstance(column.type, sqltypes.Numeric | sqltypes.Date | sqltypes.DateTime | sqltypes.Time):
            column.type = _LenientType(column.type)


def _lenient_text(dbapi_connection: Any, _record: Any) -> None:
    """Decode SQLite text leniently: one row with bytes that are not UTF-8 must not stop the run.

    sqlite3 would raise for the whole batch, quoting the bytes; undecodable bytes become lone
    surrogates instead, which the push finds (``undecodable_columns``) and dead-letters.
    """
    dbapi_connection.text_factory = _LENIENT_TEXT


# A C-level callable (no Python frame per text cell): str(data, "utf-8", "surrogateescape").
# Still a call per text cell; the large reads decode with sqlite3's own strict decoder first and
# fall back to this one only for a batch that holds bytes that are not UTF-8 (SqlPortal._fetch).
_LENIENT_TEXT = functools.partial(str, encoding="utf-8", errors="surrogateescape")


def _undecodable_text(exc: sa_exc.DBAPIError) -> bool:
    """sqlite3's strict decoder refused a text cell (its message quotes the bytes: never shown)."""
    orig = exc.orig
    return type(orig).__module__.startswith("sqlite3") and "decode" in str(orig)


# SQLSTATEs (PostgreSQL and the SQL standard) -> what the row did wrong, in words.
_SQLSTATE_REASONS = {
    "23502": "a NOT NULL column would get no value",
    "23514": "a CHECK constraint rejects the values",
    "23505": "a UNIQUE constraint rejects the value",
    "23503": "a FOREIGN KEY constraint rejects the value",
    "22001": "a value is too long for its column",
    "22003": "a number is out of range for its column",
    "22007": "a date or time value is malformed",
    "22008": "a date or time value is out of range",
    "22P02": "a value has the wrong type for its column",
}
_QUOTED = re.compile(r"'(?:[^']|'')*'")


def describe_write_error(exc: sa_exc.StatementError) -> str:
    """Why the database refused a write, naming constraint and column but never SQL or values.

    SQLAlchemy's own text of these errors carries the statement and its parameters (plaintext a
    partner submitted may be among them: law 1), and PostgreSQL's DETAIL line repeats the whole
    failing row; only the parts that name schema objects are kept.
    """
    orig = getattr(exc, "orig", None)
    diag = getattr(orig, "diag", None)
    sqlstate = getattr(orig, "pgcode", None) or getattr(orig, "sqlstate", None)
    if diag is not None and sqlstate:
        where = [
            f"column {diag.column_name}" if getattr(diag, "column_name", None) else "",
            f"constraint {diag.constraint_name}" if getattr(diag, "constraint_name", None) else "",
        ]
        reason = _SQLSTATE_REASONS.get(str(sqlstate), f"the database refused the row (SQLSTATE {sqlstate})")
        named = ", ".join(w for w in where if w)
        return f"{reason} ({named})" if named else reason
    if orig is not None and type(orig).__module__.startswith("sqlite3"):
        # SQLite names the constraint and the table.column or the CHECK expression, never the values.
        lines = str(orig).strip().splitlines()
        first = lines[0] if lines else ""
        if first.startswith(
            (
                "NOT NULL constraint failed",
                "CHECK constraint failed",
                "UNIQUE constraint failed",
                "FOREIGN KEY constraint failed",
            )
        ):
            return _QUOTED.sub("'…'", first)
        return f"the database refused the row ({type(orig).__name__})"
    if orig is None or isinstance(orig, TypeError | ValueError):
        # Raised before the driver saw the statement (a value the column type cannot bind).
        return "a value has the wrong type for its column"
    return f"the database refused the row ({type(orig).__name__})"


def create_portal_engine(url: str) -> Engine:
    """An engine for ``url``; a malformed URL or missing driver is a ConfigError."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise ConfigError("portal URL is not a valid SQLAlchemy database URL", ErrorContext()) from None
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        # Wait for a busy portal database instead of failing at once.
        kwargs["connect_args"] = {"timeout": 30}
        if parsed.database and parsed.database != ":memory:" and not Path(parsed.database).exists():
            raise ConfigError(f"portal database file does not exist: {parsed.database}")
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
        if parsed.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _lenient_text)
        return engine
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigError(
            f"cannot use portal URL {redact_database_url(url)}: {_first_line(exc)} "
            "(is the database driver installed? PostgreSQL needs psycopg2-binary)"
        ) from None


class SqlPortal:
    """A partner portal in a SQL database. Implements :class:`~sfsync.portal.PortalAdapter`."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self._url = url
        self._owns_engine = engine is None
        self._engine = engine if engine is not None else create_portal_engine(url)
        self._tables: dict[str, Table] = {}
        self._index_checked: set[tuple[str, str]] = set()
        self._timestamp_cache: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        self._strict_cache: dict[str, list[ColumnElement[Any]]] = {}
        self._probes: dict[tuple[str, ...], tuple[str, list[str] | None] | None] = {}
        self._values: dict[tuple[str, ...], tuple[tuple[str, str], tuple[Callable[[Any], Any] | None, ...]] | None] = {}
        # Write-back UPDATEs compiled once per (dialect, table, key, column set): SQL text, whether
        # positional, and per parameter (name, index in a row tuple, bind processor).
        self._compiled: dict[tuple[str, ...] | tuple[Any, ...], tuple[str, bool, tuple[tuple[str, int, Any], ...]]] = {}

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def dialect(self) -> str:
        return self._engine.dialect.name

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def safe_url(self) -> str:
        return redact_database_url(self._url)

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()

    def __enter__(self) -> SqlPortal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _db_errors(self, table: str) -> Iterator[None]:
        """Connection-level failures become a FatalError; never echo SQL or parameters."""
        try:
            yield
        except (sa_exc.IntegrityError, sa_exc.DataError) as exc:
            raise PortalRejectedError(
                f"the portal refused the write to {table!r}: {describe_write_error(exc)}",
                ErrorContext(extra={"table": table}),
            ) from None
        except sa_exc.DBAPIError as exc:
            raise FatalError(
                f"portal database {self.safe_url} failed on table {table!r}: {describe_write_error(exc)}",
                ErrorContext(extra={"table": table}),
            ) from None
        except sa_exc.StatementError as exc:  # a value the column type cannot bind: that record's fault
            raise PortalRejectedError(
                f"the portal refused the write to {table!r}: {describe_write_error(exc)}",
                ErrorContext(extra={"table": table}),
            ) from None

    def _table(self, name: str) -> Table:
        table = self._tables.get(name)
        if table is not None:
            return table
        schema, _, bare = name.rpartition(".")
        with self._db_errors(name):
            try:
                table = Table(bare, MetaData(), autoload_with=self._engine, schema=schema or None)
            except sa_exc.NoSuchTableError:
                raise ConfigError(
                    f"portal table {name!r} does not exist in {self.safe_url}",
                    ErrorContext(extra={"table": name}),
                ) from None
        if self.dialect == "sqlite":
            _lenient_columns(table)
        self._tables[name] = table
        return table

    def _column(self, table: Table, name: str, role: str) -> ColumnElement[Any]:
        if name not in table.c:
            known = ", ".join(sorted(table.c.keys()))
            raise ConfigError(
                f"portal table {table.fullname!r} in {self.safe_url} has no column {name!r} "
                f"(used as {role}; columns: {known})",
                ErrorContext(field_name=name, extra={"table": table.fullname}),
            )
        return table.c[name]

    def _warn_if_unindexed(self, table: Table, column: str) -> None:
        """Lookups and write-backs by an unindexed key scan the table once per key: say so once.

        (Measured: 10,000 write-backs into a 100,000-row SQLite table took 316 s without an
        index on the key, 0.5 s with one.)
        """
        if (table.fullname, column) in self._index_checked:
            return
        self._index_checked.add((table.fullname, column))
        leading = {c.name for c in table.primary_key.columns} if len(table.primary_key.columns) == 1 else set()
        for index in table.indexes:
            if index.columns and next(iter(index.columns)).name == column:
                leading.add(column)
        for constraint in table.constraints:
            first = next(iter(constraint.columns), None) if isinstance(constraint, UniqueConstraint) else None
            if first is not None and first.name == column:
                leading.add(column)
        if column not in leading:
            _log.warning(
                "portal column %s.%s has no index; lookups and write-backs by it will be slow on "
                "large tables (add a unique index: it is the mapping's key)",
                table.fullname,
                column,
            )

    def _key_columns(self, table: Table, key_column: str | None) -> list[ColumnElement[Any]]:
        if key_column is not None:
            return [self._column(table, key_column, "key column")]
        pk: list[ColumnElement[Any]] = list(table.primary_key.columns)
        if not pk:
            raise ConfigError(
                f"portal table {table.fullname!r} in {self.safe_url} has no primary key; "
                "name a unique key column for it",
                ErrorContext(extra={"table": table.fullname}),
            )
        return pk

    def _filter_clause(self, table: Table, conditions: PortalFilter | None) -> list[ColumnElement[bool]]:
        """The filter as bound SQLAlchemy expressions (values are parameters, never SQL text)."""
        clauses: list[ColumnElement[bool]] = []
        for condition in conditions or ():
            column = self._column(table, condition.column, "filter column")
            value = condition.value
            if isinstance(value, datetime):
                value = self._bind_time(column, value)
            clauses.append(_condition(column, condition.op, value))
        return clauses

    def _bind_time(self, col: ColumnElement[Any], value: datetime) -> datetime:
        """Compare like with like: aware UTC for timestamptz, naive UTC otherwise."""
        if value.tzinfo is None:
            raise ValueError("portal timestamps must be timezone-aware (UTC)")
        utc = value.astimezone(UTC)
        if self.dialect != "sqlite" and getattr(_declared(col.type), "timezone", False):
            return utc
        return utc.replace(tzinfo=None)

    def _fetch(
        self, conn: Connection, table: Table, shape: Callable[[Select[Any]], Select[Any]]
    ) -> tuple[list[str], Sequence[Sequence[Any]]]:
        """The column names and every row of ``shape(select(table))``.

        On a SQLite portal the batch is first read strictly: text by sqlite3's own decoder and
        numbers, dates and timestamps by the declared types' converters (the lenient ones cost a
        Python-level call per cell). A batch with a cell the strict read refuses (bytes that are
        not UTF-8, text where a number or date belongs) is read again the lenient way, so its rows
        come back exactly as before: bad text as lone surrogates, an unreadable value as
        ``UNREADABLE``, for the push to find.
        """
        dbapi = conn.connection.dbapi_connection if self.dialect == "sqlite" else None
        if dbapi is not None and getattr(dbapi, "text_factory", None) is _LENIENT_TEXT:
            dbapi.text_factory = str
            try:
                result = conn.execute(shape(select(*self._strict_columns(table))))
                return list(result.keys()), result.fetchall()
            except sa_exc.OperationalError as exc:
                if not _undecodable_text(exc):
                    raise
            except (TypeError, ValueError, ArithmeticError):
                pass  # a converter refused a cell (its message may quote it): read leniently
            finally:
                dbapi.text_factory = _LENIENT_TEXT
        result = conn.execute(shape(select(table)))
        return list(result.keys()), result.fetchall()

    def _strict_columns(self, table: Table) -> list[ColumnElement[Any]]:
        """The table's columns under their declared types (not the lenient wrappers), same names."""
        found = self._strict_cache.get(table.fullname)
        if found is None:
            found = [
                type_coerce(c, c.type.original).label(c.key) if isinstance(c.type, _LenientType) else c
                for c in table.columns
            ]
            self._strict_cache[table.fullname] = found
        return found

    def _timestamp_columns(self, table: Table, columns: Sequence[str]) -> tuple[str, ...]:
        """The result columns whose values may be datetimes (made UTC-aware), from their types.

        Only these are looked at per row. A column whose type does not say what Python type
        it reads as (an undeclared SQLite column, a type SQLAlchemy does not know) is kept.
        """
        key = (table.fullname, tuple(columns))
        found = self._timestamp_cache.get(key)
        if found is None:
            found = tuple(name for name in columns if _may_read_datetime(table.c.get(name)))
            self._timestamp_cache[key] = found
        return found

    def check_columns(self, table: str, columns: Collection[str]) -> None:
        """Fail before any write if ``table`` or any of ``columns`` is missing (all named at once)."""
        tbl = self._table(table)
        missing = sorted({c for c in columns if c not in tbl.c})
        if missing:
            known = ", ".join(sorted(tbl.c.keys()))
            raise ConfigError(
                f"portal table {tbl.fullname!r} in {self.safe_url} has no column(s) "
                f"{', '.join(repr(c) for c in missing)} (columns: {known})",
                ErrorContext(fields=tuple(missing), extra={"table": tbl.fullname}),
            )

    # -- reading -----------------------------------------------------------------------------

    def changed_rows(
        self,
        table: str,
        *,
        updated_at: str,
        since: datetime | None,
        overlap: timedelta,
        filter: PortalFilter | None = None,
        batch_size: int = 1000,
        key_column: str | None = None,
        first_batch_size: int | None = None,
    ) -> Iterator[list[PortalRow]]:
        """Rows changed at or after ``since - overlap``, in batches ordered by ``(updated_at, key)``.

        ``since=None`` reads every row; rows whose ``updated_at`` is NULL are then yielded first
        (they can never be picked up incrementally, but a full load must not lose them).
        ``key_column`` breaks ties between equal timestamps and must be unique and NOT NULL (a
        NULL would fall out of the keyset comparison); it defaults to the primary key. The filter
        is ANDed with everything else. ``first_batch_size`` (default ``batch_size``) caps the first
        batch only: the caller can start on a few rows while the rest are read.
        """
        if batch_size < 1 or (first_batch_size is not None and first_batch_size < 1):
            raise ValueError("batch_size must be at least 1")
        if overlap < timedelta(0):
            raise ValueError("overlap must not be negative")
        tbl = self._table(table)
        ts = self._column(tbl, updated_at, "updated-at column")
        if not isinstance(_declared(ts.type), sqltypes.DateTime):
            raise ConfigError(
                f"portal column {table}.{updated_at} in {self.safe_url} is {_declared(ts.type)}, not a timestamp",
                ErrorContext(field_name=updated_at, extra={"table": table}),
            )
        keys = self._key_columns(tbl, key_column)
        base = self._filter_clause(tbl, filter)
        # The size of each batch to come: the first one's, once, then batch_size.
        first = [first_batch_size] if first_batch_size is not None else []
        if since is None:
            yield from self._keyset(tbl, [*base, ts.is_(None)], keys, batch_size, first)
            yield from self._keyset(tbl, [*base, ts.is_not(None)], [ts, *keys], batch_size, first)
        else:
            lower = self._bind_time(ts, since - overlap)
            yield from self._keyset(tbl, [*base, ts >= lower], [ts, *keys], batch_size, first)

    def _keyset(
        self,
        tbl: Table,
        where: list[ColumnElement[bool]],
        order: list[ColumnElement[Any]],
        batch_size: int,
        first: list[int],
    ) -> Iterator[list[PortalRow]]:
        last: tuple[Any, ...] | None = None
        names = [str(c.key) for c in order]  # table columns: never None
        while True:
            after = _after(order, last) if last is not None else None
            size = first[0] if first else batch_size

            def shape(stmt: Select[Any], after: ColumnElement[bool] | None = after, size: int = size) -> Select[Any]:
                stmt = stmt.where(*where).order_by(*order).limit(size)
                return stmt if after is None else stmt.where(after)

            with self._db_errors(tbl.fullname), self._engine.connect() as conn:
                columns, raw = self._fetch(conn, tbl, shape)
            if not raw:
                return
            if first:
                first.pop()  # the first batch is the first one yielded, whichever keyset yields it
            # The cursor keeps the values exactly as the database returned them (before the
            # UTC conversion), so the next comparison is like for like.
            positions = [columns.index(n) for n in names]
            last = tuple(raw[-1][i] for i in positions)
            yield _portal_rows(columns, raw, self._timestamp_columns(tbl, columns))
            if len(raw) < size:
                return

    def rows_by_keys(self, table: str, key_column: str, keys: Sequence[Any]) -> dict[Any, PortalRow]:
        tbl = self._table(table)
        col = self._column(tbl, key_column, "key column")
        self._warn_if_unindexed(tbl, key_column)
        found: dict[Any, PortalRow] = {}
        unique = list(dict.fromkeys(keys))
        with self._db_errors(table), self._engine.connect() as conn:
            for start in range(0, len(unique), _IN_CHUNK):
                chunk = unique[start : start + _IN_CHUNK]

                def shape(stmt: Select[Any], chunk: list[Any] = chunk) -> Select[Any]:
                    return stmt.where(col.in_(chunk))

                columns, raw = self._fetch(conn, tbl, shape)
                for out in _portal_rows(columns, raw, self._timestamp_columns(tbl, columns)):
                    found[out[key_column]] = out
        return found

    def existing_keys(self, table: str, key_column: str, keys: Sequence[Any]) -> set[Any]:
        tbl = self._table(table)
        col = self._column(tbl, key_column, "key column")
        present: set[Any] = set()
        unique = list(dict.fromkeys(keys))
        if not unique:
            return present
        with self._db_errors(table), self._engine.connect() as conn:
            probe = self._key_probe(conn, tbl, key_column)
            for start in range(0, len(unique), _IN_CHUNK):
                chunk = unique[start : start + _IN_CHUNK]
                if probe is None:
                    present.update(conn.execute(select(col).where(col.in_(chunk))).scalars())
                    continue
                sql, names = probe
                if len(chunk) < _IN_CHUNK:  # one statement for every chunk: repeat a key
                    chunk = chunk + [chunk[-1]] * (_IN_CHUNK - len(chunk))
                params: Any = tuple(chunk) if names is None else dict(zip(names, chunk, strict=True))
                present.update(row[0] for row in conn.exec_driver_sql(sql, params).fetchall())
        return present

    def _key_probe(self, conn: Connection, tbl: Table, key_column: str) -> tuple[str, list[str] | None] | None:
        """``SELECT key FROM table WHERE key IN (<_IN_CHUNK parameters>)`` compiled once, for a key
        column whose type converts nothing either way (text keys: the values go to the driver and
        come back as they are, as through SQLAlchemy); None for other key types. Returns the SQL
        and, for a driver with named parameters, their names in order."""
        cache_key = ("probe", conn.dialect.name, tbl.fullname, key_column)
        if cache_key in self._probes:
            return self._probes[cache_key]
        col = tbl.c[key_column]
        impl = col.type.dialect_impl(conn.dialect)
        found: tuple[str, list[str] | None] | None = None
        if impl.bind_processor(conn.dialect) is None and impl.result_processor(conn.dialect, None) is None:
            names = [f"k{i}" for i in range(_IN_CHUNK)]
            compiled = (
                select(col).where(col.in_([bindparam(n, type_=col.type) for n in names])).compile(dialect=conn.dialect)
            )
            if compiled.positional:
                if list(compiled.positiontup or ()) == names:
                    found = (str(compiled), None)
            else:
                found = (str(compiled), names)
        self._probes[cache_key] = found
        return found

    def max_updated_at(self, table: str, updated_at: str) -> datetime | None:
        tbl = self._table(table)
        ts = self._column(tbl, updated_at, "updated-at column")
        with self._db_errors(table), self._engine.connect() as conn:
            value = conn.execute(select(func.max(ts))).scalar()
        if value is None:
            return None
        if isinstance(value, str):  # SQLite without a declared DATETIME affinity
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise ConfigError(f"portal column {table}.{updated_at} does not hold timestamps")
        return as_utc(value)

    # -- writing -----------------------------------------------------------------------------

    def write_back(self, table: str, key_column: str, updates: Sequence[tuple[Any, Mapping[str, Any]]]) -> int:
        """Write Salesforce-owned columns; one transaction, one executemany per column set.

        The row's updated-at column is deliberately left alone (and no caller should pass it):
        that column means "the portal changed this row". Bumping it on a write-back would make
        every pulled decision look like a portal edit, so the next push would re-read it and —
        were it not for the hash check — echo it back to Salesforce, ping-ponging forever and
        spending API calls. It would also move the push watermark past genuine portal edits
        made at the same moment. (A portal trigger that bumps it anyway is survivable: the
        engine's payload hash suppresses the echo.)
        """
        if not updates:
            return 0
        tbl = self._table(table)
        key_col = self._column(tbl, key_column, "key column")
        self._warn_if_unindexed(tbl, key_column)
        with self._db_errors(table), self._engine.begin() as conn:
            return self._write_groups(conn, tbl, key_col, key_column, updates)

    def stored_values(self, table: str, key_column: str, keys: Sequence[Any], columns: Sequence[str]) -> StoredValues:
        """Which of ``keys`` the table holds (as text, like the engine's keys), and the stored
        values of ``columns`` for them, to compare with what a write-back would write.

        One read serves both: an UPDATE of a column that keeps its value still rewrites the row
        and every index on the column (on SQLite, most of a write-back's cost), and a pull mostly
        brings back what the portal already holds (the Salesforce Id the push wrote, an empty
        decision). Values are read as the driver returns them and compared with the value to
        write after the column type's own conversion, type included, so a value that only looks
        equal (``1`` and ``"1"``, two spellings of a timestamp) counts as a change. When the
        values cannot be read that way (a driver whose parameter style this plain statement does
        not speak, a read error), only the keys are read and every value counts as a change.
        """
        tbl = self._table(table)
        self._column(tbl, key_column, "key column")
        names = list(dict.fromkeys(columns))
        if key_column in names:
            raise ValueError(f"write_back may not change the key column {key_column!r}")
        for name in names:
            self._column(tbl, name, "write-back column")
        unique = list(dict.fromkeys(keys))
        with self._db_errors(table), self._engine.connect() as conn:
            stored = self._stored_rows(conn, tbl, key_column, names, unique) if unique else {}
            dialect = conn.dialect
        if stored is None:
            present = {str(k) for k in self.existing_keys(table, key_column, unique)}
            return _StoredValues({key: None for key in present}, {}, {}, tbl, self._bind_value, frozenset())
        processors = {name: tbl.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names}
        position = {name: index for index, name in enumerate(names)}
        # A NUMERIC without a declared scale keeps the digits it was written with (1.5 and 1.50
        # are stored apart): there, equal numbers spelled differently are a change.
        exact = frozenset(
            name
            for name in names
            if isinstance(_declared(tbl.c[name].type), sqltypes.Numeric)
            and not isinstance(_declared(tbl.c[name].type), sqltypes.Float)
            and getattr(_declared(tbl.c[name].type), "scale", None) is None
        )
        return _StoredValues(stored, position, processors, tbl, self._bind_value, exact)

    def _stored_rows(
        self, conn: Connection, tbl: Table, key_column: str, names: list[str], keys: list[Any]
    ) -> dict[str, tuple[Any, ...] | None] | None:
        """Per key (as text), the values of ``names`` as the driver returns them (no type
        conversion); None when this plain statement cannot be run on the driver."""
        dialect = conn.dialect
        quote = dialect.identifier_preparer.quote
        marker = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(dialect.paramstyle)
        # Identifiers quoted by the dialect, every value a parameter.
        head = (
            f"SELECT {', '.join(quote(n) for n in [key_column, *names])} "  # noqa: S608
            f"FROM {dialect.identifier_preparer.format_table(tbl)} WHERE {quote(key_column)} IN ("
        )
        if marker is None or (marker == "%s" and "%" in head):
            return None
        key_processor = tbl.c[key_column].type.dialect_impl(dialect).bind_processor(dialect)
        stored: dict[str, tuple[Any, ...] | None] = {}
        try:
            for start in range(0, len(keys), _IN_CHUNK):
                chunk = tuple(key_processor(k) if key_processor else k for k in keys[start : start + _IN_CHUNK])
                sql = head + ", ".join([marker] * len(chunk)) + ")"
                for row in conn.exec_driver_sql(sql, chunk).fetchall():
                    stored[str(row[0])] = tuple(row[1:])
        except (sa_exc.DBAPIError, TypeError, ValueError):
            return None
        return stored

    def _write_groups(
        self,
        conn: Connection,
        tbl: Table,
        key_col: ColumnElement[Any],
        key_column: str,
        updates: Sequence[tuple[Any, Mapping[str, Any]]],
    ) -> int:
        """The UPDATEs of :meth:`write_back`, one executemany per column set, on ``conn``."""
        # Per column set (sorted names): one tuple per row, its values in that order, then the key.
        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        # The sorted names of each distinct column order met (rows of a batch share one or two).
        sorted_cols: dict[tuple[str, ...], tuple[str, ...]] = {}
        checked: set[tuple[str, ...]] = set()
        bind_value = self._bind_value
        for key, values in updates:
            order = tuple(values)
            cols = sorted_cols.get(order)
            if cols is None:
                cols = sorted_cols[order] = tuple(sorted(order))
            if cols not in checked:  # each column set is checked once, not once per row
                if key_column in values:
                    raise ValueError(f"write_back may not change the key column {key_column!r}")
                for name in cols:
                    self._column(tbl, name, "write-back column")
                checked.add(cols)
            row = [values[name] for name in cols]
            for position, value in enumerate(row):
                if isinstance(value, datetime):
                    row[position] = bind_value(tbl, cols[position], value)
            row.append(key)
            groups.setdefault(cols, []).append(tuple(row))
        total = 0
        for cols, rows in groups.items():
            if not cols:
                continue
            stmt = (
                update(tbl).where(key_col == bindparam("k_key")).values({name: bindparam(f"v_{name}") for name in cols})
            )
            if len(rows) > 1 and conn.dialect.name == "postgresql":
                count = self._update_from_values(conn, tbl, key_column, cols, rows)
                if count is not None:
                    total += count
                    continue
            if len(rows) > 1 and conn.dialect.supports_sane_multi_rowcount:
                total += self._executemany(conn, stmt, (tbl.fullname, key_column, cols), cols, rows)
                continue
            params = [
                {**{f"v_{name}": v for name, v in zip(cols, row, strict=False)}, "k_key": row[-1]} for row in rows
            ]
            if len(rows) == 1 or conn.dialect.supports_sane_multi_rowcount:
                result = conn.execute(stmt, params)
                total += max(result.rowcount, 0)
            else:
                # Batched executemany on this driver reports only the last page's rowcount.
                for one in params:
                    total += max(conn.execute(stmt, one).rowcount, 0)
        return total

    def _update_from_values(
        self, conn: Connection, tbl: Table, key_column: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]]
    ) -> int | None:
        """PostgreSQL: the rows as ``UPDATE t SET c = v.c ... FROM (VALUES ...) v WHERE t.key = v.k``,
        ``_PG_PAGE`` rows a statement, instead of one round trip per row (psycopg2's executemany).

        The VALUES list starts with a row of typed NULLs (the columns' types without length or
        precision, so each value still meets the column's own checks when assigned, as in a plain
        UPDATE; NULL matches no key). Returns the rows updated, or None, having written nothing,
        when this cannot reproduce the per-row UPDATEs exactly: a key given twice (the per-row
        statements count and apply both), or any error (the caller then runs those statements,
        which fail or succeed as they always did)."""
        keys = [row[-1] for row in rows]
        if len(set(keys)) != len(keys):
            return None
        plan = self._values_plan(conn, tbl, key_column, cols)
        if plan is None:
            return None
        processors = plan[1]
        if any(p is not None for p in processors):
            rows = [tuple(v if p is None else p(v) for v, p in zip(row, processors, strict=True)) for row in rows]
        savepoint = conn.begin_nested()
        try:
            count = 0
            for start in range(0, len(rows), _PG_PAGE):
                page = rows[start : start + _PG_PAGE]
                sql = self._values_sql(plan[0], len(cols) + 1, len(page))
                count += max(conn.exec_driver_sql(sql, tuple(v for row in page for v in row)).rowcount, 0)
        except sa_exc.DBAPIError:
            savepoint.rollback()
            return None
        savepoint.commit()
        return count

    def _values_plan(
        self, conn: Connection, tbl: Table, key_column: str, cols: tuple[str, ...]
    ) -> tuple[tuple[str, str], tuple[Callable[[Any], Any] | None, ...]] | None:
        """(SQL before and after the VALUES rows, bind processor per value in a row) for
        :meth:`_update_from_values`; None for a column whose type has no plain SQL name."""
        cache_key = ("values", tbl.fullname, key_column, *cols)
        if cache_key in self._values:
            return self._values[cache_key]
        dialect = conn.dialect
        quote = dialect.identifier_preparer.quote
        names = [*cols, key_column]
        casts: list[str] = []
        processors: list[Callable[[Any], Any] | None] = []
        try:
            for name in names:
                declared = _declared(tbl.c[name].type)
                if isinstance(declared, sqltypes.String):
                    type_sql = "TEXT"  # no length: a value too long fails on assignment, as before
                else:
                    type_sql = _TYPMOD.sub("", declared.compile(dialect=dialect)).strip()
                if not _TYPE_NAME.fullmatch(type_sql):
                    raise ValueError(type_sql)
                casts.append(f"CAST(NULL AS {type_sql})")
                processors.append(tbl.c[name].type.dialect_impl(dialect).bind_processor(dialect))
        except (sa_exc.CompileError, sa_exc.UnsupportedCompilationError, ValueError, NotImplementedError):
            self._values[cache_key] = None
            return None
        aliases = [f"c{i}" for i in range(len(names))]
        table_sql = dialect.identifier_preparer.format_table(tbl)
        # Identifiers quoted by the dialect, type names checked above, every value a parameter.
        head = (
            f"UPDATE {table_sql} SET "  # noqa: S608
            + ", ".join(f"{quote(name)} = v.{alias}" for name, alias in zip(cols, aliases, strict=False))
            + " FROM (VALUES ("
            + ", ".join(casts)
            + ")"
        )
        tail = f") AS v ({', '.join(aliases)}) WHERE {table_sql}.{quote(key_column)} = v.{aliases[-1]}"
        # "%" would be read as a parameter marker by the driver: such names keep the plain path.
        found = None if "%" in head + tail else ((head, tail), tuple(processors))
        self._values[cache_key] = found
        return found

    def _values_sql(self, parts: tuple[str, str], width: int, rows: int) -> str:
        """The statement of :meth:`_values_plan` for ``rows`` rows of ``width`` parameters."""
        one = "(" + ", ".join(["%s"] * width) + ")"
        return parts[0] + ", " + ", ".join([one] * rows) + parts[1]

    def _executemany(
        self,
        conn: Connection,
        stmt: Update,
        cache_key: tuple[str, str, tuple[str, ...]],
        cols: tuple[str, ...],
        rows: list[tuple[Any, ...]],
    ) -> int:
        """``conn.execute(stmt, rows)`` with the statement compiled once per column set and the
        values bound here, handed to the driver's executemany: SQLAlchemy's per-row parameter
        handling costs more than the database's own work on a write-back of thousands of rows.
        ``rows`` hold the values of ``cols`` in order, then the key. Returns the rowcount."""
        dialect = conn.dialect
        found = self._compiled.get((dialect.name, *cache_key))
        if found is None:
            compiled = stmt.compile(dialect=dialect)
            binds = compiled.binds
            names = list(compiled.positiontup) if compiled.positional and compiled.positiontup else list(binds)
            # Where each parameter's value sits in a row tuple, and its type's bind processor.
            plan: list[tuple[str, int, Callable[[Any], Any] | None]] = []
            for n in names:
                index = len(cols) if n == "k_key" else cols.index(n[2:])
                plan.append((n, index, binds[n].type.dialect_impl(dialect).bind_processor(dialect)))
            found = (str(compiled), compiled.positional, tuple(plan))
            self._compiled[(dialect.name, *cache_key)] = found
        sql, positional, steps = found
        if all(processor is None for _n, _i, processor in steps):
            indexes = [index for _n, index, _p in steps]
            if positional and indexes == list(range(len(cols) + 1)):
                params: list[Any] = rows
            elif positional:
                params = [tuple(row[i] for i in indexes) for row in rows]
            else:
                params = [{n: row[i] for n, i, _p in steps} for row in rows]
        elif positional:
            params = [tuple(row[i] if p is None else p(row[i]) for _n, i, p in steps) for row in rows]
        else:
            params = [{n: (row[i] if p is None else p(row[i])) for n, i, p in steps} for row in rows]
        result = conn.exec_driver_sql(sql, params)
        return max(result.rowcount, 0)

    def _bind_value(self, tbl: Table, name: str, value: Any) -> Any:
        if isinstance(value, datetime):
            return self._bind_time(tbl.c[name], value)
        return value


def _may_read_datetime(column: ColumnElement[Any] | None) -> bool:
    if column is None:
        return True
    declared = _declared(column.type)
    if isinstance(declared, sqltypes.DateTime):
        return True
    try:
        python_type = declared.python_type
    except NotImplementedError:  # NullType and types that do not say
        return True
    return not isinstance(python_type, type) or issubclass(python_type, datetime)


def _portal_rows(columns: Sequence[str], raw: Sequence[Sequence[Any]], timestamps: Sequence[str]) -> list[PortalRow]:
    """Database rows as portal rows: a dict per row, every datetime aware UTC (``as_utc``).

    Only the columns that can hold a datetime are looked at, a column at a time (the batch
    turned column-major by ``zip``), and the dicts are built by ``zip``: no per-cell Python work
    anywhere else, and the same rows as looking at every value of every row.
    """
    names = tuple(columns)
    if not timestamps or not raw:
        return [dict(zip(names, row, strict=True)) for row in raw]
    cells: list[Sequence[Any]] = list(zip(*raw, strict=True))
    for name in timestamps:
        i = names.index(name)
        cells[i] = [as_utc(v) if v is not None and isinstance(v, datetime) else v for v in cells[i]]
    return [dict(zip(names, row, strict=True)) for row in zip(*cells, strict=True)]


def _after(order: Sequence[ColumnElement[Any]], last: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after ``last`` in the lexicographic order of ``order`` (keyset predicate).

    Spelled as ``a > x OR (a = x AND b > y) ...`` rather than a row-value comparison, which
    SQLite before 3.15 and some other dialects lack.
    """
    terms: list[ColumnElement[bool]] = []
    for i, col in enumerate(order):
        equal = [order[j] == last[j] for j in range(i)]
        terms.append(and_(*equal, col > last[i]))
    return or_(*terms)


def _condition(column: ColumnElement[Any], op: FilterOperator, value: Any) -> ColumnElement[bool]:
    if op == "in":
        return column.in_(value) if value else false()
    if op == "not_in":
        return column.not_in(value) if value else true()
    operators: dict[str, Callable[[], ColumnElement[bool]]] = {
        "eq": lambda: column.is_(None) if value is None else column == value,
        "ne": lambda: column.is_not(None) if value is None else column != value,
        "is_null": lambda: column.is_(None),
        "not_null": lambda: column.is_not(None),
        "lt": lambda: column < value,
        "le": lambda: column <= value,
        "gt": lambda: column > value,
        "ge": lambda: column >= value,
    }
    return operators[op]()


class _StoredValues(StoredValues):
    """What :meth:`SqlPortal.stored_values` read: keys as text, raw values per key (None: not read)."""

    def __init__(
        self,
        stored: dict[str, tuple[Any, ...] | None],
        position: dict[str, int],
        processors: Mapping[str, Callable[[Any], Any] | None],
        table: Table,
        bind_value: Callable[[Table, str, Any], Any],
        exact: frozenset[str],
    ) -> None:
        self._stored = stored
        self._position = position
        self._processors = processors
        self._table = table
        self._bind_value = bind_value
        self._exact = exact  # columns where equal numbers stored with other digits differ

    def __contains__(self, key: object) -> bool:
        return key in self._stored

    def changes(self, key: str, values: Mapping[str, Any]) -> dict[str, Any]:
        current = self._stored.get(key)
        if current is None:
            return dict(values)
        position, processors = self._position, self._processors
        kept: dict[str, Any] = {}
        for name, value in values.items():
            index = position.get(name)
            if index is None:  # a column that was not read
                kept[name] = value
                continue
            bound = self._bind_value(self._table, name, value) if isinstance(value, datetime) else value
            processor = processors[name]
            if processor is not None and bound is not None:
                try:
                    bound = processor(bound)
                except (TypeError, ValueError, ArithmeticError):
                    kept[name] = value  # the UPDATE reports it
                    continue
            old = current[index]
            if bound is None and old is None:
                continue
            if type(bound) is not type(old) or bound != old or (name in self._exact and str(bound) != str(old)):
                kept[name] = value
        return kept
