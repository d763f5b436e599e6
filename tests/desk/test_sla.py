from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from sfsync.config import DeskSettings
from sfsync.desk.sla import BusinessCalendar, Calendars, SlaState

# 2026-11-23 is a Monday.
MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def calendar(**overrides: object) -> BusinessCalendar:
    return BusinessCalendar(DeskSettings.model_validate(overrides))


def test_same_working_day_counts_wall_hours() -> None:
    assert calendar().business_hours(MONDAY, MONDAY + timedelta(hours=5)) == pytest.approx(5)


def test_weekend_stops_the_clock() -> None:
    friday_noon = MONDAY + timedelta(days=4, hours=2)
    monday_noon = friday_noon + timedelta(days=3)
    # Friday 12:00-24:00 and Monday 00:00-12:00; Saturday and Sunday count nothing.
    assert calendar().business_hours(friday_noon, monday_noon) == pytest.approx(24)


def test_submitted_on_saturday_starts_monday() -> None:
    saturday = MONDAY + timedelta(days=5)
    monday_midnight = saturday + timedelta(days=1, hours=14)
    assert calendar().business_hours(saturday, monday_midnight) == 0
    assert calendar().business_hours(saturday, monday_midnight + timedelta(hours=14)) == pytest.approx(14)


def test_holidays_stop_the_clock() -> None:
    tuesday = date(2026, 11, 24)
    plain = calendar().business_hours(MONDAY, MONDAY + timedelta(days=2))
    with_holiday = calendar(holidays=[tuesday]).business_hours(MONDAY, MONDAY + timedelta(days=2))
    assert plain - with_holiday == pytest.approx(24)


def test_long_spans_match_a_day_by_day_count() -> None:
    cal = calendar(holidays=[date(2026, 12, 25), date(2027, 1, 1)], working_days=["mon", "tue", "wed", "thu"])
    start, end = MONDAY, MONDAY + timedelta(days=97, hours=7)
    day, expected = start.date(), 0.0
    while day <= end.date():
        if cal.is_business_day(day):
            lo = max(start, datetime(day.year, day.month, day.day, tzinfo=UTC))
            hi = min(end, datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1))
            expected += max(0.0, (hi - lo).total_seconds() / 3600)
        day += timedelta(days=1)
    assert cal.business_hours(start, end) == pytest.approx(expected)


def test_days_are_cut_in_the_configured_zone() -> None:
    # Friday 23:30 UTC is already Saturday in Tokyo: nothing counts there until Monday.
    friday_late = datetime(2026, 11, 27, 23, 30, tzinfo=UTC)
    assert calendar(timezone="Asia/Tokyo").business_hours(friday_late, friday_late + timedelta(hours=20)) == 0
    assert calendar().business_hours(friday_late, friday_late + timedelta(hours=20)) == pytest.approx(0.5)


def test_daylight_saving_day_counts_real_hours() -> None:
    # Europe/Berlin leaves summer time on Sunday 2026-10-25; make Sunday a working day: 25 real hours.
    cal = calendar(timezone="Europe/Berlin", working_days=["sun"])
    start = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # Sunday 00:00 in Berlin (CEST)
    assert cal.business_hours(start, start + timedelta(hours=30)) == pytest.approx(25)


def test_states_at_due_and_breach_marks() -> None:
    cal = calendar()
    assert cal.status(MONDAY, MONDAY + timedelta(hours=23)).state is SlaState.ON_TIME
    assert cal.status(MONDAY, MONDAY + timedelta(hours=24)).state is SlaState.DUE
    assert cal.status(MONDAY, MONDAY + timedelta(hours=48)).state is SlaState.BREACHED


def test_end_before_start_is_zero() -> None:
    assert calendar().business_hours(MONDAY, MONDAY - timedelta(hours=3)) == 0


def test_settings_refuse_a_breach_before_due_and_unknown_zone() -> None:
    with pytest.raises(ValueError, match="breach_hours"):
        DeskSettings(due_hours=48, breach_hours=24)
    with pytest.raises(ValueError, match="unknown time zone"):
        DeskSettings(timezone="Mars/Olympus")


# ---------------------------------------------------------------- per-region calendars
def regional() -> Calendars:
    """EMEA: Berlin, whole days, Monday 30 Nov a holiday. APAC: Tokyo, 09:00-18:00 (9 h a day, due at 9 and
    breached at 18 business hours), Tuesday 1 Dec a holiday. Other regions: the default (UTC, whole days)."""
    return Calendars(
        DeskSettings.model_validate(
            {
                "calendars": {
                    "EMEA": {"timezone": "Europe/Berlin", "holidays": ["2026-11-30"]},
                    "APAC": {
                        "timezone": "Asia/Tokyo",
                        "day_start": "09:00",
                        "day_end": "18:00",
                        "holidays": ["2026-12-01"],
                        "due_hours": 9,
                        "breach_hours": 18,
                    },
                }
            }
        )
    )


# Friday 27 Nov 2026, 15:00 UTC: 16:00 in Berlin, already Saturday 00:00 in Tokyo.
FRIDAY = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
TUESDAY_NOON_BERLIN = datetime(2026, 12, 1, 11, 0, tzinfo=UTC)


def test_two_regions_across_a_weekend_and_their_own_holidays() -> None:
    calendars = regional()
    # EMEA: Friday 16:00-24:00 (8 h), weekend and the Monday holiday stop, Tuesday 00:00-12:00 (12 h).
    assert calendars.for_region("EMEA").business_hours(FRIDAY, TUESDAY_NOON_BERLIN) == pytest.approx(20)
    # APAC: the weekend, then Monday 09:00-18:00 (9 h); Tuesday is a holiday there.
    assert calendars.for_region("APAC").business_hours(FRIDAY, TUESDAY_NOON_BERLIN) == pytest.approx(9)
    # A partner without a configured region: the default calendar (UTC, whole days, no holiday).
    assert calendars.for_region("AMER").business_hours(FRIDAY, TUESDAY_NOON_BERLIN) == pytest.approx(9 + 24 + 11)
    assert calendars.for_region(None) is calendars.default


def test_deadlines_follow_each_regions_calendar() -> None:
    calendars = regional()
    emea, apac = calendars.for_region("EMEA"), calendars.for_region("APAC")
    # EMEA breaches at 48 h: Friday 8 h, Tuesday 24 h, Wednesday 16 h -> Wednesday 16:00 Berlin.
    assert emea.deadline(FRIDAY, emea.breach_hours) == datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    # APAC is due after one 9-hour day (Monday 18:00 Tokyo) and breaches on Wednesday 18:00 Tokyo.
    assert apac.deadline(FRIDAY, apac.due_hours) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    assert apac.deadline(FRIDAY, apac.breach_hours) == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    status = calendars.status("APAC", FRIDAY, TUESDAY_NOON_BERLIN)
    assert (status.state, status.region) == (SlaState.DUE, "APAC")
    assert calendars.status("EMEA", FRIDAY, TUESDAY_NOON_BERLIN).state is SlaState.ON_TIME


def test_deadline_and_hours_agree() -> None:
    apac = regional().for_region("APAC")
    for hours in (0.5, 9, 13.25, 40):
        assert apac.business_hours(FRIDAY, apac.deadline(FRIDAY, hours)) == pytest.approx(hours)


@pytest.mark.parametrize(
    "bad",
    [
        {"calendars": {"EMEA": {"timezone": "Mars/Olympus"}}},
        {"calendars": {"EMEA": {"day_start": "18:00", "day_end": "09:00"}}},
        {"calendars": {"EMEA": {"day_start": "25:00"}}},
        {"calendars": {"EMEA": {"working_days": []}}},
        {"calendars": {"EMEA": {"due_hours": 30, "breach_hours": 20}}},
    ],
)
def test_bad_region_calendars_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"EMEA|time zone|HH:MM|at least one day"):
        DeskSettings.model_validate(bad)
