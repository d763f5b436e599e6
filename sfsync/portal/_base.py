"""The portal adapter interface: what the sync engine needs from a partner portal.

The engine talks to the portal only through :class:`PortalAdapter`, so a portal behind another
SQL dialect, or behind a REST API, plugs in by implementing these few methods. Rows are plain
dicts keyed by column name; every datetime in them is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeAlias, runtime_checkable

__all__ = ["UNREADABLE", "PortalAdapter", "PortalFilter", "PortalRow"]


class _Unreadable:
    """A cell whose stored value its column type cannot read (SQLite keeps any value in any column).

    The row is dead-lettered by the push, naming the column; the value itself is never shown.
    """

    _instance: _Unreadable | None = None

    def __new__(cls) -> _Unreadable:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unreadable value>"


UNREADABLE = _Unreadable()

PortalRow: TypeAlias = dict[str, Any]
"""One portal row: column name -> value; datetimes are tz-aware UTC."""

PortalFilter: TypeAlias = Mapping[str, Any]
"""A mapping's row filter: column -> value (equality; ``None`` means IS NULL) or a list/tuple/set of
values (IN). Deliberately not SQL text: filters come from YAML files that sales ops edit."""


@runtime_checkable
class PortalAdapter(Protocol):
    """Read changed rows from, and write Salesforce-owned fields back to, a partner portal."""

    @property
    def dialect(self) -> str:
        """Short name of the backend (``sqlite``, ``postgresql``, ``rest``...)."""
        ...

    def check_columns(self, table: str, columns: Collection[str]) -> None:
        """Raise ConfigError naming the table or every missing column; called before a run writes."""
        ...

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
    ) -> Iterator[list[PortalRow]]:
        """Rows with ``updated_at >= since - overlap`` (all rows when ``since`` is None), in batches,
        ordered by ``(updated_at, key)`` so the engine can advance its watermark batch by batch."""
        ...

    def rows_by_keys(self, table: str, key_column: str, keys: Sequence[Any]) -> dict[Any, PortalRow]:
        """The rows whose ``key_column`` is in ``keys`` (missing keys are simply absent)."""
        ...

    def existing_keys(self, table: str, key_column: str, keys: Sequence[Any]) -> set[Any]:
        """The subset of ``keys`` still present in the portal (to detect hard deletes)."""
        ...

    def write_back(
        self, table: str, key_column: str, updates: Sequence[tuple[Any, Mapping[str, Any]]]
    ) -> int:
        """Apply ``(key, {column: value})`` updates in one transaction; return rows updated."""
        ...

    def max_updated_at(self, table: str, updated_at: str) -> datetime | None:
        """The newest ``updated_at`` in the table (tz-aware UTC), or None when it is empty."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
