"""Value rules of the fake org: Ids, timestamps, and per-type coercion of written values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sfsync.testing._schema import NUMBER_TYPES, FieldSchema

__all__ = [
    "RecordError",
    "TypeMismatch",
    "coerce_value",
    "format_datetime",
    "is_id_shaped",
    "make_id",
    "normalize_id",
    "parse_datetime",
]

_ID_RE = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
_CHECKSUM_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?\s*(Z|[+-]\d{2}:?\d{2})?"
)
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")


@dataclass
class RecordError(Exception):
    """A per-record Salesforce error: ``statusCode``, ``message`` and ``fields``."""

    status_code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.status_code}: {self.message}"

    def as_result_error(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": list(self.fields)}

    def as_rest_error(self) -> dict[str, Any]:
        return {"message": self.message, "errorCode": self.status_code, "fields": list(self.fields)}

    def as_bulk_error(self) -> str:
        return f"{self.status_code}:{self.message}:{','.join(self.fields)} --"


class TypeMismatch(RecordError):
    """A JSON value of the wrong type: REST answers the whole request with JSON_PARSER_ERROR."""


def _checksum(fifteen: str) -> str:
    suffix = ""
    for chunk in range(3):
        bits = 0
        for pos, char in enumerate(fifteen[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << pos
        suffix += _CHECKSUM_ALPHABET[bits]
    return suffix


def make_id(prefix: str, counter: int) -> str:
    """An 18-character Id: key prefix, a fake pod, a base-62 counter, and the case checksum."""
    digits = ""
    value = counter
    while value:
        value, rem = divmod(value, 62)
        digits = _BASE62[rem] + digits
    body = prefix + "5g" + digits.rjust(10, "0")
    return body + _checksum(body)


def is_id_shaped(value: Any) -> bool:
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def normalize_id(value: str) -> str:
    """The 18-character form of a 15- or 18-character Id."""
    return value if len(value) == 18 else value + _checksum(value)


def format_datetime(moment: datetime) -> str:
    """Salesforce's wire format: ``2024-05-01T10:00:00.000+0000`` (always UTC, milliseconds)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> datetime | None:
    """Parse the ISO forms Salesforce accepts (Z, +hh:mm, +hhmm, fractions); naive means UTC."""
    match = _DATETIME_RE.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zone = match.groups()
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=UTC)
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return moment


def parse_date(text: str) -> date | None:
    match = _DATE_RE.fullmatch(text.strip())
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


_JAVA_TYPE = {
    "boolean": "boolean",
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "date",
    "datetime": "datetime",
}


def _mismatch(spec: FieldSchema, value: Any) -> TypeMismatch:
    kind = (
        "VALUE_STRING"
        if isinstance(value, str)
        else "VALUE_NUMBER"
        if isinstance(value, int | float)
        else "START_OBJECT"
        if isinstance(value, dict)
        else "START_ARRAY"
        if isinstance(value, list)
        else "VALUE_TRUE"
    )
    java = _JAVA_TYPE.get(spec.type, "String")
    return TypeMismatch(
        "JSON_PARSER_ERROR",
        f"Cannot deserialize instance of {java} from {kind} value {value} or request may be missing a required field",
        [spec.name],
    )


def coerce_value(spec: FieldSchema, value: Any, *, from_csv: bool = False) -> Any:
    """Check ``value`` against the field's type and rules; return the stored (JSON-native) form.

    Raises :class:`TypeMismatch` for a value of the wrong type (``from_csv`` turns it into the
    per-row ``INVALID_TYPE_ON_FIELD_IN_RECORD`` Bulk API answers), :class:`RecordError` for rule
    violations (length, picklist, email, numeric range).
    """
    if value is None:
        return None
    try:
        return _coerce(spec, value)
    except TypeMismatch as exc:
        if from_csv:
            raise RecordError(
                "INVALID_TYPE_ON_FIELD_IN_RECORD",
                f"{spec.display_label}: value not of required type: {value}",
                [spec.name],
            ) from exc
        raise


def _coerce(spec: FieldSchema, value: Any) -> Any:
    kind = spec.type
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        raise _mismatch(spec, value)
    if kind in NUMBER_TYPES:
        return _coerce_number(spec, value)
    if kind == "date":
        if isinstance(value, str):
            parsed = parse_date(value[:10]) if len(value) >= 10 else None
            if parsed is not None and (len(value) == 10 or parse_datetime(value) is not None):
                return parsed.isoformat()
        raise _mismatch(spec, value)
    if kind == "datetime":
        if isinstance(value, str):
            moment = parse_datetime(value)
            if moment is None and parse_date(value) is not None:
                moment = parse_datetime(value + "T00:00:00Z")
            if moment is not None:
                return format_datetime(moment)
        raise _mismatch(spec, value)
    # Text-like types: Salesforce's JSON reader turns numbers into their text.
    if isinstance(value, bool | dict | list):
        raise _mismatch(spec, value)
    text = value if isinstance(value, str) else str(value)
    if kind in ("id", "reference"):
        return text
    if len(text) > spec.effective_length:
        raise RecordError(
            "STRING_TOO_LONG",
            f"{spec.display_label}: data value too large: {text[:80]} (max length={spec.effective_length})",
            [spec.name],
        )
    if kind == "email" and text and not _EMAIL_RE.fullmatch(text):
        raise RecordError("INVALID_EMAIL_ADDRESS", f"{spec.display_label}: invalid email address: {text}", [spec.name])
    if kind == "picklist" and spec.restricted and text not in spec.values:
        raise RecordError(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{spec.display_label}: bad value for restricted picklist field: {text}",
            [spec.name],
        )
    if kind == "multipicklist":
        parts = [part.strip() for part in text.split(";") if part.strip()]
        if spec.restricted:
            for part in parts:
                if part not in spec.values:
                    raise RecordError(
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{spec.display_label}: bad value for restricted picklist field: {part}",
                        [spec.name],
                    )
        # Salesforce stores multi-select values de-duplicated, in declaration order.
        ordered = [v for v in spec.values if v in parts] + [p for p in dict.fromkeys(parts) if p not in spec.values]
        return ";".join(ordered) if ordered else None
    return text


def _coerce_number(spec: FieldSchema, value: Any) -> int | float:
    if isinstance(value, bool):
        raise _mismatch(spec, value)
    if isinstance(value, int | float):
        number = Decimal(str(value))
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise _mismatch(spec, value) from None
    else:
        raise _mismatch(spec, value)
    if not number.is_finite():
        raise _mismatch(spec, value)
    scale = spec.effective_scale
    integer_digits = len(str(abs(int(number)))) if abs(number) >= 1 else 0
    if integer_digits > spec.effective_precision - scale:
        raise RecordError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{spec.display_label}: value outside of valid range on numeric field: {value}",
            [spec.name],
        )
    if spec.type == "int":
        if number != number.to_integral_value():
            raise _mismatch(spec, value)
        return int(number)
    return float(round(number, scale))
