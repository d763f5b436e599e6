"""The SLA clock: business hours elapsed since a registration was submitted.

A business day counts all of its 24 hours, so "24 business hours" is one business day, as the partner
programs promise ("an answer within 24-48 hours, 1-2 business days"). Weekends (the days not in
``working_days``) and ``holidays`` stop the clock. Days are cut at midnight in ``timezone``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sfsync.config import DeskSettings
from sfsync.text.time import as_utc

__all__ = ["BusinessCalendar", "SlaState", "SlaStatus"]

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _elapsed(start: datetime, end: datetime) -> float:
    # Subtracting two datetimes of one zone compares wall clocks; in UTC it counts real seconds.
    return (as_utc(end) - as_utc(start)).total_seconds()


class SlaState(StrEnum):
    ON_TIME = "on time"
    DUE = "due"  # past the answer-due mark, not yet breached
    BREACHED = "breached"


@dataclass(frozen=True)
class SlaStatus:
    business_hours: float
    state: SlaState

    @property
    def label(self) -> str:
        return f"{self.state.value} · {self.business_hours:.1f} business h"


class BusinessCalendar:
    """Counts business hours between two instants under one ``[desk]`` calendar."""

    def __init__(self, settings: DeskSettings) -> None:
        self._zone = ZoneInfo(settings.timezone)
        self._working = frozenset(_DAY_NAMES.index(day) for day in settings.working_days)
        self._holidays = frozenset(settings.holidays)
        self._due = settings.due_hours
        self._breach = settings.breach_hours

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self._working and day not in self._holidays

    def business_hours(self, start: datetime, end: datetime) -> float:
        """Business hours in [start, end); zero when end is not after start."""
        start_local = as_utc(start).astimezone(self._zone)
        end_local = as_utc(end).astimezone(self._zone)
        if end_local <= start_local:
            return 0.0
        first, last = start_local.date(), end_local.date()
        if first == last:
            seconds = _elapsed(start_local, end_local) if self.is_business_day(first) else 0.0
            return seconds / 3600.0
        seconds = self._part_of_day(first, start_local, None) + self._part_of_day(last, None, end_local)
        # Whole days in between: counted by weeks, so a months-old registration costs no more than a new one.
        inner_first, inner_days = first + timedelta(days=1), (last - first).days - 1
        whole_days = self.business_days(inner_first, inner_days)
        seconds += whole_days * 86400.0
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
        # Midnight to midnight in the zone: 23 or 25 hours on a daylight-saving change day.
        begin = start if start is not None else datetime.combine(day, time(), self._zone)
        finish = end if end is not None else datetime.combine(day + timedelta(days=1), time(), self._zone)
        return max(0.0, _elapsed(begin, finish))

    def status(self, submitted: datetime, now: datetime) -> SlaStatus:
        hours = self.business_hours(submitted, now)
        if hours >= self._breach:
            state = SlaState.BREACHED
        elif hours >= self._due:
            state = SlaState.DUE
        else:
            state = SlaState.ON_TIME
        return SlaStatus(hours, state)
