"""Every transform, with properties where they fit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from sfsync.mapping import TransformError, register_transform
from sfsync.mapping._transforms import (
    LookupValue,
    NotInvertibleError,
    Step,
    TransformSpec,
    to_step,
)

ADAPTER: TypeAdapter[Any] = TypeAdapter(TransformSpec)


def step(spec: Any) -> Step:
    return to_step(ADAPTER.validate_python(spec))


# ------------------------------------------------------------------ golden table: spec, input, output

GOLDEN: list[tuple[Any, Any, Any]] = [
    ("trim", "  Acme  ", "Acme"),
    ("trim", ["  a", "b  "], ["a", "b"]),
    ("lower", "ACME Corp", "acme corp"),
    ("upper", "us", "US"),
    ("title", "acme foods", "Acme Foods"),
    ("null_if_empty", "   ", None),
    ("null_if_empty", "x", "x"),
    ({"map": {"a": "Alpha", "b": "Beta"}}, "a", "Alpha"),
    ({"map": {"a": "Alpha"}, "default": "Other"}, "zzz", "Other"),
    ({"map": {"A": "Alpha"}, "ignore_case": True}, "a", "Alpha"),
    ({"map": {"1": "One"}}, 1, "One"),
    ({"map": {"true": "Yes"}}, True, "Yes"),
    ({"map": {"a": "Alpha", "b": "Beta"}}, ["a", "b"], ["Alpha", "Beta"]),
    ("date", "2026-11-30", date(2026, 11, 30)),
    ({"date": "%d/%m/%Y"}, "30/11/2026", date(2026, 11, 30)),
    ({"date": "iso", "timezone": "Asia/Tokyo"}, "2026-11-30T20:00:00+00:00", date(2026, 12, 1)),
    ({"date": "iso", "timezone": "America/Los_Angeles"}, datetime(2026, 12, 1, 3, 0, tzinfo=UTC), date(2026, 11, 30)),
    ("datetime", "2026-11-30T10:00:00Z", datetime(2026, 11, 30, 10, 0, tzinfo=UTC)),
    (
        {"datetime": "%d/%m/%Y %H:%M", "timezone": "Europe/Paris"},
        "30/11/2026 10:00",
        datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
    ),
    ({"datetime": "iso", "timezone": "America/New_York"}, "2026-07-01 12:00", datetime(2026, 7, 1, 16, 0, tzinfo=UTC)),
    ("number", "1234.50", Decimal("1234.50")),
    ({"number": {"decimal_separator": ",", "thousands_separator": "."}}, "1.234,5", Decimal("1234.5")),
    ({"round": 2}, "2.675", Decimal("2.68")),
    ({"round": 2, "mode": "half_even"}, Decimal("2.665"), Decimal("2.66")),
    ({"round": 0, "mode": "down"}, 9.99, Decimal("9")),
    ({"round": 0, "mode": "ceiling"}, "-1.5", Decimal("-1")),
    ("currency", "$1,234.567", Decimal("1234.57")),
    ({"currency": 0}, "EUR 99.5", Decimal("100")),
    ({"currency": 2, "decimal_separator": ",", "thousands_separator": "."}, "1.234,50 €", Decimal("1234.50")),
    ({"truncate": 3}, "abcdef", "abc"),
    ({"concat": " "}, ["Jane", None, "Roe"], "Jane Roe"),
    ({"concat": ";"}, ["", None], None),
    ({"split": ","}, "a,b,,c", ["a", "b", "c"]),
    ({"split": " ", "maxsplit": 1}, "Jane van Roe", ["Jane", "van Roe"]),
    ({"constant": "Portal"}, None, "Portal"),
    ({"constant": 5}, "ignored", 5),
    ({"lookup": "Account.Partner_Number__c"}, " P-1 ", LookupValue("", "Partner_Number__c", "P-1")),
]


@pytest.mark.parametrize(("spec", "value", "expected"), GOLDEN, ids=[str(g[0]) + "|" + repr(g[1]) for g in GOLDEN])
def test_golden(spec: Any, value: Any, expected: Any) -> None:
    assert step(spec).apply(value) == expected


@pytest.mark.parametrize(
    "spec", ["trim", "upper", {"map": {"a": "b"}}, "date", "number", {"round": 1}, {"split": ","}, {"truncate": 2}]
)
def test_none_passes_through(spec: Any) -> None:
    assert step(spec).apply(None) is None


@pytest.mark.parametrize(
    ("spec", "value", "code"),
    [
        ({"map": {"a": "A"}}, "b", "unmapped_value"),
        ("date", "30/11/2026", "bad_date"),
        ({"date": "%d/%m/%Y"}, "2026-11-30", "bad_date"),
        ("datetime", "yesterday", "bad_datetime"),
        ("number", "12abc", "bad_number"),
        ("currency", "lots", "bad_number"),
        ({"round": 2}, "x", "bad_number"),
        ("trim", 5, "wrong_type"),
        ({"split": ","}, 5, "wrong_type"),
    ],
)
def test_errors_are_coded_and_never_quote_the_value(spec: Any, value: Any, code: str) -> None:
    with pytest.raises(TransformError) as info:
        step(spec).apply(value)
    assert info.value.code == code
    if isinstance(value, str):
        assert value not in info.value.message


def test_unknown_time_zone_is_a_schema_error() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown time zone"):
        ADAPTER.validate_python({"datetime": "iso", "timezone": "Mars/Olympus"})


def test_registered_python_transform_and_inverse() -> None:
    @register_transform("tests.mapping.reverse", inverse=lambda v: v[::-1], output_kind="text")
    def reverse(value: Any) -> str:
        return str(value)[::-1]

    @register_transform("tests.mapping.refuse")
    def refuse(value: Any) -> Any:
        raise ValueError("no")

    forward = step({"python": "tests.mapping.reverse"})
    assert forward.apply("abc") == "cba"
    assert forward.invert("cba") == "abc"
    assert forward.describe() == "python: tests.mapping.reverse"
    with pytest.raises(TransformError, match="refused the value") as info:
        step({"python": "tests.mapping.refuse"}).apply("secret")
    assert "secret" not in str(info.value)
    with pytest.raises(NotInvertibleError):
        step({"python": "tests.mapping.refuse"}).invert("x")
    with pytest.raises(ValueError, match="invalid transform name"):
        register_transform("bad name")


def test_constant_is_not_invertible() -> None:
    with pytest.raises(NotInvertibleError):
        step({"constant": 1}).invert(1)


# ------------------------------------------------------------------ properties

text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)


@given(text)
def test_trim_is_idempotent(value: str) -> None:
    trim = step("trim")
    once = trim.apply(value)
    assert trim.apply(once) == once
    assert once == value.strip()


@given(text)
def test_case_transforms_are_idempotent(value: str) -> None:
    for name in ("lower", "upper"):
        once = step(name).apply(value)
        assert step(name).apply(once) == once


zones = st.sampled_from(
    ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Australia/Lord_Howe"]
)
naive_datetimes = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2090, 1, 1))


@given(naive_datetimes, zones)
def test_datetime_normalises_to_utc_and_round_trips(moment: datetime, zone: str) -> None:
    transform = step({"datetime": "iso", "timezone": zone})
    aware = transform.apply(moment.isoformat())
    assert aware.tzinfo is UTC
    back = transform.invert(aware)
    # naive wall-clock times in a gap or fold may move; the instant never does
    assert transform.apply(back) == aware


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2090, 1, 1),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
    )
)
def test_aware_datetimes_keep_their_instant(moment: datetime) -> None:
    result = step("datetime").apply(moment.isoformat())
    assert result == moment and result.utcoffset() == timedelta(0)


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2999, 12, 31)))
def test_date_format_round_trips(day: date) -> None:
    transform = step({"date": "%d/%m/%Y"})
    assert transform.apply(transform.invert(day)) == day


@given(
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12, places=6),
    st.integers(min_value=0, max_value=4),
    st.sampled_from(["half_up", "half_even", "down", "up", "floor", "ceiling"]),
)
def test_rounding_properties(value: Decimal, places: int, mode: str) -> None:
    transform = step({"round": places, "mode": mode})
    rounded = transform.apply(value)
    assert rounded.as_tuple().exponent == -places  # exactly `places` decimals
    assert abs(rounded - value) <= Decimal(1).scaleb(-places)  # never more than one unit away
    if mode.startswith("half"):
        assert abs(rounded - value) <= Decimal(1).scaleb(-places) / 2
    assert transform.apply(rounded) == rounded  # idempotent


@given(st.lists(st.text(alphabet="abcxyz", min_size=1, max_size=5), max_size=6))
def test_split_then_concat_round_trips(items: list[str]) -> None:
    joined = step({"concat": ","}).apply(items)
    back = step({"split": ","}).apply(joined) if joined is not None else []
    assert back == items


@given(st.sampled_from(["submitted", "under_review", "approved"]))
def test_map_inverts(value: str) -> None:
    transform = step({"map": {"submitted": "Submitted", "under_review": "Under Review", "approved": "Approved"}})
    assert transform.invert(transform.apply(value)) == value
