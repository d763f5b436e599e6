"""Transforms sales ops declare in YAML, with no Python.

Each entry of a field's ``transforms:`` list is either a bare name (``trim``, ``lower``, ``upper``,
``title``, ``null_if_empty``, ``number``, ``currency``, ``date``, ``datetime``) or a one-transform
object whose first key names it (``{map: {...}, default: X}``, ``{round: 2, mode: half_up}``, ...).
Steps run in order in the direction the data flows: portal -> Salesforce for portal-owned fields,
Salesforce -> portal for Salesforce-owned ones. Text steps (trim, case, map, truncate,
null_if_empty) apply to each element of a list, so ``split`` then ``map`` then ``concat`` maps a
multi-value column element by element.

Error messages never quote the value: it may be confidential.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from functools import cache, cached_property
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from sfsync.mapping._types import CoercionError, Kind, kind_of_value, to_decimal, to_utc_datetime

__all__ = [
    "TRANSFORM_NAMES",
    "RegisteredTransform",
    "Step",
    "TransformError",
    "TransformSpec",
    "fuse_steps",
    "quantum",
    "register_transform",
    "registered_transforms",
    "text_shape",
    "to_step",
]


class TransformError(ValueError):
    """A transform could not handle a record's value (the record is rejected, the run goes on)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotInvertibleError(ValueError):
    """A step loses information (constant, python without inverse): no reverse direction."""


class KindError(ValueError):
    """A transform is applied to the wrong type of value (found offline)."""


Scalar = str | int | float | bool | None


class Step:
    """Runtime behaviour shared by every transform."""

    tag: ClassVar[str] = ""
    # Kinds the step accepts; "any" input is always accepted and checked at run time.
    accepts: ClassVar[frozenset[str]] = frozenset({"any"})
    elementwise: ClassVar[bool] = False

    def describe(self) -> str:
        return self.tag

    def output_kind(self, kind: Kind) -> Kind:
        return kind

    def check_kind(self, kind: Kind) -> Kind:
        """The kind after this step, or :class:`KindError` when it cannot take ``kind``."""
        if kind == "list" and self.elementwise:
            self.check_kind("text")
            return "list"
        if kind != "any" and "any" not in self.accepts and kind not in self.accepts:
            wanted = " or ".join(sorted(self.accepts))
            raise KindError(f"`{self.describe()}` works on {wanted} values, but receives {_kind_name(kind)} here")
        return self.output_kind(kind)

    def apply(self, value: Any) -> Any:
        if value is None:
            return None
        if self.elementwise and isinstance(value, list | tuple):
            return [self.apply_one(v) for v in value]
        return self.apply_one(value)

    def apply_one(self, value: Any) -> Any:  # pragma: no cover - every step overrides apply or this
        raise NotImplementedError

    def fast(self) -> Callable[[Any], Any] | None:
        """A function equal to ``apply`` for every value, quicker for the common ones (see ``fuse_steps``).

        It may raise where ``apply`` raises; the compiled mapping then runs the general code again
        for the field, so a step offers one only when running it twice is harmless (None: never).
        """
        return self.apply

    def invert(self, value: Any) -> Any:
        """Best-effort reverse (exact for canonical values); raises NotInvertibleError when lossy."""
        if value is None:
            return None
        if self.elementwise and isinstance(value, list | tuple):
            return [self.invert_one(v) for v in value]
        return self.invert_one(value)

    def invert_one(self, value: Any) -> Any:
        return value


def _kind_name(kind: str) -> str:
    return {
        "text": "text",
        "list": "a list",
        "number": "a number",
        "bool": "a boolean",
        "date": "a date",
        "datetime": "a date-time",
        "lookup": "a lookup",
        "any": "any value",
    }.get(kind, kind)


def _require_text(step: Step, value: Any) -> str:
    if not isinstance(value, str):
        raise TransformError("wrong_type", f"`{step.describe()}` needs text but got {_kind_name(kind_of_value(value))}")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- bare-name transforms


SimpleName = Literal["trim", "lower", "upper", "title", "null_if_empty", "number", "currency", "date", "datetime"]


@dataclass(frozen=True)
class _TextStep(Step):
    name: str
    accepts: ClassVar[frozenset[str]] = frozenset({"text"})
    elementwise: ClassVar[bool] = True

    def describe(self) -> str:
        return self.name

    def apply(self, value: Any) -> Any:
        if type(value) is str:  # the common case, without the generic dispatch
            return _TEXT_FUNCTIONS[self.name](value)
        return super().apply(value)

    def fast(self) -> Callable[[Any], Any] | None:
        return _fused_text((self,))

    def apply_one(self, value: Any) -> Any:
        text = _require_text(self, value)
        if self.name == "trim":
            return text.strip()
        if self.name == "lower":
            return text.lower()
        if self.name == "upper":
            return text.upper()
        if self.name == "title":
            return text.title()
        return None if text.strip() == "" else text  # null_if_empty


def _null_if_empty(text: str) -> str | None:
    return None if text.strip() == "" else text


_TEXT_FUNCTIONS: dict[str, Callable[[str], str | None]] = {
    "trim": str.strip,
    "lower": str.lower,
    "upper": str.upper,
    "title": str.title,
    "null_if_empty": _null_if_empty,
}


def _fused_text(steps: Sequence[_TextStep]) -> Callable[[Any], Any]:
    """Consecutive text steps as one function: on a ``str`` each step is its string function (a
    None from ``null_if_empty`` stays None through the rest, as ``apply`` leaves None alone);
    anything else runs the steps' own ``apply``."""
    functions = tuple(_TEXT_FUNCTIONS[step.name] for step in steps)
    pairs = tuple(zip(steps, functions, strict=True))

    def text(value: Any) -> Any:
        if type(value) is str:
            result: str | None = value
            for function in functions:
                result = function(result)  # type: ignore[arg-type]  # None returns below
                if result is None:
                    return None
            return result
        if type(value) is list:
            # element by element, as apply_one on text is the string function (a None element
            # from null_if_empty goes to the next step's apply, which refuses it as before)
            for step, function in pairs:
                if all(type(item) is str for item in value):
                    value = [function(item) for item in value]
                else:
                    value = step.apply(value)
            return value
        for step in steps:
            value = step.apply(value)
        return value

    return text


def text_shape(steps: Sequence[Step]) -> tuple[tuple[Callable[[str], str], ...], bool] | None:
    """A chain of bare-name text steps as (its string functions, whether ``null_if_empty`` ends it).

    On a ``str`` such a chain is the functions in turn, then (when it ends with ``null_if_empty``)
    None for blank text: what the steps' ``apply`` give. None when a step is of another kind or
    ``null_if_empty`` comes before the end (fuse_steps handles those).
    """
    names: list[str] = []
    for step in steps:
        if not isinstance(step, _TextStep):
            return None
        names.append(step.name)
    empty_to_none = bool(names) and names[-1] == "null_if_empty"
    pure = names[:-1] if empty_to_none else names
    if "null_if_empty" in pure:
        return None
    return tuple(_PURE_TEXT[name] for name in pure), empty_to_none


_PURE_TEXT: dict[str, Callable[[str], str]] = {
    "trim": str.strip,
    "lower": str.lower,
    "upper": str.upper,
    "title": str.title,
}


def fuse_steps(steps: Sequence[Step]) -> tuple[Callable[[Any], Any], ...] | None:
    """A chain as functions to call in turn, equal to each step's ``apply`` in turn; runs of text
    steps become one function. None when a step offers no fast function (a ``python`` transform)."""
    parts: list[Callable[[Any], Any]] = []
    texts: list[_TextStep] = []
    for step in steps:
        if isinstance(step, _TextStep):
            texts.append(step)
            continue
        if texts:
            parts.append(_fused_text(tuple(texts)))
            texts = []
        fast = step.fast()
        if fast is None:
            return None
        parts.append(fast)
    if texts:
        parts.append(_fused_text(tuple(texts)))
    return tuple(parts)


# ---------------------------------------------------------------- value maps


class MapTransform(_Model, Step):
    """``{map: {portal value: Salesforce value, ...}, default: X, ignore_case: true}``.

    Without ``default`` an unmapped value rejects the record; with it, the default is written.
    """

    tag: ClassVar[str] = "map"
    accepts: ClassVar[frozenset[str]] = frozenset({"text", "number", "bool"})
    elementwise: ClassVar[bool] = True

    map: dict[str, Scalar] = Field(description="value -> replacement; keys are compared as text")
    default: Scalar = Field(default=None, description="written for values not in the map; omit to reject them")
    ignore_case: bool = False

    @field_validator("map", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {_key_text(k): v for k, v in value.items()}
        return value

    def describe(self) -> str:
        return "map"

    def output_kind(self, kind: Kind) -> Kind:
        kinds = {kind_of_value(v) for v in self.map.values() if v is not None}
        return kinds.pop() if len(kinds) == 1 else "any"

    def _lookup_key(self, value: Any) -> str:
        key = _key_text(value)
        return key.casefold() if self.ignore_case else key

    @cached_property
    def _table(self) -> dict[str, Scalar]:
        return {(k.casefold() if self.ignore_case else k): v for k, v in self.map.items()}

    def lookup_table(self) -> tuple[dict[str, Scalar], bool, bool]:
        """(table, ignore_case, has a default): what ``apply_one`` looks a text value up in."""
        return self._table, self.ignore_case, "default" in self.model_fields_set

    def fast(self) -> Callable[[Any], Any] | None:
        table = self._table
        fold = self.ignore_case
        apply, apply_one = self.apply, self.apply_one

        def mapped(value: Any) -> Any:
            # A text key found in the table is what apply_one returns; anything else is apply_one's.
            if type(value) is str:
                key = value.casefold() if fold else value
                if key in table:
                    return table[key]
            elif type(value) is list:
                out = []
                for item in value:
                    if type(item) is str:
                        key = item.casefold() if fold else item
                        if key in table:
                            out.append(table[key])
                            continue
                    out.append(apply_one(item))
                return out
            return apply(value)

        return mapped

    def apply_one(self, value: Any) -> Any:
        key = value if isinstance(value, str) and not self.ignore_case else self._lookup_key(value)
        table = self._table
        if key in table:
            return table[key]
        if "default" in self.model_fields_set:
            return self.default
        shown = ", ".join(list(self.map)[:8]) + (", ..." if len(self.map) > 8 else "")
        raise TransformError("unmapped_value", f"value is not in the `map` (known: {shown}) and no default is set")

    def invert_one(self, value: Any) -> Any:
        for key, target in self.map.items():
            if target == value or (target is not None and _key_text(target) == _key_text(value)):
                return key
        raise NotInvertibleError("value is not a target of the map")


def _key_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)
    return str(value)


# ---------------------------------------------------------------- dates and times


def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Paris)") from None


class _TimeModel(_Model, Step):
    timezone: str = Field(
        default="UTC", description="IANA zone in which values without an offset are read (and dates are cut)"
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        _zone(value)
        return value

    def _parse(self, value: Any, fmt: str | None) -> datetime | date:
        if isinstance(value, datetime | date):
            return value
        text = _require_text(self, value).strip()
        try:
            if fmt is None or fmt == "iso":
                return datetime.fromisoformat(text) if ("T" in text or " " in text) else date.fromisoformat(text)
            return datetime.strptime(text, fmt)
        except ValueError:
            want = "an ISO 8601 value" if fmt in (None, "iso") else f"the format {fmt!r}"
            raise TransformError(f"bad_{self.tag}", f"not a {self.tag} in {want}") from None


class DateTransform(_TimeModel):
    """``{date: "%d/%m/%Y", timezone: Europe/Paris}``: text or date-time to a calendar date.

    A date-time is first moved into ``timezone`` (naive ones are read there), then cut to its date.
    """

    tag: ClassVar[str] = "date"
    accepts: ClassVar[frozenset[str]] = frozenset({"text", "date", "datetime"})
    date: str = Field(description="strptime format, or 'iso'")

    def output_kind(self, kind: Kind) -> Kind:
        return "date"

    def fast(self) -> Callable[[Any], Any] | None:
        apply = self.apply

        def day(value: Any) -> Any:
            # _parse gives a date back as it is, whatever the format
            return value if type(value) is date else apply(value)

        return day

    def apply_one(self, value: Any) -> Any:
        parsed = self._parse(value, self.date)
        if isinstance(parsed, datetime):
            zone = _zone(self.timezone)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=zone)
            return parsed.astimezone(zone).date()
        return parsed

    def invert_one(self, value: Any) -> Any:
        if self.date == "iso" or not isinstance(value, date):
            return value
        return value.strftime(self.date)


class DateTimeTransform(_TimeModel):
    """``{datetime: "%d/%m/%Y %H:%M", timezone: America/New_York}``: to an aware UTC date-time."""

    tag: ClassVar[str] = "datetime"
    accepts: ClassVar[frozenset[str]] = frozenset({"text", "date", "datetime"})
    datetime: str = Field(description="strptime format, or 'iso'")

    def output_kind(self, kind: Kind) -> Kind:
        return "datetime"

    def fast(self) -> Callable[[Any], Any] | None:
        apply = self.apply

        def timestamp(value: Any) -> Any:
            # an aware UTC datetime comes back unchanged (astimezone to its own zone is itself)
            return value if type(value) is datetime and value.tzinfo is UTC else apply(value)

        return timestamp

    def apply_one(self, value: Any) -> Any:
        parsed = self._parse(value, self.datetime)
        return to_utc_datetime(parsed, _zone(self.timezone))

    def invert_one(self, value: Any) -> Any:
        if not isinstance(value, datetime):
            return value
        local = value.astimezone(_zone(self.timezone))
        if self.datetime == "iso":
            return local
        return local.strftime(self.datetime)


# ---------------------------------------------------------------- numbers

RoundingMode = Literal["half_up", "half_even", "down", "up", "floor", "ceiling"]
_ROUNDING: dict[str, str] = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "down": ROUND_DOWN,
    "up": ROUND_UP,
    "floor": ROUND_FLOOR,
    "ceiling": ROUND_CEILING,
}


def _quantize(value: Decimal, scale: int, mode: str) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-scale), rounding=_ROUNDING[mode])


def quantum(step: Step) -> tuple[Decimal, str] | None:
    """(exponent, rounding) a ``round`` or ``currency`` step quantizes a finite Decimal with, else None.

    On a finite Decimal such a step is ``value.quantize(exponent, rounding=rounding)`` (the
    currency parsing only touches text).
    """
    if isinstance(step, RoundTransform):
        scale, mode = step.round, step.mode
    elif isinstance(step, CurrencyTransform):
        scale, mode = step.currency, step.mode
    else:
        return None
    return Decimal(1).scaleb(-scale), _ROUNDING[mode]  # exact in any context: a coefficient of 1


def _fast_quantize(scale: int, mode: str, apply: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``apply`` of a rounding step, with a finite Decimal or an int rounded without the parsing."""
    exponent = Decimal(1).scaleb(-scale)  # exact in any context: a coefficient of 1
    rounding = _ROUNDING[mode]

    def rounded(value: Any) -> Any:
        kind = type(value)
        if kind is Decimal:
            if value.is_finite():
                return value.quantize(exponent, rounding=rounding)
        elif kind is int:
            return Decimal(value).quantize(exponent, rounding=rounding)
        return apply(value)

    return rounded


class NumberOptions(_Model):
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal[",", ".", " ", "'", ""] = ""


@cache
def _number_options(decimal_separator: str, thousands_separator: str) -> NumberOptions:
    """The (immutable) options of a separator pair, validated once, not once per value."""
    return NumberOptions.model_validate(
        {"decimal_separator": decimal_separator, "thousands_separator": thousands_separator}
    )


class NumberTransform(_Model, Step):
    """``number`` or ``{number: {decimal_separator: ",", thousands_separator: "."}}``: text to a number."""

    tag: ClassVar[str] = "number"
    accepts: ClassVar[frozenset[str]] = frozenset({"text", "number"})
    number: NumberOptions

    def output_kind(self, kind: Kind) -> Kind:
        return "number"

    def apply_one(self, value: Any) -> Any:
        return _parse_number(value, self.number, strip_currency=False, step=self)

    def fast(self) -> Callable[[Any], Any] | None:
        apply = self.apply

        def number(value: Any) -> Any:
            # to_decimal gives a finite Decimal back as it is
            return value if type(value) is Decimal and value.is_finite() else apply(value)

        return number


def _parse_number(value: Any, options: NumberOptions, *, strip_currency: bool, step: Step) -> Decimal:
    if isinstance(value, str):
        text = value.strip()
        if strip_currency:
            # An ISO code before or after the amount, and symbols; other letters stay and fail
            # the parse (stripping every letter would read "1e20" as 120).
            text = re.sub(r"^[A-Za-z]{3}(?=[\s\d$€£¥₹.,+-])|(?<=[\d\s.,])[A-Za-z]{3}$", "", text.strip())
            text = re.sub(r"[$€£¥₹\s]", "", text)
        if options.thousands_separator:
            text = text.replace(options.thousands_separator, "")
        if options.decimal_separator == ",":
            text = text.replace(",", ".")
        value = text
    try:
        return to_decimal(value)
    except CoercionError as exc:
        raise TransformError("bad_number", f"`{step.describe()}`: {exc.message}") from None


class RoundTransform(_Model, Step):
    """``{round: 2, mode: half_up}``: round a number to ``round`` decimal places."""

    tag: ClassVar[str] = "round"
    accepts: ClassVar[frozenset[str]] = frozenset({"number", "text"})
    round: int = Field(ge=0, le=18)
    mode: RoundingMode = "half_up"

    def output_kind(self, kind: Kind) -> Kind:
        return "number"

    def fast(self) -> Callable[[Any], Any] | None:
        return _fast_quantize(self.round, self.mode, self.apply)

    def apply_one(self, value: Any) -> Any:
        try:
            return _quantize(to_decimal(value), self.round, self.mode)
        except CoercionError as exc:
            raise TransformError("bad_number", f"`round`: {exc.message}") from None


class CurrencyTransform(_Model, Step):
    """``currency`` or ``{currency: 2, mode: half_even, thousands_separator: ","}``.

    Strips currency symbols and codes (``$``, ``EUR``), then parses and rounds to ``currency``
    decimal places.
    """

    tag: ClassVar[str] = "currency"
    accepts: ClassVar[frozenset[str]] = frozenset({"number", "text"})
    currency: int = Field(ge=0, le=18, description="decimal places")
    mode: RoundingMode = "half_up"
    decimal_separator: Literal[".", ","] = "."
    thousands_separator: Literal[",", ".", " ", "'", ""] = ","

    def output_kind(self, kind: Kind) -> Kind:
        return "number"

    def fast(self) -> Callable[[Any], Any] | None:
        # a number (not text) is never stripped of symbols nor separators: only rounded
        return _fast_quantize(self.currency, self.mode, self.apply)

    def apply_one(self, value: Any) -> Any:
        options = _number_options(self.decimal_separator, self.thousands_separator)
        return _quantize(_parse_number(value, options, strip_currency=True, step=self), self.currency, self.mode)


# ---------------------------------------------------------------- text shaping


class TruncateTransform(_Model, Step):
    """``{truncate: 80}``: keep at most this many characters."""

    tag: ClassVar[str] = "truncate"
    accepts: ClassVar[frozenset[str]] = frozenset({"text"})
    elementwise: ClassVar[bool] = True
    truncate: int = Field(ge=1)

    def apply_one(self, value: Any) -> Any:
        return _require_text(self, value)[: self.truncate]


class ConcatTransform(_Model, Step):
    """``{concat: " "}``: join a list (several columns, or a split) into text; empty parts dropped."""

    tag: ClassVar[str] = "concat"
    accepts: ClassVar[frozenset[str]] = frozenset({"list"})
    concat: str = Field(description="separator")

    def output_kind(self, kind: Kind) -> Kind:
        return "text"

    def apply(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, list | tuple):
            return value if isinstance(value, str) else str(value)
        parts = [p if isinstance(p, str) else _key_text(p) for p in value if p is not None and p != ""]
        return self.concat.join(parts) if parts else None

    def invert(self, value: Any) -> Any:
        if value is None:
            return None
        return _require_text(self, value).split(self.concat) if self.concat else [value]


class SplitTransform(_Model, Step):
    """``{split: ",", maxsplit: 1}``: cut text into a list (empty parts dropped)."""

    tag: ClassVar[str] = "split"
    accepts: ClassVar[frozenset[str]] = frozenset({"text"})
    split: str = Field(min_length=1, description="separator")
    maxsplit: int = Field(default=-1, ge=-1)

    def output_kind(self, kind: Kind) -> Kind:
        return "list"

    def apply(self, value: Any) -> Any:
        if value is None:
            return None
        parts = _require_text(self, value).split(self.split, self.maxsplit)
        return [p for p in parts if p.strip() != ""]

    def invert(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list | tuple):
            return self.split.join(str(v) for v in value)
        return value


class ConstantTransform(_Model, Step):
    """``{constant: X}``: always X (the field needs no ``column``)."""

    tag: ClassVar[str] = "constant"
    constant: Scalar

    def output_kind(self, kind: Kind) -> Kind:
        return kind_of_value(self.constant) if self.constant is not None else "any"

    def check_kind(self, kind: Kind) -> Kind:
        return self.output_kind(kind)

    def apply(self, value: Any) -> Any:
        return self.constant

    def invert(self, value: Any) -> Any:
        raise NotInvertibleError("a constant has no portal value")


_LOOKUP = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\.([A-Za-z][A-Za-z0-9_]*)$")


@dataclass(frozen=True)
class LookupValue:
    """A reference written by external id: ``{relationship: {external_id_field: value}}``."""

    relationship: str
    external_id_field: str
    value: str

    def payload(self) -> dict[str, str]:
        return {self.external_id_field: self.value}


class LookupTransform(_Model, Step):
    """``{lookup: Account.Partner_Number__c}``: reference a record by its external id.

    Salesforce resolves ``{"Partner_Account__r": {"Partner_Number__c": "P-001"}}`` itself in the
    upsert: no query. ``relationship`` defaults from the field (``X__c`` -> ``X__r``, ``XId`` -> ``X``).
    Must be the last step.
    """

    tag: ClassVar[str] = "lookup"
    accepts: ClassVar[frozenset[str]] = frozenset({"text", "number"})
    lookup: str = Field(description="Object.ExternalIdField", pattern=_LOOKUP.pattern)
    relationship: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")

    @property
    def target_object(self) -> str:
        return self.lookup.split(".", 1)[0]

    @property
    def external_id_field(self) -> str:
        return self.lookup.split(".", 1)[1]

    def relationship_for(self, field_name: str) -> str:
        if self.relationship:
            return self.relationship
        if field_name.endswith("__c"):
            return field_name[:-3] + "__r"
        if field_name.endswith("Id"):
            return field_name[:-2]
        return field_name

    def output_kind(self, kind: Kind) -> Kind:
        return "lookup"

    def apply(self, value: Any) -> Any:
        if value is None:
            return None
        text = value.strip() if isinstance(value, str) else _key_text(value)
        # The relationship name is filled in by the field mapping, which knows its field.
        return LookupValue("", self.external_id_field, text) if text else None

    def invert(self, value: Any) -> Any:
        if isinstance(value, LookupValue):
            return value.value
        if isinstance(value, dict):
            return value.get(self.external_id_field)
        return value


# ---------------------------------------------------------------- registered Python transforms

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RegisteredTransform:
    name: str
    function: Callable[..., Any]
    inverse: Callable[..., Any] | None
    output_kind: Kind


_REGISTRY: dict[str, RegisteredTransform] = {}


def register_transform(
    name: str, *, inverse: Callable[..., Any] | None = None, output_kind: Kind = "any"
) -> Callable[[F], F]:
    """Register ``fn(value, **args)`` for YAML ``{python: name, args: {...}}`` (for rare cases).

    ``None`` passes through without calling the function; it raises ``ValueError`` to reject a
    record. ``inverse`` (optional) lets preview and round-trip checks read the value back. Put the
    function in a module that is imported before mappings load, or declare that module under the
    ``sfsync.transforms`` entry point group so ``sfsync`` commands find it.
    """
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name):
        raise ValueError(f"invalid transform name {name!r}")

    def decorate(function: F) -> F:
        _REGISTRY[name] = RegisteredTransform(name, function, inverse, output_kind)
        return function

    return decorate


ENTRY_POINT_GROUP = "sfsync.transforms"
_entry_points_loaded = False


def _load_entry_points() -> None:
    """Import modules that packages declare under the ``sfsync.transforms`` entry point group.

    That is how a site registers its Python transforms without editing sfsync: the module runs
    ``@register_transform`` when imported. Loaded once, on the first unknown name.
    """
    global _entry_points_loaded  # noqa: PLW0603 - a process-wide, load-once registry
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        entry_point.load()


def registered_transforms() -> dict[str, RegisteredTransform]:
    _load_entry_points()
    return dict(_REGISTRY)


def _lookup_registered(name: str) -> RegisteredTransform | None:
    if name not in _REGISTRY:
        _load_entry_points()
    return _REGISTRY.get(name)


class PythonTransform(_Model, Step):
    """``{python: name, args: {...}}``: a transform registered with ``register_transform``."""

    tag: ClassVar[str] = "python"
    python: str
    args: dict[str, Any] = Field(default_factory=dict)

    def describe(self) -> str:
        return f"python: {self.python}"

    def fast(self) -> Callable[[Any], Any] | None:
        return None  # a site's function may count or log its calls: it runs once, in the general code

    def registered(self) -> RegisteredTransform:
        registered = _lookup_registered(self.python)
        if registered is None:
            raise TransformError("unknown_transform", f"python transform {self.python!r} is not registered")
        return registered

    def problem(self) -> str | None:
        """Why this step cannot run (checked offline), or None."""
        registered = _lookup_registered(self.python)
        if registered is None:
            known = ", ".join(sorted(_REGISTRY)) or "none registered"
            return f"python transform {self.python!r} is not registered (registered: {known})"
        try:
            inspect.signature(registered.function).bind(None, **self.args)
        except TypeError as exc:
            return f"python transform {self.python!r} does not accept these args: {exc}"
        return None

    def output_kind(self, kind: Kind) -> Kind:
        registered = _REGISTRY.get(self.python)
        return registered.output_kind if registered else "any"

    def apply(self, value: Any) -> Any:
        if value is None:
            return None
        try:
            return self.registered().function(value, **self.args)
        except TransformError:
            raise
        except (ValueError, TypeError) as exc:
            raise TransformError(
                "python_transform", f"python transform {self.python!r} refused the value: {type(exc).__name__}"
            ) from None

    def invert(self, value: Any) -> Any:
        registered = self.registered()
        if registered.inverse is None:
            raise NotInvertibleError(f"python transform {self.python!r} has no inverse")
        return registered.inverse(value, **self.args) if value is not None else None


# ---------------------------------------------------------------- the YAML union

_MODELS: dict[str, type[_Model]] = {
    "map": MapTransform,
    "date": DateTransform,
    "datetime": DateTimeTransform,
    "number": NumberTransform,
    "round": RoundTransform,
    "currency": CurrencyTransform,
    "truncate": TruncateTransform,
    "concat": ConcatTransform,
    "split": SplitTransform,
    "constant": ConstantTransform,
    "lookup": LookupTransform,
    "python": PythonTransform,
}
SIMPLE_NAMES: tuple[str, ...] = (
    "trim",
    "lower",
    "upper",
    "title",
    "null_if_empty",
    "number",
    "currency",
    "date",
    "datetime",
)
TRANSFORM_NAMES: tuple[str, ...] = tuple(dict.fromkeys([*SIMPLE_NAMES, *_MODELS]))


def transform_models() -> dict[str, type[BaseModel]]:
    return dict(_MODELS)


def _transform_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "simple"
    if isinstance(value, Step):
        return "simple" if isinstance(value, _TextStep) else value.tag
    if isinstance(value, dict):
        for key in value:
            if key in _MODELS:
                return str(key)
        # Unknown: report the first key so the error (and "did you mean") can name it.
        return str(next(iter(value), "")) or None
    return None


TransformSpec = Annotated[
    Annotated[SimpleName, Tag("simple")]
    | Annotated[MapTransform, Tag("map")]
    | Annotated[DateTransform, Tag("date")]
    | Annotated[DateTimeTransform, Tag("datetime")]
    | Annotated[NumberTransform, Tag("number")]
    | Annotated[RoundTransform, Tag("round")]
    | Annotated[CurrencyTransform, Tag("currency")]
    | Annotated[TruncateTransform, Tag("truncate")]
    | Annotated[ConcatTransform, Tag("concat")]
    | Annotated[SplitTransform, Tag("split")]
    | Annotated[ConstantTransform, Tag("constant")]
    | Annotated[LookupTransform, Tag("lookup")]
    | Annotated[PythonTransform, Tag("python")],
    Discriminator(_transform_tag),
]


def to_step(spec: Any) -> Step:
    """The runtime step for one validated ``transforms:`` entry."""
    if isinstance(spec, Step):
        return spec
    if spec in ("trim", "lower", "upper", "title", "null_if_empty"):
        return _TextStep(spec)
    defaults: dict[str, Step] = {
        "number": NumberTransform(number=NumberOptions()),
        "currency": CurrencyTransform(currency=2),
        "date": DateTransform(date="iso"),
        "datetime": DateTimeTransform(datetime="iso"),
    }
    if isinstance(spec, str) and spec in defaults:
        return defaults[spec]
    raise ValueError(f"unknown transform {spec!r}")
