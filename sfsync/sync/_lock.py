"""A lease lock in a database row, so two overlapping runs can never both write.

Acquiring is one atomic statement either way: a conditional ``UPDATE ... WHERE name = :n AND
(expires_at < :now OR holder = :me)`` takes over an expired (or our own) lease, and an ``INSERT``
creates the row the first time; the row count says whether we won. Under PostgreSQL's READ
COMMITTED a concurrent UPDATE re-checks its WHERE clause against the winner's row, and SQLite
serialises writers, so exactly one contender wins.

A lease, not a plain flag, because runs crash: a crashed run's lock frees itself when its lease
expires. The engine calls :meth:`LeaseLock.renew` between batches; a run whose lease expired and
was taken over learns it at the next renew (LockHeldError) and stops before writing more.
Expiry is judged on the callers' clocks, so keep the lease far above any clock skew between
machines (the default is 15 minutes).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, Table, delete, insert, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from sfsync.errors import ErrorContext, FatalError, LockHeldError
from sfsync.text.time import utc_now

__all__ = ["LeaseLock", "holder_alive", "run_holder"]

_log = logging.getLogger("sfsync.sync.lock")


def run_holder(run_id: str, *, host: str | None = None, pid: int | None = None) -> str:
    """The lock holder name of a run: ``host:pid:run-id prefix`` — enough for ``sfsync status`` to tell
    a run in progress from one whose process died (:func:`holder_alive`)."""
    return f"{host or socket.gethostname()}:{pid if pid is not None else os.getpid()}:{run_id[:8]}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: existence check only
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True  # cannot tell: do not call a live run dead
    return True


def holder_alive(
    holder: tuple[str, datetime, datetime] | None,
    run_id: str,
    *,
    now: datetime,
    host: str | None = None,
    process_alive: Callable[[int], bool] = _process_alive,
) -> bool:
    """Whether the run ``run_id`` (marked running) can still be running, judged from the sync lock.

    Runs write only under the lock, so a run is alive only while the lock names it and its lease is
    current. On the machine that holds it the process is checked too: a run killed with SIGKILL
    leaves its lease behind for up to ``lock_lease_seconds`` but its process is gone at once. On
    another machine the lease is all we know.
    """
    if holder is None:
        return False
    name, _acquired, expires_at = holder
    parts = name.rsplit(":", 2)
    if len(parts) != 3 or parts[2] != run_id[:8]:
        return False
    if expires_at < now:
        return False
    holder_host, pid_text, _ = parts
    if holder_host == (host or socket.gethostname()) and pid_text.isdigit():
        return process_alive(int(pid_text))
    return True


def _fmt(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else "?"


@contextlib.contextmanager
def _db_errors(what: str) -> Iterator[None]:
    try:
        yield
    except sa_exc.OperationalError as exc:
        orig = str(getattr(exc, "orig", exc)).strip().splitlines()
        raise FatalError(f"state store failed while {what}: {orig[0] if orig else type(exc).__name__}") from None


class LeaseLock:
    """Context manager over one named lease; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        table: Table,
        *,
        name: str,
        holder: str,
        lease_seconds: float,
        timeout_seconds: float,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        poll_seconds: float = 1.0,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        if timeout_seconds < 0:
            raise ValueError("timeout_seconds must not be negative")
        if not holder:
            raise ValueError("holder must not be empty")
        self._engine = engine
        self._table = table
        self.name = name
        self.holder = holder
        self.lease = timedelta(seconds=lease_seconds)
        self.timeout = timedelta(seconds=timeout_seconds)
        self._clock = clock or utc_now
        self._sleep = sleep or time.sleep
        self._poll = max(poll_seconds, 0.001)
        self._token: str | None = None
        self.expires_at: datetime | None = None

    @property
    def held(self) -> bool:
        return self._token is not None

    # -- acquire -----------------------------------------------------------------------------

    def _try_acquire(self) -> bool:
        t = self._table
        token = secrets.token_hex(16)
        now = self._clock()
        values: dict[str, Any] = {
            "holder": self.holder,
            "token": token,
            "acquired_at": now,
            "expires_at": now + self.lease,
        }
        with _db_errors("taking the lock"):
            with self._engine.begin() as conn:
                taken = conn.execute(
                    update(t)
                    .where(t.c.name == self.name, or_(t.c.expires_at < now, t.c.holder == self.holder))
                    .values(values)
                ).rowcount
            if taken != 1:
                try:
                    with self._engine.begin() as conn:
                        taken = conn.execute(self._insert(conn.dialect.name, values)).rowcount
                except sa_exc.IntegrityError:
                    taken = 0  # the row exists: someone else holds an unexpired lease
        if taken == 1:
            self._token = token
            self.expires_at = values["expires_at"]
            return True
        return False

    def _insert(self, dialect: str, values: dict[str, Any]) -> Any:
        """INSERT the first row; DO NOTHING on conflict where the dialect has it (keeps the
        PostgreSQL server log free of a duplicate-key error per poll), else IntegrityError."""
        row = {"name": self.name, **values}
        if dialect == "postgresql":
            return pg_insert(self._table).values(row).on_conflict_do_nothing(index_elements=["name"])
        if dialect == "sqlite":
            return sqlite_insert(self._table).values(row).on_conflict_do_nothing(index_elements=["name"])
        return insert(self._table).values(row)

    def _current(self) -> tuple[str, datetime, datetime] | None:
        t = self._table
        with _db_errors("reading the lock"), self._engine.connect() as conn:
            row = conn.execute(select(t.c.holder, t.c.acquired_at, t.c.expires_at).where(t.c.name == self.name)).first()
        return (row.holder, row.acquired_at, row.expires_at) if row else None

    def acquire(self) -> LeaseLock:
        """Take the lock, waiting up to the timeout; raise LockHeldError if it stays held."""
        if self.held:
            return self
        deadline = self._clock() + self.timeout
        while True:
            if self._try_acquire():
                _log.debug("lock %r acquired by %s until %s", self.name, self.holder, _fmt(self.expires_at))
                return self
            current = self._current()
            now = self._clock()
            if current is None and now < deadline:
                continue  # released between our two statements: try again at once
            if now >= deadline:
                holder, since, expires = current or ("unknown", None, None)
                waited = f" (waited {self.timeout.total_seconds():g} s)" if self.timeout else ""
                raise LockHeldError(
                    f"another run (holder {holder}, since {_fmt(since)}) holds the {self.name!r} lock; "
                    f"it expires at {_fmt(expires)}{waited}",
                    ErrorContext(extra={"lock": self.name, "holder": holder}),
                )
            self._sleep(min(self._poll, (deadline - now).total_seconds()))

    # -- renew / release ---------------------------------------------------------------------

    def renew(self) -> datetime:
        """Extend the lease from now; LockHeldError if another run took it over meanwhile."""
        if self._token is None:
            raise LockHeldError(f"the {self.name!r} lock is not held by {self.holder}")
        t = self._table
        now = self._clock()
        expires = now + self.lease
        with _db_errors("renewing the lock"), self._engine.begin() as conn:
            renewed = conn.execute(
                update(t).where(t.c.name == self.name, t.c.token == self._token).values(expires_at=expires)
            ).rowcount
        if renewed != 1:
            self._token = None
            self.expires_at = None
            current = self._current()
            who = f"holder {current[0]}, since {_fmt(current[1])}" if current else "nobody holds it now"
            raise LockHeldError(
                f"lost the {self.name!r} lock: the lease expired and another run took it over ({who}); "
                "stopping before writing more",
                ErrorContext(extra={"lock": self.name}),
            )
        self.expires_at = expires
        return expires

    def release(self) -> None:
        """Give the lock up, if we still hold it (a taken-over lease is left to its new holder)."""
        if self._token is None:
            return
        t = self._table
        token, self._token, self.expires_at = self._token, None, None
        try:
            with self._engine.begin() as conn:
                conn.execute(delete(t).where(t.c.name == self.name, t.c.token == token))
        except sa_exc.OperationalError:
            # Raising here would hide the run's own outcome; the lease will simply expire.
            _log.warning("could not release the %r lock; it frees itself when its lease expires", self.name)

    def __enter__(self) -> LeaseLock:
        return self.acquire()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
