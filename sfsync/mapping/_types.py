"""Salesforce field types, the value "kinds" transforms work on, and the coercions at both edges.

A mapping moves a value from its owner to the other side. Portal-owned values run
``portal row -> transforms -> to_sf()``; Salesforce-owned values run ``from_sf() -> transforms ->
portal column``. The coercions here are the last (push) and first (pull) step, so a transform chain
only ever sees plain Python values: ``str``, ``list``, ``Decimal``, ``bool``, ``date``, ``datetime``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

# One list of Salesforce field types, shared with the org declarations and the test org.

# What a transform chain carries between steps. "any" is what we cannot know offline (a portal
# column's Python type); checks are relaxed for it and enforced at run time instead.
Kind = Literal["text", "list", "number", "bool", "date", "datetime", "lookup", "any"]

TEXT_TYPES = frozenset({"id", "string", "textarea", "email", "url", "phone", "picklist", "reference"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent"})
ENCRYPTABLE_TYPES = frozenset({"string", "textarea"})

# Salesforce's describe() type names, grouped by what our declared types can land in.
_DESCRIBE_COMPATIBLE: dict[str, frozenset[str]] = {
    "id": frozenset({"id", "reference", "string"}),
    "string": frozenset({"string", "textarea", "email", "url", "phone", "combobox", "encryptedstring", "picklist"}),
    "textarea": frozenset({"textarea", "string"}),
    "email": frozenset({"email", "string"}),
    "url": frozenset({"url", "string"}),
    "phone": frozenset({"phone", "string"}),
    "picklist": frozenset({"picklist", "combobox", "string"}),
    "multipicklist": frozenset({"multipicklist"}),
    "boolean": frozenset({"boolean"}),
    "int": frozenset({"int", "long", "double", "currency", "percent"}),
    "double": frozenset({"double", "currency", "percent"}),
    "currency": frozenset({"currency", "double"}),
    "percent": frozenset({"percent", "double"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"datetime"}),
    "reference": frozenset({"reference"}),
}


def describe_type_compatible(declared: str, describe_type: str) -> bool:
    """True when a value of our declared type can be written to a field of ``describe_type``."""
    return describe_type in _DESCRIBE_COMPATIBLE.get(declared, frozenset({declared}))


def accepted_kinds(field_type: str) -> frozenset[str]:
    """Kinds a chain may end with to be written to a field of ``field_type`` ("any" always passes)."""
    if field_type in TEXT_TYPES - {"reference"}:
        return frozenset({"text", "any", "number", "date", "datetime"})
    table: dict[str, frozenset[str]] = {
        "multipicklist": frozenset({"text", "list", "any"}),
        "boolean": frozenset({"bool", "any", "text"}),
        "date": frozenset({"date", "any", "text"}),
        "datetime": frozenset({"datetime", "any", "text"}),
        "reference": frozenset({"lookup", "text", "any"}),
    }
    if field_type in NUMBER_TYPES:
        return frozenset({"number", "any", "text"})
    return table.get(field_type, frozenset({"any"}))


def kind_of_sf_type(field_type: str) -> Kind:
    """The kind :func:`from_sf` produces for a field of ``field_type``."""
    if field_type in NUMBER_TYPES:
        return "number"
    mapping: dict[str, Kind] = {"boolean": "bool", "date": "date", "datetime": "datetime"}
    return mapping.get(field_type, "text")


def kind_of_value(value: Any) -> Kind:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, datetime):
        return "datetime"
    if isinstance(value, date):
        return "date"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, str):
        return "text"
    return "any"


class CoercionError(ValueError):
    """A value does not fit its field; the message never contains the value itself."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TRUE = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "off", ""})


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise CoercionError("bad_boolean", "not a boolean (use true/false, yes/no or 1/0)")


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise CoercionError("bad_number", "a boolean where a number is expected")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip().replace("_", ""))
        except InvalidOperation:
            raise CoercionError("bad_number", "not a number") from None
    else:
        raise CoercionError("bad_number", f"a {type(value).__name__} where a number is expected")
    if not result.is_finite():
        raise CoercionError("bad_number", "not a finite number")
    return result


def to_date(value: Any) -> date:
    if isinstance(value, datetime):
        raise CoercionError("bad_date", "a date-time where a date is expected (add a `date` transform with a timezone)")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise CoercionError(
                "bad_date", "not an ISO date YYYY-MM-DD (add a `date` transform with the format)"
            ) from None
    raise CoercionError("bad_date", f"a {type(value).__name__} where a date is expected")


def to_utc_datetime(value: Any, assume_tz: Any = UTC) -> datetime:
    """An aware UTC datetime; naive values are read in ``assume_tz`` (a tzinfo)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise CoercionError(
                "bad_datetime", "not an ISO date-time (add a `datetime` transform with the format)"
            ) from None
    else:
        raise CoercionError("bad_datetime", f"a {type(value).__name__} where a date-time is expected")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=assume_tz)
    return parsed.astimezone(UTC)


def format_sf_datetime(value: datetime) -> str:
    """Salesforce's REST form: UTC with milliseconds and a ``Z``."""
    value = value.astimezone(UTC)
    if type(value) is datetime and value.year >= 1000:
        # isoformat writes the same digits as the strftime below for four-digit years
        # (milliseconds truncated in both), in a third of the time
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def decimal_to_json(value: Decimal) -> int | float | str:
    """A JSON-native number when it is exact, else the decimal string (Salesforce accepts both)."""
    if value == value.to_integral_value() and abs(value) < 2**53:
        return int(value)
    as_float = float(value)
    if Decimal(repr(as_float)) == value:
        return as_float
    return str(value)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_sf_datetime(to_utc_datetime(value))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal | int | float):
        return str(value)
    if isinstance(value, list | tuple):
        raise CoercionError("bad_text", "a list where text is expected (add a `concat` transform)")
    raise CoercionError("bad_text", f"a {type(value).__name__} where text is expected")


def to_sf(
    field_type: str,
    value: Any,
    *,
    length: int | None = None,
    precision: int | None = None,
    scale: int | None = None,
    values: Sequence[str] | None = None,
    check_length: bool = True,
) -> Any:
    """Turn a transformed portal value into the JSON value Salesforce expects for ``field_type``."""
    if value is None:
        return None
    if field_type == "multipicklist":
        items = [_text(v) for v in value] if isinstance(value, list | tuple) else _split_multi(_text(value))
        if values is not None:
            bad = [i for i, item in enumerate(items) if item not in values]
            if bad:
                raise CoercionError(
                    "bad_picklist",
                    f"{len(bad)} value(s) not in the picklist (allowed: {', '.join(values)})",
                )
        return ";".join(items)
    if field_type in TEXT_TYPES:
        text = _text(value)
        if field_type == "picklist" and values is not None and text not in values:
            raise CoercionError("bad_picklist", f"not a valid picklist value (allowed: {', '.join(values)})")
        if check_length and length is not None and len(text) > length:
            raise CoercionError(
                "too_long", f"value is {len(text)} characters; the field holds {length} (add a `truncate`?)"
            )
        return text
    if field_type == "boolean":
        return to_bool(value)
    if field_type in NUMBER_TYPES:
        number = to_decimal(value)
        if field_type == "int":
            if number != number.to_integral_value():
                raise CoercionError("bad_number", "not a whole number (add a `round: 0` transform)")
            return int(number)
        if precision is not None:
            digits = len(str(abs(int(number)))) if int(number) else 0
            if digits > precision - (scale or 0):
                raise CoercionError(
                    "too_large",
                    f"has {digits} digits before the decimal point; the field allows {precision - (scale or 0)}",
                )
        return decimal_to_json(number)
    if field_type == "date":
        return to_date(value).isoformat()
    if field_type == "datetime":
        return format_sf_datetime(to_utc_datetime(value))
    raise CoercionError("bad_type", f"unsupported field type {field_type}")


def _split_multi(text: str) -> list[str]:
    return [part for part in (p.strip() for p in text.split(";")) if part]


_SF_DATETIME_OFFSET = re.compile(r"([+-]\d{2})(\d{2})$")


def from_sf(field_type: str, value: Any) -> Any:
    """Turn a value from Salesforce's JSON into Python (date, aware UTC datetime, Decimal, ...)."""
    if value is None:
        return None
    if field_type == "boolean":
        return to_bool(value)
    if field_type == "int":
        return int(to_decimal(value))
    if field_type in NUMBER_TYPES:
        return to_decimal(value)
    if field_type == "date":
        return to_date(value)
    if field_type == "datetime":
        if isinstance(value, str):
            # Salesforce writes "+0000"; fromisoformat reads it since 3.11, normalise anyway.
            # (the usual "+0000" without the regex: the substitution gives the same)
            value = value.strip()
            value = value[:-5] + "+00:00" if value.endswith("+0000") else _SF_DATETIME_OFFSET.sub(r"\1:\2", value)
        return to_utc_datetime(value)
    if isinstance(value, str):
        return value
    return _text(value)
