"""Time in one convention: aware UTC datetimes, whatever shape a value arrives in."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["as_utc", "parse_utc", "utc_now"]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive timestamp is read as UTC (what the portal and Salesforce store), not local time."""
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    if type(value) is datetime:
        # The same value as replace(tzinfo=UTC) (fold included), in a quarter of the time:
        # datetime.replace parses its keyword arguments slowly (about 1 µs a call), and every
        # portal row has its timestamps made aware here.
        return datetime.combine(value.date(), value.time(), UTC)
    return value.replace(tzinfo=UTC)  # a subclass keeps its type


def parse_utc(value: object) -> datetime | None:
    """A datetime from a portal value or a Salesforce timestamp string; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    text = str(value)
    # Salesforce answers "2024-05-01T10:00:00.000+0000"; fromisoformat wants "+00:00".
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]
    return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
