"""Fields every log line of a run carries (run id, mapping, direction, live ``counts``), via contextvars.

The sync engine binds them while it works; :class:`LogFieldsFilter` copies them onto each log record,
so any handler — the CLI's JSON formatter, a user's own — sees them as record attributes, without
every ``log.info`` call passing ``extra=``. Counts come from a live object (the running mapping's
summary), read when the line is logged, so a line says how far the mapping had got.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol

__all__ = ["COUNT_FIELDS", "LogFieldsFilter", "bind_log_fields", "current_log_fields", "track_log_counts"]

# The counters a line carries, in this order, when a mapping is running.
COUNT_FIELDS: tuple[str, ...] = (
    "read",
    "created",
    "updated",
    "unchanged",
    "rejected",
    "retried",
    "written_back",
    "deleted",
    "withdrawn",
)


class _Counts(Protocol):
    """Anything with the counters as integer attributes (``MappingRunSummary``)."""

    read: int


_fields: ContextVar[Mapping[str, object]] = ContextVar("sfsync_log_fields", default={})  # noqa: B039 (never mutated)
_counts: ContextVar[_Counts | None] = ContextVar("sfsync_log_counts", default=None)


@contextmanager
def bind_log_fields(counts: _Counts | None = None, **fields: object) -> Iterator[None]:
    """Add ``fields`` (and, if given, a live ``counts`` object) to every log line logged inside.

    On exit both are restored, including counts attached inside with :func:`track_log_counts`.
    """
    token = _fields.set({**_fields.get(), **fields})
    counts_token = _counts.set(counts if counts is not None else _counts.get())
    try:
        yield
    finally:
        _fields.reset(token)
        _counts.reset(counts_token)


def track_log_counts(counts: _Counts) -> None:
    """From now until the enclosing :func:`bind_log_fields` ends, lines carry ``counts``' counters."""
    _counts.set(counts)


def current_log_fields() -> dict[str, object]:
    """The bound fields plus the live counts, as they are now."""
    values: dict[str, object] = dict(_fields.get())
    counts = _counts.get()
    if counts is not None:
        # one nested "counts" field: names such as "created" would collide with LogRecord's own attributes
        values["counts"] = {
            name: value for name in COUNT_FIELDS if isinstance(value := getattr(counts, name, None), int)
        }
    return values


class LogFieldsFilter(logging.Filter):
    """Copy the bound fields onto each record (never overriding an ``extra=`` the call passed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in current_log_fields().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True
