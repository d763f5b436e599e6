"""The SLA clock: business hours elapsed since a registration was submitted, under its partner's region.

A calendar has working days, holidays, a time zone and business hours within a working day
(``day_start``-``day_end``; by default the whole day, so "24 business hours" is one business day, as the
partner programs promise: "an answer within 24-48 hours, 1-2 business days"). Days that are not working
days and holidays stop the clock. ``[desk]`` holds the default calendar; ``[desk.calendars.<REGION>]``
overrides it for partners of that region (``Account.Partner_Region__c``): the partner's region decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sfsync.config import DeskSettings, RegionCalendar
from sfsync.text.time import as_utc

__all__ = ["BusinessCalendar", "Calendars", "SlaState", "SlaStatus"]

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LONGEST_SEARCH_DAYS = 3660  # a deadline further than ten years away is "never"


def _elapsed(start: datetime, end: datetime) -> float:
    # Subtracting two datetimes of one zone compares wall clocks; in UTC it counts real seconds.
    return (as_utc(end) - as_utc(start)).total_seconds()


def _clock(text: str) -> tuple[int, int]:
    hours, minutes = text.split(":")
    return int(hours), int(minutes)


class SlaState(StrEnum):
    ON_TIME = "on time"
    DUE = "due"  # past the answer-due mark, not yet breached
    BREACHED = "breached"


@dataclass(frozen=True)
class SlaStatus:
    business_hours: float
    state: SlaState
    region: str = ""  # the calendar that counted (empty: the default one)

    @property
    def label(self) -> str:
        return f"{self.state.value} · {self.business_hours:.1f} business h"


class BusinessCalendar:
    """Counts business hours between two instants under one calendar."""

    def __init__(self, settings: DeskSettings, region: RegionCalendar | None = None, name: str = "") -> None:
        own = region if region is not None else RegionCalendar()
        self.name = name
        self._zone = ZoneInfo(own.timezone or settings.timezone)
        working = own.working_days if own.working_days is not None else settings.working_days
        self._working = frozenset(_DAY_NAMES.index(day) for day in working)
        self._holidays = frozenset(own.holidays if own.holidays is not None else settings.holidays)
        self._start = _clock(own.day_start or settings.day_start)
        self._end = _clock(own.day_end or settings.day_end)
        self._day_seconds = float((self._end[0] - self._start[0]) * 3600 + (self._end[1] - self._start[1]) * 60)
        self.due_hours = own.due_hours if own.due_hours is not None else settings.due_hours
        self.breach_hours = own.breach_hours if own.breach_hours is not None else settings.breach_hours

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self._working and day not in self._holidays

    def _window(self, day: date) -> tuple[datetime, datetime]:
        """The business hours of ``day`` in the zone (24:00 is the next midnight)."""

        def at(hour_minute: tuple[int, int]) -> datetime:
            hours, minutes = hour_minute
            if hours == 24:
                return datetime.combine(day + timedelta(days=1), time(), self._zone)
            return datetime.combine(day, time(hours, minutes), self._zone)

        return at(self._start), at(self._end)

    def business_hours(self, start: datetime, end: datetime) -> float:
        """Business hours in [start, end); zero when end is not after start."""
        start_local = as_utc(start).astimezone(self._zone)
        end_local = as_utc(end).astimezone(self._zone)
        if end_local <= start_local:
            return 0.0
        first, last = start_local.date(), end_local.date()
        if first == last:
            return self._part_of_day(first, start_local, end_local) / 3600.0
        seconds = self._part_of_day(first, start_local, None) + self._part_of_day(last, None, end_local)
        # Whole days in between: counted by weeks, so a months-old registration costs no more than a new one.
        inner_first, inner_days = first + timedelta(days=1), (last - first).days - 1
        seconds += self.business_days(inner_first, inner_days) * self._day_seconds
        return seconds / 3600.0

    def business_days(self, first: date, count: int) -> int:
        """Business days among the ``count`` days from ``first``."""
        if count <= 0:
            return 0
        weeks, rest = divmod(count, 7)
        days = weeks * len(self._working)
        days += sum(1 for offset in range(rest) if (first + timedelta(days=offset)).weekday() in self._working)
        last = first + timedelta(days=count - 1)
        days -= sum(1 for holiday in self._holidays if first <= holiday <= last and holiday.weekday() in self._working)
        return days

    def _part_of_day(self, day: date, start: datetime | None, end: datetime | None) -> float:
        if not self.is_business_day(day):
            return 0.0
        # The window in the zone: 23 or 25 hours on a daylight-saving change day when it spans the change.
        begin, finish = self._window(day)
        if start is not None and start > begin:
            begin = start
        if end is not None and end < finish:
            finish = end
        return max(0.0, _elapsed(begin, finish))

    def deadline(self, start: datetime, hours: float) -> datetime:
        """The instant ``hours`` business hours after ``start`` (far future if the calendar never gets there)."""
        remaining = hours * 3600.0
        cursor = as_utc(start).astimezone(self._zone)
        day = cursor.date()
        for _ in range(_LONGEST_SEARCH_DAYS):
            if self.is_business_day(day):
                begin, finish = self._window(day)
                begin = max(begin, cursor)
                available = max(0.0, _elapsed(begin, finish))
                if remaining <= available:
                    return as_utc(begin) + timedelta(seconds=remaining)
                remaining -= available
            day += timedelta(days=1)
        return datetime.max.replace(tzinfo=as_utc(start).tzinfo)

    def status(self, submitted: datetime, now: datetime) -> SlaStatus:
        hours = self.business_hours(submitted, now)
        if hours >= self.breach_hours:
            state = SlaState.BREACHED
        elif hours >= self.due_hours:
            state = SlaState.DUE
        else:
            state = SlaState.ON_TIME
        return SlaStatus(hours, state, self.name)


class Calendars:
    """The default calendar and one per configured region; a partner without a configured region uses the default."""

    def __init__(self, settings: DeskSettings) -> None:
        self.default = BusinessCalendar(settings)
        self._by_region = {
            name: BusinessCalendar(settings, region, name) for name, region in settings.calendars.items()
        }

    def for_region(self, region: str | None) -> BusinessCalendar:
        return self._by_region.get(region or "", self.default)

    def status(self, region: str | None, submitted: datetime, now: datetime) -> SlaStatus:
        return self.for_region(region).status(submitted, now)
