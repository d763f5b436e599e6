"""The portal adapter interface: what the sync engine needs from a partner portal.

The engine talks to the portal only through :class:`PortalAdapter`, so a portal behind another
SQL dialect, or behind a REST API, plugs in by implementing these few methods. Rows are plain
dicts keyed by column name; every datetime in them is timezone-aware UTC.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "FILTER_OPERATORS",
    "UNREADABLE",
    "FilterCondition",
    "FilterOperator",
    "PortalAdapter",
    "PortalFilter",
    "PortalRow",
    "StoredValues",
]


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

FilterOperator: TypeAlias = Literal["eq", "ne", "in", "not_in", "is_null", "not_null", "lt", "le", "gt", "ge"]
FILTER_OPERATORS: tuple[str, ...] = ("eq", "ne", "in", "not_in", "is_null", "not_null", "lt", "le", "gt", "ge")
FilterValue: TypeAlias = str | int | float | bool | Decimal | date | datetime | None
_LIST_OPERATORS = ("in", "not_in")
_VALUELESS_OPERATORS = ("is_null", "not_null")


class FilterCondition(BaseModel):
    """One condition on a portal table; all conditions of a filter must hold (AND).

    Deliberately not SQL text: filters come from YAML files that sales ops edit. Every adapter
    runs every operator listed here, so a filter that validates is a filter that runs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    op: FilterOperator = "eq"
    value: FilterValue | list[FilterValue] = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> FilterCondition:
        if self.op in _LIST_OPERATORS and not isinstance(self.value, list):
            raise ValueError(f"op {self.op} needs a list value")
        if self.op not in _LIST_OPERATORS and isinstance(self.value, list):
            raise ValueError(f"op {self.op} needs a single value, not a list")
        if self.op in _VALUELESS_OPERATORS and self.value is not None:
            raise ValueError(f"op {self.op} takes no value")
        if self.op not in (*_VALUELESS_OPERATORS, "eq", "ne") and self.value is None:
            raise ValueError(f"op {self.op} needs a value (use is_null / not_null for NULL)")
        return self


PortalFilter: TypeAlias = Sequence[FilterCondition]
"""A mapping's row filter: conditions that must all hold."""


class StoredValues(Protocol):
    """Keys a portal table holds, with what it stores for the columns a write-back would write."""

    def __contains__(self, key: object) -> bool:
        """Whether the table holds ``key`` (as text)."""
        ...

    def changes(self, key: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` less those the row already stores (all of them when it was not read)."""
        ...


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
        first_batch_size: int | None = None,
    ) -> Iterator[list[PortalRow]]:
        """Rows with ``updated_at >= since - overlap`` (all rows when ``since`` is None), in batches,
        ordered by ``(updated_at, key)`` so the engine can advance its watermark batch by batch;
        ``first_batch_size`` caps the first batch only."""
        ...

    def rows_by_keys(self, table: str, key_column: str, keys: Sequence[Any]) -> dict[Any, PortalRow]:
        """The rows whose ``key_column`` is in ``keys`` (missing keys are simply absent)."""
        ...

    def existing_keys(self, table: str, key_column: str, keys: Sequence[Any]) -> set[Any]:
        """The subset of ``keys`` still present in the portal (to detect hard deletes)."""
        ...

    def write_back(self, table: str, key_column: str, updates: Sequence[tuple[Any, Mapping[str, Any]]]) -> int:
        """Apply ``(key, {column: value})`` updates in one transaction; return rows updated."""
        ...

    def stored_values(self, table: str, key_column: str, keys: Sequence[Any], columns: Sequence[str]) -> StoredValues:
        """Which of ``keys`` the table holds (as text) and, to compare with a write-back, the stored
        values of ``columns`` for them."""
        ...

    def max_updated_at(self, table: str, updated_at: str) -> datetime | None:
        """The newest ``updated_at`` in the table (tz-aware UTC), or None when it is empty."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
