"""Compiled record conversions: each field's work chosen once per mapping, not once per value.

``ObjectMapping.to_salesforce`` runs every portal row through every portal-owned field: read the
column, run the transform chain, turn "empty" into the default or a problem, coerce to the field's
Salesforce type. The general code (``ObjectMapping.outbound_value`` and ``to_sf``) asks at every
step what kind of field and value it has. A :class:`PushField` asks once, when the mapping is first
used: it holds the column, the payload key, the transform chain fused into one callable and a
finishing function chosen by the field's type, encryption and lookup.

The fast path only ever *declines*: for a value it does not handle exactly as the general code
would (an empty value, a default, a value too long, an unusual type, anything that raises), it
raises :class:`Decline` and the caller runs the general code for that field, which produces the
value or the problem exactly as before. So the edge cases keep their behaviour by construction,
and ``tests/mapping/test_mapping_plan.py`` checks the common ones give equal payloads.

A chain holding a ``python`` transform always takes the general code: a site's function may have
effects, and the fast path must be free to run a step and then decline.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sfsync.mapping._transforms import (
    DateTimeTransform,
    DateTransform,
    LookupTransform,
    LookupValue,
    MapTransform,
    SplitTransform,
    Step,
    fuse_steps,
    quantum,
    text_shape,
)
from sfsync.mapping._types import TEXT_TYPES, from_sf, to_sf

__all__ = [
    "NONE_SKIPS",
    "NONE_WRITES",
    "Decline",
    "FieldShape",
    "PullField",
    "PushField",
    "compile_pull_converter",
    "compile_push_converter",
    "fast_sf_datetime",
]

Converter = Callable[[Any], Any]


class Decline(Exception):
    """The fast path does not handle this value; the general code runs for the field.

    Raised as a new instance each time: one shared instance would keep every traceback it was
    raised through, and with them the frames and the values they hold.
    """


class FieldShape(NamedTuple):
    """What a pushed field is, as far as the coercion of its value goes (``to_salesforce``'s
    branches): read once from the mapping, handed to the compiler whole."""

    field_type: str
    relationship: str | None  # the lookup's relationship name (a lookup by external id)
    encrypted: bool
    limit: int | None  # plaintext bytes an encrypted value may hold
    length: int | None
    precision: int | None
    scale: int | None
    values: Sequence[str] | None  # a picklist's values


class PushField(NamedTuple):
    """One portal-owned field of a push, compiled (see the module docstring).

    A tuple, so the per-record loop unpacks it in its ``for`` statement.
    """

    column: str
    key: str  # payload key of a value the converter returns (the relationship, for a lookup)
    convert: Converter | None  # None: every value takes the general code
    none_key: str | None  # an empty (None) cell writes payload[none_key] = none_value ...
    none_value: Any  # ... computed once by the general code; none_key None: general code
    position: int  # in ObjectMapping._push_plan (the general code's entry for the field)


# What an empty (None) value from Salesforce does to a pulled field, found once per mapping.
NONE_SKIPS = object()  # nothing: the portal keeps its value (on_null: keep)
NONE_WRITES = object()  # the column gets the one value found (None, or on_null: default)


class PullField(NamedTuple):
    """One Salesforce-owned field of a pull, compiled (see the module docstring)."""

    key: str | None  # the record's key when the SOQL name is one name (else ``path`` is followed)
    path: tuple[str, ...]
    column: str
    convert: Converter | None  # raw value (not None) -> column value; None: the general code
    if_none: object  # NONE_SKIPS, NONE_WRITES (none_value), or None: the general code
    none_value: Any
    position: int  # in ObjectMapping._pull_plan


def compile_pull_converter(*, steps: Sequence[Step], field_type: str, on_null: str | None) -> Converter | None:
    """The function ``Salesforce value (not None) -> portal value`` of one single-column field, or
    None (general code only).

    It equals ``from_sf``, the transform chain and the lookup unwrapping of ``_pull_field`` for
    every value it does not decline; an empty result with an ``on_null`` rule is declined.
    """
    parts = fuse_steps(steps)
    if parts is None:
        return None
    parse = _sf_parser(field_type)
    if not parts and on_null is None:
        return parse  # from_sf never gives a LookupValue: the parser is the whole conversion

    def convert(raw: Any) -> Any:
        value = parse(raw)
        for part in parts:
            value = part(value)
        if isinstance(value, LookupValue):
            value = value.value
        if on_null is not None and (value is None or (isinstance(value, str | list) and len(value) == 0)):
            raise Decline  # on_null decides: keep, default or reject
        return value

    return convert


def _sf_parser(field_type: str) -> Converter:
    """``from_sf`` of one field type, for a value that is not None, with the usual JSON types
    answered directly."""
    if field_type == "boolean":
        return lambda raw: raw if type(raw) is bool else from_sf("boolean", raw)
    if field_type in ("int", "double", "currency", "percent", "date", "datetime"):
        return lambda raw: from_sf(field_type, raw)
    # every other type is text: from_sf gives a str back as it is
    return lambda raw: raw if type(raw) is str else from_sf(field_type, raw)


def fast_sf_datetime(value: datetime) -> str | None:
    """``format_sf_datetime`` of an aware UTC datetime, or None when only the general code may say.

    For a plain ``datetime`` in UTC from year 1000 on, ``isoformat`` writes exactly the digits the
    ``strftime`` of ``format_sf_datetime`` writes (milliseconds truncated, not rounded, in both), in
    a third of the time. Earlier years are written differently by the platform's strftime.
    """
    if type(value) is datetime and value.tzinfo is UTC and value.year >= 1000:
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return None


def compile_push_converter(
    *, steps: Sequence[Step], field: FieldShape, has_default: bool, required: bool
) -> Converter | None:
    """The function ``portal value -> payload value`` of one field, or None (general code only).

    It equals, for every value it does not decline, ``outbound_value`` followed by the coercion of
    ``to_salesforce``: the same value, no problem. Everything the general code would turn into a
    default or a problem is declined.
    """
    parts = fuse_steps(steps)
    if parts is None:
        return None
    # An empty result becomes the default, a problem, or (a lookup) a None under another key:
    # only a plain None written under the field's own key is the fast path's to give.
    field_type, relationship, encrypted, limit, length, _precision, _scale, values = field
    none_ok = not (has_default or required or relationship is not None)
    finish = _finisher(field)

    def convert(value: Any) -> Any:
        for part in parts:
            value = part(value)
        kind = type(value)
        if kind is str:
            if value:
                return finish(value)
            raise Decline  # "" is empty (or None, by the field type): default, problem or None
        if value is None:
            if none_ok:
                return None
            raise Decline
        if kind is list:
            for item in value:
                if not (item is None or item == ""):
                    return finish(value)
            raise Decline  # a list of nothing is empty
        if isinstance(value, str | list):
            raise Decline  # subclasses: the general code's isinstance tests decide
        return finish(value)

    # The most common fields, text through text steps, in one function.
    if relationship is None and (encrypted or field_type in TEXT_TYPES):
        shape = text_shape(steps)
        if shape is not None:
            if encrypted:
                return _encrypted_text(*shape, convert, none_ok=none_ok, limit=limit)
            allowed = frozenset(values) if field_type == "picklist" and values is not None else None
            return _clear_text(*shape, convert, none_ok=none_ok, length=length, allowed=allowed)
    if relationship is not None and steps and isinstance(steps[-1], LookupTransform):
        shape = text_shape(steps[:-1])
        if shape is not None:
            return _text_lookup(*shape, convert, steps[-1].external_id_field)
    if not steps and field_type == "boolean":
        return lambda value: value if type(value) is bool else convert(value)
    if relationship is not None:
        return convert
    # Other usual shapes, each in one function too.
    if encrypted and len(steps) == 1 and (rounding := quantum(steps[0])) is not None:
        return _encrypted_rounded(*rounding, convert, limit=limit)
    if encrypted and (not steps or (len(steps) == 1 and isinstance(steps[0], DateTransform))):
        return _encrypted_day(convert, limit=limit)
    if (
        field_type == "datetime"
        and not encrypted
        and (not steps or (len(steps) == 1 and isinstance(steps[0], DateTimeTransform)))
    ):
        return _utc_timestamp(convert)
    if field_type == "multipicklist" and not encrypted and steps and isinstance(steps[0], SplitTransform):
        return _split_multi(steps, values, convert) or convert
    return convert


def _encrypted_rounded(exponent: Decimal, rounding: str, other: Converter, *, limit: int | None) -> Converter:
    """A ``round``/``currency`` step into an encrypted field: a finite Decimal rounded, as text."""

    def encrypted_rounded(value: Any) -> Any:
        if type(value) is Decimal and value.is_finite():
            text = str(value.quantize(exponent, rounding=rounding))
            if limit is None or len(text) * 4 <= limit or len(text.encode("utf-8")) <= limit:
                return text
            raise Decline
        return other(value)

    return encrypted_rounded


def _encrypted_day(other: Converter, *, limit: int | None) -> Converter:
    """A date (through a ``date`` step, which gives a date back as it is) into an encrypted field."""

    def encrypted_day(value: Any) -> Any:
        if type(value) is date:
            text = value.isoformat()
            if limit is None or len(text) * 4 <= limit or len(text.encode("utf-8")) <= limit:
                return text
            raise Decline
        return other(value)

    return encrypted_day


def _utc_timestamp(other: Converter) -> Converter:
    """An aware UTC datetime (through a ``datetime`` step, which gives it back as it is) into a
    datetime field."""

    def utc_timestamp(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is UTC and value.year >= 1000:
            return value.isoformat(timespec="milliseconds")[:-6] + "Z"  # see fast_sf_datetime
        return other(value)

    return utc_timestamp


def _split_multi(steps: Sequence[Step], values: Sequence[str] | None, other: Converter) -> Converter | None:
    """``split``, text steps, perhaps a ``map``, into a multi-select picklist: one pass over the items.

    None for another shape. Any item the general code would not write as it is (unmapped, not a
    picklist value, mapped to something that is not text) declines the whole value.
    """
    split = steps[0]
    if not isinstance(split, SplitTransform):
        return None
    last = steps[-1] if len(steps) > 1 else None
    mapper = last if isinstance(last, MapTransform) else None
    shape = text_shape(steps[1:-1] if mapper is not None else steps[1:])
    if shape is None or shape[1]:  # a None item from null_if_empty goes to the general code
        return None
    functions = shape[0]
    separator, maxsplit = split.split, split.maxsplit
    table, fold, _ = mapper.lookup_table() if mapper is not None else ({}, False, False)
    members = frozenset(values) if values is not None else None

    def split_multi(value: Any) -> Any:
        if type(value) is str:
            items: list[str] = []
            for part in value.split(separator, maxsplit):
                if part.strip() == "":
                    continue  # split drops empty parts
                item = part
                for function in functions:
                    item = function(item)
                if mapper is not None:
                    key = item.casefold() if fold else item
                    if key not in table:
                        raise Decline
                    mapped = table[key]
                    if type(mapped) is not str:
                        raise Decline
                    item = mapped
                if item == "" or (members is not None and item not in members):
                    raise Decline
                items.append(item)
            if items:
                return ";".join(items)
            raise Decline  # nothing: empty, the general code decides
        return other(value)

    return split_multi


# The text converters below run a text chain in their own frame: its string functions, then, for a
# chain ending in null_if_empty, None for blank text (see text_shape). Another type of value goes
# to the general converter of the field.
TextFunctions = tuple[Callable[[str], str], ...]


def _encrypted_text(
    functions: TextFunctions, empty_to_none: bool, other: Converter, *, none_ok: bool, limit: int | None
) -> Converter:
    def encrypted_text(value: Any) -> Any:
        if type(value) is str:
            for function in functions:
                value = function(value)
            if empty_to_none and value.strip() == "":
                if none_ok:
                    return None
            # "" is empty; too long words a problem (a character is at most 4 UTF-8 bytes)
            elif value and (limit is None or len(value) * 4 <= limit or len(value.encode("utf-8")) <= limit):
                return value
            raise Decline
        return other(value)

    return encrypted_text


def _clear_text(
    functions: TextFunctions,
    empty_to_none: bool,
    other: Converter,
    *,
    none_ok: bool,
    length: int | None,
    allowed: frozenset[str] | None,
) -> Converter:
    def clear_text(value: Any) -> Any:
        if type(value) is str:
            for function in functions:
                value = function(value)
            if empty_to_none and value.strip() == "":
                if none_ok:
                    return None
            # "" is empty; too long or not a picklist value words a problem
            elif value and (length is None or len(value) <= length) and (allowed is None or value in allowed):
                return value
            raise Decline
        return other(value)

    return clear_text


def _text_lookup(functions: TextFunctions, empty_to_none: bool, other: Converter, external_id: str) -> Converter:
    def text_lookup(value: Any) -> Any:
        if type(value) is str:
            for function in functions:
                value = function(value)
            if not (empty_to_none and value.strip() == ""):
                value = value.strip()  # what LookupTransform.apply does to text
                if value:
                    return {external_id: value}
            raise Decline  # no lookup value: None under the field itself (general code)
        return other(value)

    return text_lookup


def _finisher(shape: FieldShape) -> Converter:
    """The coercion of a non-empty value, chosen by what the field is (``to_salesforce``'s branches)."""
    field_type, relationship, encrypted, limit, length, precision, scale, values = shape
    if relationship is not None:
        # A lookup writes {external id field: value} under the relationship; anything else the
        # chain gives (a default, a None) is written under the field itself: general code.
        def lookup(value: Any) -> Any:
            if isinstance(value, LookupValue):
                return {value.external_id_field: value.value}
            raise Decline

        return lookup

    if encrypted:

        def plaintext(value: Any) -> Any:
            kind = type(value)
            if kind is str:
                text = value
            elif kind is Decimal or kind is int:
                text = str(value)  # what _text gives a number
            elif kind is date:
                text = value.isoformat()
            else:
                text = to_sf("string", value, check_length=False)
            # a character is at most 4 UTF-8 bytes: short text needs no encoding to check
            if limit is not None and len(text) * 4 > limit and len(text.encode("utf-8")) > limit:
                raise Decline  # too long: the general code words the problem
            return text

        return plaintext

    def general(value: Any) -> Any:
        return to_sf(field_type, value, length=length, precision=precision, scale=scale, values=values)

    if field_type in TEXT_TYPES:
        allowed = frozenset(values) if field_type == "picklist" and values is not None else None

        # "" never reaches a finisher (declined before), so text kinds that keep it and those
        # that read it as "no value" finish alike.
        def text(value: Any) -> Any:
            if type(value) is str:
                if (allowed is not None and value not in allowed) or (length is not None and len(value) > length):
                    raise Decline
                return value
            return general(value)

        return text

    if field_type == "boolean":

        def boolean(value: Any) -> Any:
            return value if type(value) is bool else general(value)

        return boolean

    if field_type == "datetime":

        def timestamp(value: Any) -> Any:
            fast = fast_sf_datetime(value)
            return fast if fast is not None else general(value)

        return timestamp

    if field_type == "date":

        def day(value: Any) -> Any:
            return value.isoformat() if type(value) is date else general(value)

        return day

    if field_type == "multipicklist":
        members = frozenset(values) if values is not None else None

        def multi(value: Any) -> Any:
            if type(value) is list and all(
                type(item) is str and (members is None or item in members) for item in value
            ):
                return ";".join(value)
            return general(value)

        return multi

    return general
