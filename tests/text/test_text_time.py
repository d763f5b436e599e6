"""as_utc: naive timestamps are read as UTC, aware ones converted; the fast naive path gives
exactly what datetime.replace(tzinfo=UTC) gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfsync.text.time import as_utc


@given(st.datetimes())
def test_naive_is_read_as_utc_exactly_like_replace(value: datetime) -> None:
    got, want = as_utc(value), value.replace(tzinfo=UTC)
    assert (got, got.fold, type(got), got.tzinfo, repr(got)) == (want, want.fold, type(want), want.tzinfo, repr(want))


@pytest.mark.parametrize("value", [datetime.min, datetime.max, datetime(2024, 11, 3, 1, 30, fold=1)])
def test_naive_edges(value: datetime) -> None:
    assert repr(as_utc(value)) == repr(value.replace(tzinfo=UTC))
    assert as_utc(value).fold == value.fold


def test_aware_values_are_converted() -> None:
    value = datetime(2024, 3, 1, 9, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert repr(as_utc(value)) == repr(datetime(2024, 3, 1, 14, 0, tzinfo=UTC))
    assert as_utc(value).tzinfo is UTC


class Moment(datetime):
    pass


def test_a_subclass_keeps_its_type() -> None:
    value = Moment(2024, 3, 1, 12, 0)
    assert type(as_utc(value)) is Moment
    assert as_utc(value) == value.replace(tzinfo=UTC)
